#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one optimizer step every training loop takes — pretraining, fine-tuning, both phases of
/// classifier training and `swiftlet bench train`: zero the gradients, accumulate each
/// micro-batch's, clip their global norm, read the learning rate off the schedule, AdamW.
///
/// Each group is one flat arena of parameters with its gradients and moments (the model's or
/// the LoRA adapters', and a classifier's head beside them), so a data-parallel run has one
/// buffer per group to all-reduce, in one place: between the micro-batches and the clip.
public final class OptimizerStep {
    /// One arena the step updates.
    public struct Group {
        public let parameters: FloatBuffer
        public let gradients: FloatBuffer
        public let optimizer: Optimizer
        public var schedule: LearningRateSchedule
        public var settings: AdamWSettings
        public var decayEmbeddings: Bool
        /// Whether the group's gradients count towards (and are scaled by) the norm clip.
        public var clipped: Bool

        public init(
            parameters: FloatBuffer, gradients: FloatBuffer, optimizer: Optimizer, schedule: LearningRateSchedule,
            settings: AdamWSettings = AdamWSettings(), decayEmbeddings: Bool = false, clipped: Bool = true
        ) {
            precondition(
                parameters.count == gradients.count
                    && optimizer.views.allSatisfy { $0.offset >= 0 && $0.offset + $0.count <= parameters.count })
            self.parameters = parameters
            self.gradients = gradients
            self.optimizer = optimizer
            self.schedule = schedule
            self.settings = settings
            self.decayEmbeddings = decayEmbeddings
            self.clipped = clipped
        }

        /// What a training pass trains: the LoRA adapters when it has them, else every weight.
        public static func trained(
            by pass: TrainingPass, schedule: LearningRateSchedule, settings: AdamWSettings = AdamWSettings(),
            decayEmbeddings: Bool = false, freezesEmbedding: Bool = false
        ) -> Group {
            if let adapters = pass.adapters, let gradients = pass.adapterGradients {
                return Group(
                    parameters: adapters.parameters, gradients: gradients,
                    optimizer: Optimizer(views: adapters.views), schedule: schedule,
                    settings: settings, decayEmbeddings: decayEmbeddings)
            }
            let layout = pass.model.layout
            // A frozen embedding table gets no update and no moments.
            let views = freezesEmbedding ? layout.views.filter { $0.offset != layout.embedding } : layout.views
            return Group(
                parameters: pass.model.parameters, gradients: pass.gradients,
                optimizer: Optimizer(views: views, embedding: layout.embedding),
                schedule: schedule, settings: settings, decayEmbeddings: decayEmbeddings)
        }
    }

    public private(set) var groups: [Group]

    /// A new end for every group's schedule (a timed run learns its length as it goes).
    public func setTotalSteps(_ total: Int) {
        for i in groups.indices { groups[i].schedule.totalSteps = total }
    }
    /// Clip the global gradient norm of the clipped groups to this (0: no clipping).
    public let gradientClip: Float
    /// Steps taken so far (AdamW's bias correction counts from 1; a resumed run starts here).
    public private(set) var count: Int
    /// Seeds each micro-batch's dropout masks, when the run has dropout.
    public let dropoutSeed: UInt64?

    public init(groups: [Group], gradientClip: Float, stepsTaken: Int = 0, dropoutSeed: UInt64? = nil) {
        self.groups = groups
        self.gradientClip = gradientClip
        count = stepsTaken
        self.dropoutSeed = dropoutSeed
    }

    /// What one step did.
    public struct Outcome {
        /// The micro-batches' summed losses, as `accumulate` returned them.
        public var loss: Double
        /// The global gradient norm before clipping; not finite when the step was refused.
        public var gradientNorm: Double
        /// The first group's learning rate.
        public var learningRate: Float
    }

    /// One step over `microBatches` passes: `accumulate(i, dropoutSeed)` adds micro-batch i's
    /// gradients into the groups' arenas and returns its loss. A gradient that is not a finite
    /// number updates nothing (the caller stops the run); the step is not counted then.
    ///
    /// Data-parallel training passes `sumOverRanks`, which sums a gradient arena over the ranks
    /// (an all-reduce) after the micro-batches and before the norm, so every rank clips and
    /// steps with the same gradient; `firstMicroBatch` is the global index of this rank's first
    /// micro-batch, which keys its dropout streams as one process's would be.
    public func take(microBatches: Int, accumulate: (_ microBatch: Int, _ dropoutSeed: UInt64?) -> Double) -> Outcome {
        take(microBatches: microBatches, firstMicroBatch: 0, sumOverRanks: { _ in }, accumulate: accumulate)
    }

    /// The step of one rank of a data-parallel run; see `take(microBatches:accumulate:)`.
    public func take(
        microBatches: Int, firstMicroBatch: Int, sumOverRanks: (FloatBuffer) throws -> Void,
        accumulate: (_ microBatch: Int, _ dropoutSeed: UInt64?) -> Double
    ) rethrows -> Outcome {
        for group in groups { group.gradients.zero() }
        var loss = 0.0
        for i in 0..<microBatches {
            loss += accumulate(
                i, dropoutSeed.map { Self.dropoutSeed(run: $0, step: count, microBatch: firstMicroBatch + i) })
        }
        for group in groups { try sumOverRanks(group.gradients) }
        let norm = clip()
        let rates = groups.map { $0.schedule.rate(atStep: count) }
        guard norm.isFinite else { return Outcome(loss: loss, gradientNorm: norm, learningRate: rates.first ?? 0) }
        count += 1
        for (group, rate) in zip(groups, rates) {
            group.optimizer.step(
                parameters: group.parameters, gradients: group.gradients, learningRate: rate, step: count,
                settings: group.settings, decayEmbeddings: group.decayEmbeddings)
        }
        return Outcome(loss: loss, gradientNorm: norm, learningRate: rates.first ?? 0)
    }

    /// Scales the clipped groups' gradients so their global L2 norm is at most `gradientClip`;
    /// returns the norm before.
    private func clip() -> Double {
        let clipped = groups.filter(\.clipped)
        let norm = clipped.reduce(0) { $0 + AdamW.sumOfSquares($1.gradients.pointer, count: $1.gradients.count) }
            .squareRoot()
        if gradientClip > 0, norm > Double(gradientClip) {
            let scale = Float(Double(gradientClip) / norm)
            for group in clipped {
                let p = group.gradients.pointer
                parallelRanges(group.gradients.count) { scaleInPlace(p + $0.lowerBound, count: $0.count, by: scale) }
            }
        }
        return norm
    }

    /// One independent dropout stream per (run seed, step, micro-batch).
    public static func dropoutSeed(run seed: UInt64, step: Int, microBatch: Int) -> UInt64 {
        var mix = seed ^ 0xD809_0A7
        return RandomGenerator.splitMix(&mix) ^ RandomGenerator.splitMix(&mix) &* UInt64(step + 1) ^ UInt64(microBatch)
            &* 0x9E37_79B9_7F4A_7C15
    }
}

/// Patience: stop after this many evaluations in a row without a better score.
public struct EarlyStopping: Sendable {
    public let patience: Int?
    public private(set) var sinceBest = 0

    public init(patience: Int?) { self.patience = patience }

    /// Records whether the latest evaluation improved on the best; true when it is time to stop.
    public mutating func record(improved: Bool) -> Bool {
        sinceBest = improved ? 0 : sinceBest + 1
        return patience.map { sinceBest >= $0 } ?? false
    }
}

/// The learning rate at each step: linear warmup to the peak, then a cosine (or linear) decay
/// to the floor at the last step, and the floor after it.
public struct LearningRateSchedule: Sendable {
    public enum Decay: Sendable { case cosine, linear }
    public let peak: Float
    public let floor: Float
    public let warmupSteps: Int
    public var totalSteps: Int
    public let decay: Decay

    public init(peak: Float, floor: Float, warmupSteps: Int, totalSteps: Int, decay: Decay = .cosine) {
        self.peak = peak
        self.floor = floor
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decay = decay
    }

    /// The same rate at every step.
    public static func constant(_ rate: Float) -> LearningRateSchedule {
        LearningRateSchedule(peak: rate, floor: rate, warmupSteps: 0, totalSteps: Int.max)
    }

    public func rate(atStep step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        if step >= totalSteps { return floor }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        let remaining = decay == .cosine ? 0.5 * (1 + cos(Double.pi * progress)) : 1 - progress
        return floor + (peak - floor) * Float(remaining)
    }
}
