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

    public init(options: TrainingOptions, preset: String) {
        self.options = options
        self.preset = preset
        totalSteps = options.steps
        warmupSteps = options.warmupSteps ?? options.steps.map { max(1, min(100, $0 / 15)) } ?? 25
    }
}
