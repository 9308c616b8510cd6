import ArgumentParser
import Swiftlet

/// `--threads`, on every command: the threads this process computes with (oneDNN's and
/// Swiftlet's own). Applied as soon as the command line is parsed, before any work starts.
struct ThreadOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Threads to compute with (default: the cores this process may use, shared among the MPI ranks on this machine; \(ComputeThreads.defaultCount) here).",
            valueName: "n"))
    var threads: Int?

    func validate() throws {
        guard let threads else { return }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be between 1 and 1,024.") }
        ComputeThreads.configure(threads)
    }
}
