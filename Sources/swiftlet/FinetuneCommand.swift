import ArgumentParser
import Swiftlet

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Continue training a checkpoint on your own text or dialogues, keeping the best weights.",
        discussion: """
            --data takes text files or folders, .jsonl with a "text" field, or dialogue .jsonl lines \
            {"messages": [{"role": "system"|"user"|"assistant", "content": …}]}; dialogues are rendered \
            with the checkpoint's chat template and only the assistant's tokens are trained. The base's \
            tokenizer is kept. The validation loss is measured before the first step and every \
            --eval-interval steps; --out always holds the best weights so far, and --patience stops \
            the run once they stop improving.
            """)
    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "The checkpoint to start from (it is never modified).")
    var checkpoint: String
    @Option(name: .long, parsing: .upToNextOption, help: "Training text or dialogues: files or folders.")
    var data: [String] = []
    @Option(
        name: .long, parsing: .upToNextOption,
        help: "Validation files (default: a val/ folder beside train/, or the last --val-fraction).")
    var val: [String] = []
    @Option(name: .long, help: "Fraction of the tokens held out for validation when no validation text is given.")
    var valFraction: Double = TrainingOptions.finetuningHeldOut
    @Option(name: .long, help: "Checkpoint directory to write (new or empty).")
    var out: String
    @Option(name: .long, help: "Training time budget, e.g. 10m.")
    var time: String?
    @Option(name: .long, help: "Number of optimizer steps.")
    var steps: Int?
    @Option(
        name: .long,
        help: "Peak learning rate (default \(FinetuneCommand.defaults.learningRate), a quarter of training's).")
    var lr: Float?
    @Option(name: .long, help: "Warmup steps (default \(FinetuneCommand.defaults.warmupSteps ?? 0)).")
    var warmup: Int?
    @Option(
        name: .long,
        help:
            "Tokens per training window (default: the model's context, at most \(FinetuneCommand.longestDefaultContext))."
    )
    var context: Int?
    @Option(name: .long, help: "Tokens per optimizer step (default: 8 contexts).")
    var batchTokens: Int?
    @Option(
        name: .long,
        help:
            "Largest single forward/backward pass in tokens (bounds memory; default \(FinetuneCommand.defaults.microBatchTokens))."
    )
    var microBatchTokens: Int?
    @Option(
        name: .long,
        help:
            "Evaluate (and keep the weights if they are the best) every N steps (default \(FinetuneCommand.defaults.evalInterval))."
    )
    var evalInterval: Int?
    @Option(
        name: .long,
        help:
            "Stop after this many evaluations in a row without a better validation loss (default \(FinetuneCommand.defaults.patience ?? 0))."
    )
    var patience: Int?
    @Option(
        name: .long, help: "AdamW weight decay (matrices only; default \(FinetuneCommand.defaults.adam.weightDecay)).")
    var weightDecay: Float?
    @Option(name: .long, help: "Split files into documents at this string (\\n and \\t understood).")
    var docSeparator: String?
    @Option(name: .long, help: "Random seed (data order; default \(FinetuneCommand.defaults.seed)).")
    var seed: UInt64?
    @Option(
        name: .long,
        help: "bf16 (the default where it pays: AVX512-BF16 dot products measured ≥ 1.3× the fp32 FMA rate) or fp32.")
    var precision: String?
    @Option(name: .long, help: "Train rank-R LoRA adapters only; the base weights stay frozen.")
    var loraRank: Int?
    @Option(name: .long, help: "LoRA scale numerator: adapters add alpha/rank · B·A (default 2 × rank).")
    var loraAlpha: Float?
    @Option(name: .long, help: "Layers that get adapters, from q,k,v,o,gate,up,down (default all).")
    var loraTargets: String = "q,k,v,o,gate,up,down"
    @Flag(
        name: .long,
        help: "Save the adapters merged into the weights instead of as PEFT adapter files beside the base weights.")
    var mergeLora = false

    func validate() throws {
        if data.isEmpty { throw ValidationError("give the text to fine-tune on with --data.") }
        if steps == nil, time == nil {
            throw ValidationError("say how long to fine-tune with --steps N or --time 10m.")
        }
        if let time, (Format.parseDuration(time) ?? 0) <= 0 {
            throw ValidationError("--time must be a duration like 10m, 90s or 1h.")
        }
        guard valFraction > 0, valFraction < 1 else { throw ValidationError("--val-fraction must be between 0 and 1.") }
        if let precision, Precision(rawValue: precision) == nil {
            throw ValidationError("--precision must be fp32 or bf16.")
        }
        if docSeparator == "" { throw ValidationError("--doc-separator must not be empty.") }
        if let context, context < 2 { throw ValidationError("--context must be at least 2 tokens.") }
        if loraRank == nil, loraAlpha != nil || mergeLora {
            throw ValidationError("--lora-alpha and --merge-lora go with --lora-rank.")
        }
        // The library checks every value (its messages name the option), before any work starts.
        do { try options(contextLength: 1).validate() } catch let error as SwiftletError {
            throw ValidationError(error.message)
        }
    }

    /// The default training window of a long-context model (Gemma 3 270M's context is 32,768):
    /// as long as the chat and classification texts people fine-tune on.
    static let longestDefaultContext = 2048

    /// Fine-tuning's defaults, for the help text.
    static let defaults = TrainingOptions.finetuning(contextLength: 1)

    /// Fine-tuning's defaults with what the command line gave.
    func options(contextLength: Int) throws -> TrainingOptions {
        var options = TrainingOptions.finetuning(contextLength: contextLength)
        if let seed { options.seed = seed }
        if let lr { options.learningRate = lr }
        if let warmup { options.warmupSteps = warmup }
        options.steps = steps
        options.timeBudget = time.flatMap(Format.parseDuration)
        if let batchTokens { options.batchTokens = batchTokens }
        if let microBatchTokens { options.microBatchTokens = microBatchTokens }
        if let weightDecay { options.adam.weightDecay = weightDecay }
        if let evalInterval { options.evalInterval = evalInterval }
        if let precision = precision.flatMap(Precision.init(rawValue:)) { options.precision = precision }
        options.documentSeparator = docSeparator
        if let patience { options.patience = patience }
        options.lora = try loraRank.map { LoRAConfig(rank: $0, alpha: loraAlpha, targets: try loraTargetList()) }
        options.mergeAdapters = mergeLora
        return options
    }

    func loraTargetList() throws -> [LoRATarget] {
        try loraTargets.split(separator: ",").map {
            guard let target = LoRATarget(rawValue: String($0.filter { !$0.isWhitespace })) else {
                throw ValidationError("unknown --lora-targets entry \($0); choose from q,k,v,o,gate,up,down.")
            }
            return target
        }
    }

    func run() throws {
        try runReportingErrors {
            Interrupt.install()
            let world = try Communicators.world()
            let base = try Checkpoint.load(checkpoint).forTraining()
            try Checkpoint.checkNewDestination(out, resumable: false)
            let sources = try DataSource.parse(data)
            guard sources.count == 1, let source = sources.first else {
                throw SwiftletError("finetune takes one corpus; give --data without weights.")
            }
            let text = try SourceText.read(
                source, validation: val, format: DocumentFormat(separator: docSeparator.map(DocumentFormat.unescaped)))
            let clock = Stopwatch()
            let prepared = try PreparedCorpus.prepare(text, tokenizer: base.tokenizer, heldOutFraction: valFraction)
            TrainingProgress.describe(
                prepared, seconds: clock.seconds, heldOut: "\(Format.fixed(valFraction * 100, 0))%")
            guard prepared.validation.documents.count >= 2 else {
                throw SwiftletError("the validation text is too short to measure anything.")
            }

            let modelContext = base.model.config.contextLength
            let window = context ?? min(modelContext, Self.longestDefaultContext)
            guard window <= modelContext else {
                throw SwiftletError("--context \(window) is longer than the model's context of \(modelContext) tokens.")
            }
            var options = try self.options(contextLength: window)
            if window < modelContext { options.trainingContext = window }
            let trainer = try Trainer(
                finetuning: base, options: options, training: [prepared.training],
                validation: [prepared.validation], directory: out)
            let dialogues = text.train.hasDialogues
            if dialogues { trainer.chatTemplate = trainer.chatTemplate ?? .native(for: base.tokenizer) }
            trainer.provenance = ["finetunedFrom": base.directory, "data": dialogues ? "dialogues" : "text"]
            let what =
                trainer.adapters.map {
                    "LoRA rank \($0.config.rank) adapters (\(Format.count($0.parameters.count)) trainable parameters, base frozen)"
                }
                ?? "all \(Format.count(base.model.config.parameterCount)) parameters"
            Console.info(
                "fine-tuning \(base.directory): \(what), on \(dialogues ? "dialogues (assistant tokens trained)" : "text"), lr \(Format.scientific(Double(options.learningRate)))"
            )
            Console.info(options.precision.describedForTraining(requested: precision != nil))
            Console.info("memory: \(trainer.memory.summary) of this machine's \(Format.bytes(MemoryPlan.machineBytes))")
            try TrainingProgress.join(trainer, world)
            let outcome = try TrainingProgress.run(trainer, interruptedHint: "\(out) holds the best weights so far")
            let best = trainer.state.bestValidationLoss.map { Format.fixed($0, 3) } ?? "?"
            let kept = "\(out) holds step \(trainer.savedStep ?? 0), validation loss \(best)"
            Console.info(
                outcome == .stoppedEarly
                    ? "stopped early: no better validation loss in \(options.patience ?? 0) evaluations; \(kept)"
                    : "done: \(kept)")
        }
    }
}
