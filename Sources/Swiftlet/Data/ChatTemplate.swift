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

/// How a dialogue becomes tokens: each turn is its role marker, the content, and the end-of-turn
/// marker, turns back to back — `<|user|>Hello<|end|><|assistant|>Hi<|end|>`. The markers are
/// single pieces every Swiftlet tokenizer reserves. `finetune` stores the template it trained
/// with in the checkpoint's config, and chat reads it from there, so the two never disagree.
public struct ChatTemplate: Codable, Sendable, Equatable {
    public var system = SpecialPieces.system
    public var user = SpecialPieces.user
    public var assistant = SpecialPieces.assistant
    public var endOfTurn = SpecialPieces.endOfTurn

    public init() {}

    public static let standard = ChatTemplate()

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
            throw SwiftletError("this tokenizer has no chat role markers (\(system), \(user), \(assistant), \(endOfTurn)); only a tokenizer trained by Swiftlet can hold dialogues.")
        }
        return Markers(system: ids[0], user: ids[1], assistant: ids[2], endOfTurn: ids[3])
    }

    /// The dialogue's tokens, and for each token whether predicting it is trained: only the
    /// assistant's words and the end-of-turn marker that closes them (so the model learns
    /// both what to answer and when to stop); system and user turns are context only.
    /// `contentTokens[i]`, when given, are message i's content tokens exactly as a model sampled
    /// them (which need not be how the tokenizer would split the text).
    public func encode(_ messages: [ChatMessage], tokenizer: Tokenizer,
                       contentTokens: [[Int32]?] = []) throws -> (tokens: [Int32], trainable: [Bool]) {
        let ids = try markers(tokenizer)
        var tokens: [Int32] = [], trainable: [Bool] = []
        for (i, message) in messages.enumerated() {
            let content = (i < contentTokens.count ? contentTokens[i] : nil) ?? tokenizer.encode(message.content)
            let learn = message.role == .assistant
            tokens.append(ids.id(of: message.role))
            trainable.append(false)
            tokens += content
            trainable += Array(repeating: learn, count: content.count)
            tokens.append(ids.endOfTurn)
            trainable.append(learn)
        }
        return (tokens, trainable)
    }

    /// A conversation so far, ending with the assistant's marker: what the model continues.
    public func prompt(_ messages: [ChatMessage], tokenizer: Tokenizer, contentTokens: [[Int32]?] = []) throws -> [Int32] {
        try encode(messages, tokenizer: tokenizer, contentTokens: contentTokens).tokens + [markers(tokenizer).assistant]
    }
}
