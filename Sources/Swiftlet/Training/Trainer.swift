#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the training loop tells its caller; the command line turns these into a progress
/// line and messages (the library prints nothing).
public enum TrainingEvent: Sendable {
    case step(step: Int, totalSteps: Int?, loss: Double, learningRate: Float, tokensPerSecond: Double,
              paddingFraction: Double, trainingSeconds: Double, etaSeconds: Double?)
    /// `perCorpus` lists each validation corpus when there are several; `result` combines them.
    case evaluation(step: Int, result: EvaluationResult, perCorpus: [CorpusEvaluation])
    case saved(step: Int, directory: String)
}

public enum TrainingOutcome: Sendable, Equatable {
    case finished, interrupted
    /// keepBest with patience: validation stopped improving; the best checkpoint is saved.
    case stoppedEarly
}

/// The training loop, nanoGPT style: draw a packed batch of documents, forward/backward
/// (accumulating over micro-batches), clip, step AdamW on the schedule, evaluate and
/// checkpoint now and then.
public final class Trainer {
    public let model: Transformer
    public let tokenizer: Tokenizer
    public let directory: String
    public private(set) var state: TrainerState
    public private(set) var records: [MetricRecord] = []
    let pass: TrainingPass
    /// Over the model's parameters, or over the adapters' when fine-tuning with LoRA.
    let optimizer: Optimizer
    public let adapters: LoRAAdapters?
    let packer: BatchPacker
    let validation: [(name: String, windows: [TokenWindow])]
    private var firstStepSeconds: Double = 0
    private var lastGradientNorm: Double = 0
    private var evaluationsSinceBest = 0
    /// The chat template saved in the checkpoint's config (set once trained on dialogues).
    public var chatTemplate: ChatTemplate?
    /// Extra facts for the config's training summary (e.g. the base of a fine-tune).
    public var provenance: [String: String] = [:]
    /// The step whose weights the checkpoint directory holds, once saved.
    public private(set) var savedStep: Int?
    /// The directory a resumed run was loaded from (NAME.old after an interrupted save).
    private var resumedFrom: String?

    /// A new run from freshly initialised weights.
    public convenience init(model: Transformer, tokenizer: Tokenizer, preset: String, options: TrainingOptions,
                            training: [WeightedCorpus], validation: [ValidationSet], directory: String) throws {
        try options.validate()
        model.initialize(seed: options.seed)
        try self.init(model: model, tokenizer: tokenizer, state: TrainerState(options: options, preset: preset),
                      training: training, validation: validation, directory: directory)
    }

    init(model: Transformer, tokenizer: Tokenizer, state: TrainerState, training: [WeightedCorpus], validation: [ValidationSet],
         directory: String) throws {
        let context = model.config.contextLength
        self.model = model
        self.tokenizer = tokenizer
        self.state = state
        self.directory = directory
        packer = try BatchPacker(corpora: training, context: context, seed: state.options.seed, position: state.data)
        self.state.data = packer.position
        self.validation = validation.map { ($0.name, Evaluator.windows(of: $0.documents, context: context, maxTokens: state.options.evalTokens)) }
            .filter { !$0.windows.isEmpty }
        if state.options.keepBest, self.validation.isEmpty {
            throw SwiftletError("the validation text is too short to measure anything, and keeping the best weights needs it.")
        }
        // A pass holds one micro-batch, and at least one whole evaluation window.
        let microRows = min(state.options.microBatchTokens, state.options.batchTokens)
        try MemoryPlan.training(model.config, rows: max(microRows, context),
                                loraParameters: state.options.lora.map { $0.parameterCount(model.config) }).check("this training run")
        adapters = state.options.lora.map { LoRAAdapters(config: $0, model: model.config) }
        adapters?.initialize(seed: state.options.seed)
        pass = TrainingPass(model: model, maxRows: max(microRows, context), precision: state.options.precision, adapters: adapters)
        optimizer = adapters.map { Optimizer(views: $0.views, count: $0.parameters.count) } ?? Optimizer(layout: model.layout)
    }

    /// Fine-tuning: training continues from the checkpoint's weights with a new run's options
    /// (fresh optimizer moments, schedule and data order).
    public convenience init(finetuning checkpoint: Checkpoint, options: TrainingOptions, training: [WeightedCorpus],
                            validation: [ValidationSet], directory: String) throws {
        try options.validate()
        let preset = checkpoint.config.training["preset"] ?? "custom"
        try self.init(model: checkpoint.model, tokenizer: checkpoint.tokenizer, state: TrainerState(options: options, preset: preset),
                      training: training, validation: validation, directory: directory)
        chatTemplate = checkpoint.config.chat
    }

    /// Continues the run saved in `directory` exactly where it stopped.
    public static func resume(directory: String, training: [WeightedCorpus], validation: [ValidationSet]) throws -> Trainer {
        try resume(from: Checkpoint.load(directory), directory: directory, training: training, validation: validation)
    }

    /// Continues the run of an already loaded checkpoint; saves go to `directory`.
    public static func resume(from checkpoint: Checkpoint, directory: String, training: [WeightedCorpus],
                              validation: [ValidationSet]) throws -> Trainer {
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
        guard state.options.lora == nil else {
            throw SwiftletError("\(directory) is a LoRA fine-tune, which cannot be resumed; fine-tune again from it (its adapters are merged in when loaded).")
        }
        guard state.data != nil else {
            throw SwiftletError("\(dir)/\(CheckpointFiles.trainer) is not valid training state (or was saved by an older Swiftlet).")
        }
        do {
            try state.validate()
            try state.options.validate()
        } catch let error as SwiftletError {
            throw SwiftletError("\(dir)/\(CheckpointFiles.trainer) is not valid training state: \(error.message)")
        }
        let trainer = try Trainer(model: checkpoint.model, tokenizer: checkpoint.tokenizer, state: state,
                                  training: training, validation: validation, directory: directory)
        trainer.chatTemplate = checkpoint.config.chat
        trainer.resumedFrom = dir
        let path = dir + "/" + CheckpointFiles.optimizer
        let bytes = try FileIO.readBytes(path)
        let moments = try Safetensors.header(bytes, path: path)
        for (name, buffer) in [("adamw.m", trainer.optimizer.firstMoment), ("adamw.v", trainer.optimizer.secondMoment)] {
            guard let placement = moments[name], placement.count == buffer.count else {
                throw SwiftletError("\(path) does not match the model (tensor \(name)).")
            }
            try Checkpoint.fill(buffer, views: [TensorView(name: name, offset: 0, shape: [buffer.count], isDecayed: false)],
                                from: bytes, placements: moments, path: path)
        }
        // Second moments are running means of squares.
        if (0..<trainer.optimizer.secondMoment.count).contains(where: { trainer.optimizer.secondMoment.pointer[$0] < 0 }) {
            throw SwiftletError("\(path): tensor adamw.v holds a negative value, which no optimizer state can.")
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

    /// How often a resumed run evaluates and saves (neither changes the weights it trains).
    public func setIntervals(evaluation: Int?, save: Int?) throws {
        if let evaluation { state.options.evalInterval = evaluation }
        if let save { state.options.saveInterval = save }
        try state.options.validate()
    }

    /// Rows of one forward/backward pass.
    var microBatchRows: Int { min(state.options.microBatchTokens, state.options.batchTokens) }

    public func run(report: (TrainingEvent) -> Void, shouldStop: () -> Bool) throws -> TrainingOutcome {
        let options = state.options
        guard Checkpoint.mayWrite(directory) else {
            throw SwiftletError("\(directory) holds files that are not a Swiftlet checkpoint; choose a new or empty --out.")
        }
        // Metrics are appended live only once a checkpoint exists there; until then they are
        // kept in memory and written with the first save.
        if options.keepBest, savedStep == nil {
            // The starting weights are the first "best": a fine-tune that never improves keeps them.
            evaluate(report: report)
            try saveBest(report: report)
        }
        while !isDone {
            let clock = Stopwatch()
            let (loss, learningRate, padding) = trainStep()
            guard loss.isFinite, lastGradientNorm.isFinite, loss <= explodingLoss else {
                throw diverged(loss.isFinite && lastGradientNorm.isFinite ? "the loss exploded to \(Format.fixed(loss, 1)) nats/token" : "the loss or gradient is not a number")
            }
            let seconds = clock.seconds
            state.trainingSeconds += seconds
            if state.step == 1 { firstStepSeconds = seconds }
            estimateTotalStepsIfTimed()
            let tokensPerSecond = Double(options.batchTokens) / seconds
            var record = MetricRecord(step: state.step, kind: "train", loss: loss)
            record.learningRate = Double(learningRate)
            record.tokensPerSecond = tokensPerSecond
            record.trainingSeconds = state.trainingSeconds
            records.append(record)
            appendMetric(record)
            report(.step(step: state.step, totalSteps: state.totalSteps, loss: loss, learningRate: learningRate,
                         tokensPerSecond: tokensPerSecond, paddingFraction: padding, trainingSeconds: state.trainingSeconds, etaSeconds: eta()))
            if state.step % options.evalInterval == 0 || isDone {
                let best = state.bestValidationLoss
                let result = evaluate(report: report)
                if let result, !result.loss.isFinite || result.loss > explodingLoss {
                    throw diverged("the validation loss is \(Format.fixed(result.loss, 1)) nats/token")
                }
                if options.keepBest, let result {
                    if result.loss < best ?? .infinity {
                        try saveBest(report: report)
                    } else {
                        evaluationsSinceBest += 1
                        if let patience = options.patience, evaluationsSinceBest >= patience { return .stoppedEarly }
                    }
                }
            }
            if shouldStop() {
                if !options.keepBest {
                    try save()
                    report(.saved(step: state.step, directory: directory))
                }
                return .interrupted
            }
            if !options.keepBest && state.step % options.saveInterval == 0 && !isDone {
                try save()
                report(.saved(step: state.step, directory: directory))
            }
        }
        if !options.keepBest {
            try save()
            report(.saved(step: state.step, directory: directory))
        }
        return .finished
    }

    /// Far above what guessing uniformly costs (ln vocabulary): the run has blown up, and
    /// going on would only save garbage over the last good checkpoint.
    var explodingLoss: Double { 3 * log(Double(max(model.config.vocabSize, 2))) + 10 }

    private func diverged(_ what: String) -> SwiftletError {
        let kept = savedStep.map { "the checkpoint of step \($0) in \(directory) is intact" } ?? "nothing was saved"
        return SwiftletError("training diverged at step \(state.step) (\(what)); \(kept) — try a lower --lr\(savedStep == nil ? "" : ", or --resume from the checkpoint").")
    }

    private func saveBest(report: (TrainingEvent) -> Void) throws {
        try save()
        evaluationsSinceBest = 0
        report(.saved(step: state.step, directory: directory))
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

    /// One optimizer step. Returns the mean training loss, the learning rate used and the
    /// fraction of rows that were padding (none, the way BatchPacker fills them).
    func trainStep() -> (loss: Double, learningRate: Float, padding: Double) {
        let c = model.config
        let total = state.options.batchTokens
        pass.gradients.zero()
        pass.adapterGradients?.zero()
        // One independent dropout stream per (run seed, step, micro-batch).
        func dropoutSeed(_ microBatch: Int) -> UInt64? {
            guard c.dropout > 0 else { return nil }
            var mix = state.options.seed ^ 0xD809_0A7
            return RandomGenerator.splitMix(&mix) ^ RandomGenerator.splitMix(&mix) &* UInt64(state.step + 1) ^ UInt64(microBatch) &* 0x9E37_79B9_7F4A_7C15
        }
        var batches: [Batch] = []
        var drawn = 0
        while drawn < total {
            let rows = min(microBatchRows, total - drawn)
            batches.append(packer.nextBatch(rows: rows))
            drawn += rows
        }
        state.data = packer.position
        // The loss is the mean over every target of the step, however the micro-batches split it.
        let targets = batches.reduce(0) { $0 + $1.lossTokens }
        var lossSum: Double = 0
        for (i, batch) in batches.enumerated() {
            lossSum += pass.forwardBackward(batch, gradientTokens: targets, dropoutSeed: dropoutSeed(i))
        }
        // Rows left empty; untrained targets (the prompt side of dialogues) are not padding.
        let padding = Double(total - batches.reduce(0) { $0 + $1.rows }) / Double(total)
        let (parameters, gradients) = adapters.map { ($0.parameters, pass.adapterGradients!) } ?? (model.parameters, pass.gradients)
        lastGradientNorm = optimizer.clip(gradients, maxNorm: state.options.gradientClip)
        guard lastGradientNorm.isFinite else { return (.nan, 0, padding) }
        let schedule = LearningRateSchedule(peak: state.options.learningRate, floor: state.options.finalLearningRate,
                                            warmupSteps: state.warmupSteps, totalSteps: state.totalSteps ?? Int.max)
        let learningRate = schedule.rate(atStep: state.step)
        optimizer.step(parameters: parameters, gradients: gradients, learningRate: learningRate, step: state.step + 1,
                       settings: state.options.adam, decayEmbeddings: state.options.decayEmbeddings)
        state.step += 1
        state.tokensSeen += total
        return (lossSum / Double(max(targets, 1)), learningRate, padding)
    }

    /// Scores every validation corpus; nil when there is no validation text.
    @discardableResult
    public func evaluate(report: (TrainingEvent) -> Void = { _ in }) -> EvaluationResult? {
        guard !validation.isEmpty else { return nil }
        let perCorpus = validation.map {
            CorpusEvaluation(name: $0.name, result: Evaluator.evaluate(pass: pass, tokenizer: tokenizer, windows: $0.windows))
        }
        let result = Evaluator.combine(perCorpus.map(\.result))
        records.removeAll { $0.kind == "eval" && $0.step == state.step }
        for (evaluation, corpus) in [(result, nil as String?)] + perCorpus.map({ ($0.result, $0.name) }) where corpus == nil || perCorpus.count > 1 {
            var record = MetricRecord(step: state.step, kind: "eval", loss: evaluation.loss)
            record.corpus = corpus
            record.perplexity = evaluation.perplexity
            record.bitsPerByte = evaluation.bitsPerByte
            records.append(record)
            appendMetric(record)
        }
        state.bestValidationLoss = min(state.bestValidationLoss ?? .infinity, result.loss)
        report(.evaluation(step: state.step, result: result, perCorpus: perCorpus.count > 1 ? perCorpus : []))
        return result
    }

    /// Writes the whole checkpoint directory atomically.
    public func save() throws {
        var summary = ["preset": state.preset, "steps": String(state.step), "tokens": String(state.tokensSeen),
                       "trainingSeconds": String(Int(state.trainingSeconds.rounded()))].merging(provenance) { $1 }
        if let lastEval = records.last(where: { $0.kind == "eval" && $0.corpus == nil }) {
            summary["validationLoss"] = String(lastEval.loss)
            summary["validationBitsPerByte"] = lastEval.bitsPerByte.map { String($0) }
        }
        let config = CheckpointConfig(model: model.config, tokenizer: TokenizerFacts(tokenizer), training: summary, chat: chatTemplate)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let moments = Safetensors.serialize([("adamw.m", optimizer.firstMoment), ("adamw.v", optimizer.secondMoment)].map { name, buffer in
            Safetensors.Tensor(name: name, shape: [buffer.count], values: UnsafeBufferPointer(start: buffer.pointer, count: buffer.count))
        })
        let title = "\(directory.lastComponent) — \(state.preset), step \(state.step)"
        var files = try Checkpoint.modelFiles(config, model: model, tokenizer: tokenizer)
        files.merge([
            CheckpointFiles.trainer: Array(try encoder.encode(state)),
            CheckpointFiles.optimizer: moments,
            CheckpointFiles.metrics: Array(records.map { $0.jsonLine + "\n" }.joined().utf8),
            CheckpointFiles.lossCurve: Array(LossCurve.svg(records, title: title).utf8),
        ]) { $1 }
        if let adapters {
            if state.options.mergeAdapters {
                let merged = Transformer(config: model.config)
                merged.parameters.copy(from: model.parameters)
                adapters.merge(into: merged)
                files[CheckpointFiles.model] = Checkpoint.weightBytes(merged)
            } else {
                // The base weights stay as they were; the adapters go beside them.
                files.merge(PEFTAdapter.files(adapters, baseModel: directory)) { $1 }
            }
        }
        try Checkpoint.save(directory, files: files, supersedes: resumedFrom)
        savedStep = state.step
    }
}

extension String {
    var lastComponent: String { split(separator: "/").last.map(String.init) ?? self }
}
