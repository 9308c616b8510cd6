/// The resumable part of a run besides weights and moments: saved as trainer.json.
public struct TrainerState: Codable, Sendable {
    public var options: TrainingOptions
    public var preset: String
    /// Optimizer steps taken.
    public var step: Int = 0
    /// Fixed once known (from --steps, or estimated from measured speed under --time).
    public var totalSteps: Int?
    public var warmupSteps: Int
    public var tokensSeen: Int = 0
    public var trainingSeconds: Double = 0
    /// Where the batch packer is in the data (set when the trainer starts).
    public var data: DataPosition?
    public var bestValidationLoss: Double?
    /// Ranks of the data-parallel job that saved it (nil: one process, or an older Swiftlet).
    public var ranks: Int?

    /// Every count in range (a saved file is input like any other).
    public func validate() throws {
        let limit = 1 << 40
        guard (0...limit).contains(step), (0...limit).contains(warmupSteps), tokensSeen >= 0 else {
            throw SwiftletError("its step counts are out of range.")
        }
        if let totalSteps, !(1...limit).contains(totalSteps) {
            throw SwiftletError("its total step count is out of range.")
        }
        guard trainingSeconds.isFinite, trainingSeconds >= 0 else {
            throw SwiftletError("its training time is not a valid duration.")
        }
        if let bestValidationLoss, !bestValidationLoss.isFinite {
            throw SwiftletError("its best validation loss is not a number.")
        }
        if let data, data.random.state.count != 4 { throw SwiftletError("its random generator state is damaged.") }
        if let ranks, !(1...(1 << 24)).contains(ranks) { throw SwiftletError("its number of ranks is out of range.") }
    }

    public init(options: TrainingOptions, preset: String) {
        self.options = options
        self.preset = preset
        totalSteps = options.steps
        warmupSteps = options.warmupSteps ?? options.steps.map { max(1, min(100, $0 / 15)) } ?? 25
    }
}
