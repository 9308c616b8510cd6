import ArgumentParser
import Swiftlet

/// `--weights`, shared by generate, chat, classify, eval and serve.
enum WeightsChoice {
    static let help =
        "Weights to compute with: fp32; bf16 (rounded once at load); q8_0, q5_0 or q4_0 (ggml's blocks, quantized at load: fewer bytes per decoded token); stored (a GGUF's own quantized tensors, the default for such a file)."

    static func validate(_ value: String?) throws {
        if let value, WeightFormat(rawValue: value) == nil {
            throw ValidationError("--weights must be one of \(WeightFormat.names).")
        }
    }

    /// Rounds or quantizes the loaded model as asked (or as its file stores it); returns the
    /// precision the generation engine takes.
    static func prepare(_ value: String?, _ checkpoint: Checkpoint) throws -> Precision {
        try (value.flatMap(WeightFormat.init(rawValue:)) ?? WeightFormat.defaultFor(checkpoint)).prepare(checkpoint)
    }
}

/// `--weights` for the commands that score rather than generate (eval, classify).
struct WeightsOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(WeightsChoice.help))
    var weights: String?

    func validate() throws { try WeightsChoice.validate(weights) }

    /// Prepares the model for scoring: bf16 rounds the parameters in place.
    func prepare(_ checkpoint: Checkpoint) throws {
        if try WeightsChoice.prepare(weights, checkpoint) == .bf16 { checkpoint.model.roundParametersToBFloat16() }
    }
}
