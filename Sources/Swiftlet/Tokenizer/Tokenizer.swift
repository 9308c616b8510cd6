import CSentencePiece
#if canImport(Dispatch)
import Dispatch
#endif

/// Swift face of a SentencePiece model. Immutable after loading, so it is safe to share
/// between threads (SentencePiece's Encode/Decode are const).
public final class Tokenizer: @unchecked Sendable {
    private let handle: OpaquePointer
    /// The serialized model, exactly the bytes of a `.model` file.
    public let modelBytes: [UInt8]
    public let vocabSize: Int
    public let bosID: Int32
    public let eosID: Int32
    public let unknownID: Int32
    /// Tokens that end a generated text, as llama.cpp's end-of-generation set: EOS, and the
    /// end-of-turn marker of a chat vocabulary (Gemma's `<end_of_turn>`, Swiftlet's `<|end|>`),
    /// which a chat-tuned model emits instead of EOS. Not one of them is ever part of a reply.
    public let endOfGenerationIDs: Set<Int32>
    /// Whether the model puts "▁" before the text (SentencePiece's add_dummy_prefix, set in
    /// Llama 2's tokenizer; never in Swiftlet's). Such a model must see a text whole: cut at
    /// newlines, each line would get the prefix.
    public let addsDummyPrefix: Bool
    /// Whether every text the model reads starts with BOS (Gemma's and Llama 2's models expect
    /// it; Swiftlet's own never do). Not in the SentencePiece model: the loader says so from the
    /// checkpoint's tokenizer_config.json or the GGUF's `add_bos_token`. `encodeDocument` adds it.
    public let addsBOS: Bool
    /// Whether a text may be encoded a line at a time (see `encode`): no piece joins a newline
    /// to anything but more newlines, and no space is prepended to the text.
    let encodesByLine: Bool
    /// Bytes each piece stands for in decoded text ("▁" becomes a space, "<0x0A>" one byte,
    /// control pieces nothing). Lets the generator stream text token by token.
    public let pieceBytes: [[UInt8]]

    public init(modelBytes: [UInt8], addsBOS: Bool = false) throws {
        // libsentencepiece trusts the file's character map blindly (see CharsmapValidator).
        try CharsmapValidator.validate(modelBytes: modelBytes)
        var error: UnsafeMutablePointer<CChar>?
        let loaded = modelBytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { spm_load_bytes($0.baseAddress, $0.count, &error) }
        }
        guard let handle = loaded else {
            let reason = error.map { String(cString: $0) } ?? "unknown error"
            spm_free_string(error)
            throw SwiftletError("not a valid SentencePiece model (\(reason)).")
        }
        self.handle = handle
        self.modelBytes = modelBytes
        let proto = try? SentencePieceModelProto(bytes: modelBytes)
        addsDummyPrefix = proto?.normalizerSpec.addDummyPrefix ?? true
        self.addsBOS = addsBOS
        // Gemma's vocabulary has pieces for runs of newlines ("\n\n"), none for a newline with text.
        let joinsNewlines =
            proto?.pieces.contains { piece in
                piece.piece.utf8.contains(10) && piece.piece.utf8.contains { $0 != 10 }
            } ?? true
        encodesByLine = !addsDummyPrefix && !joinsNewlines
        vocabSize = Int(spm_piece_count(handle))
        bosID = spm_bos_id(handle)
        eosID = spm_eos_id(handle)
        unknownID = spm_unk_id(handle)
        var ends: Set<Int32> = eosID >= 0 ? [eosID] : []
        for marker in [GemmaPieces.endOfTurn, SpecialPieces.endOfTurn] {
            let id = spm_piece_to_id(handle, marker)
            if id >= 0, id != unknownID { ends.insert(id) }
        }
        endOfGenerationIDs = ends
        var table: [[UInt8]] = []
        table.reserveCapacity(vocabSize)
        for id in 0..<Int32(vocabSize) {
            table.append(
                Tokenizer.bytes(
                    ofPiece: String(cString: spm_id_to_piece(handle, id)),
                    isByte: spm_is_byte(handle, id) != 0,
                    isControl: spm_is_control(handle, id) != 0 || spm_is_unknown(handle, id) != 0))
        }
        pieceBytes = table
    }

    public convenience init(contentsOf path: String, addsBOS: Bool = false) throws {
        let bytes = try FileIO.readBytes(path)
        do { try self.init(modelBytes: bytes, addsBOS: addsBOS) } catch let error as SwiftletError {
            throw SwiftletError("\(path) is \(error.message)")
        }
    }

    deinit { spm_free(handle) }

    private static func bytes(ofPiece piece: String, isByte: Bool, isControl: Bool) -> [UInt8] {
        if isControl { return [] }
        if isByte, piece.hasPrefix("<0x"), piece.hasSuffix(">"),
            let value = UInt8(piece.dropFirst(3).dropLast(), radix: 16)
        {
            return [value]
        }
        return Array(piece.replacingAll("\u{2581}", with: " ").utf8)
    }

    public func piece(_ id: Int32) -> String {
        guard id >= 0, Int(id) < vocabSize else { return "<invalid \(id)>" }
        return String(cString: spm_id_to_piece(handle, id))
    }

    public func id(ofPiece piece: String) -> Int32 { spm_piece_to_id(handle, piece) }

    /// Encodes a text (no BOS: a piece of a longer token sequence; see `encodeDocument`).
    /// Every text goes through the same path whether it is a prompt or a corpus: cut after each
    /// run of newlines, each line encoded on its own (no piece joins a newline to other text, so
    /// SentencePiece's BPE — and llama.cpp's merges — give the same ids on the whole text),
    /// unless the model adds a dummy prefix, which only the whole text may get.
    public func encode(_ text: String) -> [Int32] {
        var utf8 = Array(text.utf8)
        if utf8.isEmpty { return [] }
        return utf8.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                encodesByLine
                    ? encodeLines(chars.baseAddress!, count: chars.count)
                    : encode(chars.baseAddress!, count: chars.count)
            }
        }
    }

    /// What every token sequence starts with: BOS when the model expects it, else nothing.
    public var documentStart: [Int32] { addsBOS && bosID >= 0 ? [bosID] : [] }

    /// A whole text as the model reads it from its start: BOS first when the model expects it.
    public func encodeDocument(_ text: String) -> [Int32] { documentStart + encode(text) }

    /// `encodeLarge` with BOS first when the model expects it.
    public func encodeLargeDocument(_ text: String) -> [Int32] { documentStart + encodeLarge(text) }

    /// Encodes the lines of a span one by one (each keeping its newlines).
    func encodeLines(_ text: UnsafePointer<CChar>, count: Int) -> [Int32] {
        var out: [Int32] = []
        var lineStart = 0
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count, text[lineEnd] != 10 { lineEnd += 1 }
            while lineEnd < count, text[lineEnd] == 10 { lineEnd += 1 }
            out.append(contentsOf: encode(text + lineStart, count: lineEnd - lineStart))
            lineStart = lineEnd
        }
        return out
    }

    func encode(_ text: UnsafePointer<CChar>, count: Int) -> [Int32] {
        // Byte fallback yields at most one id per byte.
        var capacity = count + 16
        while true {
            var ids = [Int32](repeating: 0, count: capacity)
            var error: UnsafeMutablePointer<CChar>?
            let n = ids.withUnsafeMutableBufferPointer {
                spm_encode(handle, text, count, $0.baseAddress, capacity, &error)
            }
            if n < 0 {
                spm_free_string(error)
                return []
            }
            if n <= capacity {
                ids.removeLast(capacity - n)
                return ids
            }
            capacity = n
        }
    }

    /// Encodes a large text on all cores, in ~1 MB spans cut at newlines: exactly `encode(text)`.
    public func encodeLarge(_ text: String) -> [Int32] {
        if !encodesByLine { return encode(text) }
        var bytes = Array(text.utf8)
        if bytes.isEmpty { return [] }
        // Cut the text into ~1 MB spans at newline boundaries.
        var cuts = [0]
        let span = 1 << 20
        while cuts.last! < bytes.count {
            var end = min(cuts.last! + span, bytes.count)
            while end < bytes.count, bytes[end - 1] != UInt8(ascii: "\n") || bytes[end] == UInt8(ascii: "\n") {
                end += 1
            }
            cuts.append(end)
        }
        let parts = cuts.count - 1
        let spans = cuts
        let results = ResultSlots<[Int32]>(count: parts)
        bytes.withUnsafeMutableBufferPointer { buffer in
            let base = SendablePointer(buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let chars = UnsafeRawPointer(base.pointer + spans[part]).assumingMemoryBound(to: CChar.self)
                results.set(part, self.encodeLines(chars, count: spans[part + 1] - spans[part]))
            }
        }
        return results.all.flatMap { $0 }
    }

    /// libsentencepiece's encoding of the whole text in one call (for tests that check the
    /// line-by-line path against it).
    public func encodeWhole(_ text: String) -> [Int32] {
        var utf8 = Array(text.utf8)
        if utf8.isEmpty { return [] }
        return utf8.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { encode($0.baseAddress!, count: $0.count) }
        }
    }

    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < vocabSize { bytes += pieceBytes[Int(id)] }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Number of UTF-8 bytes the ids decode to (for bits per byte).
    public func byteCount(_ ids: UnsafeBufferPointer<Int32>) -> Int {
        var total = 0
        for id in ids where id >= 0 && Int(id) < vocabSize { total += pieceBytes[Int(id)].count }
        return total
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
