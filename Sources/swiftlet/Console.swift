import ArgumentParser
import Swiftlet
#if canImport(Glibc)
import Glibc
#endif

/// All terminal output of the tool: messages to stderr, a live progress line that rewrites
/// itself on a terminal and prints plain lines when piped.
enum Console {
    static let stderrIsTerminal = isatty(2) != 0
    nonisolated(unsafe) static var progressShown = false
    nonisolated(unsafe) static var lastPlainProgress = -Double.infinity

    static func info(_ message: String) {
        clearProgress()
        fputs(message + "\n", stderr)
    }

    static func progress(_ line: String, final: Bool = false) {
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
        Console.clearProgress()
        fflush(stdout)
        let rank = ParallelEnvironment.announcedRank
        fputs("swiftlet: error\(rank > 0 ? " (rank \(rank))" : ""): \(error.message)\n", stderr)
        throw ExitCode.failure
    } catch is ReportedByRankZero {
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
enum Interrupt {
    nonisolated(unsafe) static var requested: sig_atomic_t = 0

    static func install() {
        signal(SIGINT) { _ in
            if Interrupt.requested != 0 { _exit(130) }
            Interrupt.requested = 1
        }
    }

    static var isRequested: Bool { requested != 0 }
}
