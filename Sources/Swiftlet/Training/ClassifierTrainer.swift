#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a classifier fine-tune trains: the head alone on frozen features, LoRA adapters and
/// the head, or every weight and the head.
public enum ClassifierTrainingMode: String, Codable, CaseIterable, Sendable { case head, lora, full }

public struct ClassifierTrainingOptions: Sendable {
    public var mode: ClassifierTrainingMode
    /// nil: mean and last-token pooling are both tried on the head alone; validation picks.
    public var pooling: Pooling? = nil
    public var epochs: Int
    /// Default: 3e-3 for the head on features, 1e-3 with LoRA, 3e-4 for full fine-tuning.
    public var learningRate: Float? = nil
    public var batchSize = 32
    /// Weight each class's loss by total / (classes × its count), for imbalanced data.
    public var balanceClasses = false
    /// Stop after this many epochs without a better validation accuracy.
    public var patience = 3
    public var seed: UInt64 = 1
    public var loraRank = 8
    /// Rows of one forward/backward pass (at least the context); a step's texts beyond it take more passes.
    public var maxRowsPerPass = 4096
    /// The most tokens of one text (its beginning is kept). nil: the longest text of the data,
    /// at most `longestDefaultContext` and the model's context — a pass sized by the data, not
    /// by a long-context model's 32,768 tokens.
    public var context: Int? = nil
    /// Full fine-tuning leaves the token embeddings as they are (they get no gradient and no
    /// AdamW update): a pretrained model's tied embedding is most of its weights.
    public var freezeEmbedding = false
    /// End-to-end steps over which the model's learning rate rises linearly to its peak (the
    /// head, already trained on features, starts at its own).
    public var warmupSteps = 0
    /// The end-to-end training pass's products (features and validation run in fp32, as labeling does).
    public var precision: Precision = .fp32
    /// Texts of one forward/backward pass (nil: a rank's whole share of the step, as rows allow).
    /// A data-parallel run of N ranks cuts each step's texts into N consecutive shares; one
    /// process with this set to a share's size takes the very same passes.
    public var microBatchSize: Int? = nil
    /// Dropout on the residual branches during end-to-end training (LoRA or full).
    public var dropout: Float

    /// Each mode's defaults. The default mode is the best recipe measured (README, "The movie-review
    /// polarity corpus"): full fine-tuning at 3e-4 with dropout 0.1 for up to 6 epochs, which beats
    /// the head alone by 8 to 10 points of test accuracy; the head alone (10 epochs) takes seconds.
    public init(mode: ClassifierTrainingMode = .full) {
        self.mode = mode
        epochs = mode == .full ? 6 : 10
        dropout = mode == .full ? 0.1 : 0
    }

    /// The defaults for a base. Swiftlet's own models, trained here from a few megabytes, get
    /// `init(mode:)`'s. A model pretrained elsewhere on far more text (read from a GGUF file or a
    /// Hugging Face directory Swiftlet did not write: Gemma 3 270M) already has the features:
    /// the measured recipe for it (README, "A pretrained base") is full fine-tuning at a rate
    /// a fifteenth as large, warmed up, without dropout, for two epochs (it overfits by the third),
    /// the token embeddings frozen (they are most of a small model's weights: Gemma 3 270M's
    /// 168 M of 268 M, and the texts at hand touch few of their rows), in the training default
    /// precision (bf16 where it pays, `DefaultPrecision`).
    public init(mode: ClassifierTrainingMode? = nil, pretrainedElsewhere: Bool) {
        self.init(mode: mode ?? .full)
        guard pretrainedElsewhere, self.mode != .head else { return }
        epochs = Self.pretrained.epochs
        dropout = 0
        warmupSteps = Self.pretrained.warmupSteps
        if self.mode == .full {
            learningRate = Self.pretrained.fullLearningRate
            freezeEmbedding = Self.pretrained.freezesEmbedding
        }
        precision = .trainingDefault
    }

    /// The recipe for a base pretrained elsewhere, chosen on validation (README).
    public static let pretrained = (fullLearningRate: Float(2e-5), epochs: 2, warmupSteps: 20, freezesEmbedding: true)

    /// Every option in range; the learning rates finite and positive.
    public func validate() throws {
        if let learningRate, !(learningRate.isFinite && learningRate > 0 && learningRate < 10) {
            throw SwiftletError("--lr must be a positive number below 10.")
        }
        guard (1...100_000).contains(epochs) else { throw SwiftletError("--epochs must be between 1 and 100,000.") }
        guard (1...65_536).contains(batchSize) else {
            throw SwiftletError("--batch-size must be between 1 and 65,536.")
        }
        guard (1...100_000).contains(patience) else { throw SwiftletError("--patience must be between 1 and 100,000.") }
        guard (1...1024).contains(loraRank) else { throw SwiftletError("--lora-rank must be between 1 and 1024.") }
        guard dropout >= 0, dropout < 1 else { throw SwiftletError("--dropout must be in [0, 1).") }
        guard (0...1_000_000).contains(warmupSteps) else {
            throw SwiftletError("--warmup must be between 0 and 1,000,000 steps.")
        }
        guard (1...(1 << 20)).contains(maxRowsPerPass) else {
            throw SwiftletError("the rows per pass must be between 1 and 1,048,576.")
        }
        if let context, !(2...(1 << 17)).contains(context) {
            throw SwiftletError("--context must be between 2 and 131,072 tokens.")
        }
        if freezeEmbedding, mode != .full { throw SwiftletError("--freeze-embedding goes with --train full.") }
        if let microBatchSize, !(1...65_536).contains(microBatchSize) {
            throw SwiftletError("--micro-batch-size must be between 1 and 65,536.")
        }
    }

    /// The default longest text of a long-context model, as `finetune --context`'s.
    public static let longestDefaultContext = 2048

    var headLearningRate: Float { mode == .head ? (learningRate ?? 3e-3) : 3e-3 }
    var modelLearningRate: Float { learningRate ?? (mode == .lora ? 1e-3 : 3e-4) }
}

public enum ClassifierEvent: Sendable {
    /// The head alone trained on frozen features with one pooling: best validation accuracy.
    case probe(pooling: Pooling, accuracy: Double)
    case epoch(
        epoch: Int, trainLoss: Double, validationLoss: Double, validationAccuracy: Double, best: Bool, seconds: Double)
    case saved(epoch: Int, directory: String)
    /// The base's features under way: `done` of `total` texts, `seconds` after they started.
    case features(done: Int, total: Int, seconds: Double)
    /// An end-to-end epoch under way: `done` of its `total` steps, `seconds` after it started;
    /// `loss`: the last step's mean loss; `communication`: its time in collectives (nil alone).
    case progress(epoch: Int, done: Int, total: Int, seconds: Double, loss: Double, communication: StepCommunication?)
}

/// Fine-tunes a classifier on labeled texts: a linear head on a pooled final hidden state,
/// trained first on frozen features (which also chooses the pooling), then — with LoRA or full
/// fine-tuning — end to end. The checkpoint directory always holds the best epoch by validation
/// accuracy; training stops after `patience` epochs without improvement.
///
/// Data-parallel under MPI (`communicator`): feature extraction and validation are dealt out
/// among the ranks; each end-to-end step's texts are cut into one consecutive share per rank,
/// whose gradients (the model's or the adapters', and the head's) are summed before every rank
/// takes the same step; the head on frozen features is trained alike on every rank and rank 0's
/// kept; rank 0 alone writes.
public final class ClassifierTrainer {
    public let base: Checkpoint
    public let labels: [String]
    public let options: ClassifierTrainingOptions
    public let directory: String
    let train: [(text: String, label: Int)]
    let validation: [(text: String, label: Int)]
    let classWeights: [Float]?
    /// The texts' tokens, each at most `context` long and ending with the end-of-sequence token.
    let trainTokens: [[Int32]], validationTokens: [[Int32]]
    /// The most tokens of one text in this run (see `ClassifierTrainingOptions.context`).
    public let context: Int
    /// Rows of each forward (and backward) pass: one step's texts at the longest, within
    /// `maxRowsPerPass`, and at least one whole text.
    public let rowsPerPass: Int
    public private(set) var head: ClassifierHead?
    public private(set) var bestAccuracy = -1.0
    private var adapters: LoRAAdapters?
    /// The ranks of a data-parallel run (one process alone by default).
    public var communicator: Communicator = SingleProcess()
    /// Every end-to-end step's loss and every epoch's validation, as metrics.jsonl has them.
    public private(set) var records: [MetricRecord] = []
    /// The epoch the checkpoint directory holds, once saved.
    public private(set) var savedEpoch: Int?
    /// The current step's gradient all-reduce and the wait before it (data-parallel runs).
    var gradientSumSeconds = 0.0, gradientWaitSeconds = 0.0
    /// The weights being trained: the base's, in a model whose config carries the dropout.
    public private(set) lazy var model: Transformer = {
        var config = base.model.config
        config.dropout = options.dropout
        let model = Transformer(config: config)
        model.parameters.copy(from: base.model.parameters)
        return model
    }()

    public init(
        base: Checkpoint, labels: [String], train: [(text: String, label: Int)],
        validation: [(text: String, label: Int)],
        options: ClassifierTrainingOptions, directory: String
    ) throws {
        try options.validate()
        guard labels.count >= 2 else {
            throw SwiftletError(
                "the training data has one class only (\(labels.first ?? "none")); a classifier needs at least two.")
        }
        guard !validation.isEmpty else { throw SwiftletError("there are no validation examples.") }
        self.base = base
        self.labels = labels
        self.train = train
        self.validation = validation
        self.options = options
        self.directory = directory
        let modelContext = base.model.config.contextLength
        let untruncated = (train.map(\.text) + validation.map(\.text)).map {
            FeatureExtractor.tokens($0, tokenizer: base.tokenizer, context: modelContext)
        }
        let longest = untruncated.map(\.count).max() ?? 1
        if let asked = options.context, asked > modelContext {
            throw SwiftletError("--context \(asked) is longer than the model's context of \(modelContext) tokens.")
        }
        let context = options.context ?? min(longest, Self.longestDefaultContext(modelContext))
        self.context = context
        let encode = { (text: String) in FeatureExtractor.tokens(text, tokenizer: base.tokenizer, context: context) }
        trainTokens = longest > context ? train.map { encode($0.text) } : Array(untruncated[..<train.count])
        validationTokens = longest > context ? validation.map { encode($0.text) } : Array(untruncated[train.count...])
        rowsPerPass = max(context, min(options.maxRowsPerPass, options.batchSize * context))
        if options.balanceClasses {
            var counts = [Int](repeating: 0, count: labels.count)
            for example in train { counts[example.label] += 1 }
            classWeights = counts.map { $0 == 0 ? 0 : Float(train.count) / Float(labels.count * $0) }
        } else {
            classWeights = nil
        }
        try memoryPlan.check("this classifier training run")
    }

    /// The default longest text for a model of this context: the whole context, at most
    /// `ClassifierTrainingOptions.longestDefaultContext` tokens.
    static func longestDefaultContext(_ modelContext: Int) -> Int {
        min(modelContext, ClassifierTrainingOptions.longestDefaultContext)
    }

    /// What the run will allocate: the base's weights, its feature pass and a save's file, then for end-to-end
    /// training the weights being trained with their gradients, moments, training pass and
    /// validation pass. No logits anywhere: no loss here needs the vocabulary projection.
    public var memoryPlan: MemoryPlan {
        let c = base.model.config
        var plan = MemoryPlan.weights(c)
        plan.parts[0].name = "base weights"
        plan.parts.append(("feature pass", ScoringPass.bytes(c, rows: rowsPerPass, logits: false)))
        plan.add(
            "features", floats: train.count + validation.count, c.dim,
            options.pooling == nil ? Pooling.allCases.count : 1)
        plan.addSaving(c)
        guard options.mode != .head else { return plan }
        let lora = options.mode == .lora ? LoRAConfig(rank: options.loraRank).parameterCount(c) : nil
        // A frozen embedding table has no AdamW moments.
        let unfrozen = options.freezeEmbedding ? c.parameterCount - c.vocabSize * c.dim : nil
        var trained = MemoryPlan.training(
            c, rows: rowsPerPass, trainedParameters: lora ?? unfrozen, logits: false, precision: options.precision)
        trained.parts[0].name = "weights trained"
        plan.parts += trained.parts
        plan.parts.append(("validation pass", ScoringPass.bytes(c, rows: rowsPerPass, logits: false)))
        return plan
    }

    /// From labeled examples: the classes are the training examples' labels, sorted; a
    /// validation label the training data never has is refused.
    public convenience init(
        base: Checkpoint, train: [LabeledExample], validation: [LabeledExample], options: ClassifierTrainingOptions,
        directory: String
    ) throws {
        let labels = Array(Set(train.map(\.label))).sorted()
        guard labels.count >= 2 else {
            throw SwiftletError(
                "the training data has one class only (\(labels.first ?? "none")); a classifier needs at least two.")
        }
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        if let unseen = validation.first(where: { index[$0.label] == nil }) {
            throw SwiftletError(
                "the validation label \(unseen.label) never occurs in the training data (\(labels.joined(separator: ", ")))."
            )
        }
        try self.init(
            base: base, labels: labels, train: train.map { ($0.text, index[$0.label]!) },
            validation: validation.map { ($0.text, index[$0.label]!) }, options: options, directory: directory)
    }

    public func run(report: (ClassifierEvent) -> Void, shouldStop: () -> Bool = { false }) throws {
        guard !communicator.isRoot || Checkpoint.mayWrite(directory) else {
            throw SwiftletError(
                "\(directory) holds files that are not a Swiftlet checkpoint; choose a new or empty --out.")
        }
        do {
            try checkRanksAgree()
            try trainAndSave(report: report, shouldStop: shouldStop)
        } catch let failure as CommunicationFailure {
            let kept =
                savedEpoch.map { "the checkpoint of epoch \($0) in \(directory) is intact" } ?? "nothing was saved"
            throw SwiftletError("\(failure.message); \(kept).")
        }
    }

    private func trainAndSave(report: (ClassifierEvent) -> Void, shouldStop: () -> Bool) throws {
        let dim = base.model.config.dim
        let poolings = options.pooling.map { [$0] } ?? Pooling.allCases
        let (trainFeatures, validationFeatures) = try {
            // The base's pass is let go before end-to-end training makes its own. Under MPI the
            // passes are dealt out among the ranks (progress: rank 0's share).
            let extractor = FeatureExtractor(
                model: base.model, tokenizer: base.tokenizer, maxRows: rowsPerPass, context: context)
            let clock = Stopwatch(), total = train.count + validation.count
            let trainFeatures = try extractor.features(
                encoded: trainTokens, poolings: poolings, communicator: communicator
            ) {
                report(.features(done: $0, total: total, seconds: clock.seconds))
            }
            let validationFeatures = try extractor.features(
                encoded: validationTokens, poolings: poolings, communicator: communicator
            ) {
                report(.features(done: self.train.count + $0, total: total, seconds: clock.seconds))
            }
            return (trainFeatures, validationFeatures)
        }()
        // The head on frozen features, for each pooling; the best by validation accuracy stays.
        var best: (head: ClassifierHead, accuracy: Double)?
        for pooling in poolings {
            let candidate = ClassifierHead(config: ClassifierConfig(labels: labels, pooling: pooling), dim: dim)
            candidate.initialize(seed: options.seed)
            let accuracy = trainHeadOnFeatures(
                candidate, train: trainFeatures[pooling]!, validation: validationFeatures[pooling]!,
                report: options.mode == .head ? report : { _ in }, shouldStop: shouldStop)
            report(.probe(pooling: pooling, accuracy: accuracy))
            if accuracy > best?.accuracy ?? -1 { best = (candidate, accuracy) }
        }
        head = best!.head
        bestAccuracy = best!.accuracy
        try keepRankZerosHead()
        // The head on the unchanged model is the first checkpoint; end-to-end epochs replace it
        // only when they do better.
        try save(epoch: 0)
        report(.saved(epoch: 0, directory: directory))
        if options.mode != .head { try trainEndToEnd(report: report, shouldStop: shouldStop) }
    }

    /// Mini-batch AdamW on cached features; keeps the epoch with the best validation accuracy.
    private func trainHeadOnFeatures(
        _ head: ClassifierHead, train features: [Float], validation: [Float],
        report: (ClassifierEvent) -> Void, shouldStop: () -> Bool
    ) -> Double {
        let dim = head.dim
        let gradients = FloatBuffer(count: head.parameters.count)
        let step = OptimizerStep(
            groups: [headGroup(head, gradients: gradients, schedule: .constant(options.headLearningRate))],
            gradientClip: 0)
        var rng = RandomGenerator(seed: options.seed ^ 0xFEA7)
        var order = Array(0..<train.count)
        let bestParameters = FloatBuffer(count: head.parameters.count)
        var bestAccuracy = -1.0
        // Epochs over features are cheap: more of them, with the same patience rule.
        var patience = EarlyStopping(patience: options.patience * 4)
        for epoch in 1...max(options.epochs, 1) * 4 {
            let clock = Stopwatch()
            rng.shuffle(&order)
            var trainLoss = 0.0
            for start in stride(from: 0, to: order.count, by: options.batchSize) {
                let indices = Array(order[start..<min(start + options.batchSize, order.count)])
                var pooled = [Float](repeating: 0, count: indices.count * dim)
                for (k, i) in indices.enumerated() {
                    pooled.replaceSubrange(k * dim..<(k + 1) * dim, with: features[i * dim..<(i + 1) * dim])
                }
                let labels = indices.map { train[$0].label }
                trainLoss +=
                    step.take(microBatches: 1) { _, _ in
                        pooled.withUnsafeBufferPointer {
                            head.lossAndGradients(
                                $0.baseAddress!, labels: labels, classWeights: classWeights,
                                normalizer: normalizer(labels),
                                gradients: gradients, dPooled: nil
                            ).loss
                        }
                    }.loss
            }
            let (validationLoss, accuracy) = score(head, features: validation)
            let improved = accuracy > bestAccuracy
            if improved {
                bestAccuracy = accuracy
                bestParameters.copy(from: head.parameters)
            }
            report(
                .epoch(
                    epoch: epoch, trainLoss: trainLoss / Double(train.count), validationLoss: validationLoss,
                    validationAccuracy: accuracy, best: improved, seconds: clock.seconds))
            if patience.record(improved: improved) || shouldStop() { break }
        }
        head.parameters.copy(from: bestParameters)
        return bestAccuracy
    }

    /// The head's arena as an optimizer group (never clipped: only the model's gradients are).
    private func headGroup(
        _ head: ClassifierHead, gradients: FloatBuffer, schedule: LearningRateSchedule
    ) -> OptimizerStep.Group {
        OptimizerStep.Group(
            parameters: head.parameters, gradients: gradients,
            optimizer: Optimizer(views: head.views),
            schedule: schedule, settings: Self.adamSettings, clipped: false)
    }

    /// Light weight decay: the classifier starts from trained weights.
    static var adamSettings: AdamWSettings {
        var settings = AdamWSettings()
        settings.weightDecay = 0.01
        return settings
    }

    /// The loss is a (class-weighted) mean over the step's texts.
    private func normalizer(_ labels: [Int]) -> Float {
        Float(labels.reduce(0) { $0 + Double(classWeights?[$1] ?? 1) })
    }

    /// Mean loss and accuracy of `head` on pooled validation features.
    private func score(_ head: ClassifierHead, features: [Float]) -> (loss: Double, accuracy: Double) {
        let probabilities = features.withUnsafeBufferPointer {
            head.probabilities($0.baseAddress!, count: validation.count)
        }
        var loss = 0.0, correct = 0
        for (p, example) in zip(probabilities, validation) {
            loss -= log(Double(max(p[example.label], 1e-30)))
            if p.indices.max(by: { p[$0] < p[$1] }) == example.label { correct += 1 }
        }
        return (loss / Double(validation.count), Double(correct) / Double(validation.count))
    }

    /// LoRA or full fine-tuning of the model together with the head.
    private func trainEndToEnd(report: (ClassifierEvent) -> Void, shouldStop: () -> Bool) throws {
        guard let head else { return }
        let model = self.model, dim = model.config.dim
        if options.mode == .lora {
            let lora = LoRAAdapters(config: LoRAConfig(rank: options.loraRank), model: model.config)
            lora.initialize(seed: options.seed)
            adapters = lora
        }
        // Features for validation come forward only; the training batches go through a pass with a backward.
        let classifier = FeatureExtractor(
            model: model, tokenizer: base.tokenizer, maxRows: rowsPerPass, context: context, adapters: adapters)
        let pass = TrainingPass(
            model: model, maxRows: classifier.pass.maxRows, precision: options.precision, adapters: adapters)
        pass.trainsEmbedding = !options.freezeEmbedding
        let headGradients = FloatBuffer(count: head.parameters.count)
        let stepsPerEpoch = (train.count + options.batchSize - 1) / options.batchSize
        // Linear decay to a tenth over the run, for the model and the head alike.
        func decaying(_ peak: Float, warmup: Int = 0) -> LearningRateSchedule {
            LearningRateSchedule(
                peak: peak, floor: peak / 10, warmupSteps: warmup, totalSteps: max(options.epochs * stepsPerEpoch, 1),
                decay: .linear)
        }
        let modelGroup = OptimizerStep.Group.trained(
            by: pass, schedule: decaying(options.modelLearningRate, warmup: options.warmupSteps),
            settings: Self.adamSettings, freezesEmbedding: options.freezeEmbedding)
        let step = OptimizerStep(
            groups: [
                modelGroup, headGroup(head, gradients: headGradients, schedule: decaying(options.headLearningRate)),
            ],
            gradientClip: 1, dropoutSeed: options.dropout > 0 ? options.seed : nil)
        var rng = RandomGenerator(seed: options.seed ^ 0xE2E)
        var order = Array(0..<train.count)
        let encoded = trainTokens
        let world = communicator
        var pooled = [Float](repeating: 0, count: options.batchSize * dim), dPooled = pooled
        var patience = EarlyStopping(patience: options.patience)
        for epoch in 1...max(options.epochs, 1) {
            let clock = Stopwatch()
            rng.shuffle(&order)
            var trainLoss = 0.0
            var stop = false
            for (done, start) in stride(from: 0, to: order.count, by: options.batchSize).enumerated() {
                let indices = Array(order[start..<min(start + options.batchSize, order.count)])
                let normalizer = normalizer(indices.map { train[$0].label })
                let communicationBefore = world.communicationSeconds
                // This rank's share of the step's texts, in passes of at most the micro-batch and
                // the pass's rows; the passes' gradients add up before the one optimizer step.
                let plan = ClassifierStepPlan(
                    lengths: indices.map { encoded[$0].count },
                    microBatchSize: options.microBatchSize ?? options.batchSize,
                    maxRows: pass.maxRows, ranks: world.size)
                let passes = plan.passes[world.rank]
                gradientSumSeconds = 0
                gradientWaitSeconds = 0
                let outcome = try step.take(
                    microBatches: passes.count, firstMicroBatch: plan.firstPass(of: world.rank),
                    sumOverRanks: sumOverRanks
                ) { i, dropoutSeed in
                    let range = passes[i]
                    let batch = FeatureExtractor.batch(range.map { encoded[indices[$0]] })
                    let labels = range.map { train[indices[$0]].label }
                    pass.forwardOnly(batch, dropoutSeed: dropoutSeed)
                    let loss = pooled.withUnsafeMutableBufferPointer { p in
                        dPooled.withUnsafeMutableBufferPointer { d in
                            ClassifierHead.pool(
                                pass.finalHidden, cumulativeLengths: batch.cumulativeLengths, dim: dim,
                                pooling: head.config.pooling, into: p.baseAddress!)
                            let loss = head.lossAndGradients(
                                p.baseAddress!, labels: labels, classWeights: classWeights, normalizer: normalizer,
                                gradients: headGradients, dPooled: d.baseAddress!
                            ).loss
                            ClassifierHead.unpool(
                                d.baseAddress!, cumulativeLengths: batch.cumulativeLengths, dim: dim,
                                pooling: head.config.pooling,
                                into: pass.finalHiddenGradient)
                            return loss
                        }
                    }
                    pass.backward(fromFinalHidden: batch, dropout: dropoutSeed != nil)
                    return loss
                }
                var loss = [outcome.loss]
                try world.allReduceSum(&loss)
                trainLoss += loss[0]
                var record = MetricRecord(step: step.count, kind: "train", loss: loss[0] / Double(normalizer))
                record.learningRate = Double(outcome.learningRate)
                let communication = StepCommunication.of(
                    world, since: communicationBefore, allReduceSeconds: gradientSumSeconds,
                    waitingSeconds: gradientWaitSeconds)
                record.record(communication)
                append(record)
                report(
                    .progress(
                        epoch: epoch, done: done + 1, total: stepsPerEpoch, seconds: clock.seconds, loss: record.loss,
                        communication: communication))
                stop = try agreed(shouldStop())
                if stop { break }
            }
            let features = try classifier.features(
                encoded: validationTokens, poolings: [head.config.pooling],
                communicator: world)[head.config.pooling]!
            let (validationLoss, accuracy) = score(head, features: features)
            let improved = accuracy > bestAccuracy
            var record = MetricRecord(step: step.count, kind: "eval", loss: validationLoss)
            record.accuracy = accuracy
            append(record)
            report(
                .epoch(
                    epoch: epoch, trainLoss: trainLoss / Double(train.count), validationLoss: validationLoss,
                    validationAccuracy: accuracy, best: improved, seconds: clock.seconds))
            if improved {
                bestAccuracy = accuracy
                try save(epoch: epoch)
                report(.saved(epoch: epoch, directory: directory))
            }
            // Every rank ends the run at the same epoch, whatever each one's patience says.
            if try agreed(patience.record(improved: improved) || stop || shouldStop()) { break }
        }
    }

    func appendRecord(_ record: MetricRecord) { records.append(record) }
    func setBestAccuracy(_ accuracy: Double) { bestAccuracy = accuracy }

    /// The checkpoint: the (fine-tuned) model, its tokenizer, and the head with its labels.
    public func save(epoch: Int) throws {
        guard let head else { return }
        guard communicator.isRoot else {
            savedEpoch = epoch
            return
        }
        var config = base.config
        config.training["classifier"] =
            "\(options.mode.rawValue), \(head.config.pooling.rawValue) pooling, \(labels.count) classes"
        config.training["classifierValidationAccuracy"] = String(bestAccuracy)
        config.training["classifierEpoch"] = String(epoch)
        config.training["finetunedFrom"] = base.directory
        try CheckpointStore.write(
            CheckpointContents(
                config: config, model: model, tokenizer: base.tokenizer, adapters: adapters, classifier: head,
                metrics: records.isEmpty ? nil : (records, "\(directory.lastComponent) — classifier, epoch \(epoch)")),
            to: directory)
        savedEpoch = epoch
    }
}

extension Checkpoint {
    /// Whether the model was pretrained elsewhere: read from a GGUF file or from a Hugging Face
    /// directory Swiftlet did not write (which `classify train`'s defaults follow).
    public var isPretrainedElsewhere: Bool {
        if case .swiftlet = source { return false }
        return true
    }
}
