import ArgumentParser
import Swiftlet
#if canImport(Glibc)
import Glibc
#endif

@main
struct SwiftletCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "Train, fine-tune and run small Transformer language models on your CPU.",
        version: "swiftlet " + SwiftletVersion.description,
        subcommands: [
            TrainCommand.self, FinetuneCommand.self, GenerateCommand.self, ChatCommand.self, ServeCommand.self,
            ClassifyCommand.self, EvalCommand.self, InfoCommand.self, ExportCommand.self, TokenizerCommand.self,
            BenchCommand.self,
        ]
    )

    static func main() {
        ProcessSetup.preferPassiveOpenMPThreads()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // Every rank of an MPI job parses the same command line: rank 0 says what is wrong.
            if ParallelEnvironment.announcedRank > 0 { Glibc.exit(exitCode(for: error).rawValue) }
            exit(withError: error)
        }
        do {
            try command.run()
        } catch {
            // No MPI_Finalize here: it waits for every rank, and the others may still be
            // training. The launcher ends them when this rank exits with a failure.
            exit(withError: error)
        }
        Communicators.finish()
        exit()
    }
}

enum ProcessSetup {
    /// oneDNN's OpenMP threads spin for a while after each GEMM, stealing the core our own
    /// kernels run on next (measured ≈ 10 % of a training step). libgomp reads
    /// OMP_WAIT_POLICY only when it loads, before main, so the process re-executes itself
    /// once with the variable set. A user's own setting is respected.
    static func preferPassiveOpenMPThreads() {
        guard getenv("OMP_WAIT_POLICY") == nil else { return }
        setenv("OMP_WAIT_POLICY", "passive", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // If exec fails we simply carry on with the default policy.
    }
}
