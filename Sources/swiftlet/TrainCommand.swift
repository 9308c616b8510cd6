import ArgumentParser
import Swiftlet

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a Llama-style model (and, if needed, its tokenizer) on local text.",
        discussion: """
            --data takes files or folders (each file a document, or several with --doc-separator; \
            .jsonl files give one document per line from their "text" field). A folder with train/ and \
            val/ subfolders splits itself, otherwise the last 5% of the tokens are held out for \
            validation unless --val is given. Mix corpora by weight with --data a:0.7 --data b:0.3. \
            Ctrl-C saves a checkpoint and stops; --resume continues it exactly.
            """)
    @OptionGroup var threading: ThreadOptions

    @Option(
        name: .long, parsing: .upToNextOption, help: "Training text: files or folders, or PATH:WEIGHT corpora to mix.")
    var data: [String] = []
    @Option(name: .long, help: "Split files into documents at this string (\\n and \\t understood), e.g. '\\n\\n'.")
    var docSeparator: String?
    @Option(name: .long, parsing: .upToNextOption, help: "Validation text: files or folders.")
    var val: [String] = []
    @Option(
        name: .long,
        help: "Model shape: \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", ")) (default small).")
    var preset: String?
    @Option(name: .long, help: "Checkpoint directory to write.")
    var out: String
    @Option(name: .long, help: "Training time budget, e.g. 5m, 90s, 1h (evaluation and saving not counted).")
    var time: String?
    @Option(name: .long, help: "Number of optimizer steps.")
    var steps: Int?
    @Option(
        name: .long,
        help:
            "Tokens per optimizer step, packed from whole documents; gradient accumulation reaches it (default: 8 contexts)."
    )
    var batchTokens: Int?
    @Option(
        name: .long,
        help:
            "Largest single forward/backward pass in tokens (bounds memory; default \(TrainCommand.defaults.microBatchTokens))."
    )
    var microBatchTokens: Int?
    @Option(name: .long, help: "Peak learning rate (default \(TrainCommand.defaults.learningRate)).")
    var lr: Float?
    @Option(name: .long, help: "Final learning rate of the cosine decay (default lr/10).")
    var minLr: Float?
    @Option(name: .long, help: "Warmup steps (default: a 15th of the run, at most 100; 25 under --time).")
    var warmup: Int?
    @Option(name: .long, help: "AdamW weight decay (matrices only; default \(TrainCommand.defaults.adam.weightDecay)).")
    var weightDecay: Float?
    @Flag(name: .long, help: "Apply weight decay to the embedding table too.")
    var decayEmbeddings = false
    @Option(
        name: .long,
        help: "Clip the global gradient norm to this (0 = off; default \(TrainCommand.defaults.gradientClip)).")
    var gradClip: Float?
    @Option(name: .long, help: "Dropout on the residual branches (default 0).")
    var dropout: Float?
    @Option(name: .long, help: "Random seed (weights, data order, dropout; default \(TrainCommand.defaults.seed)).")
    var seed: UInt64?
    @Option(
        name: .long,
        help: "Evaluate every N steps (default \(TrainCommand.defaults.evalInterval); may change on --resume).")
    var evalInterval: Int?
    @Option(name: .long, help: "Validation tokens per evaluation (default \(TrainCommand.defaults.evalTokens)).")
    var evalTokens: Int?
    @Option(
        name: .long,
        help: "Save a checkpoint every N steps (default \(TrainCommand.defaults.saveInterval); may change on --resume)."
    )
    var saveInterval: Int?
    @Option(name: .long, help: "Tokenizer size when one is trained (default per preset).")
    var vocabSize: Int?
    @Option(name: .long, help: "Use this SentencePiece .model instead of training one.")
    var tokenizer: String?
    @Option(
        name: .long,
        help:
            "The kind of tokenizer trained when one is: bpe (the default; llama.cpp tokenizes it exactly as Swiftlet does) or unigram."
    )
    var tokenizerType: String = "bpe"
    @Option(name: .long, help: "Override the preset's context length.")
    var context: Int?
    @Option(name: .long, help: "Override the preset's number of key/value heads (grouped-query attention).")
    var kvHeads: Int?
    @Option(
        name: .long,
        help:
            "bf16 products and attention with fp32 accumulation and master weights (the default where it pays: AVX512-BF16 dot products measured ≥ 1.3× the fp32 FMA rate), or fp32."
    )
    var precision: String?
    @Flag(name: .long, help: "Continue the run saved in --out.")
    var resume = false
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Save and stop after this step, keeping the schedule of the whole run (continue with --resume): for job time limits.",
            valueName: "step"))
    var stopAt: Int?

    /// Pretraining's defaults, for the help text (the batch default depends on the context).
    static let defaults = TrainingOptions.pretraining(contextLength: 1)

    func validate() throws {
        if let preset, ModelPreset(rawValue: preset) == nil {
            throw ValidationError(
                "unknown preset \(preset); choose one of \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", "))."
            )
        }
        if let time, (Format.parseDuration(time) ?? 0) <= 0 {
            throw ValidationError("--time must be a duration like 5m, 90s or 1h.")
        }
        guard TokenizerModelType(rawValue: tokenizerType) != nil else {
            throw ValidationError("--tokenizer-type must be bpe or unigram.")
        }
        if let stopAt, stopAt <= 0 { throw ValidationError("--stop-at must be a positive step.") }
        guard !data.isEmpty else { throw ValidationError("give the training text with --data.") }
        if let precision, Precision(rawValue: precision) == nil {
            throw ValidationError("--precision must be fp32 or bf16.")
        }
        if docSeparator == "" { throw ValidationError("--doc-separator must not be empty.") }
        if resume, time != nil {
            throw ValidationError(
                "--resume continues the saved run with its own schedule; give --steps for a new total instead of --time."
            )
        }
        if !resume, steps == nil, time == nil {
            throw ValidationError("say how long to train with --steps N or --time 5m.")
        }
        // The library checks every value (its messages name the option), before any work starts.
        do {
            if let vocabSize { try TokenizerSource.check(vocabSize: vocabSize) }
            let presetValue = ModelPreset(rawValue: preset ?? "small")!
            let shape = try presetValue.config(vocabSize: vocabSize ?? presetValue.defaultVocabSize)
                .overriding(contextLength: context, kvHeads: kvHeads, dropout: dropout)
            try options(contextLength: shape.contextLength, corpusWeights: nil).validate()
        } catch let error as SwiftletError {
            throw ValidationError(error.message)
        }
    }

    /// Pretraining's defaults with what the command line gave.
    func options(contextLength: Int, corpusWeights: [Double]?) -> TrainingOptions {
        var options = TrainingOptions.pretraining(contextLength: contextLength)
        if let seed { options.seed = seed }
        if let lr { options.learningRate = lr }
        options.minLearningRate = minLr
        options.warmupSteps = warmup
        options.steps = steps
        options.timeBudget = time.flatMap(Format.parseDuration)
        if let batchTokens { options.batchTokens = batchTokens }
        if let microBatchTokens { options.microBatchTokens = microBatchTokens }
        if let weightDecay { options.adam.weightDecay = weightDecay }
        options.decayEmbeddings = decayEmbeddings
        if let gradClip { options.gradientClip = gradClip }
        if let evalInterval { options.evalInterval = evalInterval }
        if let evalTokens { options.evalTokens = evalTokens }
        if let saveInterval { options.saveInterval = saveInterval }
        if let precision = precision.flatMap(Precision.init(rawValue:)) { options.precision = precision }
        options.documentSeparator = separator
        options.corpusWeights = corpusWeights
        return options
    }

    func run() throws {
        try runReportingErrors {
            Interrupt.install()
            let world = try Communicators.world()
            let sources = try DataSource.parse(data)
            if sources.count > 1, !val.isEmpty {
                throw SwiftletError(
                    "--val goes with a single --data; mixed corpora each hold out their own validation text (a val/ folder, or the last 5%)."
                )
            }
            let texts = try sources.map {
                try SourceText.read($0, validation: val, format: DocumentFormat(separator: separator))
            }

            if resume {
                let checkpoint = try Checkpoint.load(out)
                let (training, validation) = try tokenize(texts, tokenizer: checkpoint.tokenizer)
                let trainer = try Trainer.resume(
                    from: checkpoint, directory: out, training: training, validation: validation)
                try trainer.checkUnchanged(
                    preset: preset, contextLength: context, kvHeads: kvHeads, vocabSize: vocabSize, learningRate: lr,
                    precision: precision.flatMap(Precision.init(rawValue:)), batchTokens: batchTokens,
                    documentSeparator: separator, corpusWeights: weights(sources))
                if let steps { try trainer.setTotalSteps(steps) }
                try trainer.setIntervals(evaluation: evalInterval, save: saveInterval)
                Console.info(
                    "resuming \(out) at step \(trainer.state.step)"
                        + (trainer.state.totalSteps.map { " of \($0)" } ?? ""))
                try TrainingProgress.join(trainer, world)
                try TrainingProgress.run(trainer, stopAt: stopAt)
                return
            }
            try Checkpoint.checkNewDestination(out, resumable: true)
            let presetValue = ModelPreset(rawValue: preset ?? "small")!
            let tokenizer = try obtainTokenizer(
                Corpus(documents: texts.flatMap(\.train.documents)), preset: presetValue)
            let config = try presetValue.config(vocabSize: tokenizer.vocabSize).overriding(
                contextLength: context, kvHeads: kvHeads, dropout: dropout)
            let (training, validation) = try tokenize(texts, tokenizer: tokenizer)
            let options = self.options(contextLength: config.contextLength, corpusWeights: weights(sources))
            let model = Transformer(config: config)
            let trainer = try Trainer(
                model: model, tokenizer: tokenizer, preset: presetValue.rawValue, options: options,
                training: training, validation: validation, directory: out)
            Console.info(
                "model: \(presetValue.rawValue), \(Format.count(config.parameterCount)) parameters (dim \(config.dim), \(config.layers) layers, \(config.heads) heads, \(config.kvHeads) kv heads, context \(config.contextLength), vocabulary \(config.vocabSize))"
            )
            Console.info("batch: \(Format.grouped(options.batchTokens)) tokens per step, packed from whole documents")
            Console.info(options.precision.describedForTraining(requested: precision != nil))
            Console.info("memory: \(trainer.memory.summary) of this machine's \(Format.bytes(MemoryPlan.machineBytes))")
            try TrainingProgress.join(trainer, world)
            try TrainingProgress.run(trainer, stopAt: stopAt)
        }
    }

    /// The corpora's sampling weights when --data mixes several.
    func weights(_ sources: [DataSource]) -> [Double]? {
        sources.count > 1 ? sources.map { $0.weight! } : nil
    }

    /// --tokenizer, a tokenizer.model beside the data, one trained earlier on this text, or a new one.
    func obtainTokenizer(_ corpus: Corpus, preset: ModelPreset) throws -> Tokenizer {
        let options = TokenizerTrainingOptions(
            vocabSize: vocabSize ?? preset.defaultVocabSize, modelType: TokenizerModelType(rawValue: tokenizerType)!)
        let (tokenizer, source) = try TokenizerSource.obtain(
            path: self.tokenizer, data: data, corpus: corpus, options: options
        ) { bytes in
            Console.info(
                "training a \(options.vocabSize)-piece \(options.modelType.rawValue) tokenizer on \(Format.grouped(bytes)) bytes…"
            )
        }
        switch source {
        case .given: break
        case let .bundled(path): Console.info("tokenizer: \(path)")
        case .cached:
            Console.info(
                "tokenizer: \(tokenizer.vocabSize)-piece \(options.modelType.rawValue), trained earlier on this text (cached)"
            )
        case let .trained(seconds): Console.info("tokenizer trained in \(Format.seconds(seconds))")
        }
        return tokenizer
    }

    /// The separator with the escapes a shell cannot type easily (\\n, \\t) turned into characters.
    var separator: String? {
        docSeparator.map(DocumentFormat.unescaped)
    }

    func tokenize(_ texts: [SourceText], tokenizer: Tokenizer) throws -> ([WeightedCorpus], [ValidationSet]) {
        let prepared = try texts.map { text in
            let clock = Stopwatch()
            let corpus = try PreparedCorpus.prepare(
                text, tokenizer: tokenizer, heldOutFraction: TrainingOptions.pretrainingHeldOut)
            TrainingProgress.describe(
                corpus, seconds: clock.seconds, heldOut: "\(Format.fixed(TrainingOptions.pretrainingHeldOut * 100, 0))%"
            )
            return corpus
        }
        return (prepared.map(\.training), prepared.map(\.validation))
    }
}
