import CSentencePiece

public enum TokenizerModelType: String, Codable, CaseIterable, Sendable {
    case unigram, bpe
}

/// Role markers for chat templates. Reserved as whole pieces in every tokenizer Swiftlet trains,
/// so any Swiftlet checkpoint can later be tuned for chat without changing its vocabulary.
public enum SpecialPieces {
    public static let system = "<|system|>"
    public static let user = "<|user|>"
    public static let assistant = "<|assistant|>"
    public static let endOfTurn = "<|end|>"
    public static let all = [system, user, assistant, endOfTurn]
}

public struct TokenizerTrainingOptions: Sendable {
    public var vocabSize: Int
    public var modelType: TokenizerModelType = .bpe
    /// Sentences (lines) sampled for training; more costs time and memory, rarely quality.
    public var maxSentences: Int = 2_000_000
    public var seed: UInt32 = 1
    /// SentencePiece's normalization rule: "identity" keeps every byte, so text round-trips.
    public var normalization = "identity"

    public init(vocabSize: Int, modelType: TokenizerModelType = .bpe) {
        self.vocabSize = vocabSize
        self.modelType = modelType
    }
}

extension Tokenizer {
    /// Trains a SentencePiece model on `text` (lines are sentences) with options chosen so any
    /// UTF-8 text round-trips exactly: byte fallback for unseen characters, no normalization,
    /// whitespace kept as it is, digits split.
    public static func train(text: String, options: TokenizerTrainingOptions) throws -> Tokenizer {
        guard options.vocabSize > 0 else { throw SwiftletError("the vocabulary size must be positive.") }
        // 3 control pieces + 256 bytes + the chat markers come before any learned piece.
        let minimum = 3 + 256 + SpecialPieces.all.count + 1
        guard options.vocabSize >= minimum else {
            throw SwiftletError(
                "a vocabulary of \(options.vocabSize) is too small: byte fallback and special pieces need at least \(minimum)."
            )
        }
        guard text.utf8.contains(where: { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }) else {
            throw SwiftletError("the tokenizer's training text is empty.")
        }
        let flags: [(String, String)] = [
            ("model_type", options.modelType.rawValue),
            ("vocab_size", String(options.vocabSize)),
            ("character_coverage", "0.9995"),
            ("byte_fallback", "true"),
            ("normalization_rule_name", options.normalization),
            ("remove_extra_whitespaces", "false"),
            ("add_dummy_prefix", "false"),
            ("allow_whitespace_only_pieces", "true"),
            ("split_digits", "true"),
            ("max_sentence_length", "16384"),
            ("input_sentence_size", String(options.maxSentences)),
            ("shuffle_input_sentence", "true"),
            ("user_defined_symbols", SpecialPieces.all.joined(separator: ",")),
            ("unk_id", "0"), ("bos_id", "1"), ("eos_id", "2"), ("pad_id", "-1"),
            ("num_threads", "2"),
            ("minloglevel", "2"),
            ("model_prefix", ""),
        ]
        let keys = flags.map { strdup($0.0) }
        let values = flags.map { strdup($0.1) }
        defer { (keys + values).forEach { free($0) } }
        var modelPointer: UnsafeMutablePointer<CChar>?
        var modelLength = 0
        var error: UnsafeMutablePointer<CChar>?
        var utf8 = cutLongLines(Array(text.utf8), limit: maxLineBytes)
        let status = utf8.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                keys.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
                    values.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                        spm_train(
                            chars.baseAddress, chars.count, k.baseAddress, v.baseAddress, Int32(flags.count),
                            &modelPointer, &modelLength, &error)
                    }
                }
            }
        }
        guard status == 0, let modelPointer else {
            let reason = error.map { String(cString: $0) } ?? "unknown error"
            spm_free_string(error)
            throw explain(trainingError: reason, requested: options.vocabSize)
        }
        let bytes = [UInt8](UnsafeRawBufferPointer(start: modelPointer, count: modelLength))
        spm_free_string(modelPointer)
        return try Tokenizer(modelBytes: bytes)
    }

    /// SentencePiece skips every sentence longer than max_sentence_length (16,384 bytes), and
    /// fails with "[!sentences_.empty()]" when that is all of them.
    static let maxLineBytes = 16_000

    /// Lines longer than `limit` bytes cut into pieces of at most `limit` (after a space where
    /// there is one, never inside a UTF-8 character): the tokenizer learns pieces from them like
    /// from any text, and the model is trained on the text as it was.
    static func cutLongLines(_ bytes: [UInt8], limit: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / limit + 1)
        var lineStart = 0
        while lineStart < bytes.count {
            let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            var start = lineStart
            while newline - start > limit {
                var cut = start + limit
                // Not inside a multi-byte character (continuation bytes are 10xxxxxx) …
                while cut > start + 1, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
                // … and after a space when one is near.
                if let space = bytes[(cut - min(256, cut - start - 1))..<cut].lastIndex(of: UInt8(ascii: " ")) {
                    cut = space + 1
                }
                out += bytes[start..<cut]
                out.append(UInt8(ascii: "\n"))
                start = cut
            }
            out += bytes[start..<min(newline + 1, bytes.count)]
            lineStart = newline + 1
        }
        return out
    }

    /// Turns SentencePiece's messages into a sentence a user can act on.
    static func explain(trainingError reason: String, requested: Int) -> SwiftletError {
        // e.g. "Internal: ... Vocabulary size too high (9000). Please set it to a value <= 5872."
        if let marker = reason.firstRange(of: "value <= ") {
            let digits = reason[marker.upperBound...].prefix { $0.isNumber }
            if let largest = Int(digits) {
                return SwiftletError(
                    "a vocabulary of \(requested) is too large for this corpus; the largest that works is \(largest).")
            }
        }
        // e.g. "Vocabulary size is smaller than required_chars. 300 vs 304. Increase vocab_size ..."
        if let marker = reason.firstRange(of: "required_chars. ") {
            let numbers = reason[marker.upperBound...].split(separator: " ").prefix(3)
            if numbers.count == 3, let needed = Int(numbers.last!.filter(\.isNumber)) {
                return SwiftletError(
                    "a vocabulary of \(requested) is too small to hold every character of this corpus; it needs at least \(needed + 1)."
                )
            }
            return SwiftletError("a vocabulary of \(requested) is too small to hold every character of this corpus.")
        }
        if reason.contains("sentences_.empty()") {
            return SwiftletError(
                "the tokenizer's training text has no usable line (SentencePiece skips lines over 16,384 bytes).")
        }
        return SwiftletError("tokenizer training failed: \(reason)")
    }
}
