import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle
import Swiftlet

/// What a server serves: a model, its tokenizer, and what the checkpoint adds.
public struct ServedModel: @unchecked Sendable {
    /// The id clients name in `model` (GET /v1/models lists it).
    public var name: String
    public var model: Transformer
    public var tokenizer: Tokenizer
    /// The checkpoint's chat template; without one, chat requests use the standard template
    /// (every Swiftlet tokenizer has its markers) on a model not tuned for chat.
    public var chatTemplate: ChatTemplate?
    /// The checkpoint's classification head, for POST /v1/classify without `labels`.
    public var classifier: ClassifierHead?

    public init(
        name: String, model: Transformer, tokenizer: Tokenizer, chatTemplate: ChatTemplate? = nil,
        classifier: ClassifierHead? = nil
    ) {
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.classifier = classifier
    }

    /// A loaded checkpoint, named after its directory unless told otherwise.
    public init(checkpoint: Checkpoint, name: String? = nil) {
        let directory = checkpoint.directory.split(separator: "/").last.map(String.init) ?? checkpoint.directory
        self.init(
            name: name ?? directory, model: checkpoint.model, tokenizer: checkpoint.tokenizer,
            chatTemplate: checkpoint.config.chat, classifier: checkpoint.classifier)
    }
}

public struct ServerOptions: Sendable {
    /// Loopback unless told otherwise: nothing outside this machine can reach the server.
    public var host = "127.0.0.1"
    /// 0 picks a free port (the tests).
    public var port = 8080
    /// Sequences generating at once (the engine's slots).
    public var parallel = 8
    /// Requests that may wait beyond `parallel`; more are answered 503 with Retry-After.
    public var maxWaiting = 64
    /// When set, every request but GET /health needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Web pages of this origin (or every origin, "*") may call the server from a browser (CORS);
    /// none by default.
    public var allowedOrigin: String?
    public var weights: Precision = .fp32
    /// Seconds a completion may take from arrival (queueing included); then it ends with what it has.
    public var requestTimeout: Double = 600
    /// Largest request body accepted (413 beyond).
    public var maxBodyBytes = 4 << 20
    /// On shutdown, running requests get this long to finish before they are cancelled.
    public var shutdownGracePeriod: Double = 30
    /// Open connections at most; further ones wait in the listen backlog.
    public var maxConnections = 1024
    /// Rows of one embeddings or classification forward pass.
    public var featureRows = 2048

    public init() {}
}

/// An OpenAI-compatible HTTP server (Hummingbird on SwiftNIO) in front of one `GenerationEngine`:
/// every completion joins the engine at its next step, so concurrent requests share its forward
/// passes. See the README's `swiftlet serve` section for the endpoints.
public final class SwiftletServer: Sendable {
    let served: ServedModel
    let options: ServerOptions
    let driver: EngineDriver
    let features: FeatureWorker
    let metrics = ServerMetrics()
    let logger: Logger
    /// Unix time the server started (the model's `created`).
    let created = unixTime()
    private let group = Shared<ServiceGroup?>(nil)
    private let shutdownRequested = Shared(false)

    /// Sets up the engine and its pools (the KV pool: `parallel` full contexts); nothing listens
    /// until `run`. The model's weights are rounded in place for `weights: .bf16`.
    /// `logger` (default: warnings and errors only) receives the framework's messages and failed requests.
    public init(model served: ServedModel, options: ServerOptions, logger: Logger? = nil) throws {
        guard options.parallel >= 1, options.maxWaiting >= 0, options.requestTimeout > 0, options.maxBodyBytes > 0
        else {
            throw SwiftletError("the server's options must be positive.")
        }
        self.served = served
        self.options = options
        self.logger =
            logger
            ?? {
                var quiet = Logger(label: "swiftlet.serve")
                quiet.logLevel = .warning
                return quiet
            }()
        let engineOptions = GenerationEngine.Options(parallel: options.parallel, weights: options.weights)
        // The KV pool (`parallel` full contexts) and the embeddings pass, refused before allocation.
        var plan = GenerationEngine.memoryPlan(served.model.config, options: engineOptions)
        plan.parts += MemoryPlan.scoring(
            served.model.config, rows: max(options.featureRows, served.model.config.contextLength)
        )
        .parts.filter { $0.name != "weights" }
        try plan.check("serving \(options.parallel) sequences at once")
        let engine = GenerationEngine(model: served.model, tokenizer: served.tokenizer, options: engineOptions)
        driver = EngineDriver(engine: engine, maxWaiting: options.maxWaiting)
        features = FeatureWorker(
            model: served.model, tokenizer: served.tokenizer, head: served.classifier,
            maxRows: options.featureRows, maxQueued: max(options.maxWaiting, 1))
    }

    /// What the engine is doing now (for tests and the metrics).
    public var status: EngineDriver.Status { driver.currentStatus }

    /// Serves until `shutdown()` (or the task's cancellation); `onListening` hears the bound port.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        try driver.start()
        try features.start()
        let application = Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(
                address: .hostname(options.host, port: options.port), serverName: "swiftlet",
                availableConnectionsDelegate: MaximumAvailableConnections(options.maxConnections)),
            services: [EngineService(server: self)],
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        var configuration = ServiceGroupConfiguration(services: [application], logger: logger)
        // Running requests get the grace period (the engine cancels them after it); this bounds the rest.
        configuration.maximumGracefulShutdownDuration = Duration.seconds(options.shutdownGracePeriod + 5)
        let serviceGroup = ServiceGroup(configuration: configuration)
        group.withLock { $0 = serviceGroup }
        if shutdownRequested.value { await serviceGroup.triggerGracefulShutdown() }
        do {
            try await serviceGroup.run()
        } catch let error as IOError {
            driver.stop(gracePeriod: 0) {}
            features.stop()
            throw SwiftletError(
                "cannot listen on \(options.host):\(options.port): \(String(cString: strerror(error.errnoCode))).")
        }
    }

    /// Stops accepting connections and requests; running completions finish (cancelled after the
    /// grace period), then `run` returns. Callable from any thread, more than once.
    public func shutdown() {
        shutdownRequested.withLock { $0 = true }
        driver.stop(gracePeriod: options.shutdownGracePeriod) {}
        features.stop()
        if let serviceGroup = group.value {
            Task { await serviceGroup.triggerGracefulShutdown() }
        }
    }

    var isShuttingDown: Bool { shutdownRequested.value }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: RequestAccounting(metrics: metrics))
        if let origin = options.allowedOrigin {
            // Outside the error middleware (errors get the headers too) and the key check (a
            // browser's preflight carries no key).
            router.add(
                middleware: CORSMiddleware(
                    allowOrigin: origin == "*" ? .all : .custom(origin), allowMethods: [.get, .post, .options]))
        }
        router.add(middleware: OpenAIErrors(logger: logger))
        if let key = options.apiKey { router.add(middleware: BearerAuthentication(key: key)) }
        router.get("health") { _, _ in self.health() }
        router.get("metrics") { _, _ in self.prometheusMetrics() }
        router.get("v1/models") { _, _ in self.models() }
        router.get("v1/models/:id") { _, context in try self.model(id: context.parameters.require("id")) }
        router.post("v1/chat/completions") { request, context in
            try await self.chatCompletions(request, context: context)
        }
        router.post("v1/completions") { request, context in try await self.completions(request, context: context) }
        router.post("v1/embeddings") { request, context in try await self.embeddings(request, context: context) }
        router.post("v1/classify") { request, context in try await self.classify(request, context: context) }
        return router
    }
}

/// The engine's side of the service group: when the group shuts down (after the HTTP server has
/// stopped accepting), it waits for the driver to finish; on cancellation it cancels everything.
struct EngineService: Service {
    let server: SwiftletServer

    func run() async throws {
        try? await gracefulShutdown()
        let grace = Task.isCancelled ? 0 : server.options.shutdownGracePeriod
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            server.driver.stop(gracePeriod: grace) { done.resume() }
        }
        server.features.stop()
    }
}
