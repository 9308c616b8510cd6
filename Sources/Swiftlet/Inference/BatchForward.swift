/// One forward pass of the model over a mixed batch: prompt chunks of some sequences and the
/// next token of others, each against its own KV cache in a shared `KVBlockPool`. Writes the new
/// keys and values into the pool and the next-token logits of the segments that ask for them.
///
/// Row layout: multi-row segments (prompt chunks) come first, each with its own GEMM call;
/// single-row segments (decode steps) follow and share one pass over the weights
/// (`Gemv.applyRows`). A row's arithmetic therefore depends only on its own segment, never on
/// what else is in the batch: a sequence generates the same tokens alone or among others.
///
/// With bf16 weights the model's parameters must already hold bf16 values
/// (`Transformer.roundParametersToBFloat16`); the decode rows then stream a bf16 copy, half the
/// bytes, and get exactly the sums the fp32 kernels would give on the same values.
public final class BatchForward {
    /// One sequence's rows in this pass.
    public struct Segment {
        public var tokens: [Int32]
        /// Tokens of the sequence already in the cache; the new ones take positions past, past + 1, …
        public var past: Int
        /// The sequence's blocks; they must already hold past + tokens.count tokens.
        public var blocks: [Int32]
        /// Whether to produce next-token logits after the last row.
        public var wantsLogits: Bool
        public init(tokens: [Int32], past: Int, blocks: [Int32], wantsLogits: Bool) {
            self.tokens = tokens
            self.past = past
            self.blocks = blocks
            self.wantsLogits = wantsLogits
        }
    }

    public let model: Transformer
    public let pool: KVBlockPool
    public let maxRows: Int
    public let maxLogitRows: Int
    /// The parameter arena as bf16 bits, when decoding streams bf16 weights.
    let bf16Parameters: BFloat16Buffer?
    /// The decode rows' activations quantized per block, for `model.quantized`'s matrices.
    let quantizedScratch = QuantizedActivations()
    let x, normed, query, keys, values, attention, gate, up, hidden, rstd, lse: FloatBuffer
    let lastRows: FloatBuffer
    /// (maxLogitRows, vocab): row k holds the logits of the k-th segment that wanted them.
    public let logits: FloatBuffer

    public init(model: Transformer, pool: KVBlockPool, maxRows: Int, maxLogitRows: Int, weights: Precision = .fp32) {
        let c = model.config
        if weights == .bf16 {
            let copy = BFloat16Buffer(count: model.layout.totalCount)
            BFloat16.convert(model.parameters.pointer, into: copy.pointer, count: model.layout.totalCount)
            bf16Parameters = copy
        } else {
            bf16Parameters = nil
        }
        self.model = model
        self.pool = pool
        self.maxRows = maxRows
        self.maxLogitRows = maxLogitRows
        x = FloatBuffer(count: maxRows * c.dim)
        normed = FloatBuffer(count: maxRows * c.dim)
        query = FloatBuffer(count: maxRows * c.queryDim)
        keys = FloatBuffer(count: maxRows * c.kvDim)
        values = FloatBuffer(count: maxRows * c.kvDim)
        attention = FloatBuffer(count: maxRows * c.queryDim)
        gate = FloatBuffer(count: maxRows * c.hiddenDim)
        up = FloatBuffer(count: maxRows * c.hiddenDim)
        hidden = FloatBuffer(count: maxRows * c.hiddenDim)
        rstd = FloatBuffer(count: maxRows)
        lse = FloatBuffer(count: maxRows * c.heads)
        lastRows = FloatBuffer(count: maxLogitRows * c.dim)
        logits = FloatBuffer(count: maxLogitRows * c.vocabSize)
    }

    /// Runs the segments; returns how many logit rows were written (one per segment with
    /// `wantsLogits`, in segment order).
    @discardableResult
    public func forward(_ segments: [Segment]) -> Int {
        let c = model.config
        let w = model.parameters.pointer
        let layout = model.layout
        // Prompt chunks first, then the single rows.
        let order = segments.indices.filter { segments[$0].tokens.count > 1 } + segments.indices.filter { segments[$0].tokens.count == 1 }
        var rowStart = [Int](repeating: 0, count: segments.count)
        var tokens: [Int32] = [], positions: [Int32] = [], slots: [Int] = [], tables: [Int32] = []
        var spans: [PagedSpan] = []
        var groups: [(start: Int, count: Int)] = []
        for s in order {
            let segment = segments[s]
            rowStart[s] = tokens.count
            spans.append(PagedSpan(queryStart: tokens.count, queryCount: segment.tokens.count, past: segment.past, tableStart: tables.count))
            if segment.tokens.count > 1 { groups.append((tokens.count, segment.tokens.count)) }
            for (i, token) in segment.tokens.enumerated() {
                let position = segment.past + i
                tokens.append(token)
                positions.append(Int32(position))
                slots.append(pool.offset(layer: 0, table: segment.blocks, position: position))
            }
            tables += segment.blocks
        }
        let singles = segments.count(where: { $0.tokens.count == 1 })
        if singles > 0 { groups.append((tokens.count - singles, singles)) }
        let n = tokens.count
        let logitRows = segments.count(where: \.wantsLogits)
        if n > maxRows || logitRows > maxLogitRows { fatalError("BatchForward: \(n) rows and \(logitRows) logit rows exceed its buffers") }
        guard n > 0 else { return 0 }

        /// y (+)= x · Wᵀ over every group of rows.
        func linear(_ input: UnsafeMutablePointer<Float>, _ weight: Int, _ output: UnsafeMutablePointer<Float>,
                    inFeatures: Int, outFeatures: Int, accumulate: Bool = false) {
            for g in groups {
                let a = input + g.start * inFeatures, y = output + g.start * outFeatures
                if g.start >= n - singles {
                    decodeRows(weight, a, y, rows: g.count, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
                } else {
                    Gemm.linear(a, w + weight, y, rows: g.count, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
                }
            }
        }

        tokens.withUnsafeBufferPointer { Embedding.forward(tokens: $0.baseAddress!, table: w + layout.embedding, out: x.pointer, rows: n, dim: c.dim) }
        positions.withUnsafeBufferPointer { positionBuffer in
            tables.withUnsafeBufferPointer { tableBuffer in
                let p = positionBuffer.baseAddress!
                for l in 0..<c.layers {
                    let o = layout.layers[l]
                    RMSNorm.forward(x.pointer, weight: w + o.attentionNorm, out: normed.pointer, rstd: rstd.pointer, rows: n, dim: c.dim, eps: c.normEpsilon)
                    linear(normed.pointer, o.query, query.pointer, inFeatures: c.dim, outFeatures: c.queryDim)
                    linear(normed.pointer, o.key, keys.pointer, inFeatures: c.dim, outFeatures: c.kvDim)
                    linear(normed.pointer, o.value, values.pointer, inFeatures: c.dim, outFeatures: c.kvDim)
                    RoPE.apply(query.pointer, positions: p, rows: n, heads: c.heads, table: model.rope)
                    RoPE.apply(keys.pointer, positions: p, rows: n, heads: c.kvHeads, table: model.rope)
                    // The new keys and values join their sequences' caches before attention reads them.
                    let layerBase = l * pool.layerStride
                    for r in 0..<n {
                        (pool.keys.pointer + layerBase + slots[r]).update(from: keys.pointer + r * c.kvDim, count: c.kvDim)
                        (pool.values.pointer + layerBase + slots[r]).update(from: values.pointer + r * c.kvDim, count: c.kvDim)
                    }
                    let pages = KVPages(keys: pool.keys.pointer + layerBase, values: pool.values.pointer + layerBase,
                                        blockTables: tableBuffer.baseAddress!, blockSize: pool.blockSize,
                                        blockStride: pool.blockStride, rowStride: pool.rowStride)
                    PagedAttention.forward(q: query.pointer, out: attention.pointer, logSumExp: lse.pointer, spans: spans, pages: pages,
                                           heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
                    linear(attention.pointer, o.output, x.pointer, inFeatures: c.queryDim, outFeatures: c.dim, accumulate: true)
                    RMSNorm.forward(x.pointer, weight: w + o.mlpNorm, out: normed.pointer, rstd: rstd.pointer, rows: n, dim: c.dim, eps: c.normEpsilon)
                    linear(normed.pointer, o.gate, gate.pointer, inFeatures: c.dim, outFeatures: c.hiddenDim)
                    linear(normed.pointer, o.up, up.pointer, inFeatures: c.dim, outFeatures: c.hiddenDim)
                    SwiGLU.forward(gate: gate.pointer, up: up.pointer, out: hidden.pointer, count: n * c.hiddenDim)
                    linear(hidden.pointer, o.down, x.pointer, inFeatures: c.hiddenDim, outFeatures: c.dim, accumulate: true)
                }
            }
        }
        guard logitRows > 0 else { return 0 }
        // Logits only where a token is sampled: the last row of each segment that asks.
        var k = 0
        for (s, segment) in segments.enumerated() where segment.wantsLogits {
            (lastRows.pointer + k * c.dim).update(from: x.pointer + (rowStart[s] + segment.tokens.count - 1) * c.dim, count: c.dim)
            k += 1
        }
        RMSNorm.forward(lastRows.pointer, weight: w + layout.finalNorm, out: lastRows.pointer, rstd: rstd.pointer, rows: k, dim: c.dim, eps: c.normEpsilon)
        decodeRows(layout.outputHead, lastRows.pointer, logits.pointer, rows: k, inFeatures: c.dim, outFeatures: c.vocabSize, accumulate: false)
        return k
    }

    /// Y (+)= X · Wᵀ for a few rows, W at `weight` in the arena: streamed from the bf16 copy
    /// when there is one, else from the fp32 parameters.
    private func decodeRows(_ weight: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int,
                            inFeatures: Int, outFeatures: Int, accumulate: Bool) {
        if let matrix = model.quantized?.matrix(at: weight) {
            matrix.apply(x, y, count: rows, accumulate: accumulate, scratch: quantizedScratch)
            return
        }
        if let copy = bf16Parameters {
            let wb = UnsafeRawPointer(copy.pointer).assumingMemoryBound(to: BFloat16Bits.self)
            Gemv.applyRows(wb + weight, x, y, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
        } else {
            Gemv.applyRows(model.parameters.pointer + weight, x, y, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
        }
    }
}
