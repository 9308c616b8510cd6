/// One completion to produce: the prompt's tokens and how to continue it.
public struct GenerationRequest {
    public var prompt: [Int32]
    public var maxTokens: Int
    public var sampling: SamplingSettings
    /// The reply ends before the first of these; it is not part of the text.
    public var stop: [String]
    /// Receives the reply's text as it streams (whole UTF-8 characters only).
    public var onText: (String) -> Void
    /// Hears every sampled token (not one that ends the text, `Tokenizer.endOfGenerationIDs`) before its text reaches `onText`.
    public var onToken: ((GeneratedToken) -> Void)?
    /// With `onToken`: report each token's log-probability and this many likeliest alternatives
    /// (nil: none, 0: the token's own only).
    public var logprobs: Int?
    /// Keep the KV cache when the request ends, for a later request to continue (a chat's next turn).
    public var keepCache = false
    /// Continue from the cache a finished request kept: the longest common prefix of its
    /// tokens and this prompt is not computed again.
    public var reusing: Int?
    /// The request ends (`timeLimit`) at this `Stopwatch.now()` time, whether it runs or waits.
    public var deadline: Double?

    public init(
        prompt: [Int32], maxTokens: Int = 256, sampling: SamplingSettings = SamplingSettings(), stop: [String] = [],
        onText: @escaping (String) -> Void = { _ in }
    ) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stop = stop
        self.onText = onText
    }
}

public struct GenerationResult: Sendable {
    public enum StopReason: String, Sendable {
        case endOfSequence = "end_of_sequence", tokenLimit = "token_limit", contextFull = "context_full"
        case stopString = "stop_string", timeLimit = "time_limit", cancelled
    }
    /// Every sampled token (those that spelled a stop string included; not the one that ended the text).
    public let tokens: [Int32]
    /// The text streamed to the callback.
    public let text: String
    public let promptTokens: Int
    public let stopReason: StopReason
    /// From submission to the first sampled token (queueing and prompt processing).
    public let timeToFirstToken: Double
    /// From the first sampled token to the end.
    public let generationSeconds: Double
    /// Prompt tokens whose keys and values came from a kept cache instead of being computed.
    public internal(set) var reusedPromptTokens = 0
    /// Tokens after the first per second of `generationSeconds` (the first one's cost is in `timeToFirstToken`).
    public var tokensPerSecond: Double {
        tokens.count > 1 ? Double(tokens.count - 1) / max(generationSeconds, 1e-9) : 0
    }

    public init(
        tokens: [Int32], text: String, promptTokens: Int, stopReason: StopReason, timeToFirstToken: Double,
        generationSeconds: Double
    ) {
        self.tokens = tokens
        self.text = text
        self.promptTokens = promptTokens
        self.stopReason = stopReason
        self.timeToFirstToken = timeToFirstToken
        self.generationSeconds = generationSeconds
    }
}
