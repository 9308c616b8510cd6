/// Consecutive tokens of one document that become one sequence of a batch: every token but the
/// last is an input, and predicts the token after it when that one is trainable.
public struct TokenWindow: Sendable {
    public var tokens: ArraySlice<Int32>
    public var trainable: ArraySlice<Bool>?

    public init(tokens: ArraySlice<Int32>, trainable: ArraySlice<Bool>? = nil) {
        self.tokens = tokens
        self.trainable = trainable
    }

    public var rows: Int { tokens.count - 1 }
}

/// A packed batch: sequences laid end to end in one token dimension.
/// `cumulativeLengths` = [0, len0, len0+len1, …]; positions restart at 0 in each sequence;
/// targets are the next token, or −1 where no loss is taken.
public struct Batch: Sendable {
    public var tokens: [Int32]
    public var targets: [Int32]
    public var positions: [Int32]
    public var cumulativeLengths: [Int]

    public init(tokens: [Int32], targets: [Int32], positions: [Int32], cumulativeLengths: [Int]) {
        self.tokens = tokens
        self.targets = targets
        self.positions = positions
        self.cumulativeLengths = cumulativeLengths
    }

    /// One sequence per window: each window's tokens but the last are inputs, and each input
    /// predicts the token after it.
    public init(windows: [[Int32]]) {
        self.init(tokens: [], targets: [], positions: [], cumulativeLengths: [0])
        for window in windows { append(TokenWindow(tokens: window[...])) }
    }

    public mutating func reserve(_ rows: Int) {
        tokens.reserveCapacity(rows)
        targets.reserveCapacity(rows)
        positions.reserveCapacity(rows)
    }

    /// Adds a window of at least two tokens as a new sequence; a token that is not trainable is
    /// no target (−1).
    public mutating func append(_ window: TokenWindow) {
        tokens += window.tokens.dropLast()
        if let trainable = window.trainable {
            for (token, learn) in zip(window.tokens.dropFirst(), trainable.dropFirst()) {
                targets.append(learn ? token : -1)
            }
        } else {
            targets += window.tokens.dropFirst()
        }
        positions += (0..<Int32(window.rows))
        cumulativeLengths.append(tokens.count)
    }

    /// Adds every token as an input row of a new sequence, with no targets (text read for its
    /// hidden states, as by a classifier).
    public mutating func appendUnscored(_ sequence: [Int32]) {
        tokens += sequence
        targets += repeatElement(-1, count: sequence.count)
        positions += (0..<Int32(sequence.count))
        cumulativeLengths.append(tokens.count)
    }

    /// The batch's sequences as attention sees them (each its own keys), into `sequences`
    /// (emptied first; its capacity kept, so a pass that reuses one array allocates nothing).
    public func fillSequences(_ sequences: inout [SequenceRows]) {
        sequences.removeAll(keepingCapacity: true)
        for s in 0..<sequenceCount {
            let start = cumulativeLengths[s]
            sequences.append(
                SequenceRows(start: start, count: cumulativeLengths[s + 1] - start, past: 0, keyStart: start))
        }
    }

    public var rows: Int { tokens.count }
    public var sequenceCount: Int { cumulativeLengths.count - 1 }
    public var lossTokens: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
}
