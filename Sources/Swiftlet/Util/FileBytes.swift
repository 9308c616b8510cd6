/// A file's contents as pieces written one after another: bytes made for the file (a header, a
/// JSON text) and views of memory that already holds the rest (a tensor's values in the
/// parameter arena or the optimizer's moments). A save streams the views from where they lie,
/// so writing a checkpoint does not first copy gigabytes of weights and moments into one array.
/// Pieces that must be computed (a tensor encoded as quantized blocks) are made as the file is
/// written, one at a time, in a scratch buffer the size of the largest.
public struct FileBytes {
    public enum Piece {
        case bytes([UInt8])
        case view(UnsafeRawBufferPointer)
        /// `count` bytes that `fill` writes when the file is written.
        case generated(count: Int, fill: (UnsafeMutableRawBufferPointer) -> Void)
    }

    public private(set) var pieces: [Piece] = []
    /// Whatever owns the memory the views point into (a buffer made for this file alone, such as
    /// a merged copy of the model), kept alive as long as the file's contents are.
    private var owners: [AnyObject] = []
    public private(set) var count = 0

    public init() {}

    public init(_ bytes: [UInt8]) { append(bytes) }

    public mutating func append(_ bytes: [UInt8]) {
        pieces.append(.bytes(bytes))
        count += bytes.count
    }

    /// Appends a view of memory the caller keeps alive until the file is written, or `owner` does.
    public mutating func append(view: UnsafeRawBufferPointer, owner: AnyObject? = nil) {
        pieces.append(.view(view))
        count += view.count
        if let owner { keepAlive(owner) }
    }

    /// Appends `count` bytes that `fill` computes only when the file is written (into memory it
    /// must fill entirely); the closure holds whatever it reads.
    public mutating func append(generated count: Int, fill: @escaping (UnsafeMutableRawBufferPointer) -> Void) {
        pieces.append(.generated(count: count, fill: fill))
        self.count += count
    }

    /// Keeps `owner` (memory some view points into) alive as long as these contents are.
    public mutating func keepAlive(_ owner: AnyObject) {
        if !owners.contains(where: { $0 === owner }) { owners.append(owner) }
    }

    /// Every piece in one array: for files that are small, and for tests that compare bytes.
    public var joined: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        forEachPiece { out += $0 }
        return out
    }

    /// Calls `body` with each piece's bytes in order, its owners alive throughout.
    func forEachPiece(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let largest = pieces.reduce(0) { if case .generated(let n, _) = $1 { max($0, n) } else { $0 } }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(largest, 1), alignment: 64)
        defer { scratch.deallocate() }
        try withExtendedLifetime(owners) {
            for piece in pieces {
                switch piece {
                case .bytes(let bytes): try bytes.withUnsafeBytes(body)
                case .view(let view): try body(view)
                case .generated(let count, let fill):
                    let made = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<count])
                    fill(made)
                    try body(UnsafeRawBufferPointer(made))
                }
            }
        }
    }
}
