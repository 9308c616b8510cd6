/// The new tokens of one generation step: for each sequence, its tokens (a prompt chunk or the
/// one token just sampled), how many of its tokens the cache already holds, its blocks, and
/// whether it wants next-token logits. Kept and refilled step after step (`removeAll` keeps the
/// capacity), so a step allocates nothing.
public struct GenerationBatch: Sendable {
    struct Entry: Sendable {
        let tokenStart, count, past, tableStart: Int
        let wantsLogits: Bool
    }
    var entries: [Entry] = []
    var tokens: [Int32] = []
    var blockTables: [Int32] = []

    public init() {}

    /// Adds a sequence's new tokens; its `blocks` must already hold past + tokens.count tokens.
    public mutating func append(_ newTokens: some Collection<Int32>, past: Int, blocks: [Int32], wantsLogits: Bool) {
        entries.append(
            Entry(
                tokenStart: tokens.count, count: newTokens.count, past: past, tableStart: blockTables.count,
                wantsLogits: wantsLogits))
        tokens.append(contentsOf: newTokens)
        blockTables.append(contentsOf: blocks)
    }

    public mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        tokens.removeAll(keepingCapacity: true)
        blockTables.removeAll(keepingCapacity: true)
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var sequenceCount: Int { entries.count }
    public var rows: Int { tokens.count }
    public var logitRows: Int { entries.count(where: \.wantsLogits) }
}

/// The model's forward for generation: prompt chunks of some sequences and the next token of
/// others in one pass, each sequence against its own KV cache in a shared `KVBlockPool` — the
/// same `Block` as training and scoring, with attention reading the cache and products that are
/// batch-invariant. Writes the new keys and values into the pool and the next-token logits of
/// the sequences that ask for them.
///
/// Row layout: prompt chunks come first, each a GEMM of its own; single rows (decode steps)
/// follow and share one pass over each weight (`Gemv.applyRows`). A row's arithmetic therefore
/// depends only on its own sequence, never on what else is in the batch: a sequence generates
/// the same tokens alone or among others.
///
/// With bf16 weights the model's parameters must already hold bf16 values
/// (`Transformer.roundParametersToBFloat16`); the decode rows then stream a bf16 copy, half the
/// bytes, and get exactly the sums the fp32 kernels would give on the same values.
public final class GenerationPass {
    public let model: Transformer
    public let pool: KVBlockPool
    public let maxRows: Int
    public let maxLogitRows: Int
    /// What the decode rows stream: a bf16 copy of the arena, the model's quantized matrices, or
    /// (nil) the fp32 arena.
    let rowWeights: RowWeights?
    let buffers: PassBuffers
    let blocks: [Block]
    let finalNorm: Norm
    let outputHead: Linear
    /// The residual stream (rows, dim), updated in place.
    let x: UnsafeMutablePointer<Float>
    let activations: BlockActivations
    let lastRows, lastRstd: UnsafeMutablePointer<Float>
    /// (maxLogitRows, vocab): row k holds the logits of the k-th sequence that wanted them.
    public let logits: FloatBuffer
    // The step's layout, refilled in place.
    var rowTokens: [Int32] = [], positions: [Int32] = [], slots: [Int] = []
    var sequences: [SequenceRows] = []
    var chunks: [Range<Int>] = []
    var logitSources: [Int] = []

    public init(model: Transformer, pool: KVBlockPool, maxRows: Int, maxLogitRows: Int, weights: Precision = .fp32) {
        let c = model.config
        var copy: BFloat16Buffer?
        if weights == .bf16 {
            copy = BFloat16Buffer(count: model.layout.totalCount)
            BFloat16.convert(model.parameters.pointer, into: copy!.pointer, count: model.layout.totalCount)
        }
        rowWeights =
            copy != nil || model.quantized != nil ? RowWeights(bf16: copy, quantized: model.quantized) : nil
        self.model = model
        self.pool = pool
        self.maxRows = maxRows
        self.maxLogitRows = maxLogitRows
        let buffers = PassBuffers(bf16: false)
        self.buffers = buffers
        blocks = model.blocks(gradients: nil, adapters: nil, rowWeights: rowWeights, buffers: buffers, rows: maxRows)
        finalNorm = model.finalNorm(gradients: nil)
        let arena = model.parameters.pointer
        outputHead = Linear(
            weights: rowWeights?.storage(arena: arena, offset: model.layout.outputHead)
                ?? .fp32(arena + model.layout.outputHead),
            gradient: nil, inFeatures: c.dim, outFeatures: c.vocabSize, adapter: nil)
        x = buffers.floats(maxRows * c.dim)
        activations = buffers.blockActivations(
            c, rows: maxRows, layer: 0, afterAttention: x, dropoutMasks: false)
        lastRows = buffers.floats(maxLogitRows * c.dim)
        lastRstd = buffers.floats(maxLogitRows)
        logits = FloatBuffer(count: maxLogitRows * c.vocabSize)
        rowTokens.reserveCapacity(maxRows)
        positions.reserveCapacity(maxRows)
        slots.reserveCapacity(maxRows)
        sequences.reserveCapacity(maxRows)
        chunks.reserveCapacity(maxRows)
        logitSources.reserveCapacity(maxLogitRows)
    }

    /// Runs the batch; returns how many logit rows were written (one per sequence that wants
    /// them, in the batch's order).
    @discardableResult
    public func forward(_ batch: GenerationBatch) -> Int {
        let n = batch.rows
        if n > maxRows || batch.logitRows > maxLogitRows {
            fatalError("GenerationPass: \(n) rows and \(batch.logitRows) logit rows exceed its buffers")
        }
        guard n > 0 else { return 0 }
        let singles = layOut(batch)
        let logitRows = logitSources.count
        rowTokens.withUnsafeBufferPointer {
            Embedding.forward(
                tokens: $0.baseAddress!, table: model.parameters.pointer + model.layout.embedding, out: x, rows: n,
                dim: model.config.dim, scale: model.config.embeddingScale)
        }
        positions.withUnsafeBufferPointer { positionBuffer in
            batch.blockTables.withUnsafeBufferPointer { tables in
                slots.withUnsafeBufferPointer { slotBuffer in
                    let cache = PagedCache(pool: pool, blockTables: tables.baseAddress!, slots: slotBuffer.baseAddress!)
                    let p = PassContext(
                        rows: n, positions: positionBuffer.baseAddress!, sequences: sequences, keyValues: .cache(cache),
                        products: .batchInvariant(chunks: chunks, singleRows: singles), attentionPrecision: .fp32,
                        dropoutSeed: nil)
                    for block in blocks { block.forward(x, into: x, activations, p) }
                }
            }
        }
        guard logitRows > 0 else { return 0 }
        // Logits only where a token is sampled: the last row of each sequence that asks.
        let dim = model.config.dim
        for (k, row) in logitSources.enumerated() { (lastRows + k * dim).update(from: x + row * dim, count: dim) }
        finalNorm.forward(lastRows, Activation(lastRows), rstd: lastRstd, rows: logitRows)
        outputHead.forward(
            Activation(lastRows), logits.pointer, rows: logitRows,
            products: .batchInvariant(chunks: [], singleRows: 0..<logitRows))
        return logitRows
    }

    /// Lays the batch's rows out (prompt chunks first, then single rows) with each row's token,
    /// position and cache slot; returns the single rows' range.
    private func layOut(_ batch: GenerationBatch) -> Range<Int> {
        rowTokens.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        sequences.removeAll(keepingCapacity: true)
        chunks.removeAll(keepingCapacity: true)
        logitSources.removeAll(keepingCapacity: true)
        func place(_ entry: GenerationBatch.Entry) {
            let start = rowTokens.count
            sequences.append(
                SequenceRows(start: start, count: entry.count, past: entry.past, keyStart: entry.tableStart))
            if entry.count > 1 { chunks.append(start..<start + entry.count) }
            for i in 0..<entry.count {
                let position = entry.past + i
                rowTokens.append(batch.tokens[entry.tokenStart + i])
                positions.append(Int32(position))
                let block = Int(batch.blockTables[entry.tableStart + position / pool.blockSize])
                slots.append(block * pool.blockStride + (position % pool.blockSize) * pool.rowStride)
            }
        }
        for entry in batch.entries where entry.count > 1 { place(entry) }
        for entry in batch.entries where entry.count == 1 { place(entry) }
        // The logit rows in the batch's order: each wanting sequence's last row.
        var chunkRow = 0
        var singleRow = chunks.last?.upperBound ?? 0
        let singlesStart = singleRow
        for entry in batch.entries {
            if entry.count == 0 { continue }
            if entry.count > 1 {
                chunkRow += entry.count
                if entry.wantsLogits { logitSources.append(chunkRow - 1) }
            } else {
                if entry.wantsLogits { logitSources.append(singleRow) }
                singleRow += 1
            }
        }
        return singlesStart..<rowTokens.count
    }
}
