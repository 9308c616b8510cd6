/// One sequence's rows in a pass — the one type every pass and attention kernel uses for it.
/// The sequence owns batch rows [start, start + count), which follow `past` tokens of the same
/// sequence seen before (in a KV cache): row r sits at position past + r and attends causally to
/// the sequence's first past + r + 1 keys. `keyStart` says where key 0 is in what attention
/// reads: a row of the key buffer (training and scoring, whose sequences are their own keys:
/// keyStart == start, past == 0), or the sequence's first entry in the block tables of a paged
/// KV cache (generation).
public struct SequenceRows: Sendable, Equatable {
    public var start: Int
    public var count: Int
    public var past: Int
    public var keyStart: Int

    public init(start: Int, count: Int, past: Int, keyStart: Int) {
        self.start = start
        self.count = count
        self.past = past
        self.keyStart = keyStart
    }

    /// Packed sequences given cumulative offsets [0, len0, len0 + len1, …]: each its own keys.
    public static func packed(cumulativeLengths: [Int]) -> [SequenceRows] {
        (0..<cumulativeLengths.count - 1).map { s in
            SequenceRows(
                start: cumulativeLengths[s], count: cumulativeLengths[s + 1] - cumulativeLengths[s], past: 0,
                keyStart: cumulativeLengths[s])
        }
    }
}
