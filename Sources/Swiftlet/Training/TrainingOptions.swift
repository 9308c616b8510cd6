/// Everything that decides how a run trains. Saved in trainer.json, so `--resume` continues
/// with exactly the schedule it started with.
public struct TrainingOptions: Codable, Sendable, Equatable {
    public var seed: UInt64 = 1
    /// The peak; `pretraining` and `finetuning` each set their own.
    public var learningRate: Float = 2e-3
    /// The cosine schedule ends here (a tenth of the peak by default).
    public var minLearningRate: Float? = nil
    public var warmupSteps: Int? = nil
    /// Stop after this many optimizer steps …
    public var steps: Int? = nil
    /// … or after this many seconds of training (evaluation and saving not counted).
    public var timeBudget: Double? = nil
    /// Tokens per optimizer step; micro-batches accumulate gradients up to it.
    public var batchTokens: Int = 4096
    /// Largest forward/backward pass, bounding activation memory.
    public var microBatchTokens: Int = 8192
    public var adam = AdamWSettings()
    public var decayEmbeddings = false
    public var gradientClip: Float = 1
    public var evalInterval: Int = 100
    /// Validation tokens per evaluation (the whole split when it is smaller).
    public var evalTokens: Int = 131_072
    public var saveInterval: Int = 500
    public var precision: Precision = .fp32
    /// How files were split into documents (nil: one document per file).
    public var documentSeparator: String? = nil
    /// The corpora's sampling weights, when the run mixes several.
    public var corpusWeights: [Double]? = nil
    /// Fine-tuning: the checkpoint directory holds the best weights by validation loss (saved at
    /// each improvement, starting with the base before any step) instead of the latest.
    public var keepBest = false
    /// With keepBest: stop after this many evaluations in a row without improvement.
    public var patience: Int? = nil
    /// Train LoRA adapters only, the base frozen.
    public var lora: LoRAConfig? = nil
    /// Save the adapters merged into the weights instead of as adapter.safetensors.
    public var mergeAdapters = false
    /// Tokens per training window when shorter than the model's context (fine-tuning a
    /// long-context pretrained model: Gemma 3's 32,768 would need a pass of 32,768 rows); nil:
    /// the model's context.
    public var trainingContext: Int? = nil

    /// The training window for a model of this shape.
    public func context(for config: ModelConfig) -> Int {
        min(trainingContext ?? config.contextLength, config.contextLength)
    }

    public init() {}

    /// `swiftlet train`: a new model from random weights. Peak 1e-3 with a cosine decay to a
    /// tenth; warmup a 15th of the run (at most 100 steps; 25 under a time budget); 8 contexts
    /// of packed documents per step; bf16 products where they pay (`DefaultPrecision`); an evaluation every
    /// 100 steps, a save every 500; the last 5 % of the text held out when no validation text
    /// is given. The peak was measured: `small` on Shakespeare for the 5-minute run's 698 steps
    /// (Zen 4) reached 2.124 bits per byte at 1e-3 against 2.178 at 5e-4, 2.179 at 2e-3 and
    /// 2.282 at 4e-3.
    public static func pretraining(contextLength: Int) -> TrainingOptions {
        var options = TrainingOptions()
        options.learningRate = 1e-3
        options.batchTokens = 8 * contextLength
        options.precision = .trainingDefault
        return options
    }

    /// `swiftlet finetune`: from a checkpoint's weights at half of pretraining's rate
    /// (5e-4), 10 warmup steps, an evaluation every 50; the directory keeps the best weights by
    /// validation loss, and the run stops after 4 evaluations without a better one; 10 % held out.
    public static func finetuning(contextLength: Int) -> TrainingOptions {
        var options = pretraining(contextLength: contextLength)
        options.learningRate = 5e-4
        options.warmupSteps = 10
        options.evalInterval = 50
        options.keepBest = true
        options.patience = 4
        return options
    }

    /// The fraction of the text held out for validation when none is given.
    public static let pretrainingHeldOut = 0.05, finetuningHeldOut = 0.1

    public var finalLearningRate: Float { minLearningRate ?? learningRate / 10 }

    public func validate() throws {
        if let steps, steps <= 0 { throw SwiftletError("--steps must be positive.") }
        if let trainingContext, trainingContext < 2 { throw SwiftletError("--context must be at least 2 tokens.") }
        if let timeBudget, timeBudget <= 0 { throw SwiftletError("--time must be positive.") }
        guard learningRate.isFinite, learningRate > 0, learningRate < 10 else {
            throw SwiftletError("--lr must be a positive number below 10.")
        }
        if let minLearningRate, !(minLearningRate.isFinite && minLearningRate >= 0 && minLearningRate <= learningRate) {
            throw SwiftletError("--min-lr must be between 0 and --lr (\(learningRate)).")
        }
        guard batchTokens > 0, batchTokens <= 1 << 24 else {
            throw SwiftletError("--batch-tokens must be between 1 and 16,777,216.")
        }
        if let timeBudget, timeBudget > 1e8 { throw SwiftletError("--time is longer than Swiftlet can plan for.") }
        if let steps, steps > 1 << 40 { throw SwiftletError("--steps is larger than Swiftlet can plan for.") }
        guard microBatchTokens > 0, microBatchTokens <= 1 << 20 else {
            throw SwiftletError("--micro-batch-tokens must be between 1 and 1,048,576.")
        }
        guard gradientClip.isFinite, gradientClip >= 0 else {
            throw SwiftletError("--grad-clip must be a number, 0 or more.")
        }
        guard adam.weightDecay.isFinite, adam.weightDecay >= 0, adam.weightDecay < 10 else {
            throw SwiftletError("--weight-decay must be between 0 and 10.")
        }
        guard evalTokens > 0, evalTokens <= 1 << 32 else {
            throw SwiftletError("--eval-tokens must be between 1 and 4,294,967,296.")
        }
        if let warmupSteps, warmupSteps > 1 << 40 {
            throw SwiftletError("--warmup is larger than Swiftlet can plan for.")
        }
        try lora?.validate()
        if let patience, patience <= 0 { throw SwiftletError("--patience must be positive.") }
        guard evalInterval > 0, evalInterval <= 1 << 40 else {
            throw SwiftletError("--eval-interval must be positive.")
        }
        guard saveInterval > 0, saveInterval <= 1 << 40 else {
            throw SwiftletError("--save-interval must be positive.")
        }
        if let corpusWeights, !corpusWeights.allSatisfy({ $0 > 0 && $0.isFinite }) {
            throw SwiftletError("corpus weights must be positive numbers.")
        }
        if let warmupSteps, warmupSteps < 0 { throw SwiftletError("--warmup must not be negative.") }
        if precision == .bf16, !MatrixEngine.bf16IsNative {
            throw SwiftletError("this CPU has no bf16 instructions (AVX512-BF16); train with --precision fp32.")
        }
    }
}
