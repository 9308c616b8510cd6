#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Everything a conversation can be saved as: `/save` writes it as JSON, `/load` reads it back.
public struct ChatTranscript: Codable, Sendable, Equatable {
    public var system: String?
    public var turns: [ChatMessage]
    public var mode: ChatSession.Mode
    public var settings: ChatSettings

    public static func read(_ path: String) throws -> ChatTranscript {
        try decode(FileIO.readBytes(path, limit: 1 << 28), path: path)
    }

    /// Parses and checks a transcript's bytes (every count and setting in range).
    public static func decode(_ bytes: [UInt8], path: String) throws -> ChatTranscript {
        let transcript: ChatTranscript
        do {
            transcript = try JSONDecoder().decode(ChatTranscript.self, from: Data(bytes))
        } catch {
            throw SwiftletError("\(path) is not a Swiftlet chat transcript.")
        }
        do {
            try transcript.validate()
        } catch let error as SwiftletError {
            throw SwiftletError("\(path) is not a valid chat transcript: \(error.message)")
        }
        return transcript
    }

    public func validate() throws {
        try settings.sampling.validate()
        guard (1...(1 << 24)).contains(settings.maxTokens) else {
            throw SwiftletError("max_tokens must be between 1 and 16,777,216.")
        }
        guard settings.stop.count <= 256, !settings.stop.contains(where: \.isEmpty) else {
            throw SwiftletError("its stop strings must be at most 256, none of them empty.")
        }
        guard turns.count <= 1 << 20 else { throw SwiftletError("it holds more than 1,048,576 turns.") }
        guard !turns.contains(where: { $0.role == .system }) else {
            throw SwiftletError("a system prompt goes in \"system\", not among the turns.")
        }
    }

    /// Written atomically: a temporary file renamed into place.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileIO.writeAtomically(Array(try encoder.encode(self)) + [10], to: path)
    }
}

/// How replies are sampled.
public struct ChatSettings: Codable, Sendable, Equatable {
    public var sampling: SamplingSettings
    public var maxTokens: Int
    /// Extra texts that end a reply (chat mode always ends at the role markers).
    public var stop: [String]

    public init(sampling: SamplingSettings, maxTokens: Int, stop: [String] = []) {
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.stop = stop
    }
}

/// A conversation with a model, turn by turn. Its KV cache outlives each reply, so a new turn
/// computes only its own tokens: every reply's request keeps its cache, and the next one
/// continues from the longest prefix they share (everything, unless a turn was undone,
/// regenerated or dropped). In chat mode the turns are rendered with the checkpoint's chat
/// template and a reply ends at the end-of-turn marker; in completion mode the model simply
/// continues the text typed so far.
public final class ChatSession {
    public enum Mode: String, Codable, Sendable { case chat, complete }

    public struct Reply: Sendable {
        public let result: GenerationResult
        /// Oldest turns dropped before this reply so the conversation fits the context.
        public let droppedTurns: Int
    }

    public let model: Transformer
    public let tokenizer: Tokenizer
    public let template: ChatTemplate
    /// Whether the checkpoint was tuned for chat (its config names a template).
    public let tunedForChat: Bool
    public var mode: Mode
    public var settings: ChatSettings
    public var system: String?
    public private(set) var turns: [ChatMessage] = []
    /// Parallel to `turns`: a reply's tokens as sampled (re-encoding its text could split it
    /// differently, and the cache holds the sampled ones); nil for typed or loaded turns.
    private var sampledTokens: [[Int32]?] = []
    public private(set) var lastReply: GenerationResult?
    /// Tokens the conversation occupies in the context after the last reply.
    public private(set) var contextUsed = 0
    let engine: GenerationEngine
    private var cache: GenerationEngine.RequestID?
    private var replies: UInt64 = 0

    /// `weights: .bf16` rounds the model's weights to bf16 in place (see `GenerationEngine.Options.weights`).
    public init(
        model: Transformer, tokenizer: Tokenizer, chatTemplate: ChatTemplate?, settings: ChatSettings,
        weights: Precision = .fp32
    ) {
        self.model = model
        self.tokenizer = tokenizer
        template = chatTemplate ?? .native(for: tokenizer)
        tunedForChat = chatTemplate != nil
        mode = chatTemplate != nil ? .chat : .complete
        self.settings = settings
        engine = GenerationEngine(
            model: model, tokenizer: tokenizer, options: GenerationEngine.Options(parallel: 1, weights: weights))
    }

    public var contextLength: Int { model.config.contextLength }

    /// Chat mode needs the role markers in the vocabulary.
    public func setMode(_ newMode: Mode) throws {
        if newMode == .chat { _ = try template.markers(tokenizer) }
        mode = newMode
    }

    /// Adds the user's turn and streams the model's reply to `onText`. `shouldStop` ends the
    /// reply early; what was said so far stays in the conversation.
    @discardableResult
    public func send(
        _ text: String, onText: @escaping (String) -> Void, shouldStop: () -> Bool = { false }
    ) throws -> Reply {
        turns.append(ChatMessage(role: .user, content: text))
        sampledTokens.append(nil)
        do {
            return try respond(onText: onText, shouldStop: shouldStop)
        } catch {
            turns.removeLast()
            sampledTokens.removeLast()
            throw error
        }
    }

    /// Replaces the last reply with a new one (a different draw of the sampler).
    @discardableResult
    public func regenerate(onText: @escaping (String) -> Void, shouldStop: () -> Bool = { false }) throws -> Reply {
        guard turns.last?.role == .assistant else { throw SwiftletError("there is no reply to regenerate yet.") }
        let previous = (turns.removeLast(), sampledTokens.removeLast())
        do {
            return try respond(onText: onText, shouldStop: shouldStop)
        } catch {
            turns.append(previous.0)
            sampledTokens.append(previous.1)
            throw error
        }
    }

    /// Removes the last exchange (the user's turn and the reply to it).
    public func undo() throws {
        guard let last = turns.lastIndex(where: { $0.role == .user }) else {
            throw SwiftletError("there is nothing to undo.")
        }
        turns.removeSubrange(last...)
        sampledTokens.removeSubrange(last...)
        contextUsed = try promptTokens(turns).count
    }

    /// Forgets every turn; the system prompt and settings stay.
    public func reset() {
        // Nothing of the old conversation will be reused: its KV blocks go back now.
        if let cache { engine.releaseCache(cache) }
        cache = nil
        turns.removeAll()
        sampledTokens.removeAll()
        contextUsed = (try? promptTokens([]).count) ?? 0
    }

    public var transcript: ChatTranscript {
        ChatTranscript(system: system, turns: turns, mode: mode, settings: settings)
    }

    public func restore(_ transcript: ChatTranscript) throws {
        if transcript.mode == .chat { _ = try template.markers(tokenizer) }
        try transcript.settings.sampling.validate()
        guard transcript.settings.maxTokens > 0, !transcript.settings.stop.contains(where: \.isEmpty) else {
            throw SwiftletError(
                "the transcript's settings are not valid (max_tokens must be positive, stop strings not empty).")
        }
        system = transcript.system
        turns = transcript.turns
        sampledTokens = turns.map { _ in nil }
        mode = transcript.mode
        settings = transcript.settings
        contextUsed = try promptTokens(turns).count
    }

    /// What the model reads before its reply.
    func promptTokens(_ turns: [ChatMessage], sampled: [[Int32]?]? = nil) throws -> [Int32] {
        let sampled = sampled ?? sampledTokens
        switch mode {
        case .chat:
            let messages = (system.map { [ChatMessage(role: .system, content: $0)] } ?? []) + turns
            return try template.prompt(
                messages, tokenizer: tokenizer, contentTokens: (system == nil ? [] : [nil]) + sampled)
        case .complete:
            // Each piece encoded on its own, so earlier turns keep their tokens (and their cache).
            return tokenizer.documentStart + (system.map { tokenizer.encode($0) } ?? [])
                + zip(turns, sampled).flatMap { $1 ?? tokenizer.encode($0.content) }
        }
    }

    /// The reply's tokens without those that spelled a stop string (which its text leaves out).
    private func contentTokens(of result: GenerationResult) -> [Int32]? {
        var tokens = result.tokens
        while !tokens.isEmpty, tokenizer.decode(tokens) != result.text { tokens.removeLast() }
        return tokens.isEmpty && !result.text.isEmpty ? nil : tokens
    }

    private func respond(onText: @escaping (String) -> Void, shouldStop: () -> Bool) throws -> Reply {
        // Room for the reply: its token limit, but at most a quarter of the context.
        let room = max(1, min(settings.maxTokens, contextLength / 4))
        var kept = turns, keptTokens = sampledTokens
        var prompt = try promptTokens(kept, sampled: keptTokens)
        while prompt.count + room > contextLength, kept.count > 1 {
            // The oldest exchange goes; the system prompt stays.
            let next = kept.dropFirst().firstIndex { $0.role == .user } ?? kept.count - 1
            kept.removeFirst(next)
            keptTokens.removeFirst(next)
            prompt = try promptTokens(kept, sampled: keptTokens)
        }
        guard prompt.count < contextLength else {
            throw SwiftletError(
                "this turn needs \(prompt.count) tokens with the system prompt, but the model's context holds \(contextLength)."
            )
        }
        var sampling = settings.sampling
        sampling.seed = settings.sampling.seed &+ replies
        replies += 1
        var request = GenerationRequest(
            prompt: prompt, maxTokens: settings.maxTokens, sampling: sampling,
            stop: (mode == .chat ? template.stopStrings : []) + settings.stop,
            onText: onText)
        request.keepCache = true
        request.reusing = cache
        let id = try engine.submit(request)
        cache = id
        // Only a request that runs changes the conversation (a refused one leaves every turn).
        let dropped = turns.count - kept.count
        sampledTokens = keptTokens
        turns = kept
        guard let result = engine.runUntilIdle(shouldStop: shouldStop)[id] else {
            fatalError("the engine lost a request")
        }
        sampledTokens.append(contentTokens(of: result))
        turns.append(ChatMessage(role: .assistant, content: result.text))
        lastReply = result
        contextUsed = min(contextLength, prompt.count + result.tokens.count)
        return Reply(result: result, droppedTurns: dropped)
    }
}
