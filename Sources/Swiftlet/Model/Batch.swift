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
        for window in windows { appendSequence(window[...]) }
    }

    public mutating func reserve(_ rows: Int) {
        tokens.reserveCapacity(rows)
        targets.reserveCapacity(rows)
        positions.reserveCapacity(rows)
    }

    /// Adds `window` (at least two tokens) as a new sequence of `window.count − 1` rows.
    public mutating func appendSequence(_ window: ArraySlice<Int32>) {
        tokens += window.dropLast()
        targets += window.dropFirst()
        positions += (0..<Int32(window.count - 1))
        cumulativeLengths.append(tokens.count)
    }

    public var rows: Int { tokens.count }
    public var sequenceCount: Int { cumulativeLengths.count - 1 }
    public var lossTokens: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
}
