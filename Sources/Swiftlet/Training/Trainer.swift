#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the training loop tells its caller; the command line turns these into a progress
/// line and messages (the library prints nothing).
public enum TrainingEvent: Sendable {
    /// `communication`: the step's time in collectives (nil for one process alone).
    case step(
        step: Int, totalSteps: Int?, loss: Double, learningRate: Float, tokensPerSecond: Double,
        trainingSeconds: Double, etaSeconds: Double?, communication: StepCommunication? = nil)
    /// `perCorpus` lists each validation corpus when there are several; `result` combines them.
    case evaluation(step: Int, result: EvaluationResult, perCorpus: [CorpusEvaluation])
    case saved(step: Int, directory: String)
}

/// Where a data-parallel step's time in collectives went.
public struct StepCommunication: Sendable, Equatable {
    /// Every collective of the step: the gradient sum, the loss sum, the step-time agreement.
    public var seconds: Double
    /// The gradient all-reduce alone, from the moment every rank had its gradients: what the
    /// interconnect costs (bytes over bandwidth, plus latency).
    public var allReduceSeconds: Double
    /// Waiting for the slowest rank to finish its backward before the all-reduce could start:
    /// what uneven ranks cost (another process on a core, a slower machine, a longer slice).
    public var waitingSeconds: Double

    /// A step's communication since `before` (the communicator's running total), or nil when
    /// the job has one rank.
    static func of(
        _ communicator: Communicator, since before: Double, allReduceSeconds: Double, waitingSeconds: Double
    ) -> StepCommunication? {
        guard communicator.isParallel else { return nil }
        return StepCommunication(
            seconds: communicator.communicationSeconds - before, allReduceSeconds: allReduceSeconds,
            waitingSeconds: waitingSeconds)
    }
}

extension MetricRecord {
    /// Records a data-parallel step's time in collectives (nothing for one rank).
    mutating func record(_ communication: StepCommunication?) {
        communicationSeconds = communication?.seconds
        allReduceSeconds = communication?.allReduceSeconds
        waitingSeconds = communication?.waitingSeconds
    }
}

public enum TrainingOutcome: Sendable, Equatable {
    case finished, interrupted
    /// keepBest with patience: validation stopped improving; the best checkpoint is saved.
    case stoppedEarly
}

/// The training loop, as nanoGPT's train.py reads: set-up (the model, the data, one
/// optimizer step), then the loop — draw a packed batch of documents, take the step — with an
/// evaluation every `evalInterval` steps and the save policy: the latest weights every
/// `saveInterval` steps and at the end, or (fine-tuning) the best weights by validation loss
/// at each improvement, with patience.
public final class Trainer {
    public let model: Transformer
    public let tokenizer: Tokenizer
    public let directory: String
    public private(set) var state: TrainerState
    public private(set) var records: [MetricRecord] = []
    let pass: TrainingPass
    /// zero → micro-batches → clip → schedule → AdamW, over the model's parameters or, when
    /// fine-tuning with LoRA, the adapters'.
    let optimizerStep: OptimizerStep
    /// The AdamW moments saved with the checkpoint.
    var optimizer: Optimizer { optimizerStep.groups[0].optimizer }
    public let adapters: LoRAAdapters?
    /// What the run allocates (checked against this machine's memory before any of it is).
    public private(set) var memory: MemoryPlan
    let packer: BatchPacker
    let validation: [(name: String, windows: [TokenWindow])]
    private var firstStepSeconds: Double = 0
    /// The current step's gradient all-reduce and the wait before it (data-parallel runs).
    private var gradientSumSeconds = 0.0, gradientWaitSeconds = 0.0
    private var patience: EarlyStopping
    /// The chat template saved in the checkpoint's config (set once trained on dialogues).
    public var chatTemplate: ChatTemplate?
    /// Extra facts for the config's training summary (e.g. the base of a fine-tune).
    public var provenance: [String: String] = [:]
    /// The step whose weights the checkpoint directory holds, once saved.
    public private(set) var savedStep: Int?
    /// The directory a resumed run was loaded from (NAME.old after an interrupted save).
    private var resumedFrom: String?
    /// The ranks of a data-parallel run (one process alone by default). Each rank trains on its
    /// slice of every step's batch (`BatchPlan`), the gradients are summed over the ranks, and
    /// every rank takes the same step; evaluation is dealt out among them; rank 0 alone writes
    /// the checkpoint and its metrics.
    public var communicator: Communicator = SingleProcess()

    /// A new run from freshly initialised weights.
    public convenience init(
        model: Transformer, tokenizer: Tokenizer, preset: String, options: TrainingOptions,
        training: [WeightedCorpus], validation: [ValidationSet], directory: String
    ) throws {
        try options.validate()
        model.initialize(seed: options.seed)
        try self.init(
            model: model, tokenizer: tokenizer, state: TrainerState(options: options, preset: preset),
            training: training, validation: validation, directory: directory)
    }

    init(
        model: Transformer, tokenizer: Tokenizer, state: TrainerState, training: [WeightedCorpus],
        validation: [ValidationSet],
        directory: String
    ) throws {
        let context = state.options.context(for: model.config)
        self.model = model
        self.tokenizer = tokenizer
        self.state = state
        self.directory = directory
        packer = try BatchPacker(corpora: training, context: context, seed: state.options.seed, position: state.data)
        self.state.data = packer.position
        self.validation = validation.map {
            ($0.name, Evaluator.windows(of: $0.documents, context: context, maxTokens: state.options.evalTokens))
        }
        .filter { !$0.windows.isEmpty }
        if state.options.keepBest, self.validation.isEmpty {
            throw SwiftletError(
                "the validation text is too short to measure anything, and keeping the best weights needs it.")
        }
        // A pass holds one micro-batch, and at least one whole evaluation window.
        let microRows = min(state.options.microBatchTokens, state.options.batchTokens)
        memory = MemoryPlan.training(
            model.config, rows: max(microRows, context),
            trainedParameters: state.options.lora.map { $0.parameterCount(model.config) },
            precision: state.options.precision)
        memory.addSaving(model.config, mergesAdapters: state.options.lora != nil && state.options.mergeAdapters)
        try memory.check("this training run")
        adapters = state.options.lora.map { LoRAAdapters(config: $0, model: model.config) }
        adapters?.initialize(seed: state.options.seed)
        pass = TrainingPass(
            model: model, maxRows: max(microRows, context), precision: state.options.precision, adapters: adapters)
        let options = state.options
        let schedule = LearningRateSchedule(
            peak: options.learningRate, floor: options.finalLearningRate, warmupSteps: state.warmupSteps,
            totalSteps: state.totalSteps ?? Int.max)
        optimizerStep = OptimizerStep(
            groups: [
                .trained(by: pass, schedule: schedule, settings: options.adam, decayEmbeddings: options.decayEmbeddings)
            ],
            gradientClip: options.gradientClip, stepsTaken: state.step,
            dropoutSeed: model.config.dropout > 0 ? options.seed : nil)
        patience = EarlyStopping(patience: options.patience)
    }

    /// Fine-tuning: training continues from the checkpoint's weights with a new run's options
    /// (fresh optimizer moments, schedule and data order).
    public convenience init(
        finetuning checkpoint: Checkpoint, options: TrainingOptions, training: [WeightedCorpus],
        validation: [ValidationSet], directory: String
    ) throws {
        try options.validate()
        let preset = checkpoint.config.training["preset"] ?? "custom"
        try self.init(
            model: checkpoint.model, tokenizer: checkpoint.tokenizer,
            state: TrainerState(options: options, preset: preset),
            training: training, validation: validation, directory: directory)
        chatTemplate = checkpoint.config.chat
    }

    /// Continues the run saved in `directory` exactly where it stopped.
    public static func resume(
        directory: String, training: [WeightedCorpus], validation: [ValidationSet]
    ) throws -> Trainer {
        try resume(from: Checkpoint.load(directory), directory: directory, training: training, validation: validation)
    }

    /// Continues the run of an already loaded checkpoint; saves go to `directory`.
    public static func resume(
        from checkpoint: Checkpoint, directory: String, training: [WeightedCorpus],
        validation: [ValidationSet]
    ) throws -> Trainer {
        let dir = checkpoint.directory
        let state = try CheckpointStore.trainerState(in: dir, directory: directory)
        let trainer = try Trainer(
            model: checkpoint.model, tokenizer: checkpoint.tokenizer, state: state,
            training: training, validation: validation, directory: directory)
        trainer.chatTemplate = checkpoint.config.chat
        trainer.resumedFrom = dir
        try CheckpointStore.readMoments(in: dir, into: trainer.optimizer)
        trainer.records = CheckpointStore.metrics(in: dir, through: state.step)
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

    /// A `--resume` may repeat what shaped the saved run, but not change it: each argument is what
    /// the command line gave (nil: not given); the document separator and corpus weights always
    /// count, since the data is read again.
    public func checkUnchanged(
        preset: String?, contextLength: Int?, kvHeads: Int?, vocabSize: Int?, learningRate: Float?,
        precision: Precision?, batchTokens: Int?, documentSeparator: String?, corpusWeights: [Double]?
    ) throws {
        let saved = state.options, shape = model.config
        var changed: [String] = []
        if let learningRate, learningRate != saved.learningRate { changed.append("--lr") }
        if let precision, precision != saved.precision { changed.append("--precision") }
        if let contextLength, contextLength != shape.contextLength { changed.append("--context") }
        if let kvHeads, kvHeads != shape.kvHeads { changed.append("--kv-heads") }
        if let vocabSize, vocabSize != shape.vocabSize { changed.append("--vocab-size") }
        if let preset, preset != state.preset { changed.append("--preset") }
        if let batchTokens, batchTokens != saved.batchTokens { changed.append("--batch-tokens") }
        if documentSeparator != saved.documentSeparator { changed.append("--doc-separator") }
        if corpusWeights != saved.corpusWeights { changed.append("the --data weights") }
        guard changed.isEmpty else {
            throw SwiftletError(
                "--resume continues the saved run with its own settings, but \(changed.joined(separator: ", ")) differ from them; only --steps (a new total) may change."
            )
        }
    }

    /// Rows of one forward/backward pass.
    var microBatchRows: Int { min(state.options.microBatchTokens, state.options.batchTokens) }

    public func run(report: (TrainingEvent) -> Void, shouldStop: () -> Bool) throws -> TrainingOutcome {
        let options = state.options
        guard !communicator.isRoot || Checkpoint.mayWrite(directory) else {
            throw SwiftletError(
                "\(directory) holds files that are not a Swiftlet checkpoint; choose a new or empty --out.")
        }
        do {
            try checkRanksAgree()
            if options.keepBest, savedStep == nil {
                // The starting weights are the first "best": a fine-tune that never improves keeps them.
                try evaluate(report: report)
                try save(report: report)
            }
            while !isDone {
                try step(report: report)
                if state.step % options.evalInterval == 0 || isDone {
                    if try evaluateAndKeepBest(report: report) { return .stoppedEarly }
                }
                if try stopRequested(shouldStop()) {
                    try saveLatest(report: report)
                    return .interrupted
                }
                if state.step % options.saveInterval == 0 && !isDone { try saveLatest(report: report) }
            }
            try saveLatest(report: report)
            return .finished
        } catch let failure as CommunicationFailure {
            let kept =
                savedStep.map { "the checkpoint of step \($0) in \(directory) is intact; continue with --resume" }
                ?? "nothing was saved"
            throw SwiftletError("\(failure.message) at step \(state.step + 1); \(kept).")
        }
    }

    /// Every rank's answer to `shouldStop` at the end of the same step: one rank asked is enough.
    private func stopRequested(_ here: Bool) throws -> Bool {
        guard communicator.isParallel else { return here }
        var flag = [here ? 1.0 : 0]
        try communicator.allReduceMax(&flag)
        return flag[0] > 0
    }

    /// Ranks started with different settings, data, tokenizer or weights would train apart
    /// while seeming to train together: they refuse to start, and rank 0 says what differs.
    private func checkRanksAgree() throws {
        guard communicator.isParallel else { return }
        guard state.options.batchTokens >= communicator.size else {
            throw SwiftletError(
                "--batch-tokens (\(state.options.batchTokens)) must be at least the number of ranks (\(communicator.size))."
            )
        }
        try communicator.refuseUnlessRanksAgree(on: fingerprints())
    }

    /// What every rank must hold alike, each part digested on its own so a refusal can name it.
    func fingerprints() -> [(String, RunFingerprint)] {
        var settings = RunFingerprint(), data = RunFingerprint(), tokenizerPrint = RunFingerprint(),
            weights = RunFingerprint()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var shared = state
        shared.trainingSeconds = 0  // measured, not chosen
        shared.ranks = nil
        settings.add((try? encoder.encode(shared)).map { Array($0) } ?? [])
        settings.add((try? encoder.encode(model.config)).map { Array($0) } ?? [])
        tokenizerPrint.add(tokenizer.modelBytes)
        for corpus in packer.corpora {
            data.add(corpus.name)
            data.add([corpus.weight])
            data.add(corpus.documents)
        }
        for (name, windows) in validation {
            data.add(name)
            for window in windows { data.add(Array(window.tokens)) }
        }
        weights.add(model.parameters)
        weights.add(optimizer.firstMoment)
        weights.add(optimizer.secondMoment)
        if let adapters { weights.add(adapters.parameters) }
        return [
            ("settings (options and model shape)", settings), ("tokenizer", tokenizerPrint),
            ("training or validation text", data),
            ("weights or optimizer state", weights),
        ]
    }

    /// One timed optimizer step, recorded and reported; a blown-up loss or gradient stops the run.
    private func step(report: (TrainingEvent) -> Void) throws {
        let clock = Stopwatch()
        let communicationBefore = communicator.communicationSeconds
        let (loss, learningRate) = try trainStep()
        guard loss.isFinite, loss <= explodingLoss else {
            throw diverged(
                loss.isFinite
                    ? "the loss exploded to \(Format.fixed(loss, 1)) nats/token"
                    : "the loss or gradient is not a number")
        }
        let seconds = try agreedSeconds(clock.seconds)
        state.trainingSeconds += seconds
        if state.step == 1 { firstStepSeconds = seconds }
        estimateTotalStepsIfTimed()
        let tokensPerSecond = Double(state.options.batchTokens) / seconds
        var record = MetricRecord(step: state.step, kind: "train", loss: loss)
        record.learningRate = Double(learningRate)
        record.tokensPerSecond = tokensPerSecond
        record.trainingSeconds = state.trainingSeconds
        let communication = StepCommunication.of(
            communicator, since: communicationBefore, allReduceSeconds: gradientSumSeconds,
            waitingSeconds: gradientWaitSeconds)
        record.record(communication)
        records.append(record)
        appendMetric(record)
        report(
            .step(
                step: state.step, totalSteps: state.totalSteps, loss: loss, learningRate: learningRate,
                tokensPerSecond: tokensPerSecond, trainingSeconds: state.trainingSeconds, etaSeconds: eta(),
                communication: communication))
    }

    /// The slowest rank's time for the step, the same on every rank: a timed run's ranks must
    /// agree on when the budget is spent and how long the schedule is.
    private func agreedSeconds(_ seconds: Double) throws -> Double {
        guard communicator.isParallel else { return seconds }
        var slowest = [seconds]
        try communicator.allReduceMax(&slowest)
        return slowest[0]
    }

    /// Evaluates; when keeping the best weights, saves an improvement. True when patience ran out.
    private func evaluateAndKeepBest(report: (TrainingEvent) -> Void) throws -> Bool {
        let best = state.bestValidationLoss
        guard let result = try evaluate(report: report) else { return false }
        if !result.loss.isFinite || result.loss > explodingLoss {
            throw diverged("the validation loss is \(Format.fixed(result.loss, 1)) nats/token")
        }
        guard state.options.keepBest else { return false }
        let improved = result.loss < best ?? .infinity
        if improved { try save(report: report) }
        return patience.record(improved: improved)
    }

    /// The save policy's "latest weights": every run but one that keeps its best weights.
    private func saveLatest(report: (TrainingEvent) -> Void) throws {
        guard !state.options.keepBest else { return }
        try save(report: report)
    }

    private func save(report: (TrainingEvent) -> Void) throws {
        try save()
        report(.saved(step: state.step, directory: directory))
    }

    /// Far above what guessing uniformly costs (ln vocabulary): the run has blown up, and
    /// going on would only save garbage over the last good checkpoint.
    var explodingLoss: Double { 3 * log(Double(max(model.config.vocabSize, 2))) + 10 }

    /// Every rank meets a divergence at the same step (they share the loss and gradient): rank 0 reports it.
    private func diverged(_ what: String) -> Error {
        if !communicator.isRoot { return ReportedByRankZero() }
        let kept = savedStep.map { "the checkpoint of step \($0) in \(directory) is intact" } ?? "nothing was saved"
        return SwiftletError(
            "training diverged at step \(state.step) (\(what)); \(kept) — try a lower --lr\(savedStep == nil ? "" : ", or --resume from the checkpoint")."
        )
    }

    /// Live metrics go into the saved checkpoint's metrics.jsonl (the next save rewrites it whole).
    private func appendMetric(_ record: MetricRecord) {
        guard communicator.isRoot else { return }
        CheckpointStore.appendMetric(record, to: directory)
    }

    var isDone: Bool {
        if let total = state.totalSteps, state.step >= total { return true }
        if let budget = state.options.timeBudget, state.trainingSeconds >= budget { return true }
        return false
    }

    /// Under --time the cosine schedule needs an end: from step 10 the measured speed sets it,
    /// and every 10 steps after that it is set again from the time left, so the schedule ends
    /// when the budget does even when the speed drifts (a shared machine, a warming cache); the
    /// schedule was once fixed after the first third and runs ended ≈ 10 s of 5 minutes early.
    /// It is saved, so a resumed run keeps it.
    private func estimateTotalStepsIfTimed() {
        guard let budget = state.options.timeBudget, state.options.steps == nil, state.step >= 10, state.step % 10 == 0
        else { return }
        state.totalSteps = Self.plannedSteps(
            step: state.step, seconds: state.trainingSeconds, firstStepSeconds: firstStepSeconds, budget: budget)
    }

    /// The step a timed run's schedule ends at: the steps taken and as many more as fit in the
    /// time left at the mean speed so far (the first step, which pays one-time set-up costs, left
    /// out), at least one.
    static func plannedSteps(step: Int, seconds: Double, firstStepSeconds: Double, budget: Double) -> Int {
        let perStep = (seconds - firstStepSeconds) / Double(max(1, step - 1))
        guard perStep > 0 else { return step + 1 }
        let more = ((budget - seconds) / perStep).rounded(.down)
        return step + max(1, Int(min(more, 1e9)))
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

    /// One optimizer step over a batch of `batchTokens` packed rows, drawn in micro-batches
    /// (this rank's slice of them when data-parallel). Returns the mean training loss (not a
    /// number when the gradient is not) and the learning rate.
    func trainStep() throws -> (loss: Double, learningRate: Float) {
        let total = state.options.batchTokens
        let plan = BatchPlan(batchTokens: total, microBatchTokens: microBatchRows, ranks: communicator.size)
        // The loss is the mean over every target of the step, however ranks and micro-batches split it.
        let (batches, targets) = plan.draw(from: packer, rank: communicator.rank)
        state.data = packer.position
        if let totalSteps = state.totalSteps { optimizerStep.setTotalSteps(totalSteps) }
        let world = communicator
        gradientSumSeconds = 0
        gradientWaitSeconds = 0
        let outcome = try optimizerStep.take(
            microBatches: batches.count, firstMicroBatch: plan.firstMicroBatch(of: world.rank),
            sumOverRanks: sumOverRanks
        ) { i, dropoutSeed in
            pass.forwardBackward(batches[i], gradientTokens: targets, dropoutSeed: dropoutSeed)
        }
        var loss = [outcome.loss]
        try world.allReduceSum(&loss)
        guard outcome.gradientNorm.isFinite else { return (.nan, 0) }
        state.step = optimizerStep.count
        state.tokensSeen += total
        return (loss[0] / Double(max(targets, 1)), outcome.learningRate)
    }

    /// The step's gradient all-reduce (`Communicator.sumGradients`), its times added up.
    private func sumOverRanks(_ gradients: FloatBuffer) throws {
        let (waiting, summing) = try communicator.sumGradients(gradients)
        gradientWaitSeconds += waiting
        gradientSumSeconds += summing
    }

    /// Scores every validation corpus (dealt out among the ranks); nil when there is no validation text.
    @discardableResult
    public func evaluate(report: (TrainingEvent) -> Void = { _ in }) throws -> EvaluationResult? {
        guard !validation.isEmpty else { return nil }
        let perCorpus = try validation.map {
            CorpusEvaluation(
                name: $0.name,
                result: try Evaluator.evaluate(
                    pass: pass, tokenizer: tokenizer, windows: $0.windows,
                    communicator: communicator))
        }
        let result = Evaluator.combine(perCorpus.map(\.result))
        records.removeAll { $0.kind == "eval" && $0.step == state.step }
        for (evaluation, corpus) in [(result, nil as String?)] + perCorpus.map({ ($0.result, $0.name) })
        where corpus == nil || perCorpus.count > 1 {
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

    /// The checkpoint: the weights (with the adapters, kept apart or merged), the tokenizer and
    /// what `--resume` needs, written whole and atomically by the store.
    public func save() throws {
        state.ranks = communicator.size
        guard communicator.isRoot else {
            savedStep = state.step
            return
        }
        var summary = [
            "preset": state.preset, "steps": String(state.step), "tokens": String(state.tokensSeen),
            "trainingSeconds": String(Int(state.trainingSeconds.rounded())),
        ].merging(provenance) { $1 }
        if let lastEval = records.last(where: { $0.kind == "eval" && $0.corpus == nil }) {
            summary["validationLoss"] = String(lastEval.loss)
            summary["validationBitsPerByte"] = lastEval.bitsPerByte.map { String($0) }
        }
        let config = CheckpointConfig(
            model: model.config, tokenizer: TokenizerFacts(tokenizer), training: summary, chat: chatTemplate)
        let run = TrainingSnapshot(
            state: state, optimizer: optimizer, records: records,
            title: "\(directory.lastComponent) — \(state.preset), step \(state.step)")
        try CheckpointStore.write(
            CheckpointContents(
                config: config, model: model, tokenizer: tokenizer, adapters: adapters,
                mergeAdapters: state.options.mergeAdapters, training: run),
            to: directory, supersedes: resumedFrom)
        savedStep = state.step
    }
}

extension String {
    var lastComponent: String { split(separator: "/").last.map(String.init) ?? self }
}
