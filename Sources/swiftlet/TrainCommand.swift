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

    @Option(name: .long, parsing: .upToNextOption, help: "Training text: files or folders, or PATH:WEIGHT corpora to mix.")
    var data: [String] = []
    @Option(name: .long, help: "Split files into documents at this string (\\n and \\t understood), e.g. '\\n\\n'.")
    var docSeparator: String?
    @Option(name: .long, parsing: .upToNextOption, help: "Validation text: files or folders.")
    var val: [String] = []
    @Option(name: .long, help: "Model shape: \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", ")) (default small).")
    var preset: String?
    @Option(name: .long, help: "Checkpoint directory to write.")
    var out: String
    @Option(name: .long, help: "Training time budget, e.g. 5m, 90s, 1h (evaluation and saving not counted).")
    var time: String?
    @Option(name: .long, help: "Number of optimizer steps.")
    var steps: Int?
    @Option(name: .long, help: "Tokens per optimizer step, packed from whole documents; gradient accumulation reaches it (default: 8 contexts).")
    var batchTokens: Int?
    @Option(name: .long, help: "Largest single forward/backward pass in tokens (bounds memory).")
    var microBatchTokens: Int = 8192
    @Option(name: .long, help: "Peak learning rate (default 2e-3).")
    var lr: Float?
    @Option(name: .long, help: "Final learning rate of the cosine decay (default lr/10).")
    var minLr: Float?
    @Option(name: .long, help: "Warmup steps (default: a 15th of the run, at most 100; 25 under --time).")
    var warmup: Int?
    @Option(name: .long, help: "AdamW weight decay (matrices only).")
    var weightDecay: Float = 0.1
    @Flag(name: .long, help: "Apply weight decay to the embedding table too.")
    var decayEmbeddings = false
    @Option(name: .long, help: "Clip the global gradient norm to this (0 = off).")
    var gradClip: Float = 1
    @Option(name: .long, help: "Dropout on the residual branches.")
    var dropout: Float = 0
    @Option(name: .long, help: "Random seed (weights, data order, dropout).")
    var seed: UInt64 = 1
    @Option(name: .long, help: "Evaluate every N steps (default 100; may change on --resume).")
    var evalInterval: Int?
    @Option(name: .long, help: "Validation tokens per evaluation.")
    var evalTokens: Int = 131_072
    @Option(name: .long, help: "Save a checkpoint every N steps (default 500; may change on --resume).")
    var saveInterval: Int?
    @Option(name: .long, help: "Tokenizer size when one is trained (default per preset).")
    var vocabSize: Int?
    @Option(name: .long, help: "Use this SentencePiece .model instead of training one.")
    var tokenizer: String?
    @Option(name: .long, help: "The kind of tokenizer trained when one is: bpe (the default; llama.cpp tokenizes it exactly as Swiftlet does) or unigram.")
    var tokenizerType: String = "bpe"
    @Option(name: .long, help: "Override the preset's context length.")
    var context: Int?
    @Option(name: .long, help: "Override the preset's number of key/value heads (grouped-query attention).")
    var kvHeads: Int?
    @Option(name: .long, help: "bf16 products and attention with fp32 accumulation and master weights (the default where the CPU has AVX512-BF16), or fp32.")
    var precision: String?
    @Flag(name: .long, help: "Continue the run saved in --out.")
    var resume = false
    @Option(name: .long, help: ArgumentHelp("Save and stop after this step, keeping the schedule of the whole run (continue with --resume): for job time limits.", valueName: "step"))
    var stopAt: Int?

    func validate() throws {
        if let preset, ModelPreset(rawValue: preset) == nil {
            throw ValidationError("unknown preset \(preset); choose one of \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive.") }
        if let time, (Format.parseDuration(time) ?? 0) <= 0 { throw ValidationError("--time must be a duration like 5m, 90s or 1h.") }
        if let vocabSize, !(1...(1 << 20)).contains(vocabSize) { throw ValidationError("--vocab-size must be between 1 and 1,048,576.") }
        guard TokenizerModelType(rawValue: tokenizerType) != nil else { throw ValidationError("--tokenizer-type must be bpe or unigram.") }
        if let context, !(2...(1 << 17)).contains(context) { throw ValidationError("--context must be between 2 and 131,072.") }
        if let kvHeads, !(1...1024).contains(kvHeads) { throw ValidationError("--kv-heads must be between 1 and 1024.") }
        if let evalInterval, evalInterval <= 0 { throw ValidationError("--eval-interval must be positive.") }
        if let saveInterval, saveInterval <= 0 { throw ValidationError("--save-interval must be positive.") }
        if let stopAt, stopAt <= 0 { throw ValidationError("--stop-at must be a positive step.") }
        if let batchTokens, batchTokens <= 0 { throw ValidationError("--batch-tokens must be positive.") }
        if let lr, !(lr.isFinite && lr > 0 && lr < 10) { throw ValidationError("--lr must be a positive number below 10.") }
        if let minLr, !(minLr.isFinite && minLr >= 0 && minLr <= (lr ?? 2e-3)) {
            throw ValidationError("--min-lr must be between 0 and --lr.")
        }
        guard dropout >= 0, dropout < 1 else { throw ValidationError("--dropout must be in [0, 1).") }
        guard !data.isEmpty else { throw ValidationError("give the training text with --data.") }
        if let precision, Precision(rawValue: precision) == nil { throw ValidationError("--precision must be fp32 or bf16.") }
        if docSeparator == "" { throw ValidationError("--doc-separator must not be empty.") }
        if resume, time != nil {
            throw ValidationError("--resume continues the saved run with its own schedule; give --steps for a new total instead of --time.")
        }
        if !resume, steps == nil, time == nil { throw ValidationError("say how long to train with --steps N or --time 5m.") }
    }

    func run() throws {
        try runReportingErrors {
            Interrupt.install()
            let world = try Communicators.world()
            let sources = try DataSource.parse(data)
            if sources.count > 1, !val.isEmpty {
                throw SwiftletError("--val goes with a single --data; mixed corpora each hold out their own validation text (a val/ folder, or the last 5%).")
            }
            let texts = try sources.map { try SourceText.read($0, validation: val, format: DocumentFormat(separator: separator)) }

            if resume {
                let checkpoint = try Checkpoint.load(out)
                let (training, validation) = try tokenize(texts, tokenizer: checkpoint.tokenizer)
                let trainer = try Trainer.resume(from: checkpoint, directory: out, training: training, validation: validation)
                try checkUnchanged(trainer, sources: sources)
                if let steps { try trainer.setTotalSteps(steps) }
                try trainer.setIntervals(evaluation: evalInterval, save: saveInterval)
                Console.info("resuming \(out) at step \(trainer.state.step)" + (trainer.state.totalSteps.map { " of \($0)" } ?? ""))
                try TrainingProgress.join(trainer, world)
                try TrainingProgress.run(trainer, stopAt: stopAt)
                return
            }
            try Checkpoint.checkNewDestination(out, resumable: true)
            let presetValue = ModelPreset(rawValue: preset ?? "small")!
            let tokenizer = try obtainTokenizer(Corpus(documents: texts.flatMap(\.train.documents)), preset: presetValue)
            var config = presetValue.config(vocabSize: tokenizer.vocabSize)
            if let context { config.contextLength = context }
            if let kvHeads { config.kvHeads = kvHeads }
            config.dropout = dropout
            try config.validate()
            let (training, validation) = try tokenize(texts, tokenizer: tokenizer)

            var options = TrainingOptions()
            options.seed = seed
            options.learningRate = lr ?? 2e-3
            options.minLearningRate = minLr
            options.warmupSteps = warmup
            options.steps = steps
            options.timeBudget = time.flatMap(Format.parseDuration)
            options.batchTokens = batchTokens ?? 8 * config.contextLength
            options.microBatchTokens = microBatchTokens
            options.adam.weightDecay = weightDecay
            options.decayEmbeddings = decayEmbeddings
            options.gradientClip = gradClip
            options.evalInterval = evalInterval ?? 100
            options.evalTokens = evalTokens
            options.saveInterval = saveInterval ?? 500
            options.precision = precision.flatMap(Precision.init(rawValue:)) ?? .trainingDefault
            options.documentSeparator = separator
            options.corpusWeights = sources.count > 1 ? sources.map { $0.weight! } : nil
            let model = Transformer(config: config)
            let trainer = try Trainer(model: model, tokenizer: tokenizer, preset: presetValue.rawValue, options: options,
                                      training: training, validation: validation, directory: out)
            Console.info("model: \(presetValue.rawValue), \(Format.count(config.parameterCount)) parameters (dim \(config.dim), \(config.layers) layers, \(config.heads) heads, \(config.kvHeads) kv heads, context \(config.contextLength), vocabulary \(config.vocabSize))")
            Console.info("batch: \(Format.grouped(options.batchTokens)) tokens per step, packed from whole documents")
            Console.info(options.precision.describedForTraining)
            try TrainingProgress.join(trainer, world)
            try TrainingProgress.run(trainer, stopAt: stopAt)
        }
    }

    /// Options that shaped the saved run may be repeated with --resume, but not changed.
    func checkUnchanged(_ trainer: Trainer, sources: [DataSource]) throws {
        let saved = trainer.state.options, model = trainer.model.config
        var changed: [String] = []
        if let lr, lr != saved.learningRate { changed.append("--lr") }
        if let precision, precision != saved.precision.rawValue { changed.append("--precision") }
        if let context, context != model.contextLength { changed.append("--context") }
        if let kvHeads, kvHeads != model.kvHeads { changed.append("--kv-heads") }
        if let vocabSize, vocabSize != model.vocabSize { changed.append("--vocab-size") }
        if let preset, preset != trainer.state.preset { changed.append("--preset") }
        if let batchTokens, batchTokens != saved.batchTokens { changed.append("--batch-tokens") }
        if separator != saved.documentSeparator { changed.append("--doc-separator") }
        let weights = sources.count > 1 ? sources.map { $0.weight! } : nil
        if weights != saved.corpusWeights { changed.append("the --data weights") }
        guard changed.isEmpty else {
            throw SwiftletError("--resume continues the saved run with its own settings, but \(changed.joined(separator: ", ")) differ from them; only --steps (a new total) may change.")
        }
    }

    /// Uses --tokenizer, a tokenizer.model beside the data, or trains one (cached by content).
    func obtainTokenizer(_ corpus: Corpus, preset: ModelPreset) throws -> Tokenizer {
        if let tokenizer { return try Tokenizer(contentsOf: tokenizer) }
        if let bundled = DataSplit.bundledTokenizer(data: data) {
            Console.info("tokenizer: \(bundled)")
            return try Tokenizer(contentsOf: bundled)
        }
        let options = TokenizerTrainingOptions(vocabSize: vocabSize ?? preset.defaultVocabSize, modelType: TokenizerModelType(rawValue: tokenizerType)!)
        let text = corpus.text
        let cached = TokenCache.tokenizerPath(for: text, options: options)
        if FileIO.exists(cached), let tokenizer = try? Tokenizer(contentsOf: cached) {
            Console.info("tokenizer: \(tokenizer.vocabSize)-piece \(options.modelType.rawValue), trained earlier on this text (cached)")
            return tokenizer
        }
        Console.info("training a \(options.vocabSize)-piece \(options.modelType.rawValue) tokenizer on \(Format.grouped(text.utf8.count)) bytes…")
        let clock = Stopwatch()
        let tokenizer = try Tokenizer.train(text: text, options: options)
        try? FileIO.createDirectory(TokenCache.directory)
        try? FileIO.writeAtomically(tokenizer.modelBytes, to: cached)
        Console.info("tokenizer trained in \(Format.seconds(clock.seconds))")
        return tokenizer
    }

    /// The separator with the escapes a shell cannot type easily (\\n, \\t) turned into characters.
    var separator: String? {
        docSeparator.map(DocumentFormat.unescaped)
    }

    func tokenize(_ texts: [SourceText], tokenizer: Tokenizer) throws -> ([WeightedCorpus], [ValidationSet]) {
        let prepared = try texts.map { text in
            let clock = Stopwatch()
            let corpus = try PreparedCorpus.prepare(text, tokenizer: tokenizer, heldOutFraction: 0.05)
            TrainingProgress.describe(corpus, seconds: clock.seconds, heldOut: "5%")
            return corpus
        }
        return (prepared.map(\.training), prepared.map(\.validation))
    }
}
