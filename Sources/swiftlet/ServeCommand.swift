import ArgumentParser
import Dispatch
import Swiftlet
import SwiftletServer
#if canImport(Glibc)
import Glibc
#endif

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over HTTP with OpenAI's API: chat, completions, embeddings, classification.",
        discussion: """
            Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/classify; GET /v1/models, \
            /health, /metrics. Every completion joins one batching engine, so concurrent requests share its \
            forward passes. Listens on 127.0.0.1 unless --host says otherwise. Ctrl-C (or SIGTERM) stops \
            accepting, lets running requests finish (cancelling them after --shutdown-timeout) and exits; a \
            second Ctrl-C exits at once.
            """)
    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Checkpoint directory.")
    var checkpoint: String
    @Option(name: .long, help: "Address to listen on (0.0.0.0: every interface).")
    var host = "127.0.0.1"
    @Option(name: .long, help: "Port to listen on (0: any free port).")
    var port = 8080
    @Option(name: .long, help: "Sequences generated at once (the engine's slots).")
    var parallel = 8
    @Option(
        name: .long,
        help: "Require `Authorization: Bearer KEY` (default: the SWIFTLET_API_KEY environment variable, if set).")
    var apiKey: String?
    @Option(
        name: .long,
        help:
            "Let web pages from this origin (https://example.com, or * for any) call the server from a browser (CORS).")
    var allowOrigin: String?
    @Option(name: .long, help: "The model's id in the API (default: the checkpoint directory's name).")
    var name: String?
    @Option(name: .long, help: ArgumentHelp(WeightsChoice.help))
    var weights: String?
    @Option(name: .long, help: "Requests that may wait for a slot; beyond them the answer is 503 with Retry-After.")
    var maxQueue = 64
    @Option(name: .long, help: "Seconds a completion may take, waiting included; then it ends with what it has.")
    var timeout: Double = 600
    @Option(name: .long, help: "Largest request body in bytes.")
    var maxBodyBytes = 4 << 20
    @Option(name: .long, help: "Seconds running requests get to finish on shutdown before they are cancelled.")
    var shutdownTimeout: Double = 30

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535.") }
        guard parallel >= 1, parallel <= 256 else { throw ValidationError("--parallel must be between 1 and 256.") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be 0 or more.") }
        guard timeout > 0, timeout.isFinite else {
            throw ValidationError("--timeout must be a positive number of seconds.")
        }
        guard shutdownTimeout >= 0, shutdownTimeout.isFinite else {
            throw ValidationError("--shutdown-timeout must be 0 or more seconds.")
        }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024.") }
        try WeightsChoice.validate(weights)
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty.") }
        if let name, name.isEmpty { throw ValidationError("--name must not be empty.") }
        if let allowOrigin, allowOrigin != "*", !(allowOrigin.hasPrefix("http://") || allowOrigin.hasPrefix("https://"))
        {
            throw ValidationError("--allow-origin must be * or an origin such as https://example.com.")
        }
    }

    func run() throws {
        try runReportingErrors {
            let loaded = try Checkpoint.load(checkpoint)
            var options = ServerOptions()
            options.host = host
            options.port = port
            options.parallel = parallel
            options.maxWaiting = maxQueue
            options.apiKey =
                apiKey ?? getenv("SWIFTLET_API_KEY").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
            options.weights = try WeightsChoice.prepare(weights, loaded)
            options.allowedOrigin = allowOrigin
            options.requestTimeout = timeout
            options.maxBodyBytes = maxBodyBytes
            options.shutdownGracePeriod = shutdownTimeout
            let served = ServedModel(checkpoint: loaded, name: name)
            let server = try SwiftletServer(model: served, options: options)
            if options.apiKey == nil, !["127.0.0.1", "localhost", "::1"].contains(host) {
                Console.info(
                    "warning: listening on \(host) without an API key: anyone who can reach this address can use the model (--api-key or SWIFTLET_API_KEY)."
                )
            }
            if loaded.config.chat == nil {
                Console.info(
                    "note: \(checkpoint) is not tuned for chat; /v1/chat/completions uses the standard template on it.")
            }
            let signals = ServeCommand.handleStopSignals { server.shutdown() }
            let finished = DispatchSemaphore(value: 0)
            let failure = Failure()
            let shownHost = host.contains(":") ? "[\(host)]" : host
            let parallel = options.parallel, keyed = options.apiKey != nil
            Task {
                do {
                    try await server.run { port in
                        Console.info(
                            "serving \(served.name) on http://\(shownHost):\(port)/v1 (\(parallel) at once\(keyed ? ", API key required" : "")); Ctrl-C stops"
                        )
                    }
                } catch {
                    failure.error = error
                }
                finished.signal()
            }
            finished.wait()
            withExtendedLifetime(signals) {}
            if let error = failure.error as? SwiftletError { throw error }
            if let error = failure.error {
                throw SwiftletError("the server could not run on \(host):\(port): \(error).")
            }
            Console.info("stopped")
        }
    }

    final class Failure: @unchecked Sendable {
        var error: Error?
    }

    /// The first SIGINT or SIGTERM asks the server to stop; a second exits at once.
    static func handleStopSignals(_ stop: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
        // Not the main queue: the main thread waits for the server.
        let queue = DispatchQueue(label: "swiftlet.serve.signals")
        var received = 0
        return [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                received += 1
                if received > 1 { _exit(130) }
                Console.info("stopping: no new requests; running ones finish (Ctrl-C again exits at once)")
                stop()
            }
            source.resume()
            return source
        }
    }
}
