/// A file's contents as pieces written one after another: bytes made for the file (a header, a
/// JSON text) and views of memory that already holds the rest (a tensor's values in the
/// parameter arena or the optimizer's moments). A save streams the views from where they lie,
/// so writing a checkpoint does not first copy gigabytes of weights and moments into one array.
public struct FileBytes {
    public enum Piece {
        case bytes([UInt8])
        case view(UnsafeRawBufferPointer)
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

    /// Keeps `owner` (memory some view points into) alive as long as these contents are.
    public mutating func keepAlive(_ owner: AnyObject) {
        if !owners.contains(where: { $0 === owner }) { owners.append(owner) }
    }

    /// Every piece in one array: for files that are small, and for tests that compare bytes.
    public var joined: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        for piece in pieces {
            switch piece {
            case .bytes(let bytes): out += bytes
            case .view(let view): out += view
            }
        }
        return out
    }

    /// Calls `body` with each piece's bytes in order, its owners alive throughout.
    func forEachPiece(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try withExtendedLifetime(owners) {
            for piece in pieces {
                switch piece {
                case .bytes(let bytes): try bytes.withUnsafeBytes(body)
                case .view(let view): try body(view)
                }
            }
        }
    }
}
