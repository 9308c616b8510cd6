#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Tokenized corpora cached on disk, keyed by the tokenizer and the exact text, so a second
/// run over the same data does not tokenize again. Each document's tokens end with EOS, and
/// the document boundaries are kept.
public enum TokenCache {
    public static var directory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["SWIFTLET_CACHE"], !dir.isEmpty { return dir }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/swiftlet" }
        return (env["HOME"] ?? "/tmp") + "/.cache/swiftlet"
    }

    /// The corpus's tokens by document, and whether they came from the cache. Dialogues are
    /// rendered with `template` (the tokenizer's own by default; only their assistant turns trainable) and not cached: they are
    /// small, and their flags would need a format of their own.
    /// File layout (little-endian): the magic "SWLTOKv2", the cache key (UInt64, so a file
    /// under another corpus's name is not taken for it), a count of documents n (Int64), n + 1
    /// offsets (Int64), the tokens (Int32), and an FNV-1a checksum (UInt64) of all before it.
    public static func tokens(
        of corpus: Corpus, tokenizer: Tokenizer,
        template: ChatTemplate? = nil
    ) throws -> (documents: DocumentTokens, cached: Bool) {
        let template = template ?? .native(for: tokenizer)
        if corpus.hasDialogues { return (try encode(corpus, tokenizer: tokenizer, template: template), false) }
        var key = Fingerprint.fnv1a(tokenizer.modelBytes, seed: tokenizer.addsBOS ? 5 : 3)
        for doc in corpus.documents { key = Fingerprint.fnv1a(Array(doc.text.utf8), seed: key &* 31 &+ 7) }
        let path = directory + "/documents-\(String(key, radix: 16)).bin"
        if let bytes = try? FileIO.readBytes(path),
            let documents = decode(bytes, key: key, vocabSize: tokenizer.vocabSize)
        {
            return (documents, true)
        }
        let documents = try encode(corpus, tokenizer: tokenizer, template: template)
        // The cache is an optimisation: failing to write it is not an error.
        try? FileIO.createDirectory(directory)
        try? FileIO.writeAtomically(encode(documents, key: key), to: path)
        return (documents, false)
    }

    /// Every document in order: plain text ending with EOS, dialogues through the template
    /// (their closing end-of-turn marker is their end).
    static func encode(_ corpus: Corpus, tokenizer: Tokenizer, template: ChatTemplate) throws -> DocumentTokens {
        var documents = DocumentTokens(tokens: [], documentStarts: [0])
        for doc in corpus.documents {
            if let messages = doc.messages {
                let (tokens, trainable) = try template.encode(messages, tokenizer: tokenizer)
                documents.append(tokens, trainable: trainable)
            } else {
                // A tokenizer may define no end-of-sequence piece (eos_id = -1).
                documents.append(
                    tokenizer.encodeLargeDocument(doc.text) + (tokenizer.eosID >= 0 ? [tokenizer.eosID] : []))
            }
        }
        return documents
    }

    static let magic = Array("SWLTOKv2".utf8)

    static func encode(_ documents: DocumentTokens, key: UInt64) -> [UInt8] {
        var bytes = magic
        let header =
            [Int64(bitPattern: key), Int64(documents.documentCount)] + documents.documentStarts.map(Int64.init)
        header.withUnsafeBytes { bytes += $0 }
        documents.tokens.withUnsafeBytes { bytes += $0 }
        withUnsafeBytes(of: Fingerprint.fnv1a(bytes).littleEndian) { bytes += $0 }
        return bytes
    }

    /// nil for a damaged, foreign or outdated file (it is then rebuilt): the magic, the key, the
    /// checksum, the offsets (0, rising, ending at the token count) and every token id
    /// (inside the vocabulary) are all checked before it is trusted.
    static func decode(_ bytes: [UInt8], key: UInt64, vocabSize: Int) -> DocumentTokens? {
        guard bytes.count >= 40, Array(bytes[0..<8]) == magic else { return nil }
        return bytes.withUnsafeBytes { raw -> DocumentTokens? in
            let body = bytes.count - 8
            guard raw.loadUnaligned(fromByteOffset: body, as: UInt64.self) == Fingerprint.fnv1a(Array(bytes[0..<body])),
                raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == key
            else { return nil }
            let count = Int(raw.loadUnaligned(fromByteOffset: 16, as: Int64.self))
            guard count >= 0, count < body / 8 else { return nil }
            let tokensOffset = 24 + 8 * (count + 1)
            guard tokensOffset <= body, (body - tokensOffset) % 4 == 0 else { return nil }
            let starts = (0...count).map { Int(raw.loadUnaligned(fromByteOffset: 24 + 8 * $0, as: Int64.self)) }
            let tokens = (0..<(body - tokensOffset) / 4).map {
                raw.loadUnaligned(fromByteOffset: tokensOffset + 4 * $0, as: Int32.self)
            }
            guard starts.first == 0, starts.last == tokens.count,
                zip(starts, starts.dropFirst()).allSatisfy({ $0 <= $1 }),
                tokens.allSatisfy({ $0 >= 0 && Int($0) < vocabSize })
            else { return nil }
            return DocumentTokens(tokens: tokens, documentStarts: starts)
        }
    }

    /// A tokenizer trained on this exact text with these options, if one was cached.
    public static func tokenizerPath(for text: String, options: TokenizerTrainingOptions) -> String {
        let key = Fingerprint.fnv1a(
            Array(text.utf8), seed: UInt64(options.vocabSize) &* 1_000_003 &+ (options.modelType == .bpe ? 1 : 0))
        return directory + "/tokenizer-\(String(key, radix: 16)).model"
    }
}
