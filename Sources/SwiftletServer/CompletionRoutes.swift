import HTTPTypes
import Hummingbird
import Swiftlet

/// POST /v1/chat/completions and POST /v1/completions: validate, submit every choice to the
/// engine, then answer with one JSON object or stream server-sent events.
extension SwiftletServer {
    func chatCompletions(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let arrived = Stopwatch.now()
        var request = request
        let bytes = try await body(of: &request)
        let fields = try RequestDecoding.decode(SamplingFields.self, from: bytes)
        let chat = try RequestDecoding.decode(ChatCompletionBody.self, from: bytes)
        try checkModel(fields.model)
        for (name, value) in [("tools", chat.tools), ("functions", chat.functions), ("audio", chat.audio)]
        where value?.isMeaningful == true {
            throw APIError.invalid(name, "`\(name)` is not supported by this server.")
        }
        if let format = chat.responseFormat?.type, format != "text" {
            throw APIError.invalid(
                "response_format.type", "only the `text` response format is supported, not `\(format)`.")
        }
        var logprobs: Int?
        if chat.logprobs == true {
            logprobs = chat.topLogprobs?.value ?? 0
            guard logprobs! >= 0, logprobs! <= GenerationParameters.maxTopLogprobs else {
                throw APIError.invalid(
                    "top_logprobs", "`top_logprobs` must be between 0 and \(GenerationParameters.maxTopLogprobs).")
            }
        } else if chat.topLogprobs != nil {
            throw APIError.invalid("top_logprobs", "`top_logprobs` needs `logprobs: true`.")
        }
        let parameters = try GenerationParameters(fields, logprobs: logprobs)
        let prompt = try chatPrompt(chat.messages)
        let template = served.chatTemplate ?? .native(for: served.tokenizer)
        // A reply ends at the end of its turn, or where the model starts another.
        let stop = template.stopStrings + parameters.stop
        let choices = (0..<parameters.choices).map { i in
            GenerationJob.Choice(
                request: engineRequest(
                    prompt, parameters, choice: i, stop: stop, arrived: arrived,
                    defaultMaxTokens: served.model.config.contextLength), prompt: 0)
        }
        let job = try startJob(choices, arrived: arrived)
        let reply = Reply(id: "chatcmpl-" + randomID(), created: unixTime(), promptTokens: [prompt.count])
        if parameters.stream {
            return streamChat(
                job, request: request, reply: reply, logprobs: logprobs != nil, includeUsage: parameters.includeUsage)
        }
        let outcomes = try await outcomes(of: job, request: request)
        let choiceObjects: [JSONValue] = outcomes.enumerated().map { i, outcome in
            .object([
                ("index", .int(i)),
                ("message", .object([("role", "assistant"), ("content", .string(outcome.text))])),
                ("logprobs", logprobs == nil ? .null : .object([("content", .array(outcome.tokens.map(chatLogprob)))])),
                ("finish_reason", finishReason(outcome.result)),
            ])
        }
        return .json(
            .object([
                ("id", .string(reply.id)), ("object", "chat.completion"), ("created", .int(reply.created)),
                ("model", .string(served.name)), ("system_fingerprint", .string(Self.fingerprint)),
                ("choices", .array(choiceObjects)), ("usage", reply.usage(outcomes.compactMap(\.result))),
            ]),
            headers: Self.closing)
    }

    func completions(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let arrived = Stopwatch.now()
        var request = request
        let bytes = try await body(of: &request)
        let fields = try RequestDecoding.decode(SamplingFields.self, from: bytes)
        let completion = try RequestDecoding.decode(CompletionBody.self, from: bytes)
        try checkModel(fields.model)
        if completion.echo == true { throw APIError.invalid("echo", "`echo` is not supported by this server.") }
        if completion.suffix?.isMeaningful == true {
            throw APIError.invalid("suffix", "`suffix` is not supported by this server.")
        }
        if let bestOf = completion.bestOf?.value, bestOf != (fields.n?.value ?? 1) {
            throw APIError.invalid("best_of", "`best_of` is not supported by this server (other than equal to `n`).")
        }
        if let k = completion.logprobs?.value, k < 0 || k > GenerationParameters.maxTopLogprobs {
            throw APIError.invalid(
                "logprobs", "`logprobs` must be between 0 and \(GenerationParameters.maxTopLogprobs).")
        }
        let parameters = try GenerationParameters(fields, logprobs: completion.logprobs?.value)
        let prompts = try completion.prompt.items.enumerated().map { i, item in
            try promptTokens(item, field: completion.prompt.items.count == 1 ? "prompt" : "prompt[\(i)]")
        }
        guard !prompts.isEmpty else { throw APIError.invalid("prompt", "`prompt` must hold at least one prompt.") }
        guard prompts.count * parameters.choices <= GenerationParameters.maxChoices * 4 else {
            throw APIError.invalid(
                "prompt", "at most \(GenerationParameters.maxChoices * 4) completions per request (prompts × n).")
        }
        var choices: [GenerationJob.Choice] = []
        for (p, prompt) in prompts.enumerated() {
            for j in 0..<parameters.choices {
                // OpenAI's default for completions: 16 new tokens.
                choices.append(
                    GenerationJob.Choice(
                        request: engineRequest(
                            prompt, parameters, choice: j, stop: parameters.stop, arrived: arrived,
                            defaultMaxTokens: 16), prompt: p))
            }
        }
        let job = try startJob(choices, arrived: arrived)
        let reply = Reply(id: "cmpl-" + randomID(), created: unixTime(), promptTokens: prompts.map(\.count))
        if parameters.stream {
            return streamCompletions(
                job, request: request, reply: reply, logprobs: parameters.logprobs != nil,
                includeUsage: parameters.includeUsage)
        }
        let outcomes = try await outcomes(of: job, request: request)
        let choiceObjects: [JSONValue] = outcomes.enumerated().map { i, outcome in
            var offsets = TextOffsets()
            return .object([
                ("text", .string(outcome.text)), ("index", .int(i)),
                (
                    "logprobs",
                    parameters.logprobs == nil
                        ? .null : completionLogprobs(outcome.tokens, text: outcome.text, offsets: &offsets)
                ),
                ("finish_reason", finishReason(outcome.result)),
            ])
        }
        return .json(
            .object([
                ("id", .string(reply.id)), ("object", "text_completion"), ("created", .int(reply.created)),
                ("model", .string(served.name)), ("system_fingerprint", .string(Self.fingerprint)),
                ("choices", .array(choiceObjects)), ("usage", reply.usage(outcomes.compactMap(\.result))),
            ]),
            headers: Self.closing)
    }

    static let fingerprint = "swiftlet"
    /// Watching for a client's disconnect consumes the connection's input, so the server closes
    /// it after the answer; the header tells the client not to reuse it.
    static let closing: HTTPFields = [.connection: "close"]

    // MARK: requests

    /// The chat template's prompt for the messages: system (or developer), user and assistant turns.
    func chatPrompt(_ messages: [ChatCompletionBody.Message]) throws -> [Int32] {
        guard !messages.isEmpty else {
            throw APIError.invalid("messages", "`messages` must hold at least one message.")
        }
        var turns: [ChatMessage] = []
        for (i, message) in messages.enumerated() {
            let role: ChatMessage.Role
            switch message.role {
            case "system", "developer": role = .system
            case "user": role = .user
            case "assistant": role = .assistant
            default:
                throw APIError.invalid(
                    "messages[\(i)].role",
                    "`messages[\(i)].role` must be system, developer, user or assistant (not \(message.role)).")
            }
            if message.toolCalls?.isMeaningful == true {
                throw APIError.invalid("messages[\(i)].tool_calls", "tool calls are not supported by this server.")
            }
            guard let content = message.content else {
                throw APIError.invalid("messages[\(i)].content", "`messages[\(i)].content` is required.")
            }
            var text = ""
            for (j, part) in content.parts.enumerated() {
                guard part.type == "text", let piece = part.text else {
                    throw APIError.invalid(
                        "messages[\(i)].content[\(j)]",
                        "only text content parts are supported (`{\"type\": \"text\", \"text\": …}`).")
                }
                text += piece
            }
            turns.append(ChatMessage(role: role, content: text))
        }
        let prompt: [Int32]
        do {
            prompt = try (served.chatTemplate ?? .native(for: served.tokenizer)).prompt(
                turns, tokenizer: served.tokenizer)
        } catch let error as SwiftletError {
            throw APIError.invalid("messages", "this model cannot hold a chat: \(error.message) Use /v1/completions.")
        }
        try checkLength(prompt.count, field: "messages")
        return prompt
    }

    /// A completion prompt's tokens: text encoded with the checkpoint's tokenizer, or token ids as given.
    func promptTokens(_ item: TextsOrTokens.Item, field: String) throws -> [Int32] {
        let tokens: [Int32]
        switch item {
        case .text(let text):
            tokens = served.tokenizer.encodeDocument(text)
        case .tokens(let ids):
            let vocab = served.model.config.vocabSize
            guard ids.allSatisfy({ $0 >= 0 && $0 < vocab }) else {
                throw APIError.invalid(field, "`\(field)` holds token ids outside the model's vocabulary of \(vocab).")
            }
            tokens = ids.map { Int32($0) }
        }
        guard !tokens.isEmpty else {
            throw APIError.invalid(field, "`\(field)` is empty; give at least one token of text to continue.")
        }
        try checkLength(tokens.count, field: field)
        return tokens
    }

    func checkLength(_ count: Int, field: String) throws {
        let context = served.model.config.contextLength
        guard count < context else {
            throw APIError.invalid(
                field,
                "`\(field)` is \(count) tokens, but this model's context holds \(context) (leaving room for at least one new token).",
                code: "context_length_exceeded")
        }
    }

    func engineRequest(
        _ prompt: [Int32], _ parameters: GenerationParameters, choice: Int, stop: [String], arrived: Double,
        defaultMaxTokens: Int
    ) -> GenerationRequest {
        // Asking for more than the context holds simply ends at a full context.
        let context = served.model.config.contextLength
        var request = GenerationRequest(
            prompt: prompt, maxTokens: min(parameters.maxTokens ?? defaultMaxTokens, context),
            sampling: parameters.sampling(forChoice: choice), stop: stop)
        request.logprobs = parameters.logprobs
        request.deadline = arrived + options.requestTimeout
        return request
    }

    func startJob(_ choices: [GenerationJob.Choice], arrived: Double) throws -> GenerationJob {
        do {
            return try GenerationJob(choices: choices, driver: driver, metrics: metrics, arrived: arrived)
        } catch let refusal as EngineDriver.Refusal {
            throw unavailable(refusal)
        } catch let error as SwiftletError {
            throw APIError(.badRequest, error.message)
        }
    }

    /// Waits for every choice; a client that disconnects meanwhile cancels them.
    func outcomes(of job: GenerationJob, request: Request) async throws -> [GenerationJob.Outcome] {
        try await request.body.consumeWithInboundCloseHandler { _ in
            await job.collect()
        } onInboundClosed: {
            job.cancel()
        }
    }

    // MARK: responses

    /// What every response and chunk of one request shares.
    struct Reply: Sendable {
        let id: String
        let created: Int
        /// Each prompt's length (counted once however many choices continue it).
        let promptTokens: [Int]

        func usage(_ results: [GenerationResult]) -> JSONValue {
            let prompt = promptTokens.reduce(0, +), completion = results.reduce(0) { $0 + $1.completionTokens }
            return .object([
                ("prompt_tokens", .int(prompt)), ("completion_tokens", .int(completion)),
                ("total_tokens", .int(prompt + completion)),
            ])
        }
    }

    func finishReason(_ result: GenerationResult?) -> JSONValue {
        guard let result else { return .null }
        switch result.stopReason {
        case .endOfSequence, .stopString: return "stop"
        // A limit cut the reply short: max_tokens, the context, the time limit, or a shutdown.
        case .tokenLimit, .contextFull, .timeLimit, .cancelled: return "length"
        }
    }

    func tokenText(_ token: Int32) -> String { String(decoding: pieceBytes(token), as: UTF8.self) }

    func pieceBytes(_ token: Int32) -> [UInt8] {
        token >= 0 && Int(token) < served.tokenizer.vocabSize ? served.tokenizer.pieceBytes[Int(token)] : []
    }

    /// Chat's form: `{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}`.
    func chatLogprob(_ token: GeneratedToken) -> JSONValue {
        func entry(_ id: Int32, _ logprob: Float) -> [(String, JSONValue)] {
            [
                ("token", .string(tokenText(id))), ("logprob", .finite(logprob)),
                ("bytes", .array(pieceBytes(id).map { .int(Int($0)) })),
            ]
        }
        return .object(
            entry(token.token, token.logprob ?? 0)
                + [("top_logprobs", .array(token.topLogprobs.map { .object(entry($0.token, $0.logprob)) }))])
    }

    /// Where each token's text starts in a choice's text, in characters, carried across chunks.
    struct TextOffsets {
        var characters = 0
    }

    /// The completions form: parallel lists of tokens, their log-probabilities, the alternatives
    /// (token text → log-probability) and the tokens' offsets in the text.
    func completionLogprobs(_ tokens: [GeneratedToken], text: String, offsets: inout TextOffsets) -> JSONValue {
        var starts: [JSONValue] = []
        var position = offsets.characters
        let end = offsets.characters + text.count
        for token in tokens {
            starts.append(.int(min(position, end)))
            position += tokenText(token.token).count
        }
        offsets.characters = end
        return .object([
            ("tokens", .array(tokens.map { .string(tokenText($0.token)) })),
            ("token_logprobs", .array(tokens.map { .finite($0.logprob ?? 0) })),
            (
                "top_logprobs",
                .array(
                    tokens.map { token in .object(token.topLogprobs.map { (tokenText($0.token), .finite($0.logprob)) })
                    })
            ),
            ("text_offset", .array(starts)),
        ])
    }

    // MARK: streaming

    /// Server-sent events: `produce` sends each JSON payload as `data: …`; `data: [DONE]` closes
    /// the stream. A client that disconnects (or a failed write) cancels the job at once.
    func eventStream(
        _ request: Request, job: GenerationJob,
        produce: @escaping @Sendable (_ send: (JSONValue) async throws -> Void) async throws -> Void
    ) -> Response {
        var headers = Self.closing
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                do {
                    try await request.body.consumeWithInboundCloseHandler { _ in
                        try await produce { payload in
                            try await writer.write(ByteBuffer(string: "data: " + payload.serialized + "\n\n"))
                        }
                        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    } onInboundClosed: {
                        job.cancel()
                    }
                } catch {
                    job.cancel()
                    throw error
                }
                try await writer.finish(nil)
            })
    }

    func streamChat(
        _ job: GenerationJob, request: Request, reply: Reply, logprobs: Bool, includeUsage: Bool
    ) -> Response {
        eventStream(request, job: job) { send in
            func chunk(_ choices: [JSONValue], usage: JSONValue = .null) -> JSONValue {
                var fields: [(String, JSONValue)] = [
                    ("id", .string(reply.id)), ("object", "chat.completion.chunk"), ("created", .int(reply.created)),
                    ("model", .string(self.served.name)), ("system_fingerprint", .string(Self.fingerprint)),
                    ("choices", .array(choices)),
                ]
                if includeUsage { fields.append(("usage", usage)) }
                return .object(fields)
            }
            func choice(
                _ index: Int, delta: JSONValue, logprobs: JSONValue = .null, finish: JSONValue = .null
            ) -> JSONValue {
                .object([("index", .int(index)), ("delta", delta), ("logprobs", logprobs), ("finish_reason", finish)])
            }
            for index in 0..<job.choiceCount {
                try await send(chunk([choice(index, delta: .object([("role", "assistant"), ("content", "")]))]))
            }
            var results: [GenerationResult] = []
            for await event in job.events {
                switch event {
                case let .text(index, text, tokens):
                    let entries: JSONValue =
                        logprobs ? .object([("content", .array(tokens.map(self.chatLogprob)))]) : .null
                    try await send(
                        chunk([choice(index, delta: .object([("content", .string(text))]), logprobs: entries)]))
                case let .end(index, result):
                    results.append(result)
                    try await send(chunk([choice(index, delta: .object([]), finish: self.finishReason(result))]))
                }
            }
            if includeUsage { try await send(chunk([], usage: reply.usage(results))) }
        }
    }

    func streamCompletions(
        _ job: GenerationJob, request: Request, reply: Reply, logprobs: Bool, includeUsage: Bool
    ) -> Response {
        eventStream(request, job: job) { send in
            func chunk(
                _ index: Int, text: String, logprobs: JSONValue = .null, finish: JSONValue = .null,
                usage: JSONValue? = nil
            ) -> JSONValue {
                let choices: JSONValue =
                    usage != nil
                    ? []
                    : [
                        .object([
                            ("text", .string(text)), ("index", .int(index)), ("logprobs", logprobs),
                            ("finish_reason", finish),
                        ])
                    ]
                var fields: [(String, JSONValue)] = [
                    ("id", .string(reply.id)), ("object", "text_completion"), ("created", .int(reply.created)),
                    ("model", .string(self.served.name)), ("system_fingerprint", .string(Self.fingerprint)),
                    ("choices", choices),
                ]
                if includeUsage { fields.append(("usage", usage ?? .null)) }
                return .object(fields)
            }
            var offsets = [TextOffsets](repeating: TextOffsets(), count: job.choiceCount)
            var results: [GenerationResult] = []
            for await event in job.events {
                switch event {
                case let .text(index, text, tokens):
                    let entries =
                        logprobs ? self.completionLogprobs(tokens, text: text, offsets: &offsets[index]) : .null
                    try await send(chunk(index, text: text, logprobs: entries))
                case let .end(index, result):
                    results.append(result)
                    try await send(chunk(index, text: "", finish: self.finishReason(result)))
                }
            }
            if includeUsage { try await send(chunk(0, text: "", usage: reply.usage(results))) }
        }
    }
}

/// 24 random hexadecimal digits for response ids.
func randomID() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<3).map { _ in
        let hex = String(generator.next() & 0xFFFF_FFFF, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }.joined()
}
