/// Owns the buffers of one pass, allocated once when the pass is built: the layers and
/// activations hold raw pointers into them, so nothing is allocated while the pass runs.
final class PassBuffers {
    private var floats: [FloatBuffer] = []
    private var halves: [BFloat16Buffer] = []
    /// Whether activations that feed products get bf16 copies.
    let keepsBits: Bool

    init(bf16: Bool) { keepsBits = bf16 }

    /// Bytes of the bf16 buffers, for checking the memory plan.
    var bfloat16Bytes: Int { halves.reduce(0) { $0 + 2 * $1.capacity } }

    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let buffer = FloatBuffer(count: count)
        floats.append(buffer)
        return buffer.pointer
    }

    /// A bf16 buffer in a bf16 pass, nil in an fp32 one.
    func bits(_ count: Int) -> UnsafeMutablePointer<UInt16>? {
        guard keepsBits else { return nil }
        let buffer = BFloat16Buffer(count: count)
        halves.append(buffer)
        return buffer.pointer
    }

    /// An activation of `count` values with a bf16 copy in a bf16 pass.
    func activation(_ count: Int) -> Activation { Activation(floats(count), bits: bits(count)) }

    /// One block's activations for `rows` rows. `afterAttention` given (the residual stream): the
    /// block works in place on it (forward-only passes); otherwise it is a buffer of its own.
    /// `branch`: the residual connections' scratch, shared by a training pass's layers; nil in a
    /// forward-only pass, which never drops (a buffer is made only for Gemma's output norms,
    /// which write their branch there).
    func blockActivations(
        _ c: ModelConfig, rows n: Int, layer: Int, afterAttention: UnsafeMutablePointer<Float>? = nil,
        dropoutMasks: Bool, branch: UnsafeMutablePointer<Float>? = nil
    ) -> BlockActivations {
        let branch = branch ?? (c.gemma != nil ? floats(n * c.dim) : afterAttention!)
        let normed1 = activation(n * c.dim)
        func residual(_ site: Int) -> Residual {
            Residual(
                dim: c.dim, probability: c.dropout, mask: dropoutMasks && c.dropout > 0 ? floats(n * c.dim) : nil,
                site: UInt64(site), branch: branch)
        }
        var a = BlockActivations(
            normed1: normed1, rstd1: floats(n),
            query: floats(n * c.queryDim), key: floats(n * c.kvDim), value: floats(n * c.kvDim),
            attention: activation(n * c.queryDim), logSumExp: floats(n * c.heads),
            afterAttention: afterAttention ?? floats(n * c.dim),
            // Forward-only: the feed-forward's norm reuses the attention norm's buffers.
            normed2: afterAttention == nil ? activation(n * c.dim) : normed1, rstd2: floats(n),
            gate: floats(n * c.hiddenDim), up: floats(n * c.hiddenDim), hidden: activation(n * c.hiddenDim),
            attentionResidual: residual(2 * layer), mlpResidual: residual(2 * layer + 1))
        if c.gemma != nil {
            a.rawQuery = floats(n * c.queryDim)
            a.rawKey = floats(n * c.kvDim)
            a.queryRstd = floats(n * c.heads)
            a.keyRstd = floats(n * c.kvHeads)
            a.rawAttentionOutput = floats(n * c.dim)
            a.attentionOutputRstd = floats(n)
            a.rawMLPOutput = floats(n * c.dim)
            a.mlpOutputRstd = floats(n)
        }
        return a
    }

    /// The backward's scratch for `rows` rows.
    func blockGradients(_ c: ModelConfig, rows n: Int) -> BlockGradients {
        var d = BlockGradients(
            residual: floats(n * c.dim), branchBits: bits(n * c.dim), normed: floats(n * c.dim),
            attention: floats(n * c.queryDim),
            query: activation(n * c.queryDim), key: activation(n * c.kvDim), value: activation(n * c.kvDim),
            hidden: floats(n * c.hiddenDim), gate: activation(n * c.hiddenDim), up: activation(n * c.hiddenDim))
        if c.gemma != nil {
            d.rawBranch = floats(n * c.dim)
            d.rawHeads = floats(n * max(c.queryDim, c.kvDim))
        }
        return d
    }
}

/// The parameters of a LoRA pass: the adapters, where their gradients go (nil: forward only) and
/// the per-layer buffers of their input projections.
struct AdapterBinding {
    let adapters: LoRAAdapters
    let gradients: FloatBuffer?
}

extension Transformer {
    /// The model's blocks over its parameter arena. `gradients` (the arena's mirror) receives the
    /// weight gradients, unless nil (no backward); with `adapters` the base's matrices are frozen
    /// (their gradients are skipped; the norms' still land in `gradients`). `rowWeights` is what
    /// generation's row products stream (a bf16 copy, quantized blocks); nil: the arena itself.
    func blocks(
        gradients: FloatBuffer?, adapters: AdapterBinding?, rowWeights: RowWeights?, buffers: PassBuffers,
        rows: Int
    ) -> [Block] {
        let c = config
        let w = parameters.pointer
        let g = gradients?.pointer
        // A forward-only pass shares one projection buffer among all adapters.
        let sharedProjection =
            adapters != nil && gradients == nil ? buffers.floats(rows * adapters!.adapters.config.rank) : nil
        let adapterScratch =
            adapters != nil && gradients != nil ? buffers.floats(rows * adapters!.adapters.config.rank) : nil
        return (0..<c.layers).map { l in
            let o = layout.layers[l]
            func linear(_ target: LoRATarget, _ offset: Int, _ inFeatures: Int, _ outFeatures: Int) -> Linear {
                var lora: LoRALayer?
                if let binding = adapters, let pair = binding.adapters.pairs[l][target] {
                    let p = binding.adapters.parameters.pointer
                    let dp = binding.gradients?.pointer
                    lora = LoRALayer(
                        a: p + pair.a, b: p + pair.b, da: dp.map { $0 + pair.a }, db: dp.map { $0 + pair.b },
                        rank: binding.adapters.config.rank, scale: binding.adapters.config.scale,
                        projected: sharedProjection ?? buffers.floats(rows * binding.adapters.config.rank),
                        scratch: adapterScratch)
                }
                let storage = rowWeights?.storage(arena: w, offset: offset) ?? .fp32(w + offset)
                return Linear(
                    weights: storage, gradient: adapters == nil ? g.map { $0 + offset } : nil,
                    inFeatures: inFeatures, outFeatures: outFeatures, adapter: lora)
            }
            /// A norm over `dim` values at `offset` of the arena (nil: the block has none there).
            func norm(_ offset: Int?, _ dim: Int) -> Norm? {
                offset.map { at in Norm(weight: w + at, gradient: g.map { $0 + at }, dim: dim, eps: c.normEpsilon) }
            }
            return Block(
                index: l,
                attentionNorm: norm(o.attentionNorm, c.dim)!,
                query: linear(.q, o.query, c.dim, c.queryDim), key: linear(.k, o.key, c.dim, c.kvDim),
                value: linear(.v, o.value, c.dim, c.kvDim), output: linear(.o, o.output, c.queryDim, c.dim),
                queryNorm: norm(o.queryNorm, c.headDim), keyNorm: norm(o.keyNorm, c.headDim),
                attentionOutputNorm: norm(o.attentionOutputNorm, c.dim),
                attention: AttentionShape(
                    heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: c.queryScale,
                    window: c.attentionWindow(layer: l)),
                mlpNorm: norm(o.mlpNorm, c.dim)!,
                gate: linear(.gate, o.gate, c.dim, c.hiddenDim), up: linear(.up, o.up, c.dim, c.hiddenDim),
                down: linear(.down, o.down, c.hiddenDim, c.dim), mlpOutputNorm: norm(o.mlpOutputNorm, c.dim),
                activation: c.gemma != nil ? .geluTanh : .silu,
                hiddenDim: c.hiddenDim, rope: ropeTable(layer: l))
        }
    }

    /// The final norm over the arena.
    func finalNorm(gradients: FloatBuffer?) -> Norm {
        Norm(
            weight: parameters.pointer + layout.finalNorm, gradient: gradients.map { $0.pointer + layout.finalNorm },
            dim: config.dim, eps: config.normEpsilon)
    }
}
