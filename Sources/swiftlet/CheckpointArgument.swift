import ArgumentParser

/// The checkpoint of `info` and `export`, which name it first (`swiftlet info DIR`), also taken
/// as `--checkpoint DIR`, the way every other command takes it, so either habit works.
struct CheckpointArgument: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "Checkpoint directory, Hugging Face model directory or .gguf file.", valueName: "checkpoint"))
    var positional: String?
    @Option(name: .customLong("checkpoint"), help: "The same, given as an option.")
    var option: String?

    /// The path given (validation has made sure there is one).
    var path: String { option ?? positional ?? "" }

    func validate() throws {
        switch (positional, option) {
        case (nil, nil):
            throw ValidationError("say which checkpoint: a directory or .gguf file, or --checkpoint PATH.")
        case (let named?, let optioned?) where named != optioned:
            throw ValidationError("two checkpoints given (\(named) and --checkpoint \(optioned)); give one.")
        default:
            break
        }
    }
}
