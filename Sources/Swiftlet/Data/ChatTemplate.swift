/// One turn of a dialogue.
public struct ChatMessage: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable { case system, user, assistant }
    public var role: Role
    public var content: String

    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

/// How a dialogue becomes tokens. Swiftlet's own layout: each turn is its role marker, the
/// content, and the end-of-turn marker, turns back to back —
/// `<|user|>Hello<|end|><|assistant|>Hi<|end|>`; the markers are single pieces every Swiftlet
/// tokenizer reserves. Gemma's layout (`layout: .gemma`): `<start_of_turn>user\nHello<end_of_turn>\n
/// <start_of_turn>model\nHi<end_of_turn>\n`, the system prompt at the head of the first user turn
/// (Gemma has no system role). `finetune` stores the template it trained with in the
/// checkpoint's config, and chat reads it from there, so the two never disagree.
public struct ChatTemplate: Codable, Sendable, Equatable {
    /// The marker pieces: for Gemma, system, user and assistant are all `<start_of_turn>`.
    public var system = SpecialPieces.system
    public var user = SpecialPieces.user
    public var assistant = SpecialPieces.assistant
    public var endOfTurn = SpecialPieces.endOfTurn
    /// nil: Swiftlet's layout (and every config.json written before Gemma).
    public var layout: Layout? = nil

    public enum Layout: String, Codable, Sendable { case gemma }

    public init() {}

    public static let standard = ChatTemplate()

    public static let gemma: ChatTemplate = {
        var t = ChatTemplate()
        (t.system, t.user, t.assistant, t.endOfTurn) = (
            GemmaPieces.startOfTurn, GemmaPieces.startOfTurn, GemmaPieces.startOfTurn,
            GemmaPieces.endOfTurn
        )
        t.layout = .gemma
        return t
    }()

    /// The template a tokenizer's own markers call for: Gemma's for a vocabulary with
    /// `<start_of_turn>` and `<end_of_turn>` but not Swiftlet's markers, Swiftlet's otherwise.
    public static func native(for tokenizer: Tokenizer) -> ChatTemplate {
        if (try? standard.markers(tokenizer)) == nil, (try? gemma.markers(tokenizer)) != nil { return .gemma }
        return .standard
    }

    /// The texts that end a reply when the model writes them.
    public var stopStrings: [String] {
        var strings: [String] = []
        for marker in [endOfTurn, user, system, assistant] where !strings.contains(marker) { strings.append(marker) }
        return strings
    }

    /// The markers' token ids; a tokenizer without them cannot hold a dialogue.
    public struct Markers: Sendable {
        public let system, user, assistant, endOfTurn: Int32
        public func id(of role: ChatMessage.Role) -> Int32 {
            switch role {
            case .system: system
            case .user: user
            case .assistant: assistant
            }
        }
    }

    public func markers(_ tokenizer: Tokenizer) throws -> Markers {
        let ids = [system, user, assistant, endOfTurn].map { tokenizer.id(ofPiece: $0) }
        guard ids.allSatisfy({ $0 >= 0 && $0 != tokenizer.unknownID }) else {
            var names: [String] = []
            for marker in [system, user, assistant, endOfTurn] where !names.contains(marker) { names.append(marker) }
            throw SwiftletError(
                "this tokenizer has no chat role markers (\(names.joined(separator: ", "))); only a tokenizer trained by Swiftlet or Gemma's can hold dialogues."
            )
        }
        return Markers(system: ids[0], user: ids[1], assistant: ids[2], endOfTurn: ids[3])
    }

    /// The dialogue's tokens, and for each token whether predicting it is trained: only the
    /// assistant's words and the end-of-turn marker that closes them (so the model learns
    /// both what to answer and when to stop); system and user turns are context only. The
    /// tokens start with BOS when the model expects it.
    /// `contentTokens[i]`, when given, are message i's content tokens exactly as a model sampled
    /// them (which need not be how the tokenizer would split the text).
    public func encode(
        _ messages: [ChatMessage], tokenizer: Tokenizer,
        contentTokens: [[Int32]?] = []
    ) throws -> (tokens: [Int32], trainable: [Bool]) {
        let ids = try markers(tokenizer)
        var tokens = tokenizer.documentStart
        var trainable = [Bool](repeating: false, count: tokens.count)
        func add(_ part: [Int32], learn: Bool = false) {
            tokens += part
            trainable += Array(repeating: learn, count: part.count)
        }
        // Gemma: the text between the end of one turn and the start of the next, and after each role's marker.
        let gemma = layout == .gemma
        let afterEnd = gemma ? tokenizer.encode("\n") : []
        func header(_ role: ChatMessage.Role) -> [Int32] {
            gemma ? [ids.user] + tokenizer.encode(role == .assistant ? "model\n" : "user\n") : [ids.id(of: role)]
        }
        var openSystem = false
        for (i, message) in messages.enumerated() {
            let content = (i < contentTokens.count ? contentTokens[i] : nil) ?? tokenizer.encode(message.content)
            let learn = message.role == .assistant
            if gemma, message.role == .system, i + 1 < messages.count, messages[i + 1].role == .user {
                // Gemma's system prompt opens the first user turn, a blank line before the user's words.
                add(header(.user))
                add(content + tokenizer.encode("\n\n"))
                openSystem = true
                continue
            }
            if openSystem { openSystem = false } else { add(header(message.role)) }
            add(content, learn: learn)
            add([ids.endOfTurn], learn: learn)
            add(afterEnd)
        }
        return (tokens, trainable)
    }

    /// A conversation so far, ending with the assistant's marker: what the model continues.
    public func prompt(
        _ messages: [ChatMessage], tokenizer: Tokenizer, contentTokens: [[Int32]?] = []
    ) throws -> [Int32] {
        let ids = try markers(tokenizer)
        let opening = layout == .gemma ? [ids.assistant] + tokenizer.encode("model\n") : [ids.assistant]
        return try encode(messages, tokenizer: tokenizer, contentTokens: contentTokens).tokens + opening
    }
}

/// Gemma's turn markers (control tokens in its vocabulary).
public enum GemmaPieces {
    public static let startOfTurn = "<start_of_turn>"
    public static let endOfTurn = "<end_of_turn>"
}
