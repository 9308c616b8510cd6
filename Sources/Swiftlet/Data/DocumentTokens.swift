/// A tokenized corpus that remembers where each document starts: one flat token array and
/// the offsets of the documents in it, [0, end₀, end₁, …]. Every document's tokens end with
/// the end-of-sequence token (when the tokenizer has one), so a model learns to stop.
public struct DocumentTokens: Sendable, Equatable {
    public var tokens: [Int32]
    /// documentStarts[i]..<documentStarts[i + 1] is document i; the last entry is tokens.count.
    public var documentStarts: [Int]
    /// Whether predicting each token is trained (nil: every token). Dialogues train only the
    /// assistant's tokens; the rest is context.
    public var trainable: [Bool]?

    public init(tokens: [Int32], documentStarts: [Int], trainable: [Bool]? = nil) {
        self.tokens = tokens
        self.documentStarts = documentStarts
        self.trainable = trainable
    }

    /// One document holding the whole stream.
    public init(stream: [Int32]) {
        self.init(tokens: stream, documentStarts: [0, stream.count])
    }

    public var documentCount: Int { documentStarts.count - 1 }
    public var count: Int { tokens.count }

    public func document(_ i: Int) -> Range<Int> { documentStarts[i]..<documentStarts[i + 1] }

    /// Tokens [start, end) with their trainable flags: one sequence of a batch.
    public func window(_ start: Int, _ end: Int) -> TokenWindow {
        TokenWindow(tokens: tokens[start..<end], trainable: trainable?[start..<end])
    }

    /// Appends a document of `documentTokens`, with its trainable flags when given.
    public mutating func append(_ documentTokens: [Int32], trainable flags: [Bool]? = nil) {
        if let flags {
            if trainable == nil { trainable = Array(repeating: true, count: tokens.count) }
            trainable! += flags
        } else if trainable != nil {
            trainable! += Array(repeating: true, count: documentTokens.count)
        }
        tokens += documentTokens
        documentStarts.append(tokens.count)
    }

    /// The first `fraction`-complement of the tokens and the rest, cutting at most one document
    /// in two (its head stays in the first part, its tail starts the second).
    public func splitTail(fraction: Double, minimum: Int = 2) -> (head: DocumentTokens, tail: DocumentTokens) {
        let cut = count - max(Int(Double(count) * fraction), minimum)
        return split(at: max(0, cut))
    }

    /// Tokens [0, cut) and [cut, count), each keeping its document boundaries.
    public func split(at cut: Int) -> (head: DocumentTokens, tail: DocumentTokens) {
        var headStarts = documentStarts.filter { $0 < cut }
        headStarts.append(cut)
        let tailStarts = [0] + documentStarts.filter { $0 > cut }.map { $0 - cut }
        return (
            DocumentTokens(
                tokens: Array(tokens[..<cut]), documentStarts: headStarts,
                trainable: trainable.map { Array($0[..<cut]) }),
            DocumentTokens(
                tokens: Array(tokens[cut...]), documentStarts: tailStarts,
                trainable: trainable.map { Array($0[cut...]) })
        )
    }
}
