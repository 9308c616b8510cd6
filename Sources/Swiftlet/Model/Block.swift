import CQuantKernels

/// The decoder block, written once: x → x + Attention(Norm(x)) → · + FeedForward(Norm(·)), with
/// Llama's parts (RMSNorm, SwiGLU, RoPE). Training, scoring and generation all run this forward;
/// training also runs the backward beside it. What differs between them is passed in
/// (`PassContext`): what attention reads keys and values from (the pass's own rows, or a paged
/// KV cache) and how products run (GEMM in fp32 or bf16, or generation's batch-invariant row
/// products) — never a copy of the layer.
///
/// The block is a description, so a second architecture is a second set of values, not a second
/// copy of the passes: each layer has its own rotary table (local and global layers may differ),
/// the attention's head size is its own (not dim / heads), the gated activation is a parameter,
/// and the norms are values that can carry their own gain convention.
///
/// Shapes, with n = rows of the pass: x, afterAttention, out (n, dim); query and attention
/// (n, heads · headDim); key and value (n, kvHeads · headDim); gate, up, hidden (n, hiddenDim).
///
/// Gemma 3's block is the same sequence with four optional norms present: on each query and key
/// head before RoPE (`queryNorm`, `keyNorm`), and on each branch's output before it joins the
/// residual stream (`attentionOutputNorm`, `mlpOutputNorm`); with a GELU-tanh gate, a sliding
/// window on its local layers and a query scale of its own (`AttentionShape`).
struct Block {
    let index: Int
    let attentionNorm: Norm
    let query, key, value, output: Linear
    /// RMSNorm over each query and key head (gains of headDim), before RoPE; nil in Llama.
    let queryNorm, keyNorm: Norm?
    /// RMSNorm over the attention branch's output before the residual add; nil in Llama.
    let attentionOutputNorm: Norm?
    let attention: AttentionShape
    let mlpNorm: Norm
    let gate, up, down: Linear
    /// RMSNorm over the feed-forward branch's output before the residual add; nil in Llama.
    let mlpOutputNorm: Norm?
    let activation: GatedActivation
    let hiddenDim: Int
    /// Rotary table of this layer (a model with local and global layers gives each its own base).
    let rope: RoPETable
}

/// The shape of a block's attention: query heads, the key/value heads they share (grouped-query
/// attention when fewer), the head size, what scores are multiplied by, and the sliding window
/// of a local layer (nil: every earlier position).
struct AttentionShape {
    let heads, kvHeads, headDim: Int
    let scale: Float
    let window: Int?
    var queryWidth: Int { heads * headDim }
    var keyValueWidth: Int { kvHeads * headDim }
}

/// The feed-forward's gate: hidden = act(gate) ⊙ up.
enum GatedActivation {
    /// SiLU, Llama's SwiGLU.
    case silu
    /// GELU with the tanh approximation, Gemma's GeGLU.
    case geluTanh

    func forward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: Activation, count: Int) {
        switch self {
        case .silu: SwiGLU.forward(gate: gate, up: up, out: out.values, count: count, outBits: out.bits)
        case .geluTanh: GeGLU.forward(gate: gate, up: up, out: out.values, count: count, outBits: out.bits)
        }
    }

    /// Overwrites dgate and dup (and their bf16 copies) given dout = ∂L/∂hidden.
    func backward(
        dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, dgate: Activation,
        dup: Activation, count: Int
    ) {
        switch self {
        case .silu:
            SwiGLU.backward(
                dout: dout, gate: gate, up: up, dgate: dgate.values, dup: dup.values, count: count,
                dgateBits: dgate.bits, dupBits: dup.bits)
        case .geluTanh:
            GeGLU.backward(
                dout: dout, gate: gate, up: up, dgate: dgate.values, dup: dup.values, count: count,
                dgateBits: dgate.bits, dupBits: dup.bits)
        }
    }
}

/// What every block of one pass shares.
struct PassContext {
    let rows: Int
    /// Each row's position in its sequence: (rows).
    let positions: UnsafePointer<Int32>
    /// The sequences the rows belong to, as attention sees them.
    let sequences: [SequenceRows]
    let keyValues: KeyValueSource
    let products: Products
    /// bf16 runs attention's dot products in bf16 too (training and scoring in bf16).
    let attentionPrecision: Precision
    /// Draws dropout masks (training, when the model has dropout); nil: nothing is dropped.
    let dropoutSeed: UInt64?
}

/// What attention reads keys and values from.
enum KeyValueSource {
    /// The pass's own key and value rows: each sequence attends within its rows (`keyStart` is
    /// a row of the key buffer).
    case batch
    /// A paged KV cache: the rows' new keys and values are stored at their slots first, then each
    /// sequence reads its cache through its block table (`keyStart` indexes `blockTables`).
    case cache(PagedCache)
}

/// One pass's view of a `KVBlockPool`.
struct PagedCache {
    let pool: KVBlockPool
    /// Every sequence's blocks, back to back.
    let blockTables: UnsafePointer<Int32>
    /// Per row: where its key (and value) row goes within a layer of the pool.
    let slots: UnsafePointer<Int>

    func store(
        layer: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, rows: Int,
        kvDim: Int
    ) {
        let base = layer * pool.layerStride
        for r in 0..<rows {
            let key = pool.keys.pointer + base + slots[r], value = pool.values.pointer + base + slots[r]
            if pool.format == .f16 {
                swiftlet_half_round(keys + r * kvDim, key, kvDim)
                swiftlet_half_round(values + r * kvDim, value, kvDim)
            } else {
                key.update(from: keys + r * kvDim, count: kvDim)
                value.update(from: values + r * kvDim, count: kvDim)
            }
        }
    }

    func pages(layer: Int) -> KVPages {
        let base = layer * pool.layerStride
        return KVPages(
            keys: pool.keys.pointer + base, values: pool.values.pointer + base,
            blockTables: blockTables, blockSize: pool.blockSize, blockStride: pool.blockStride,
            rowStride: pool.rowStride)
    }
}

/// The buffers a block's forward writes and its backward reads: one set per layer in training,
/// one set shared by every layer when nothing goes backward (there `afterAttention` may be x
/// itself and the block works in place).
struct BlockActivations {
    let normed1: Activation
    let rstd1: UnsafeMutablePointer<Float>
    let query, key, value: UnsafeMutablePointer<Float>
    let attention: Activation
    let logSumExp: UnsafeMutablePointer<Float>
    /// The residual stream after the attention branch: the feed-forward branch's input.
    let afterAttention: UnsafeMutablePointer<Float>
    let normed2: Activation
    let rstd2: UnsafeMutablePointer<Float>
    let gate, up: UnsafeMutablePointer<Float>
    let hidden: Activation
    let attentionResidual, mlpResidual: Residual
    /// Gemma only (nil in Llama): the query and key projections before their per-head norm and
    /// the norms' 1/rms per (row, head); each branch's output before its norm and the norm's
    /// 1/rms per row.
    var rawQuery: UnsafeMutablePointer<Float>? = nil, rawKey: UnsafeMutablePointer<Float>? = nil
    var queryRstd: UnsafeMutablePointer<Float>? = nil, keyRstd: UnsafeMutablePointer<Float>? = nil
    var rawAttentionOutput: UnsafeMutablePointer<Float>? = nil, attentionOutputRstd: UnsafeMutablePointer<Float>? = nil
    var rawMLPOutput: UnsafeMutablePointer<Float>? = nil, mlpOutputRstd: UnsafeMutablePointer<Float>? = nil
}

/// The backward's scratch, shared by every layer. `residual` carries ∂L/∂(residual stream)
/// from layer to layer; the `Activation`s carry bf16 copies in a bf16 pass.
struct BlockGradients {
    let residual: UnsafeMutablePointer<Float>
    /// The bf16 copy of a residual branch's output gradient (it feeds two products).
    let branchBits: UnsafeMutablePointer<UInt16>?
    let normed: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    let query, key, value: Activation
    let hidden: UnsafeMutablePointer<Float>
    let gate, up: Activation
    /// Gemma only: ∂L/∂(a branch's output before its norm), rows × dim, and ∂L/∂(a query or key
    /// projection before its per-head norm), rows × queryWidth.
    var rawBranch: UnsafeMutablePointer<Float>? = nil, rawHeads: UnsafeMutablePointer<Float>? = nil

    /// A residual branch's output gradient with its bf16 copy rounded (it feeds two products).
    func branch(_ values: UnsafeMutablePointer<Float>, count: Int) -> Activation {
        Activation(values, bits: branchBits).roundingBits(count: count)
    }
}

extension Block {
    /// out = block(x). `out` may be x (then `a.afterAttention` should be too: the block works in place).
    func forward(
        _ x: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>, _ a: BlockActivations,
        _ p: PassContext
    ) {
        let n = p.rows
        let products = p.products
        attentionNorm.forward(x, a.normed1, rstd: a.rstd1, rows: n)
        // Decode rows with quantized weights (and no per-head norms): the three products in one job.
        if queryNorm != nil || keyNorm != nil
            || !Linear.forwardSharingInput(
                a.normed1, rows: n, products: products, query, a.query, key, a.key, value, a.value)
        {
            project(
                query, norm: queryNorm, a.normed1, raw: a.rawQuery, rstd: a.queryRstd, into: a.query,
                heads: attention.heads, p)
            project(
                key, norm: keyNorm, a.normed1, raw: a.rawKey, rstd: a.keyRstd, into: a.key, heads: attention.kvHeads, p)
            value.forward(a.normed1, a.value, rows: n, products: products)
        }
        RoPE.apply(a.query, positions: p.positions, rows: n, heads: attention.heads, table: rope)
        RoPE.apply(a.key, positions: p.positions, rows: n, heads: attention.kvHeads, table: rope)
        attend(a, p)
        branch(
            output, a.attention, norm: attentionOutputNorm, raw: a.rawAttentionOutput, rstd: a.attentionOutputRstd,
            residual: a.attentionResidual, input: x, into: a.afterAttention, p)
        mlpNorm.forward(a.afterAttention, a.normed2, rstd: a.rstd2, rows: n)
        if !Linear.forwardSharingInput(a.normed2, rows: n, products: products, gate, a.gate, up, a.up) {
            gate.forward(a.normed2, a.gate, rows: n, products: products)
            up.forward(a.normed2, a.up, rows: n, products: products)
        }
        activation.forward(gate: a.gate, up: a.up, out: a.hidden, count: n * hiddenDim)
        branch(
            down, a.hidden, norm: mlpOutputNorm, raw: a.rawMLPOutput, rstd: a.mlpOutputRstd, residual: a.mlpResidual,
            input: a.afterAttention, into: out, p)
    }

    /// A query or key projection, with its per-head norm when the block has one (the
    /// projection then goes to `raw` and the normed heads to `out`).
    private func project(
        _ linear: Linear, norm: Norm?, _ x: Activation, raw: UnsafeMutablePointer<Float>?,
        rstd: UnsafeMutablePointer<Float>?, into out: UnsafeMutablePointer<Float>, heads: Int, _ p: PassContext
    ) {
        guard let norm, let raw, let rstd else {
            linear.forward(x, out, rows: p.rows, products: p.products)
            return
        }
        linear.forward(x, raw, rows: p.rows, products: p.products)
        norm.forward(raw, Activation(out), rstd: rstd, rows: p.rows * heads)
    }

    /// out = input + dropout(branch), branch = linear(x) or, with an output norm, norm(linear(x)).
    private func branch(
        _ linear: Linear, _ x: Activation, norm: Norm?, raw: UnsafeMutablePointer<Float>?,
        rstd: UnsafeMutablePointer<Float>?, residual: Residual, input: UnsafeMutablePointer<Float>,
        into out: UnsafeMutablePointer<Float>, _ p: PassContext
    ) {
        let n = p.rows
        guard let norm, let raw, let rstd else {
            let target = residual.branchTarget(input: input, output: out, rows: n, seed: p.dropoutSeed)
            linear.forward(x, target.pointer, rows: n, accumulate: target.accumulate, products: p.products)
            residual.add(input: input, output: out, rows: n, seed: p.dropoutSeed)
            return
        }
        linear.forward(x, raw, rows: n, products: p.products)
        norm.forward(raw, Activation(residual.branch), rstd: rstd, rows: n)
        residual.addBranch(input: input, output: out, rows: n, seed: p.dropoutSeed)
    }

    /// Given ∂L/∂out in `d.residual`, leaves ∂L/∂x there and adds every weight's gradient into
    /// its place. `x` and `a` are this block's input and activations from the forward.
    func backward(
        _ x: UnsafePointer<Float>, _ a: BlockActivations, _ d: BlockGradients, _ p: PassContext,
        matrices: MatrixEngine
    ) {
        let n = p.rows
        let dim = attentionNorm.dim
        let dropped = p.dropoutSeed != nil
        let q = attention.queryWidth
        let kv = attention.keyValueWidth
        let dDown = d.branch(
            branchGradient(
                a.mlpResidual, norm: mlpOutputNorm, raw: a.rawMLPOutput, rstd: a.mlpOutputRstd, d, rows: n, dropped),
            count: n * dim)
        down.backward(dDown, x: a.hidden, dx: d.hidden, rows: n, accumulateInput: false, matrices: matrices)
        activation.backward(dout: d.hidden, gate: a.gate, up: a.up, dgate: d.gate, dup: d.up, count: n * hiddenDim)
        gate.backward(d.gate, x: a.normed2, dx: d.normed, rows: n, accumulateInput: false, matrices: matrices)
        up.backward(d.up, x: a.normed2, dx: d.normed, rows: n, accumulateInput: true, matrices: matrices)
        mlpNorm.backward(d.normed, x: a.afterAttention, rstd: a.rstd2, dx: d.residual, rows: n)
        let dOutput = d.branch(
            branchGradient(
                a.attentionResidual, norm: attentionOutputNorm, raw: a.rawAttentionOutput, rstd: a.attentionOutputRstd,
                d,
                rows: n, dropped),
            count: n * dim)
        output.backward(dOutput, x: a.attention, dx: d.attention, rows: n, accumulateInput: false, matrices: matrices)
        Attention.backward(
            dout: d.attention, q: a.query, k: a.key, v: a.value, out: a.attention.values, logSumExp: a.logSumExp,
            dq: d.query.values, dk: d.key.values, dv: d.value.values, spans: p.sequences,
            heads: attention.heads, kvHeads: attention.kvHeads, headDim: attention.headDim, scale: attention.scale,
            window: attention.window, precision: p.attentionPrecision)
        RoPE.apply(d.query.values, positions: p.positions, rows: n, heads: attention.heads, table: rope, inverse: true)
        RoPE.apply(d.key.values, positions: p.positions, rows: n, heads: attention.kvHeads, table: rope, inverse: true)
        headNormGradient(queryNorm, d.query.values, raw: a.rawQuery, rstd: a.queryRstd, d, rows: n * attention.heads)
        headNormGradient(keyNorm, d.key.values, raw: a.rawKey, rstd: a.keyRstd, d, rows: n * attention.kvHeads)
        let dq = d.query.roundingBits(count: n * q)
        let dk = d.key.roundingBits(count: n * kv)
        let dv = d.value.roundingBits(count: n * kv)
        query.backward(dq, x: a.normed1, dx: d.normed, rows: n, accumulateInput: false, matrices: matrices)
        key.backward(dk, x: a.normed1, dx: d.normed, rows: n, accumulateInput: true, matrices: matrices)
        value.backward(dv, x: a.normed1, dx: d.normed, rows: n, accumulateInput: true, matrices: matrices)
        attentionNorm.backward(d.normed, x: x, rstd: a.rstd1, dx: d.residual, rows: n)
    }

    /// ∂L/∂(the branch's last product) given ∂L/∂out in `d.residual`: through the dropout mask,
    /// and through the output norm when the block has one (its gain's gradient accumulates).
    private func branchGradient(
        _ residual: Residual, norm: Norm?, raw: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?,
        _ d: BlockGradients, rows n: Int, _ dropped: Bool
    ) -> UnsafeMutablePointer<Float> {
        let dBranch = residual.backward(d.residual, rows: n, dropped: dropped)
        guard let norm, let raw, let rstd, let dRaw = d.rawBranch else { return dBranch }
        dRaw.update(repeating: 0, count: n * norm.dim)
        norm.backward(dBranch, x: raw, rstd: rstd, dx: dRaw, rows: n)
        return dRaw
    }

    /// Turns ∂L/∂(normed heads) in `gradient` into ∂L/∂(projection) in place, when the block
    /// norms these heads (its gain's gradient accumulates); nothing otherwise.
    private func headNormGradient(
        _ norm: Norm?, _ gradient: UnsafeMutablePointer<Float>, raw: UnsafeMutablePointer<Float>?,
        rstd: UnsafeMutablePointer<Float>?, _ d: BlockGradients, rows: Int
    ) {
        guard let norm, let raw, let rstd, let dRaw = d.rawHeads else { return }
        dRaw.update(repeating: 0, count: rows * norm.dim)
        norm.backward(gradient, x: raw, rstd: rstd, dx: dRaw, rows: rows)
        gradient.update(from: dRaw, count: rows * norm.dim)
    }

    /// attention = softmax(scale · q·kᵀ)·v per head (within the window on a local layer), each row against its sequence's keys.
    private func attend(_ a: BlockActivations, _ p: PassContext) {
        let s = attention
        switch p.keyValues {
        case .batch:
            Attention.forward(
                q: a.query, k: a.key, v: a.value, out: a.attention.values, logSumExp: a.logSumExp,
                spans: p.sequences, heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, scale: s.scale,
                window: s.window, precision: p.attentionPrecision, outBits: a.attention.bits)
        case .cache(let cache):
            cache.store(layer: index, keys: a.key, values: a.value, rows: p.rows, kvDim: s.keyValueWidth)
            if cache.pool.format == .f16 {
                HalfCacheAttention.forward(
                    q: a.query, out: a.attention.values, logSumExp: a.logSumExp, spans: p.sequences,
                    pages: cache.pages(layer: index), heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim,
                    scale: s.scale, window: s.window)
                return
            }
            PagedAttention.forward(
                q: a.query, out: a.attention.values, logSumExp: a.logSumExp, spans: p.sequences,
                pages: cache.pages(layer: index), heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim,
                scale: s.scale,
                window: s.window)
        }
    }
}
