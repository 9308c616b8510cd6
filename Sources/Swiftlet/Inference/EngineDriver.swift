#if canImport(Glibc)
import Glibc
#endif

/// Runs a `GenerationEngine` on a thread of its own, so that requests can arrive from any
/// thread (a server's connections) and still share the engine's forward passes. The engine is
/// not thread-safe: only the driver's thread touches it. Other threads hand it commands —
/// submit, cancel, stop — through a locked inbox that the driver empties between steps, so a
/// request joins (or leaves, its KV blocks returned) at the engine's next step.
///
/// A request's callbacks (`onText`, `onToken`) and its `onEnd` run on the driver's thread, inside
/// the engine's step: they must be quick and must not block.
public final class EngineDriver: @unchecked Sendable {
    public typealias Ticket = Int

    /// What the engine is doing, as of its last step.
    public struct Status: Sendable, Equatable {
        /// Sequences generating.
        public var running = 0
        /// Requests accepted but not generating yet.
        public var waiting = 0
        public var blocksInUse = 0
        public var blockCount = 0
        /// Engine steps (forward passes) so far.
        public var steps = 0
    }

    /// Why a request was not accepted.
    public enum Refusal: Error, Equatable {
        /// `parallel` requests run and `maxWaiting` more wait already.
        case queueFull
        /// The driver is stopping (or has stopped) and takes no new requests.
        case stopping
    }

    enum Command {
        case submit(Ticket, GenerationRequest, (GenerationResult) -> Void)
        case cancel(Ticket)
    }

    public let engine: GenerationEngine
    /// Requests that may wait beyond the `parallel` that run.
    public let maxWaiting: Int

    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    // Guarded by `mutex`:
    private var inbox: [Command] = []
    private var status: Status
    private var outstanding = 0
    private var nextTicket = 0
    private var started = false
    private var stopping = false
    private var stopped = false
    private var cancelEverythingAt = Double.infinity
    private var whenStopped: [@Sendable () -> Void] = []
    // The driver thread's own:
    private var live: [Ticket: (id: GenerationEngine.RequestID, onEnd: (GenerationResult) -> Void)] = [:]
    private var ticketOf: [GenerationEngine.RequestID: Ticket] = [:]

    public init(engine: GenerationEngine, maxWaiting: Int) {
        self.engine = engine
        self.maxWaiting = max(0, maxWaiting)
        status = Status(blockCount: engine.pool.blockCount)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
    }

    deinit {
        pthread_cond_destroy(&wake)
        pthread_mutex_destroy(&mutex)
    }

    /// Starts the driver's thread; throws if the system refuses one.
    public func start() throws {
        try locked {
            guard !started else { return }
            let box = Unmanaged.passRetained(self)
            var thread = pthread_t()
            let created = pthread_create(
                &thread, nil,
                { raw in
                    let driver = Unmanaged<EngineDriver>.fromOpaque(raw!).takeRetainedValue()
                    driver.run()
                    return nil
                }, box.toOpaque())
            guard created == 0 else {
                box.release()
                throw SwiftletError("the system refused a thread for the generation engine (error \(created)).")
            }
            pthread_detach(thread)
            started = true
        }
    }

    /// Queues a request; `onEnd` receives its result once, on the driver's thread (a request
    /// cancelled before it reached the engine ends `cancelled` with no tokens). Throws a
    /// `SwiftletError` for a request that can never run and a `Refusal` when the queue is full
    /// or the driver is stopping. The request's callbacks will run on the driver's thread.
    public func submit(
        _ request: GenerationRequest, onEnd: @escaping @Sendable (GenerationResult) -> Void
    ) throws -> Ticket {
        try engine.validate(request)
        let parallel = engine.options.parallel
        let passed = UncheckedSendable(request)
        return try locked {
            guard !stopping else { throw Refusal.stopping }
            guard outstanding < parallel + maxWaiting else { throw Refusal.queueFull }
            let ticket = nextTicket
            nextTicket += 1
            outstanding += 1
            status.waiting += 1
            inbox.append(.submit(ticket, passed.value, onEnd))
            pthread_cond_signal(&wake)
            return ticket
        }
    }

    /// Ends a request at the engine's next step and returns its KV blocks; its `onEnd` hears
    /// `cancelled`. Nothing happens for a request that has already ended.
    public func cancel(_ ticket: Ticket) {
        locked {
            inbox.append(.cancel(ticket))
            pthread_cond_signal(&wake)
        }
    }

    public var currentStatus: Status { locked { status } }

    /// Takes no new requests; those already accepted run to their end, and whatever is still
    /// running after `gracePeriod` seconds is cancelled. `whenStopped` is called (on the
    /// driver's thread, or at once if it has already stopped) when the last one has ended.
    public func stop(gracePeriod: Double, whenStopped done: @escaping @Sendable () -> Void) {
        let callNow: Bool = locked {
            stopping = true
            cancelEverythingAt = min(cancelEverythingAt, Stopwatch.now() + max(0, gracePeriod))
            if stopped || !started { return true }
            whenStopped.append(done)
            pthread_cond_signal(&wake)
            return false
        }
        if callNow { done() }
    }

    // MARK: the driver's thread

    private func run() {
        while true {
            var commands: [Command] = []
            var cancelEverything = false
            let keepGoing: Bool = locked {
                while inbox.isEmpty && engine.isIdle && live.isEmpty && !stopping {
                    pthread_cond_wait(&wake, &mutex)
                }
                swap(&commands, &inbox)
                cancelEverything = Stopwatch.now() >= cancelEverythingAt
                return !(stopping && commands.isEmpty && live.isEmpty)
            }
            guard keepGoing else { break }
            for command in commands {
                switch command {
                case let .submit(ticket, request, onEnd):
                    do {
                        let id = try engine.submit(request)
                        live[ticket] = (id, onEnd)
                        ticketOf[id] = ticket
                    } catch {
                        // `submit` validated it already; should the engine still refuse, the request simply ends.
                        deliver(
                            GenerationResult(
                                tokens: [], text: "", promptTokens: request.prompt.count, stopReason: .cancelled,
                                timeToFirstToken: 0, generationSeconds: 0), to: onEnd)
                    }
                case let .cancel(ticket):
                    if let entry = live[ticket] { engine.cancel(entry.id) }
                }
            }
            if cancelEverything { for entry in live.values { engine.cancel(entry.id) } }
            // A step also collects the results of requests cancelled since the last one.
            let ended = engine.step()
            // The blocks of ended requests are free before their callbacks run: whoever a
            // callback wakes reads a status that says so.
            locked { status.blocksInUse = engine.blocksInUse }
            for (id, result) in ended {
                guard let ticket = ticketOf.removeValue(forKey: id), let entry = live.removeValue(forKey: ticket) else {
                    continue
                }
                deliver(result, to: entry.onEnd)
            }
            locked {
                status.running = engine.runningCount
                status.waiting = outstanding - engine.runningCount
                status.blocksInUse = engine.blocksInUse
                status.steps += 1
            }
        }
        let callbacks: [@Sendable () -> Void] = locked {
            stopped = true
            status.running = 0
            status.waiting = 0
            status.blocksInUse = engine.blocksInUse
            defer { whenStopped.removeAll() }
            return whenStopped
        }
        for callback in callbacks { callback() }
    }

    private func deliver(_ result: GenerationResult, to onEnd: (GenerationResult) -> Void) {
        locked { outstanding -= 1 }
        onEnd(result)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
