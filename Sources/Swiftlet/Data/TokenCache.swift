#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Tokenized corpora cached on disk, keyed by the tokenizer and the exact text, so a second
/// run over the same data does not tokenize again. Each document's tokens end with EOS.
public enum TokenCache {
    public static var directory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["SWIFTLET_CACHE"], !dir.isEmpty { return dir }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/swiftlet" }
        return (env["HOME"] ?? "/tmp") + "/.cache/swiftlet"
    }

    /// Token stream of the corpus and whether it came from the cache.
    public static func tokens(of corpus: Corpus, tokenizer: Tokenizer) -> (tokens: [Int32], cached: Bool) {
        var key = Fingerprint.fnv1a(tokenizer.modelBytes)
        for doc in corpus.documents { key = Fingerprint.fnv1a(Array(doc.text.utf8), seed: key &* 31 &+ 7) }
        let hex = String(key, radix: 16)
        let path = directory + "/tokens-\(hex).bin"
        if let bytes = try? FileIO.readBytes(path), bytes.count % 4 == 0, !bytes.isEmpty {
            let tokens = bytes.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
            if tokens.allSatisfy({ $0 >= 0 && Int($0) < tokenizer.vocabSize }) { return (tokens, true) }
        }
        var tokens: [Int32] = []
        for doc in corpus.documents {
            tokens += tokenizer.encodeLarge(doc.text)
            // A tokenizer may define no end-of-sequence piece (eos_id = -1).
            if tokenizer.eosID >= 0 { tokens.append(tokenizer.eosID) }
        }
        // The cache is an optimisation: failing to write it is not an error.
        try? FileIO.createDirectory(directory)
        try? FileIO.writeAtomically(tokens.withUnsafeBytes { Array($0) }, to: path)
        return (tokens, false)
    }

    /// A tokenizer trained on this exact text with these options, if one was cached.
    public static func tokenizerPath(for text: String, options: TokenizerTrainingOptions) -> String {
        let key = Fingerprint.fnv1a(Array(text.utf8), seed: UInt64(options.vocabSize) &* 1_000_003 &+ (options.modelType == .bpe ? 1 : 0))
        return directory + "/tokenizer-\(String(key, radix: 16)).model"
    }
}
