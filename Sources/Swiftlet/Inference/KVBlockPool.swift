/// Keys and values of every running sequence, in fixed-size blocks of `blockSize` tokens drawn
/// from one shared pool, so sequences of any length share memory without fragmentation.
///
/// Layout, for keys and values alike: (layers, blockCount, blockSize, kvHeads, headDim).
/// Token t of a sequence lives in block `table[t / blockSize]` at row `t % blockSize`.
public final class KVBlockPool {
    public let blockSize: Int
    public let blockCount: Int
    public let layers: Int
    /// Floats per token row (kvHeads · headDim).
    public let rowStride: Int
    public let keys: FloatBuffer
    public let values: FloatBuffer
    /// f16: keys and values are rounded to fp16 as they are stored (fp32 numbers that fp16
    /// holds exactly) and attention runs as llama.cpp's flash attention does over its fp16 cache.
    public let format: KVCacheFormat
    private var free: [Int32]

    public init(config: ModelConfig, blockCount: Int, blockSize: Int = 16, format: KVCacheFormat = .f32) {
        self.format = format
        self.blockSize = blockSize
        self.blockCount = blockCount
        layers = config.layers
        rowStride = config.kvDim
        keys = FloatBuffer(count: layers * blockCount * blockSize * rowStride)
        values = FloatBuffer(count: layers * blockCount * blockSize * rowStride)
        // Handed out from the end, so a fresh pool gives blocks 0, 1, 2, …
        free = (0..<Int32(blockCount)).reversed()
    }

    /// Blocks that hold `tokens` tokens.
    public func blocksFor(tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    public var freeBlocks: Int { free.count }

    /// Floats between consecutive blocks of one layer.
    public var blockStride: Int { blockSize * rowStride }
    /// Floats between layers.
    public var layerStride: Int { blockCount * blockStride }

    public func allocate() -> Int32? { free.popLast() }

    public func release(_ blocks: [Int32]) {
        free.append(contentsOf: blocks)
    }

    /// Where token `position` of a sequence with `table` sits in `layer` (offset into keys or values).
    @inline(__always)
    public func offset(layer: Int, table: [Int32], position: Int) -> Int {
        layer * layerStride + Int(table[position / blockSize]) * blockStride + (position % blockSize) * rowStride
    }
}

/// One sequence's place in the pool: its blocks in order and how many tokens they hold.
public struct BlockTable: Sendable {
    public private(set) var blocks: [Int32] = []
    public var length = 0

    public init() {}

    /// Takes blocks until `tokens` tokens fit; false (taking nothing more) when the pool runs dry.
    public mutating func grow(toHold tokens: Int, from pool: KVBlockPool) -> Bool {
        while blocks.count * pool.blockSize < tokens {
            guard let block = pool.allocate() else { return false }
            blocks.append(block)
        }
        return true
    }

    /// Keeps the first `length` tokens and gives the blocks past them back.
    public mutating func truncate(toLength newLength: Int, returningTo pool: KVBlockPool) {
        let keep = pool.blocksFor(tokens: newLength)
        if blocks.count > keep {
            pool.release(Array(blocks[keep...]))
            blocks.removeLast(blocks.count - keep)
        }
        length = min(length, newLength)
    }

    /// Gives every block back at once.
    public mutating func release(to pool: KVBlockPool) {
        pool.release(blocks)
        blocks.removeAll()
        length = 0
    }
}

/// What a KV cache holds.
public enum KVCacheFormat: String, CaseIterable, Sendable {
    /// The keys and values as computed.
    case f32
    /// Rounded to fp16, with llama.cpp's flash-attention arithmetic (`HalfCacheAttention`): what
    /// llama.cpp computes by default (its fp16 cache, flash attention on).
    case f16

    /// `--kv-cache`' values, for help texts.
    public static let names = allCases.map(\.rawValue).joined(separator: ", ")
}
