import Swiftlet

/// The fields chat completions and completions share: the model, sampling, limits, streaming.
struct SamplingFields: Decodable, Sendable {
    var model: String?
    var temperature: Double?
    var topP: Double?
    var topK: WholeNumber?
    var minP: Double?
    var repetitionPenalty: Double?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var seed: WholeNumber?
    var maxTokens: WholeNumber?
    var maxCompletionTokens: WholeNumber?
    var stop: StringOrList?
    var n: WholeNumber?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var logitBias: AnyJSON?

    struct StreamOptions: Decodable, Sendable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    enum CodingKeys: String, CodingKey {
        case model, temperature, seed, stop, n, stream
        case topP = "top_p", topK = "top_k", minP = "min_p", repetitionPenalty = "repetition_penalty"
        case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens"
        case streamOptions = "stream_options", logitBias = "logit_bias"
    }
}

/// POST /v1/chat/completions, beyond the shared fields.
struct ChatCompletionBody: Decodable, Sendable {
    var messages: [Message]
    var logprobs: Bool?
    var topLogprobs: WholeNumber?
    var tools: AnyJSON?
    var toolChoice: AnyJSON?
    var functions: AnyJSON?
    var functionCall: AnyJSON?
    var responseFormat: ResponseFormat?
    var audio: AnyJSON?

    struct Message: Decodable, Sendable {
        var role: String
        var content: Content?
        var toolCalls: AnyJSON?
        enum CodingKeys: String, CodingKey {
            case role, content
            case toolCalls = "tool_calls"
        }
    }

    /// A message's content: a string, or parts of which only text parts are understood.
    struct Content: Decodable, Sendable {
        var parts: [(type: String, text: String?)]
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                parts = [("text", text)]
                return
            }
            struct Part: Decodable {
                var type: String
                var text: String?
            }
            do {
                parts = try container.decode([Part].self).map { ($0.type, $0.text) }
            } catch {
                let field = RequestDecoding.path(decoder.codingPath)
                throw APIError.invalid(
                    field,
                    "`\(field)` must be a string or an array of content parts ({\"type\": \"text\", \"text\": …}).")
            }
        }
    }

    struct ResponseFormat: Decodable, Sendable {
        var type: String
    }

    enum CodingKeys: String, CodingKey {
        case messages, logprobs, tools, functions, audio
        case topLogprobs = "top_logprobs", toolChoice = "tool_choice", functionCall = "function_call"
        case responseFormat = "response_format"
    }
}

/// POST /v1/completions, beyond the shared fields.
struct CompletionBody: Decodable, Sendable {
    var prompt: TextsOrTokens
    var logprobs: WholeNumber?
    var echo: Bool?
    var suffix: AnyJSON?
    var bestOf: WholeNumber?

    enum CodingKeys: String, CodingKey {
        case prompt, logprobs, echo, suffix
        case bestOf = "best_of"
    }
}

/// POST /v1/embeddings.
struct EmbeddingBody: Decodable, Sendable {
    var model: String?
    var input: TextsOrTokens
    var encodingFormat: String?
    var dimensions: WholeNumber?
    /// Swiftlet's own: mean or last (default: the checkpoint classifier's pooling, else mean).
    var pooling: String?

    enum CodingKeys: String, CodingKey {
        case model, input, dimensions, pooling
        case encodingFormat = "encoding_format"
    }
}

/// POST /v1/classify (Swiftlet's own).
struct ClassifyBody: Decodable, Sendable {
    var model: String?
    var input: StringOrList
    /// Zero-shot: score these labels with the language model instead of the checkpoint's head.
    var labels: [String]?
    var template: String?
}

/// Everything needed to run the completions of one request, validated.
struct GenerationParameters: Sendable {
    /// With the caller's seed (or a random one); each further choice uses the next seed.
    var sampling: SamplingSettings
    /// Absent: the endpoint's default.
    var maxTokens: Int?
    var stop: [String]
    var choices: Int
    var stream: Bool
    var includeUsage: Bool
    /// Log-probabilities: nil for none, else how many alternatives per token.
    var logprobs: Int?

    /// The largest `n` a request may ask for.
    static let maxChoices = 16
    /// The most alternatives `logprobs` / `top_logprobs` may ask for (OpenAI's limit).
    static let maxTopLogprobs = 20

    /// OpenAI's ranges and defaults (temperature 1, top_p 1), plus Swiftlet's top_k, min_p and
    /// repetition_penalty; every field out of range is a 400 naming it.
    init(_ fields: SamplingFields, logprobs: Int?) throws {
        var s = SamplingSettings(temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1)
        if let t = fields.temperature {
            guard t >= 0, t <= 2 else {
                throw APIError.invalid("temperature", "`temperature` must be between 0 and 2.")
            }
            s.temperature = Float(t)
        }
        if let p = fields.topP {
            guard p >= 0, p <= 1 else { throw APIError.invalid("top_p", "`top_p` must be between 0 and 1.") }
            // 0 keeps only the likeliest token, as the smallest positive p does.
            s.topP = max(Float(p), .leastNormalMagnitude)
        }
        if let k = fields.topK?.value {
            guard k >= -1 else {
                throw APIError.invalid("top_k", "`top_k` must be 0 or -1 (off) or a positive number of tokens.")
            }
            s.topK = max(k, 0)
        }
        if let m = fields.minP {
            guard m >= 0, m < 1 else { throw APIError.invalid("min_p", "`min_p` must be at least 0 and below 1.") }
            s.minP = Float(m)
        }
        if let r = fields.repetitionPenalty {
            guard r > 0, r <= 10 else {
                throw APIError.invalid("repetition_penalty", "`repetition_penalty` must be above 0 and at most 10.")
            }
            s.repetitionPenalty = Float(r)
        }
        for (name, value) in [
            ("presence_penalty", fields.presencePenalty), ("frequency_penalty", fields.frequencyPenalty),
        ] {
            if let value, !(value >= -2 && value <= 2) {
                throw APIError.invalid(name, "`\(name)` must be between -2 and 2.")
            }
        }
        s.presencePenalty = Float(fields.presencePenalty ?? 0)
        s.frequencyPenalty = Float(fields.frequencyPenalty ?? 0)
        var generator = SystemRandomNumberGenerator()
        s.seed = fields.seed.map { UInt64(bitPattern: Int64($0.value)) } ?? generator.next()
        sampling = s
        if fields.maxTokens != nil && fields.maxCompletionTokens != nil {
            throw APIError.invalid("max_completion_tokens", "give `max_tokens` or `max_completion_tokens`, not both.")
        }
        let limit = (fields.maxCompletionTokens ?? fields.maxTokens)?.value
        if let limit, limit < 1 {
            throw APIError.invalid(
                fields.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens",
                "`max_tokens` must be at least 1.")
        }
        maxTokens = limit
        stop = fields.stop?.values ?? []
        guard stop.count <= 4 else { throw APIError.invalid("stop", "`stop` holds at most 4 sequences.") }
        guard !stop.contains(where: \.isEmpty) else {
            throw APIError.invalid("stop", "`stop` sequences must not be empty.")
        }
        choices = fields.n?.value ?? 1
        guard choices >= 1, choices <= Self.maxChoices else {
            throw APIError.invalid("n", "`n` must be between 1 and \(Self.maxChoices).")
        }
        stream = fields.stream ?? false
        includeUsage = fields.streamOptions?.includeUsage ?? false
        if fields.streamOptions != nil && !stream {
            throw APIError.invalid("stream_options", "`stream_options` goes with `stream: true`.")
        }
        if fields.logitBias?.isMeaningful == true {
            throw APIError.invalid("logit_bias", "`logit_bias` is not supported by this server.")
        }
        self.logprobs = logprobs
    }

    /// The sampling of choice `index`: a seeded request's choices use consecutive seeds.
    func sampling(forChoice index: Int) -> SamplingSettings {
        var s = sampling
        s.seed = sampling.seed &+ UInt64(index)
        return s
    }
}
