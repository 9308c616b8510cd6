/// One sequence's forward passes with a KV cache, llama2.c style: prefill a chunk of prompt
/// tokens at once, then one token per step. Buffers are sized once for `maxChunk` rows.
public final class InferenceSession {
    public let model: Transformer
    public let maxChunk: Int
    /// Tokens whose keys and values are in the cache.
    public private(set) var length = 0
    /// (layers, context, kvHeads, headDim) each.
    let keyCache: FloatBuffer
    let valueCache: FloatBuffer
    let x, normed, query, attention, gate, up, hidden, rstd, lse: FloatBuffer
    let keyChunk, valueChunk: FloatBuffer
    public let logits: FloatBuffer
    var positions: [Int32]

    public init(model: Transformer, maxChunk: Int = 256) {
        let c = model.config
        self.model = model
        self.maxChunk = maxChunk
        keyCache = FloatBuffer(count: c.layers * c.contextLength * c.kvDim)
        valueCache = FloatBuffer(count: c.layers * c.contextLength * c.kvDim)
        x = FloatBuffer(count: maxChunk * c.dim)
        normed = FloatBuffer(count: maxChunk * c.dim)
        query = FloatBuffer(count: maxChunk * c.dim)
        attention = FloatBuffer(count: maxChunk * c.dim)
        gate = FloatBuffer(count: maxChunk * c.hiddenDim)
        up = FloatBuffer(count: maxChunk * c.hiddenDim)
        hidden = FloatBuffer(count: maxChunk * c.hiddenDim)
        rstd = FloatBuffer(count: maxChunk)
        lse = FloatBuffer(count: maxChunk * c.heads)
        keyChunk = FloatBuffer(count: maxChunk * c.kvDim)
        valueChunk = FloatBuffer(count: maxChunk * c.kvDim)
        logits = FloatBuffer(count: c.vocabSize)
        positions = []
    }

    public func reset() { length = 0 }

    public var remaining: Int { model.config.contextLength - length }

    /// Runs `tokens` through the model after what is cached and leaves the next-token logits
    /// of the last one in `logits`. The caller keeps the total within the context.
    public func feed(_ tokens: [Int32]) {
        precondition(length + tokens.count <= model.config.contextLength, "context overflow")
        var start = 0
        while start < tokens.count {
            let chunk = Array(tokens[start..<min(start + maxChunk, tokens.count)])
            forwardChunk(chunk, wantLogits: start + chunk.count == tokens.count)
            start += chunk.count
        }
    }

    private func forwardChunk(_ tokens: [Int32], wantLogits: Bool) {
        let c = model.config
        let n = tokens.count
        let w = model.parameters.pointer
        let layout = model.layout
        positions = (0..<n).map { Int32(length + $0) }
        tokens.withUnsafeBufferPointer { Embedding.forward(tokens: $0.baseAddress!, table: w + layout.embedding, out: x.pointer, rows: n, dim: c.dim) }
        let cacheStride = c.contextLength * c.kvDim
        let span = [AttentionSpan(queryStart: 0, queryCount: n, keyStart: 0, past: length)]
        positions.withUnsafeBufferPointer { positionBuffer in
            let p = positionBuffer.baseAddress!
            for l in 0..<c.layers {
                let o = layout.layers[l]
                let keys = keyCache.pointer + l * cacheStride, values = valueCache.pointer + l * cacheStride
                RMSNorm.forward(x.pointer, weight: w + o.attentionNorm, out: normed.pointer, rstd: rstd.pointer, rows: n, dim: c.dim, eps: c.normEpsilon)
                Gemm.linear(normed.pointer, w + o.query, query.pointer, rows: n, inFeatures: c.dim, outFeatures: c.dim)
                // New keys and values go straight into the cache after the stored ones.
                Gemm.linear(normed.pointer, w + o.key, keys + length * c.kvDim, rows: n, inFeatures: c.dim, outFeatures: c.kvDim)
                Gemm.linear(normed.pointer, w + o.value, values + length * c.kvDim, rows: n, inFeatures: c.dim, outFeatures: c.kvDim)
                RoPE.apply(query.pointer, positions: p, rows: n, heads: c.heads, table: model.rope)
                RoPE.apply(keys + length * c.kvDim, positions: p, rows: n, heads: c.kvHeads, table: model.rope)
                Attention.forward(q: query.pointer, k: keys, v: values, out: attention.pointer, logSumExp: lse.pointer,
                                  spans: span, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
                Gemm.linear(attention.pointer, w + o.output, x.pointer, rows: n, inFeatures: c.dim, outFeatures: c.dim, accumulate: true)
                RMSNorm.forward(x.pointer, weight: w + o.mlpNorm, out: normed.pointer, rstd: rstd.pointer, rows: n, dim: c.dim, eps: c.normEpsilon)
                Gemm.linear(normed.pointer, w + o.gate, gate.pointer, rows: n, inFeatures: c.dim, outFeatures: c.hiddenDim)
                Gemm.linear(normed.pointer, w + o.up, up.pointer, rows: n, inFeatures: c.dim, outFeatures: c.hiddenDim)
                SwiGLU.forward(gate: gate.pointer, up: up.pointer, out: hidden.pointer, count: n * c.hiddenDim)
                Gemm.linear(hidden.pointer, w + o.down, x.pointer, rows: n, inFeatures: c.hiddenDim, outFeatures: c.dim, accumulate: true)
            }
        }
        length += n
        guard wantLogits else { return }
        let last = x.pointer + (n - 1) * c.dim
        RMSNorm.forward(last, weight: w + layout.finalNorm, out: normed.pointer, rstd: rstd.pointer, rows: 1, dim: c.dim, eps: c.normEpsilon)
        Gemm.linear(normed.pointer, w + layout.outputHead, logits.pointer, rows: 1, inFeatures: c.dim, outFeatures: c.vocabSize)
    }
}
