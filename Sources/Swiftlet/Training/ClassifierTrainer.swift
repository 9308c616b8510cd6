#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a classifier fine-tune trains: the head alone on frozen features, LoRA adapters and
/// the head, or every weight and the head.
public enum ClassifierTrainingMode: String, Codable, CaseIterable, Sendable { case head, lora, full }

public struct ClassifierTrainingOptions: Sendable {
    public var mode: ClassifierTrainingMode = .head
    /// nil: mean and last-token pooling are both tried on the head alone; validation picks.
    public var pooling: Pooling? = nil
    public var epochs = 10
    /// Default: 3e-3 for the head on features, 1e-3 with LoRA, 1e-4 for full fine-tuning.
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
    /// Dropout on the residual branches during end-to-end training (LoRA or full).
    public var dropout: Float = 0
    public init() {}

    /// Every option in range; the learning rates finite and positive.
    public func validate() throws {
        if let learningRate, !(learningRate.isFinite && learningRate > 0 && learningRate < 10) {
            throw SwiftletError("--lr must be a positive number below 10.")
        }
        guard (1...100_000).contains(epochs) else { throw SwiftletError("--epochs must be between 1 and 100,000.") }
        guard (1...65_536).contains(batchSize) else { throw SwiftletError("--batch-size must be between 1 and 65,536.") }
        guard (1...100_000).contains(patience) else { throw SwiftletError("--patience must be between 1 and 100,000.") }
        guard (1...1024).contains(loraRank) else { throw SwiftletError("--lora-rank must be between 1 and 1024.") }
        guard dropout >= 0, dropout < 1 else { throw SwiftletError("--dropout must be in [0, 1).") }
        guard (1...(1 << 20)).contains(maxRowsPerPass) else { throw SwiftletError("the rows per pass must be between 1 and 1,048,576.") }
    }

    var headLearningRate: Float { mode == .head ? (learningRate ?? 3e-3) : 3e-3 }
    var modelLearningRate: Float { learningRate ?? (mode == .lora ? 1e-3 : 1e-4) }
}

public enum ClassifierEvent: Sendable {
    /// The head alone trained on frozen features with one pooling: best validation accuracy.
    case probe(pooling: Pooling, accuracy: Double)
    case epoch(epoch: Int, trainLoss: Double, validationLoss: Double, validationAccuracy: Double, best: Bool, seconds: Double)
    case saved(epoch: Int, directory: String)
    /// An end-to-end epoch under way: `done` of its `total` steps, `seconds` after it started.
    case progress(epoch: Int, done: Int, total: Int, seconds: Double)
}

/// Fine-tunes a classifier on labeled texts: a linear head on a pooled final hidden state,
/// trained first on frozen features (which also chooses the pooling), then — with LoRA or full
/// fine-tuning — end to end. The checkpoint directory always holds the best epoch by validation
/// accuracy; training stops after `patience` epochs without improvement.
public final class ClassifierTrainer {
    public let base: Checkpoint
    public let labels: [String]
    public let options: ClassifierTrainingOptions
    public let directory: String
    let train: [(text: String, label: Int)]
    let validation: [(text: String, label: Int)]
    let classWeights: [Float]?
    public private(set) var head: ClassifierHead?
    public private(set) var bestAccuracy = -1.0
    private var adapters: LoRAAdapters?
    /// The weights being trained: the base's, in a model whose config carries the dropout.
    public private(set) lazy var model: Transformer = {
        var config = base.model.config
        config.dropout = options.dropout
        let model = Transformer(config: config)
        model.parameters.copy(from: base.model.parameters)
        return model
    }()

    public init(base: Checkpoint, labels: [String], train: [(text: String, label: Int)], validation: [(text: String, label: Int)],
                options: ClassifierTrainingOptions, directory: String) throws {
        try options.validate()
        guard labels.count >= 2 else { throw SwiftletError("the training data has one class only (\(labels.first ?? "none")); a classifier needs at least two.") }
        guard !validation.isEmpty else { throw SwiftletError("there are no validation examples.") }
        self.base = base
        self.labels = labels
        self.train = train
        self.validation = validation
        self.options = options
        self.directory = directory
        if options.balanceClasses {
            var counts = [Int](repeating: 0, count: labels.count)
            for example in train { counts[example.label] += 1 }
            classWeights = counts.map { $0 == 0 ? 0 : Float(train.count) / Float(labels.count * $0) }
        } else {
            classWeights = nil
        }
    }

    public func run(report: (ClassifierEvent) -> Void, shouldStop: () -> Bool = { false }) throws {
        let dim = base.model.config.dim
        let extractor = TextClassifier(model: base.model, tokenizer: base.tokenizer)
        let poolings = options.pooling.map { [$0] } ?? Pooling.allCases
        let trainFeatures = extractor.features(train.map(\.text), poolings: poolings)
        let validationFeatures = extractor.features(validation.map(\.text), poolings: poolings)
        // The head on frozen features, for each pooling; the best by validation accuracy stays.
        var best: (head: ClassifierHead, accuracy: Double)?
        for pooling in poolings {
            let candidate = ClassifierHead(config: ClassifierConfig(labels: labels, pooling: pooling), dim: dim)
            candidate.initialize(seed: options.seed)
            let accuracy = trainHeadOnFeatures(candidate, train: trainFeatures[pooling]!, validation: validationFeatures[pooling]!,
                                               report: options.mode == .head ? report : { _ in }, shouldStop: shouldStop)
            report(.probe(pooling: pooling, accuracy: accuracy))
            if accuracy > best?.accuracy ?? -1 { best = (candidate, accuracy) }
        }
        head = best!.head
        bestAccuracy = best!.accuracy
        // The head on the unchanged model is the first checkpoint; end-to-end epochs replace it
        // only when they do better.
        try save(epoch: 0)
        report(.saved(epoch: 0, directory: directory))
        if options.mode != .head { try trainEndToEnd(report: report, shouldStop: shouldStop) }
    }

    /// Mini-batch AdamW on cached features; keeps the epoch with the best validation accuracy.
    private func trainHeadOnFeatures(_ head: ClassifierHead, train features: [Float], validation: [Float],
                                     report: (ClassifierEvent) -> Void, shouldStop: () -> Bool) -> Double {
        let dim = head.dim
        let optimizer = Optimizer(views: head.views, count: head.parameters.count)
        let gradients = FloatBuffer(count: head.parameters.count)
        var settings = AdamWSettings()
        settings.weightDecay = 0.01
        var rng = RandomGenerator(seed: options.seed ^ 0xFEA7)
        var order = Array(0..<train.count)
        let bestParameters = FloatBuffer(count: head.parameters.count)
        var bestAccuracy = -1.0, sinceBest = 0, step = 0
        let epochs = max(options.epochs, 1) * 4  // epochs over features are cheap: more of them, same patience rule
        for epoch in 1...epochs {
            let clock = Stopwatch()
            rng.shuffle(&order)
            var trainLoss = 0.0
            var start = 0
            while start < order.count {
                let indices = Array(order[start..<min(start + options.batchSize, order.count)])
                var pooled = [Float](repeating: 0, count: indices.count * dim)
                for (k, i) in indices.enumerated() { pooled.replaceSubrange(k * dim..<(k + 1) * dim, with: features[i * dim..<(i + 1) * dim]) }
                let labels = indices.map { train[$0].label }
                let normalizer = Float(labels.reduce(0) { $0 + Double(classWeights?[$1] ?? 1) })
                gradients.zero()
                let (loss, _) = pooled.withUnsafeBufferPointer {
                    head.lossAndGradients($0.baseAddress!, labels: labels, classWeights: classWeights, normalizer: normalizer,
                                          gradients: gradients, dPooled: nil)
                }
                trainLoss += loss
                step += 1
                optimizer.step(parameters: head.parameters, gradients: gradients, learningRate: options.headLearningRate, step: step,
                               settings: settings, decayEmbeddings: false)
                start += options.batchSize
            }
            let (validationLoss, accuracy) = score(head, features: validation)
            let improved = accuracy > bestAccuracy
            if improved {
                bestAccuracy = accuracy
                bestParameters.copy(from: head.parameters)
                sinceBest = 0
            } else {
                sinceBest += 1
            }
            report(.epoch(epoch: epoch, trainLoss: trainLoss / Double(train.count), validationLoss: validationLoss,
                          validationAccuracy: accuracy, best: improved, seconds: clock.seconds))
            if sinceBest >= options.patience * 4 || shouldStop() { break }
        }
        head.parameters.copy(from: bestParameters)
        return bestAccuracy
    }

    /// Mean loss and accuracy of `head` on pooled validation features.
    private func score(_ head: ClassifierHead, features: [Float]) -> (loss: Double, accuracy: Double) {
        let probabilities = features.withUnsafeBufferPointer { head.probabilities($0.baseAddress!, count: validation.count) }
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
        let classifier = TextClassifier(model: model, tokenizer: base.tokenizer, maxRows: options.maxRowsPerPass, adapters: adapters)
        let pass = classifier.pass
        let headOptimizer = Optimizer(views: head.views, count: head.parameters.count)
        let headGradients = FloatBuffer(count: head.parameters.count)
        let (parameters, gradients) = adapters.map { ($0.parameters, pass.adapterGradients!) } ?? (model.parameters, pass.gradients)
        let optimizer = adapters.map { Optimizer(views: $0.views, count: $0.parameters.count) } ?? Optimizer(layout: model.layout)
        var settings = AdamWSettings()
        settings.weightDecay = 0.01
        var rng = RandomGenerator(seed: options.seed ^ 0xE2E)
        var order = Array(0..<train.count)
        let encoded = train.map { classifier.tokens($0.text) }
        var pooled = [Float](repeating: 0, count: options.batchSize * dim), dPooled = pooled
        var sinceBest = 0, step = 0
        let stepsPerEpoch = (train.count + options.batchSize - 1) / options.batchSize
        let totalSteps = options.epochs * stepsPerEpoch
        for epoch in 1...max(options.epochs, 1) {
            let clock = Stopwatch()
            rng.shuffle(&order)
            var trainLoss = 0.0
            var start = 0
            while start < order.count {
                let indices = Array(order[start..<min(start + options.batchSize, order.count)])
                start += options.batchSize
                pass.gradients.zero()
                pass.adapterGradients?.zero()
                headGradients.zero()
                let normalizer = Float(indices.reduce(0) { $0 + Double(classWeights?[train[$1].label] ?? 1) })
                // Texts that do not fit one pass together are split over several; their
                // gradients add up before the one optimizer step.
                for (range, batch) in classifier.batches(indices.map { encoded[$0] }) {
                    let labels = range.map { train[indices[$0]].label }
                    let dropoutSeed = options.dropout > 0 ? options.seed &* 0x9E37_79B9 ^ UInt64(step) << 20 ^ UInt64(range.lowerBound) : nil
                    pass.forwardOnly(batch, dropoutSeed: dropoutSeed)
                    pooled.withUnsafeMutableBufferPointer { p in
                        dPooled.withUnsafeMutableBufferPointer { d in
                            ClassifierHead.pool(pass.finalHidden, cumulativeLengths: batch.cumulativeLengths, dim: dim, pooling: head.config.pooling, into: p.baseAddress!)
                            trainLoss += head.lossAndGradients(p.baseAddress!, labels: labels, classWeights: classWeights, normalizer: normalizer,
                                                               gradients: headGradients, dPooled: d.baseAddress!).loss
                            ClassifierHead.unpool(d.baseAddress!, cumulativeLengths: batch.cumulativeLengths, dim: dim, pooling: head.config.pooling,
                                                  into: pass.finalHiddenGradient)
                        }
                    }
                    pass.backward(fromFinalHidden: batch, dropout: dropoutSeed != nil)
                }
                step += 1
                // Linear decay to a tenth over the run.
                let decay = 1 - 0.9 * Float(step - 1) / Float(max(totalSteps, 1))
                optimizer.clip(gradients, maxNorm: 1)
                optimizer.step(parameters: parameters, gradients: gradients, learningRate: options.modelLearningRate * decay, step: step,
                               settings: settings, decayEmbeddings: false)
                headOptimizer.step(parameters: head.parameters, gradients: headGradients, learningRate: options.headLearningRate * decay,
                                   step: step, settings: settings, decayEmbeddings: false)
                report(.progress(epoch: epoch, done: start / options.batchSize, total: stepsPerEpoch, seconds: clock.seconds))
                if shouldStop() { break }
            }
            let features = classifier.features(validation.map(\.text), poolings: [head.config.pooling])[head.config.pooling]!
            let (validationLoss, accuracy) = score(head, features: features)
            let improved = accuracy > bestAccuracy
            report(.epoch(epoch: epoch, trainLoss: trainLoss / Double(train.count), validationLoss: validationLoss,
                          validationAccuracy: accuracy, best: improved, seconds: clock.seconds))
            if improved {
                bestAccuracy = accuracy
                sinceBest = 0
                try save(epoch: epoch)
                report(.saved(epoch: epoch, directory: directory))
            } else {
                sinceBest += 1
            }
            if sinceBest >= options.patience || shouldStop() { break }
        }
    }

    /// The checkpoint: the (fine-tuned) model, its tokenizer, and the head with its labels.
    public func save(epoch: Int) throws {
        guard let head else { return }
        var config = base.config
        config.training["classifier"] = "\(options.mode.rawValue), \(head.config.pooling.rawValue) pooling, \(labels.count) classes"
        config.training["classifierValidationAccuracy"] = String(bestAccuracy)
        config.training["classifierEpoch"] = String(epoch)
        config.training["finetunedFrom"] = base.directory
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var files = try Checkpoint.modelFiles(config, model: model, tokenizer: base.tokenizer)
        files[CheckpointFiles.classifierConfig] = Array(try encoder.encode(head.config))
        files[CheckpointFiles.classifier] = Checkpoint.tensorBytes(head.views, head.parameters)
        if let adapters { files.merge(PEFTAdapter.files(adapters, baseModel: directory)) { $1 } }
        try Checkpoint.save(directory, files: files)
    }
}
