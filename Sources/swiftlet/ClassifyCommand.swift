import ArgumentParser
import Swiftlet

/// `swiftlet classify`: label texts (the default), `classify train`, `classify eval`.
struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Sort text into your own categories: train a classifier, label new text, measure it.",
        subcommands: [Label.self, Train.self, Eval.self],
        defaultSubcommand: Label.self)

    /// Zero-shot options shared by labeling and evaluation.
    struct ZeroShotOptions: ParsableArguments {
        @Option(
            name: .long,
            help: "Zero-shot: score these labels (comma-separated) with the language model instead of a trained head.")
        var labels: String?
        @Option(name: .long, help: "Zero-shot template with {text} and {label}.")
        var template: String = ZeroShot.defaultTemplate

        func zeroShot() throws -> ZeroShot? {
            try labels.map {
                try ZeroShot(
                    labels: $0.split(separator: ",").map(String.init), template: DocumentFormat.unescaped(template))
            }
        }
    }

    /// Labels and probabilities for texts (the library's `Classification`), with a progress line
    /// when labeling lasts long enough to wait for. `extractor`: one the caller keeps between
    /// calls (the REPL's /classify); by default one is built for these texts.
    static func probabilities(
        _ texts: [String], checkpoint: Checkpoint, zeroShot: ZeroShot?,
        extractor: FeatureExtractor? = nil
    ) throws -> (labels: [String], probabilities: [[Float]]) {
        let clock = Stopwatch()
        defer { Console.clearProgress() }
        return try Classification.probabilities(texts, checkpoint: checkpoint, zeroShot: zeroShot, extractor: extractor)
        { done in
            let seconds = clock.seconds
            guard seconds >= 2, done < texts.count else { return }
            Console.progress(
                "labeling: \(done)/\(texts.count) texts, \(Format.fixed(Double(done) / seconds, 0)) texts/s, ETA \(Format.eta(elapsed: seconds, done: done, total: texts.count))"
            )
        }
    }

    struct Label: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "label",
            abstract: "Label --text, every line of --input, or every line of standard input.")
        @OptionGroup var threading: ThreadOptions
        @Option(name: .long, help: "Checkpoint directory (with a classification head, or any model with --labels).")
        var checkpoint: String
        @Option(name: .long, help: "One text to label.")
        var text: String?
        @Option(name: .long, help: "A file with one text per line.")
        var input: String?
        @Flag(name: .long, help: "One JSON object per text with every label's probability.")
        var json = false
        @OptionGroup var zero: ZeroShotOptions
        @OptionGroup var weights: WeightsOptions

        func run() throws {
            try runReportingErrors {
                let loaded = try Checkpoint.load(checkpoint)
                try weights.prepare(loaded)
                let texts: [String]
                if let text {
                    texts = [text]
                } else {
                    let raw = try input.map { try FileIO.readUTF8($0) } ?? readAllStandardInput()
                    texts = raw.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter {
                        !$0.trimmingWhitespace.isEmpty
                    }
                }
                guard !texts.isEmpty else { throw SwiftletError("there is no text to label.") }
                let (labels, probabilities) = try ClassifyCommand.probabilities(
                    texts, checkpoint: loaded, zeroShot: try zero.zeroShot())
                for (text, p) in zip(texts, probabilities) {
                    let best = p.indices.max { p[$0] < p[$1] }!
                    if json {
                        let fields = zip(labels, p).map { "\(JSONText.quoted($0)):\(Format.fixed(Double($1), 4))" }
                            .joined(separator: ",")
                        print(
                            "{\"text\":\(JSONText.quoted(text)),\"label\":\(JSONText.quoted(labels[best])),\"probabilities\":{\(fields)}}"
                        )
                    } else {
                        print("\(labels[best])\t\(Format.fixed(Double(p[best]), 3))")
                    }
                }
            }
        }
    }

    /// Reading labeled files with the column options.
    struct DataOptions: ParsableArguments {
        @Option(name: .long, help: "Labeled examples: .csv, .tsv or .jsonl.")
        var data: String
        @Option(name: .long, help: "The text column (default: text).")
        var textColumn: String?
        @Option(name: .long, help: "The label column (default: label).")
        var labelColumn: String?

        func read(_ path: String? = nil) throws -> [LabeledExample] {
            try LabeledDataReader.read(path: path ?? data, textColumn: textColumn, labelColumn: labelColumn)
        }
    }

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a classification head (and optionally the model) on labeled text; the best epoch is kept.")
        @OptionGroup var threading: ThreadOptions
        @Option(name: .long, help: "The checkpoint to start from (never modified).")
        var checkpoint: String
        @OptionGroup var data: DataOptions
        @Option(name: .long, help: "Validation examples (default: every 10th training row).")
        var val: String?
        @Option(name: .long, help: "Checkpoint directory to write (new or empty).")
        var out: String
        @Option(
            name: .long,
            help:
                "What to train: full (every weight and the head, the default: the best recipe measured, with its own rates for a GGUF or Hugging Face base), lora (adapters and head) or head (on frozen features, seconds)."
        )
        var train: String?
        @Option(name: .long, help: "Pooling of the final hidden states: mean, last, or auto (chosen on validation).")
        var pooling: String = "auto"
        @Option(
            name: .long,
            help:
                "Epochs (at most; early stopping may end sooner; default 6 full, 10 lora or head; \(ClassifierTrainingOptions.pretrained.epochs) end to end from a model pretrained elsewhere)."
        )
        var epochs: Int?
        @Option(
            name: .long,
            help:
                "Learning rate (default: 3e-4 full, 1e-3 lora, 3e-3 head; \(ClassifierTrainingOptions.pretrained.fullLearningRate) full from a model pretrained elsewhere)."
        )
        var lr: Float?
        @Option(
            name: .long,
            help: "Texts per step (default \(ClassifierTrainingOptions().batchSize)), across every MPI rank.")
        var batchSize: Int?
        @Option(
            name: .long,
            help:
                "Texts per forward/backward pass, to save memory (default: the whole step, or each MPI rank's share of it)."
        )
        var microBatchSize: Int?
        @Flag(name: .long, help: "Weight each class by the inverse of its frequency (imbalanced data).")
        var balanceClasses = false
        @Option(
            name: .long,
            help:
                "Stop after this many epochs without a better validation accuracy (default \(ClassifierTrainingOptions().patience))."
        )
        var patience: Int?
        @Option(name: .long, help: "LoRA rank with --train lora (default \(ClassifierTrainingOptions().loraRank)).")
        var loraRank: Int?
        @Option(
            name: .long,
            help:
                "Dropout on the residual branches while training end to end (default 0.1 full, 0 lora; 0 from a model pretrained elsewhere)."
        )
        var dropout: Float?
        @Option(name: .long, help: "Random seed (default \(ClassifierTrainingOptions().seed)).")
        var seed: UInt64?
        @Option(
            name: .long,
            help:
                "Most tokens of one text (default: the longest text, at most the model's context and \(ClassifierTrainingOptions.longestDefaultContext))."
        )
        var context: Int?
        @Flag(
            name: .long, inversion: .prefixedNo,
            help:
                "With --train full: leave the token embeddings as they are (default: trained; frozen from a model pretrained elsewhere)."
        )
        var freezeEmbedding: Bool?
        @Option(
            name: .long,
            help:
                "Products of the end-to-end training pass: fp32 or bf16 (default fp32; bf16 from a model pretrained elsewhere, where bf16 pays on this CPU)."
        )
        var precision: String?
        @Option(
            name: .long,
            help:
                "Steps over which the model's learning rate rises to its peak (default 0; \(ClassifierTrainingOptions.pretrained.warmupSteps) from a model pretrained elsewhere)."
        )
        var warmup: Int?

        func validate() throws {
            if let train, ClassifierTrainingMode(rawValue: train) == nil {
                throw ValidationError("--train must be full, lora or head.")
            }
            if let precision, Precision(rawValue: precision) == nil {
                throw ValidationError("--precision must be fp32 or bf16.")
            }
            guard pooling == "auto" || Pooling(rawValue: pooling) != nil else {
                throw ValidationError("--pooling must be mean, last or auto.")
            }
            // The library checks every value (its messages name the option), before any work starts.
            do { try options(pretrainedElsewhere: false).validate() } catch let error as SwiftletError {
                throw ValidationError(error.message)
            }
        }

        /// The chosen mode's defaults for this kind of base with what the command line gave.
        func options(pretrainedElsewhere: Bool) -> ClassifierTrainingOptions {
            var options = ClassifierTrainingOptions(
                mode: train.flatMap(ClassifierTrainingMode.init(rawValue:)), pretrainedElsewhere: pretrainedElsewhere)
            options.pooling = Pooling(rawValue: pooling)
            if let epochs { options.epochs = epochs }
            if let lr { options.learningRate = lr }
            if let batchSize { options.batchSize = batchSize }
            options.microBatchSize = microBatchSize
            options.balanceClasses = balanceClasses
            if let patience { options.patience = patience }
            if let loraRank { options.loraRank = loraRank }
            if let dropout { options.dropout = dropout }
            if let seed { options.seed = seed }
            if let context { options.context = context }
            if let freezeEmbedding { options.freezeEmbedding = freezeEmbedding }
            if let warmup { options.warmupSteps = warmup }
            if let precision = precision.flatMap(Precision.init(rawValue:)) { options.precision = precision }
            return options
        }

        func run() throws {
            try runReportingErrors {
                Interrupt.install()
                let world = try Communicators.world()
                let base = try Checkpoint.load(checkpoint).forTraining()
                try Checkpoint.checkNewDestination(out, resumable: false)
                var examples = try data.read()
                var held: [LabeledExample]
                if let val {
                    held = try data.read(val)
                } else {
                    (examples, held) = LabeledDataReader.split(examples, testEvery: 10, testRemainder: 9)
                }
                let options = self.options(pretrainedElsewhere: base.isPretrainedElsewhere)
                let trainer = try ClassifierTrainer(
                    base: base, train: examples, validation: held, options: options, directory: out)
                trainer.communicator = world
                Console.info(
                    "\(examples.count) training and \(held.count) validation examples, \(trainer.labels.count) classes (\(trainer.labels.joined(separator: ", "))); training: \(options.mode.rawValue)\(base.isPretrainedElsewhere ? " (the recipe for a model pretrained elsewhere)" : "")"
                )
                Console.info(
                    "texts of at most \(trainer.context) tokens, \(trainer.rowsPerPass) rows per pass; memory: \(trainer.memoryPlan.summary)"
                )
                if world.isParallel {
                    let share = (options.batchSize + world.size - 1) / world.size
                    Console.info(
                        "data parallel: \(world.summary) × \(ComputeThreads.count) thread\(ComputeThreads.count == 1 ? "" : "s"); features and validation are dealt out among the ranks, each rank trains on \(share == 1 ? "1" : "up to \(share)") of the \(options.batchSize) texts of every step; rank 0 writes the checkpoint"
                    )
                }
                let clock = Stopwatch()
                try trainer.run(
                    report: { event in
                        switch event {
                        case let .probe(pooling, accuracy):
                            Console.info(
                                "head on frozen features, \(pooling.rawValue) pooling: validation accuracy \(Format.fixed(accuracy * 100, 1)) %"
                            )
                        case let .epoch(epoch, trainLoss, validationLoss, accuracy, best, seconds):
                            // End-to-end epochs stay on screen; the head's many quick ones do not.
                            Console.progress(
                                "epoch \(epoch) | train loss \(Format.fixed(trainLoss, 3)) | validation loss \(Format.fixed(validationLoss, 3)), accuracy \(Format.fixed(accuracy * 100, 1)) %\(best ? " (best)" : "") | \(Format.seconds(seconds))",
                                final: options.mode != .head)
                        case let .saved(epoch, directory):
                            Console.info("saved \(directory) (epoch \(epoch))")
                            Interrupt.jobEnded(
                                saved: "the checkpoint of epoch \(epoch) in \(directory) is intact", resume: false)
                        case let .features(done, total, seconds):
                            Console.progress(
                                "features of the base: \(done)/\(total) texts, \(Format.fixed(Double(done) / max(seconds, 1e-9), 0)) texts/s, ETA \(Format.eta(elapsed: seconds, done: done, total: total))"
                            )
                        case let .progress(epoch, done, total, seconds, loss, communication):
                            var line =
                                "epoch \(epoch): \(done)/\(total) steps | loss \(Format.fixed(loss, 3)) | \(Format.fixed(Double(done) / max(seconds, 1e-9), 2)) steps/s"
                            if let communication {
                                line +=
                                    " | comm \(Format.fixed(communication.seconds * 1000, 1)) ms (waiting \(Format.fixed(communication.waitingSeconds * 1000, 1)))"
                            }
                            Console.progress(line + " | ETA \(Format.eta(elapsed: seconds, done: done, total: total))")
                        }
                    }, shouldStop: { Interrupt.isRequested })
                Console.info(
                    "done in \(Format.seconds(clock.seconds)): best validation accuracy \(Format.fixed(trainer.bestAccuracy * 100, 1)) % (\(trainer.head?.config.pooling.rawValue ?? "?") pooling), kept in \(out)"
                )
            }
        }
    }

    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accuracy, per-class precision/recall/F1, macro-F1 and the confusion matrix on labeled text.")
        @OptionGroup var threading: ThreadOptions
        @Option(name: .long, help: "Checkpoint directory.")
        var checkpoint: String
        @OptionGroup var data: DataOptions
        @Option(name: .long, help: "Also draw the confusion matrix as an SVG picture here.")
        var plot: String?
        @OptionGroup var zero: ZeroShotOptions
        @OptionGroup var weights: WeightsOptions

        func run() throws {
            try runReportingErrors {
                let loaded = try Checkpoint.load(checkpoint)
                try weights.prepare(loaded)
                let examples = try data.read()
                let clock = Stopwatch()
                let (labels, probabilities) = try ClassifyCommand.probabilities(
                    examples.map(\.text), checkpoint: loaded, zeroShot: try zero.zeroShot())
                let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
                var matrix = ConfusionMatrix(labels: labels)
                for (example, p) in zip(examples, probabilities) {
                    guard let actual = index[example.label] else {
                        throw SwiftletError(
                            "the label \(example.label) in \(data.data) is not one the model knows (\(labels.joined(separator: ", ")))."
                        )
                    }
                    matrix.add(actual: actual, predicted: p.indices.max { p[$0] < p[$1] }!)
                }
                print(matrix.report())
                Console.info("\(examples.count) texts labeled in \(Format.seconds(clock.seconds))")
                if let plot {
                    try FileIO.writeAtomically(matrix.svg(title: "\(checkpoint) on \(data.data)"), to: plot)
                    Console.info("confusion matrix drawn in \(plot)")
                }
            }
        }
    }
}
