import ArgumentParser
import Swiftlet
#if canImport(Glibc)
import Glibc
#endif

/// All terminal output of the tool: messages to stderr, a live progress line that rewrites
/// itself on a terminal and prints plain lines when piped.
enum Console {
    static let stderrIsTerminal = isatty(2) != 0
    /// Ranks other than 0 of an MPI job print no messages or progress (errors still go out,
    /// naming the rank): rank 0 speaks for the job.
    static let silent = ParallelEnvironment.announcedRank > 0
    nonisolated(unsafe) static var progressShown = false
    nonisolated(unsafe) static var lastPlainProgress = -Double.infinity

    static func info(_ message: String) {
        if silent { return }
        clearProgress()
        fputs(message + "\n", stderr)
    }

    static func progress(_ line: String, final: Bool = false) {
        if silent { return }
        if stderrIsTerminal {
            fputs("\r\u{1B}[2K" + line, stderr)
            progressShown = !final
            if final { fputs("\n", stderr) }
        } else if final || Stopwatch.now() - lastPlainProgress >= 10 {
            // Piped to a file: a line every 10 seconds, not one per step.
            fputs(line + "\n", stderr)
            lastPlainProgress = Stopwatch.now()
        }
    }

    static func clearProgress() {
        if progressShown {
            fputs("\r\u{1B}[2K", stderr)
            progressShown = false
        }
    }

    static func flush() { fflush(stdout) }

    static func write(_ text: String) {
        fputs(text, stdout)
        fflush(stdout)
    }
}

/// Runs a command body; a SwiftletError becomes one line on stderr and exit status 1.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as SwiftletError {
        // This sentence is the job's one message: mpirun's SIGTERM, which may follow, adds none.
        Interrupt.jobEndedMessage = nil
        Console.clearProgress()
        fflush(stdout)
        let rank = ParallelEnvironment.announcedRank
        fputs("swiftlet: error\(rank > 0 ? " (rank \(rank))" : ""): \(error.message)\n", stderr)
        throw ExitCode.failure
    } catch is ReportedByRankZero {
        throw ExitCode.failure
    } catch let failure as CommunicationFailure {
        Interrupt.jobEndedMessage = nil
        Console.clearProgress()
        fputs("swiftlet: error: \(failure.message).\n", stderr)
        throw ExitCode.failure
    }
}

func readAllStandardInput() -> String {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(0, &buffer, buffer.count)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Ctrl-C sets a flag that long-running loops poll, so they can save and stop cleanly.
/// A second Ctrl-C exits at once.
///
/// Under mpirun, Ctrl-C reaches mpirun, which sends every rank SIGTERM and SIGKILL a second
/// later — as it does when one rank dies: too soon to finish a step and save. A rank then ends
/// at once, and rank 0 says what is left (`jobEnded`): the last checkpoint, intact. SIGUSR1,
/// which mpirun forwards to every rank, is the clean stop: the ranks agree on it at the end of a
/// step, and rank 0 saves.
enum Interrupt {
    nonisolated(unsafe) static var requested: sig_atomic_t = 0
    /// The message rank 0 writes when the job is ended under it: a length, then UTF-8 bytes,
    /// written whole before the pointer is swapped in (the signal handler only reads it).
    nonisolated(unsafe) static var jobEndedMessage: UnsafeMutableRawPointer?

    static func install() {
        signal(SIGINT) { _ in
            if Interrupt.requested != 0 { _exit(130) }
            Interrupt.requested = 1
        }
        guard ParallelEnvironment.launcher != nil else { return }
        signal(SIGUSR1) { _ in Interrupt.requested = 1 }
        signal(SIGTERM) { _ in
            if let message = Interrupt.jobEndedMessage {
                _ = write(2, message + 8, message.load(as: Int.self))
            }
            _exit(143)
        }
        jobEnded(savedStep: nil, directory: nil)
    }

    /// Sets what rank 0 says if mpirun ends the job now.
    static func jobEnded(savedStep: Int?, directory: String?) {
        jobEnded(
            saved: savedStep.map { step in "the checkpoint of step \(step) in \(directory ?? "--out") is intact" },
            resume: true)
    }

    /// The same, for any run: `saved` says what is kept (nil: nothing yet); `resume`, whether
    /// the run can be continued with --resume.
    static func jobEnded(saved: String?, resume: Bool) {
        guard ParallelEnvironment.launcher != nil, !Console.silent else { return }
        let kept = saved.map { resume ? $0 + "; continue with --resume" : $0 } ?? "nothing was saved yet"
        let text =
            "\nswiftlet: the job was ended (Ctrl-C on mpirun, or another rank stopped); \(kept). To stop at the end of a step and save, send mpirun SIGUSR1 (kill -USR1 PID).\n"
        let bytes = Array(text.utf8)
        let message = UnsafeMutableRawPointer.allocate(byteCount: 8 + bytes.count, alignment: 8)
        message.storeBytes(of: bytes.count, as: Int.self)
        bytes.withUnsafeBytes { (message + 8).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        // The previous message is left allocated: the handler may be reading it (a few per run).
        jobEndedMessage = message
    }

    static var isRequested: Bool { requested != 0 }
}
