#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the training loop tells its caller; the command line turns these into a progress
/// line and messages (the library prints nothing).
public enum TrainingEvent: Sendable {
    case step(step: Int, totalSteps: Int?, loss: Double, learningRate: Float, tokensPerSecond: Double,
              trainingSeconds: Double, etaSeconds: Double?)
    case evaluation(step: Int, result: EvaluationResult)
    case saved(step: Int, directory: String)
}

public enum TrainingOutcome: Sendable, Equatable {
    case finished, interrupted
}

/// The training loop, nanoGPT style: draw a batch, forward/backward (accumulating over
/// micro-batches), clip, step AdamW on the schedule, evaluate and checkpoint now and then.
public final class Trainer {
    public let model: Transformer
    public let tokenizer: Tokenizer
    public let directory: String
    public private(set) var state: TrainerState
    public private(set) var records: [MetricRecord] = []
    let pass: TrainingPass
    let optimizer: Optimizer
    let trainTokens: [Int32]
    let validationWindows: [[Int32]]
    private var firstStepSeconds: Double = 0
    private var lastGradientNorm: Double = 0

    /// A new run from freshly initialised weights.
    public convenience init(model: Transformer, tokenizer: Tokenizer, preset: String, options: TrainingOptions,
                            trainTokens: [Int32], validationTokens: [Int32], directory: String) throws {
        try options.validate()
        model.initialize(seed: options.seed)
        try self.init(model: model, tokenizer: tokenizer, state: TrainerState(options: options, preset: preset),
                      trainTokens: trainTokens, validationTokens: validationTokens, directory: directory)
    }

    init(model: Transformer, tokenizer: Tokenizer, state: TrainerState, trainTokens: [Int32], validationTokens: [Int32],
         directory: String) throws {
        let context = model.config.contextLength
        guard trainTokens.count > context else {
            throw SwiftletError("the training text is only \(trainTokens.count) tokens; the model's context of \(context) needs at least \(context + 1).")
        }
        self.model = model
        self.tokenizer = tokenizer
        self.state = state
        self.directory = directory
        self.trainTokens = trainTokens
        validationWindows = Evaluator.windows(of: validationTokens, context: context, maxTokens: state.options.evalTokens)
        let microRows = max(1, min(state.options.microBatchTokens, state.options.batchTokens) / context) * context
        pass = TrainingPass(model: model, maxRows: microRows, precision: state.options.precision)
        optimizer = Optimizer(layout: model.layout)
    }

    /// Continues the run saved in `directory` exactly where it stopped.
    public static func resume(directory: String, trainTokens: [Int32], validationTokens: [Int32]) throws -> Trainer {
        try resume(from: Checkpoint.load(directory), directory: directory, trainTokens: trainTokens, validationTokens: validationTokens)
    }

    /// Continues the run of an already loaded checkpoint; saves go to `directory`.
    public static func resume(from checkpoint: Checkpoint, directory: String, trainTokens: [Int32],
                              validationTokens: [Int32]) throws -> Trainer {
        let dir = checkpoint.directory
        guard FileIO.exists(dir + "/" + CheckpointFiles.trainer), FileIO.exists(dir + "/" + CheckpointFiles.optimizer) else {
            throw SwiftletError("\(directory) holds no training state to resume (trainer.json and optimizer.safetensors).")
        }
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: Data(try FileIO.readBytes(dir + "/" + CheckpointFiles.trainer)))
        } catch {
            throw SwiftletError("\(dir)/\(CheckpointFiles.trainer) is not valid training state.")
        }
        guard state.dataRandom.state.count == 4, state.step >= 0, state.warmupSteps >= 0 else {
            throw SwiftletError("\(dir)/\(CheckpointFiles.trainer) is not valid training state.")
        }
        try state.options.validate()
        let trainer = try Trainer(model: checkpoint.model, tokenizer: checkpoint.tokenizer, state: state,
                                  trainTokens: trainTokens, validationTokens: validationTokens, directory: directory)
        let path = dir + "/" + CheckpointFiles.optimizer
        let moments = try Safetensors.parse(try FileIO.readBytes(path), path: path)
        for (name, buffer) in [("adamw.m", trainer.optimizer.firstMoment), ("adamw.v", trainer.optimizer.secondMoment)] {
            guard let tensor = moments[name], tensor.values.count == buffer.count else {
                throw SwiftletError("\(path) does not match the model (tensor \(name)).")
            }
            tensor.values.withUnsafeBufferPointer { buffer.pointer.update(from: $0.baseAddress!, count: buffer.count) }
        }
        if let text = try? FileIO.readUTF8(dir + "/" + CheckpointFiles.metrics) {
            let decoder = JSONDecoder()
            trainer.records = text.split(separator: "\n").compactMap { try? decoder.decode(MetricRecord.self, from: Data($0.utf8)) }
                .filter { $0.step <= state.step }
        }
        return trainer
    }

    /// A new length for a resumed run (the cosine schedule stretches or shrinks to it).
    public func setTotalSteps(_ steps: Int) throws {
        guard steps > 0 else { throw SwiftletError("--steps must be positive.") }
        state.options.steps = steps
        state.options.timeBudget = nil
        state.totalSteps = steps
    }

    var sequencesPerStep: Int { max(1, state.options.batchTokens / model.config.contextLength) }

    public func run(report: (TrainingEvent) -> Void, shouldStop: () -> Bool) throws -> TrainingOutcome {
        let options = state.options
        guard Checkpoint.mayWrite(directory) else {
            throw SwiftletError("\(directory) holds files that are not a Swiftlet checkpoint; choose a new or empty --out.")
        }
        // Metrics are appended live only once a checkpoint exists there; until then they are
        // kept in memory and written with the first save.
        while !isDone {
            let clock = Stopwatch()
            let (loss, learningRate) = trainStep()
            guard loss.isFinite, lastGradientNorm.isFinite else {
                throw SwiftletError("training diverged at step \(state.step) (the loss or gradient is not a number); nothing was saved from this step — try a lower --lr, or --resume from the last checkpoint.")
            }
            let seconds = clock.seconds
            state.trainingSeconds += seconds
            if state.step == 1 { firstStepSeconds = seconds }
            estimateTotalStepsIfTimed()
            let tokens = sequencesPerStep * model.config.contextLength
            let tokensPerSecond = Double(tokens) / seconds
            var record = MetricRecord(step: state.step, kind: "train", loss: loss)
            record.learningRate = Double(learningRate)
            record.tokensPerSecond = tokensPerSecond
            record.trainingSeconds = state.trainingSeconds
            records.append(record)
            appendMetric(record)
            report(.step(step: state.step, totalSteps: state.totalSteps, loss: loss, learningRate: learningRate,
                         tokensPerSecond: tokensPerSecond, trainingSeconds: state.trainingSeconds, etaSeconds: eta()))
            if state.step % options.evalInterval == 0 || isDone { evaluate(report: report) }
            if shouldStop() {
                try save()
                report(.saved(step: state.step, directory: directory))
                return .interrupted
            }
            if state.step % options.saveInterval == 0 && !isDone {
                try save()
                report(.saved(step: state.step, directory: directory))
            }
        }
        try save()
        report(.saved(step: state.step, directory: directory))
        return .finished
    }

    /// Live metrics go into the saved checkpoint's metrics.jsonl (the next save rewrites it whole).
    private func appendMetric(_ record: MetricRecord) {
        guard Checkpoint.isComplete(directory) else { return }
        try? FileIO.appendLine(record.jsonLine, to: directory + "/" + CheckpointFiles.metrics)
    }

    var isDone: Bool {
        if let total = state.totalSteps, state.step >= total { return true }
        if let budget = state.options.timeBudget, state.trainingSeconds >= budget { return true }
        return false
    }

    /// Under --time the cosine schedule needs an end: from step 10 the measured speed sets it,
    /// refined every 10 steps during the first third of the run (the first step, which pays
    /// one-time set-up costs, is left out). It is saved, so a resumed run keeps it.
    private func estimateTotalStepsIfTimed() {
        guard let budget = state.options.timeBudget, state.options.steps == nil, state.step >= 10, state.step % 10 == 0 else { return }
        if let total = state.totalSteps, state.step * 3 > total { return }
        let perStep = (state.trainingSeconds - firstStepSeconds) / Double(state.step - 1)
        state.totalSteps = max(state.step + 1, Int(budget / perStep))
    }

    private func eta() -> Double? {
        guard state.step > 1 else { return nil }
        let perStep = state.trainingSeconds / Double(state.step)
        var remaining: Double? = state.totalSteps.map { Double($0 - state.step) * perStep }
        if let budget = state.options.timeBudget {
            remaining = min(remaining ?? .infinity, budget - state.trainingSeconds)
        }
        return remaining.map { max(0, $0) }
    }

    /// One optimizer step. Returns the mean training loss and the learning rate used.
    func trainStep() -> (Double, Float) {
        let c = model.config
        let context = c.contextLength
        let total = sequencesPerStep
        let perPass = pass.maxRows / context
        pass.gradients.zero()
        var lossSum: Double = 0
        var done = 0
        // One independent dropout stream per (run seed, step, micro-batch).
        func dropoutSeed(_ microBatch: Int) -> UInt64? {
            guard c.dropout > 0 else { return nil }
            var mix = state.options.seed ^ 0xD809_0A7
            return RandomGenerator.splitMix(&mix) ^ RandomGenerator.splitMix(&mix) &* UInt64(state.step + 1) ^ UInt64(microBatch) &* 0x9E37_79B9_7F4A_7C15
        }
        while done < total {
            let count = min(perPass, total - done)
            var windows: [[Int32]] = []
            for _ in 0..<count {
                let start = state.dataRandom.below(trainTokens.count - context)
                windows.append(Array(trainTokens[start...start + context]))
            }
            lossSum += pass.forwardBackward(Batch(windows: windows), gradientTokens: total * context,
                                            dropoutSeed: dropoutSeed(done / perPass))
            done += count
        }
        lastGradientNorm = optimizer.clip(pass.gradients, maxNorm: state.options.gradientClip)
        guard lastGradientNorm.isFinite else { return (.nan, 0) }
        let schedule = LearningRateSchedule(peak: state.options.learningRate, floor: state.options.finalLearningRate,
                                            warmupSteps: state.warmupSteps, totalSteps: state.totalSteps ?? Int.max)
        let learningRate = schedule.rate(atStep: state.step)
        optimizer.step(parameters: model.parameters, gradients: pass.gradients, learningRate: learningRate, step: state.step + 1,
                       settings: state.options.adam, decayEmbeddings: state.options.decayEmbeddings)
        state.step += 1
        state.tokensSeen += total * context
        return (lossSum / Double(total * context), learningRate)
    }

    /// Scores the validation windows; nil when there are none.
    @discardableResult
    public func evaluate(report: (TrainingEvent) -> Void = { _ in }) -> EvaluationResult? {
        guard !validationWindows.isEmpty else { return nil }
        let result = Evaluator.evaluate(pass: pass, tokenizer: tokenizer, windows: validationWindows)
        var record = MetricRecord(step: state.step, kind: "eval", loss: result.loss)
        record.perplexity = result.perplexity
        record.bitsPerByte = result.bitsPerByte
        records.removeAll { $0.kind == "eval" && $0.step == state.step }
        records.append(record)
        appendMetric(record)
        state.bestValidationLoss = min(state.bestValidationLoss ?? .infinity, result.loss)
        report(.evaluation(step: state.step, result: result))
        return result
    }

    /// Writes the whole checkpoint directory atomically.
    public func save() throws {
        var summary = ["preset": state.preset, "steps": String(state.step), "tokens": String(state.tokensSeen),
                       "trainingSeconds": String(Int(state.trainingSeconds.rounded()))]
        if let lastEval = records.last(where: { $0.kind == "eval" }) {
            summary["validationLoss"] = String(lastEval.loss)
            summary["validationBitsPerByte"] = lastEval.bitsPerByte.map { String($0) }
        }
        let config = CheckpointConfig(model: model.config, tokenizer: TokenizerFacts(tokenizer), training: summary)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let moments = Safetensors.serialize([("adamw.m", optimizer.firstMoment), ("adamw.v", optimizer.secondMoment)].map { name, buffer in
            Safetensors.Tensor(name: name, shape: [buffer.count], values: UnsafeBufferPointer(start: buffer.pointer, count: buffer.count))
        })
        let title = "\(directory.lastComponent) — \(state.preset), step \(state.step)"
        try Checkpoint.save(directory, files: [
            CheckpointFiles.config: try Checkpoint.configBytes(config),
            CheckpointFiles.model: Checkpoint.weightBytes(model),
            CheckpointFiles.tokenizer: tokenizer.modelBytes,
            CheckpointFiles.trainer: Array(try encoder.encode(state)),
            CheckpointFiles.optimizer: moments,
            CheckpointFiles.metrics: Array(records.map { $0.jsonLine + "\n" }.joined().utf8),
            CheckpointFiles.lossCurve: Array(LossCurve.svg(records, title: title).utf8),
        ])
    }
}

extension String {
    var lastComponent: String { split(separator: "/").last.map(String.init) ?? self }
}
