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

    /// Equal-length rows of a token stream: each row is `length` inputs and the following
    /// `length` tokens as targets.
    public init(windows: [[Int32]]) {
        var tokens: [Int32] = [], targets: [Int32] = [], positions: [Int32] = []
        var cumulative = [0]
        for window in windows {
            tokens += window.dropLast()
            targets += window.dropFirst()
            positions += (0..<Int32(window.count - 1))
            cumulative.append(tokens.count)
        }
        self.init(tokens: tokens, targets: targets, positions: positions, cumulativeLengths: cumulative)
    }

    public var rows: Int { tokens.count }
    public var lossTokens: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
}
