#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a new training run's tokenizer comes from, in this order: the file the user gave
/// (`--tokenizer`), a tokenizer.model inside the one data folder, one trained earlier on the
/// same text with the same options (cached by content under the token cache's directory), or a
/// new one trained now and cached for the next run.
public enum TokenizerSource: Equatable, Sendable {
    case given(String)
    case bundled(String)
    case cached
    case trained(seconds: Double)

    /// The tokenizer for a run on `corpus` (read from the `data` paths), and where it came from.
    /// `willTrain(bytes)` is called before a tokenizer is trained, which takes a while.
    public static func obtain(
        path: String?, data: [String], corpus: Corpus, options: TokenizerTrainingOptions,
        willTrain: (_ bytes: Int) -> Void = { _ in }
    ) throws -> (Tokenizer, TokenizerSource) {
        try check(vocabSize: options.vocabSize)
        if let path { return (try Tokenizer(contentsOf: path), .given(path)) }
        if let bundled = DataSplit.bundledTokenizer(data: data) {
            return (try Tokenizer(contentsOf: bundled), .bundled(bundled))
        }
        let text = corpus.text
        let cached = TokenCache.tokenizerPath(for: text, options: options)
        if FileIO.exists(cached), let tokenizer = try? Tokenizer(contentsOf: cached) { return (tokenizer, .cached) }
        willTrain(text.utf8.count)
        let clock = Stopwatch()
        let tokenizer = try Tokenizer.train(text: text, options: options)
        // The cache is a convenience: a run goes on when it cannot be written.
        try? FileIO.createDirectory(TokenCache.directory)
        try? FileIO.writeAtomically(tokenizer.modelBytes, to: cached)
        return (tokenizer, .trained(seconds: clock.seconds))
    }

    /// A vocabulary size a tokenizer may be trained with (the trainer names a floor of its own).
    public static func check(vocabSize: Int) throws {
        guard (1...(1 << 20)).contains(vocabSize) else {
            throw SwiftletError("--vocab-size must be between 1 and 1,048,576.")
        }
    }
}
