import Swiftlet

/// The completions one API request asked for — a choice per prompt and `n` — each an engine
/// request on the shared driver. The engine's callbacks (on the driver's thread) become events
/// on one stream; a consumer that goes away (a client that disconnected, a cancelled task)
/// cancels every choice, and their KV blocks return at the engine's next step.
final class GenerationJob: Sendable {
    enum Event: Sendable {
        /// New text of a choice, with the tokens sampled since its last text (their log-probabilities if asked).
        case text(choice: Int, text: String, tokens: [GeneratedToken])
        case end(choice: Int, result: GenerationResult)
    }

    /// One choice to run.
    struct Choice {
        var request: GenerationRequest
        /// Which prompt of the API request it continues (completions may send several).
        var prompt: Int
    }

    let events: AsyncStream<Event>
    let choiceCount: Int
    private let driver: EngineDriver
    private let tickets = Shared<[EngineDriver.Ticket]>([])

    /// What a choice's callbacks keep between calls; touched only on the driver's thread.
    private final class ChoiceState: @unchecked Sendable {
        var pending: [GeneratedToken] = []
        var lastToken: Double?
    }

    /// Submits every choice, or none: a refusal (queue full, stopping) cancels those already in.
    init(choices: [Choice], driver: EngineDriver, metrics: ServerMetrics, arrived: Double) throws {
        self.driver = driver
        choiceCount = choices.count
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        events = stream
        let remaining = Shared(choices.count)
        for (index, choice) in choices.enumerated() {
            let state = ChoiceState()
            var request = choice.request
            request.onToken = { token in
                let now = Stopwatch.now()
                if let last = state.lastToken {
                    metrics.timePerOutputToken.record(seconds: now - last)
                } else {
                    metrics.timeToFirstToken.record(seconds: now - arrived)
                }
                state.lastToken = now
                state.pending.append(token)
            }
            request.onText = { text in
                continuation.yield(.text(choice: index, text: text, tokens: state.pending))
                state.pending.removeAll()
            }
            do {
                let ticket = try driver.submit(request) { result in
                    metrics.recordCompletion(result)
                    continuation.yield(.end(choice: index, result: result))
                    let left = remaining.withLock { count in
                        count -= 1
                        return count
                    }
                    if left == 0 { continuation.finish() }
                }
                tickets.withLock { $0.append(ticket) }
            } catch {
                cancel()
                continuation.finish()
                throw error
            }
        }
        continuation.onTermination = { [tickets, driver] reason in
            // Finished: every choice ended. Cancelled: nobody listens any more.
            if case .cancelled = reason { for ticket in tickets.value { driver.cancel(ticket) } }
        }
    }

    func cancel() {
        for ticket in tickets.value { driver.cancel(ticket) }
    }

    /// Every choice's text, result and tokens (log-probabilities), when all have ended.
    struct Outcome: Sendable {
        var text: String = ""
        var tokens: [GeneratedToken] = []
        var result: GenerationResult?
    }

    func collect() async -> [Outcome] {
        var outcomes = [Outcome](repeating: Outcome(), count: choiceCount)
        for await event in events {
            switch event {
            case let .text(choice, text, tokens):
                outcomes[choice].text += text
                outcomes[choice].tokens += tokens
            case let .end(choice, result):
                outcomes[choice].result = result
            }
        }
        return outcomes
    }
}
