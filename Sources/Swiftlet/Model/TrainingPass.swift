/// Forward and backward of the Transformer over a packed batch, llm.c style: every activation
/// the backward needs is cached by name in preallocated buffers, and every backward
/// accumulates (+=) into the gradient arena, so micro-batches add up for free.
/// Nothing is allocated inside a step.
public final class TrainingPass {
    public let model: Transformer
    public let maxRows: Int
    /// Mirrors the parameter arena.
    public let gradients: FloatBuffer
    /// Runs every matrix product, in fp32 or bf16.
    public let matrices: MatrixEngine
    /// LoRA: trainable adapters beside a frozen base. The base then gets no weight gradients.
    public let adapters: LoRAAdapters?
    /// Mirrors the adapter arena.
    public let adapterGradients: FloatBuffer?
    /// Per layer and target: x·Aᵀ of the forward (rows × rank), kept for the backward.
    let adapterInputs: [[LoRATarget: FloatBuffer]]
    /// rows × rank scratch of the backward.
    let adapterScratch: FloatBuffer
    var trainsBase: Bool { adapters == nil }

    /// residuals[l] is the input of layer l; residuals[layers] feeds the final norm.
    let residuals: [FloatBuffer]
    let layers: [LayerActivations]
    let finalNormed: FloatBuffer
    let finalRstd: FloatBuffer
    // Scratch shared by all layers in the backward pass.
    let dResidual, dNormed, dAttention, branch: FloatBuffer
    let dQuery, dKey, dValue: FloatBuffer
    let dHidden, dGate, dUp: FloatBuffer
    let logits: FloatBuffer
    /// bf16 copies of what feeds the products, in bf16 precision only (nil in fp32).
    let bits: BF16Activations?

    struct LayerActivations {
        let normed1, rstd1, query, key, value, attention, logSumExp, middle, normed2, rstd2, gate, up, hidden: FloatBuffer
        let attentionMask, mlpMask: FloatBuffer?
    }

    public init(model: Transformer, maxRows: Int, precision: Precision = .fp32, adapters: LoRAAdapters? = nil) {
        self.model = model
        matrices = MatrixEngine(precision: precision)
        self.adapters = adapters
        adapterGradients = adapters.map { FloatBuffer(count: $0.parameters.count) }
        adapterInputs = adapters.map { a in a.pairs.map { $0.mapValues { _ in FloatBuffer(count: maxRows * a.config.rank) } } } ?? []
        adapterScratch = FloatBuffer(count: adapters.map { maxRows * $0.config.rank } ?? 0)
        self.maxRows = maxRows
        let c = model.config
        let n = maxRows
        gradients = FloatBuffer(count: model.layout.totalCount)
        residuals = (0...c.layers).map { _ in FloatBuffer(count: n * c.dim) }
        layers = (0..<c.layers).map { _ in
            LayerActivations(
                normed1: FloatBuffer(count: n * c.dim), rstd1: FloatBuffer(count: n),
                query: FloatBuffer(count: n * c.queryDim), key: FloatBuffer(count: n * c.kvDim), value: FloatBuffer(count: n * c.kvDim),
                attention: FloatBuffer(count: n * c.queryDim), logSumExp: FloatBuffer(count: n * c.heads),
                middle: FloatBuffer(count: n * c.dim), normed2: FloatBuffer(count: n * c.dim), rstd2: FloatBuffer(count: n),
                gate: FloatBuffer(count: n * c.hiddenDim), up: FloatBuffer(count: n * c.hiddenDim), hidden: FloatBuffer(count: n * c.hiddenDim),
                attentionMask: c.dropout > 0 ? FloatBuffer(count: n * c.dim) : nil,
                mlpMask: c.dropout > 0 ? FloatBuffer(count: n * c.dim) : nil)
        }
        finalNormed = FloatBuffer(count: n * c.dim)
        finalRstd = FloatBuffer(count: n)
        dResidual = FloatBuffer(count: n * c.dim)
        dNormed = FloatBuffer(count: n * c.dim)
        dAttention = FloatBuffer(count: n * c.queryDim)
        branch = FloatBuffer(count: n * c.dim)
        dQuery = FloatBuffer(count: n * c.queryDim)
        dKey = FloatBuffer(count: n * c.kvDim)
        dValue = FloatBuffer(count: n * c.kvDim)
        dHidden = FloatBuffer(count: n * c.hiddenDim)
        dGate = FloatBuffer(count: n * c.hiddenDim)
        dUp = FloatBuffer(count: n * c.hiddenDim)
        logits = FloatBuffer(count: CrossEntropy.chunkRows * c.vocabSize)
        bits = precision == .bf16 ? BF16Activations(config: c, rows: n) : nil
    }

    /// Forward, loss and backward. Gradients of the mean loss over `gradientTokens` tokens
    /// are added to `gradients`. Returns the summed loss over the batch's target tokens.
    /// `dropoutSeed` switches dropout on (when the config has any); masks are a hash of the
    /// seed, the element and the layer's branch, so each pass and site draws its own.
    @discardableResult
    public func forwardBackward(_ batch: Batch, gradientTokens: Int, dropoutSeed: UInt64? = nil) -> Double {
        let spans = AttentionSpan.packed(cumulativeLengths: batch.cumulativeLengths)
        forward(batch, spans: spans, dropoutSeed: dropoutSeed)
        return lossAndBackward(batch, spans: spans, gradientScale: 1 / Float(max(gradientTokens, 1)), dropout: dropoutSeed != nil)
    }

    /// Summed loss over the batch's target tokens, without gradients or dropout.
    /// `rowLosses`, when given, receives each row's loss (0 where the target is ignored).
    public func loss(_ batch: Batch, rowLosses: UnsafeMutablePointer<Float>? = nil) -> Double {
        let spans = AttentionSpan.packed(cumulativeLengths: batch.cumulativeLengths)
        forward(batch, spans: spans, dropoutSeed: nil)
        let c = model.config
        let w = model.parameters.pointer
        return batch.targets.withUnsafeBufferPointer { targets in
            CrossEntropy.forwardBackward(hidden: finalNormed.pointer, weight: w + model.layout.outputHead, targets: targets.baseAddress!,
                                         rows: batch.rows, dim: c.dim, vocab: c.vocabSize, logits: logits.pointer,
                                         gradientScale: 0, dhidden: nil, dweight: nil, rowLosses: rowLosses, matrices: matrices,
                                         hiddenBits: bits.map { UnsafePointer($0.finalNormed.pointer) })
        }
    }

    func forward(_ batch: Batch, spans: [AttentionSpan], dropoutSeed: UInt64?) {
        let c = model.config
        let n = batch.rows
        precondition(n <= maxRows, "batch of \(n) rows exceeds the pass's \(maxRows)")
        let w = model.parameters.pointer
        let useDropout = dropoutSeed != nil && c.dropout > 0
        matrices.beginPass()
        batch.tokens.withUnsafeBufferPointer { tokens in
            Embedding.forward(tokens: tokens.baseAddress!, table: w + model.layout.embedding, out: residuals[0].pointer, rows: n, dim: c.dim)
        }
        batch.positions.withUnsafeBufferPointer { positionBuffer in
            let positions = positionBuffer.baseAddress!
            for l in 0..<c.layers {
                let o = model.layout.layers[l], a = layers[l]
                let x = residuals[l].pointer
                let b = bits?.layers[l]
                RMSNorm.forward(x, weight: w + o.attentionNorm, out: a.normed1.pointer, rstd: a.rstd1.pointer, rows: n, dim: c.dim, eps: c.normEpsilon,
                                outBits: b?.normed1.pointer)
                let normed1Bits = b.map { UnsafePointer($0.normed1.pointer) }
                matrices.linear(a.normed1.pointer, w + o.query, a.query.pointer, rows: n, inFeatures: c.dim, outFeatures: c.queryDim, xBits: normed1Bits)
                matrices.linear(a.normed1.pointer, w + o.key, a.key.pointer, rows: n, inFeatures: c.dim, outFeatures: c.kvDim, sameInput: true,
                                xBits: normed1Bits)
                matrices.linear(a.normed1.pointer, w + o.value, a.value.pointer, rows: n, inFeatures: c.dim, outFeatures: c.kvDim, sameInput: true,
                                xBits: normed1Bits)
                adapterForward(.q, layer: l, x: a.normed1.pointer, y: a.query.pointer, rows: n)
                adapterForward(.k, layer: l, x: a.normed1.pointer, y: a.key.pointer, rows: n)
                adapterForward(.v, layer: l, x: a.normed1.pointer, y: a.value.pointer, rows: n)
                RoPE.apply(a.query.pointer, positions: positions, rows: n, heads: c.heads, table: model.rope)
                RoPE.apply(a.key.pointer, positions: positions, rows: n, heads: c.kvHeads, table: model.rope)
                Attention.forward(q: a.query.pointer, k: a.key.pointer, v: a.value.pointer, out: a.attention.pointer,
                                  logSumExp: a.logSumExp.pointer, spans: spans, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                                  precision: matrices.precision, outBits: b?.attention.pointer)
                addBranch(input: x, output: a.middle.pointer, rows: n,
                          mask: useDropout ? (a.attentionMask!, dropoutSeed!, UInt64(2 * l)) : nil) { out, accumulate in
                    matrices.linear(a.attention.pointer, w + o.output, out, rows: n, inFeatures: c.queryDim, outFeatures: c.dim, accumulate: accumulate,
                                    xBits: b.map { UnsafePointer($0.attention.pointer) })
                    adapterForward(.o, layer: l, x: a.attention.pointer, y: out, rows: n)
                }
                RMSNorm.forward(a.middle.pointer, weight: w + o.mlpNorm, out: a.normed2.pointer, rstd: a.rstd2.pointer, rows: n, dim: c.dim, eps: c.normEpsilon,
                                outBits: b?.normed2.pointer)
                let normed2Bits = b.map { UnsafePointer($0.normed2.pointer) }
                matrices.linear(a.normed2.pointer, w + o.gate, a.gate.pointer, rows: n, inFeatures: c.dim, outFeatures: c.hiddenDim, xBits: normed2Bits)
                matrices.linear(a.normed2.pointer, w + o.up, a.up.pointer, rows: n, inFeatures: c.dim, outFeatures: c.hiddenDim, sameInput: true,
                                xBits: normed2Bits)
                adapterForward(.gate, layer: l, x: a.normed2.pointer, y: a.gate.pointer, rows: n)
                adapterForward(.up, layer: l, x: a.normed2.pointer, y: a.up.pointer, rows: n)
                SwiGLU.forward(gate: a.gate.pointer, up: a.up.pointer, out: a.hidden.pointer, count: n * c.hiddenDim, outBits: b?.hidden.pointer)
                addBranch(input: a.middle.pointer, output: residuals[l + 1].pointer, rows: n,
                          mask: useDropout ? (a.mlpMask!, dropoutSeed!, UInt64(2 * l + 1)) : nil) { out, accumulate in
                    matrices.linear(a.hidden.pointer, w + o.down, out, rows: n, inFeatures: c.hiddenDim, outFeatures: c.dim, accumulate: accumulate,
                                    xBits: b.map { UnsafePointer($0.hidden.pointer) })
                    adapterForward(.down, layer: l, x: a.hidden.pointer, y: out, rows: n)
                }
            }
        }
        RMSNorm.forward(residuals[c.layers].pointer, weight: w + model.layout.finalNorm, out: finalNormed.pointer,
                        rstd: finalRstd.pointer, rows: n, dim: c.dim, eps: c.normEpsilon, outBits: bits?.finalNormed.pointer)
    }

    /// output = input + branch, where `compute(out, accumulate)` writes the branch. Without
    /// dropout the branch's GEMM accumulates straight onto a copy of the input.
    private func addBranch(input: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int,
                           mask: (FloatBuffer, seed: UInt64, site: UInt64)?, compute: (UnsafeMutablePointer<Float>, Bool) -> Void) {
        let count = rows * model.config.dim
        guard let (maskBuffer, seed, site) = mask else {
            output.update(from: input, count: count)
            compute(output, true)
            return
        }
        compute(branch.pointer, false)
        let p = model.config.dropout, keep = 1 / (1 - p)
        for i in 0..<count {
            let m: Float = RandomGenerator.hashUniform(seed: seed, UInt64(i), site, 0x5EED) < p ? 0 : keep
            maskBuffer.pointer[i] = m
            output[i] = input[i] + branch.pointer[i] * m
        }
    }

    private func lossAndBackward(_ batch: Batch, spans: [AttentionSpan], gradientScale: Float, dropout: Bool) -> Double {
        let c = model.config
        let n = batch.rows
        let w = model.parameters.pointer, g = gradients.pointer
        let L = model.layout
        let loss = batch.targets.withUnsafeBufferPointer { targets in
            CrossEntropy.forwardBackward(hidden: finalNormed.pointer, weight: w + L.outputHead, targets: targets.baseAddress!,
                                         rows: n, dim: c.dim, vocab: c.vocabSize, logits: logits.pointer,
                                         gradientScale: gradientScale, dhidden: dNormed.pointer, dweight: trainsBase ? g + L.outputHead : nil,
                                         matrices: matrices, hiddenBits: bits.map { UnsafePointer($0.finalNormed.pointer) },
                                         logitBits: bits?.logits.pointer)
        }
        backwardFromFinalNorm(batch, spans: spans, dropout: dropout)
        return loss
    }

    /// Hidden states after the final norm of the last `forwardOnly` pass: (rows, dim).
    public var finalHidden: UnsafeMutablePointer<Float> { finalNormed.pointer }

    /// Forward without a loss (for a head on the hidden states): fills `finalHidden`.
    public func forwardOnly(_ batch: Batch, dropoutSeed: UInt64? = nil) {
        forward(batch, spans: AttentionSpan.packed(cumulativeLengths: batch.cumulativeLengths), dropoutSeed: dropoutSeed)
    }

    /// Backward from a gradient with respect to `finalHidden` (rows × dim, written by the caller
    /// into `finalHiddenGradient`) after `forwardOnly`: accumulates into the model's (or the
    /// adapters') gradients.
    public func backward(fromFinalHidden batch: Batch, dropout: Bool = false) {
        backwardFromFinalNorm(batch, spans: AttentionSpan.packed(cumulativeLengths: batch.cumulativeLengths), dropout: dropout)
    }

    /// Where a caller writes ∂loss/∂finalHidden before `backward(fromFinalHidden:)`.
    public var finalHiddenGradient: UnsafeMutablePointer<Float> { dNormed.pointer }

    private func backwardFromFinalNorm(_ batch: Batch, spans: [AttentionSpan], dropout: Bool) {
        let c = model.config
        let n = batch.rows
        let w = model.parameters.pointer, g = gradients.pointer
        let L = model.layout
        dResidual.pointer.update(repeating: 0, count: n * c.dim)
        RMSNorm.backward(dout: dNormed.pointer, x: residuals[c.layers].pointer, weight: w + L.finalNorm, rstd: finalRstd.pointer,
                         dx: dResidual.pointer, dweight: g + L.finalNorm, rows: n, dim: c.dim)
        let useDropout = dropout && c.dropout > 0
        batch.positions.withUnsafeBufferPointer { positionBuffer in
            let positions = positionBuffer.baseAddress!
            for l in stride(from: c.layers - 1, through: 0, by: -1) {
                let o = L.layers[l], a = layers[l], b = bits?.layers[l]
                // MLP branch: the residual's gradient flows into the down projection's output.
                let dMlpOut = useDropout ? masked(dResidual, by: a.mlpMask!, rows: n) : dResidual.pointer
                let dMlpOutBits = rounded(dMlpOut, count: n * c.dim, into: bits?.branchGradient)
                matrices.linearBackwardInput(dMlpOut, w + o.down, dHidden.pointer, rows: n, inFeatures: c.hiddenDim, outFeatures: c.dim, accumulate: false,
                                             dyBits: dMlpOutBits)
                if trainsBase {
                    matrices.linearBackwardWeight(dMlpOut, a.hidden.pointer, g + o.down, rows: n, inFeatures: c.hiddenDim, outFeatures: c.dim,
                                                  dyBits: dMlpOutBits, xBits: b.map { UnsafePointer($0.hidden.pointer) })
                }
                adapterBackward(.down, layer: l, dy: dMlpOut, x: a.hidden.pointer, dx: dHidden.pointer, rows: n)
                SwiGLU.backward(dout: dHidden.pointer, gate: a.gate.pointer, up: a.up.pointer, dgate: dGate.pointer, dup: dUp.pointer, count: n * c.hiddenDim,
                                dgateBits: bits?.gateGradient.pointer, dupBits: bits?.upGradient.pointer)
                let dGateBits = bits.map { UnsafePointer($0.gateGradient.pointer) }, dUpBits = bits.map { UnsafePointer($0.upGradient.pointer) }
                matrices.linearBackwardInput(dGate.pointer, w + o.gate, dNormed.pointer, rows: n, inFeatures: c.dim, outFeatures: c.hiddenDim, accumulate: false,
                                             dyBits: dGateBits)
                matrices.linearBackwardInput(dUp.pointer, w + o.up, dNormed.pointer, rows: n, inFeatures: c.dim, outFeatures: c.hiddenDim, accumulate: true,
                                             dyBits: dUpBits)
                if trainsBase {
                    let normed2Bits = b.map { UnsafePointer($0.normed2.pointer) }
                    matrices.linearBackwardWeight(dGate.pointer, a.normed2.pointer, g + o.gate, rows: n, inFeatures: c.dim, outFeatures: c.hiddenDim,
                                                  dyBits: dGateBits, xBits: normed2Bits)
                    matrices.linearBackwardWeight(dUp.pointer, a.normed2.pointer, g + o.up, rows: n, inFeatures: c.dim, outFeatures: c.hiddenDim, sameInput: true,
                                                  dyBits: dUpBits, xBits: normed2Bits)
                }
                adapterBackward(.gate, layer: l, dy: dGate.pointer, x: a.normed2.pointer, dx: dNormed.pointer, rows: n)
                adapterBackward(.up, layer: l, dy: dUp.pointer, x: a.normed2.pointer, dx: dNormed.pointer, rows: n)
                RMSNorm.backward(dout: dNormed.pointer, x: a.middle.pointer, weight: w + o.mlpNorm, rstd: a.rstd2.pointer,
                                 dx: dResidual.pointer, dweight: g + o.mlpNorm, rows: n, dim: c.dim)
                // Attention branch.
                let dAttnOut = useDropout ? masked(dResidual, by: a.attentionMask!, rows: n) : dResidual.pointer
                let dAttnOutBits = rounded(dAttnOut, count: n * c.dim, into: bits?.branchGradient)
                matrices.linearBackwardInput(dAttnOut, w + o.output, dAttention.pointer, rows: n, inFeatures: c.queryDim, outFeatures: c.dim, accumulate: false,
                                             dyBits: dAttnOutBits)
                if trainsBase {
                    matrices.linearBackwardWeight(dAttnOut, a.attention.pointer, g + o.output, rows: n, inFeatures: c.queryDim, outFeatures: c.dim,
                                                  dyBits: dAttnOutBits, xBits: b.map { UnsafePointer($0.attention.pointer) })
                }
                adapterBackward(.o, layer: l, dy: dAttnOut, x: a.attention.pointer, dx: dAttention.pointer, rows: n)
                Attention.backward(dout: dAttention.pointer, q: a.query.pointer, k: a.key.pointer, v: a.value.pointer,
                                   out: a.attention.pointer, logSumExp: a.logSumExp.pointer,
                                   dq: dQuery.pointer, dk: dKey.pointer, dv: dValue.pointer,
                                   spans: spans, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, precision: matrices.precision)
                RoPE.apply(dQuery.pointer, positions: positions, rows: n, heads: c.heads, table: model.rope, inverse: true)
                RoPE.apply(dKey.pointer, positions: positions, rows: n, heads: c.kvHeads, table: model.rope, inverse: true)
                let dQueryBits = rounded(dQuery.pointer, count: n * c.queryDim, into: bits?.queryGradient)
                let dKeyBits = rounded(dKey.pointer, count: n * c.kvDim, into: bits?.keyGradient)
                let dValueBits = rounded(dValue.pointer, count: n * c.kvDim, into: bits?.valueGradient)
                matrices.linearBackwardInput(dQuery.pointer, w + o.query, dNormed.pointer, rows: n, inFeatures: c.dim, outFeatures: c.queryDim, accumulate: false,
                                             dyBits: dQueryBits)
                matrices.linearBackwardInput(dKey.pointer, w + o.key, dNormed.pointer, rows: n, inFeatures: c.dim, outFeatures: c.kvDim, accumulate: true,
                                             dyBits: dKeyBits)
                matrices.linearBackwardInput(dValue.pointer, w + o.value, dNormed.pointer, rows: n, inFeatures: c.dim, outFeatures: c.kvDim, accumulate: true,
                                             dyBits: dValueBits)
                if trainsBase {
                    let normed1Bits = b.map { UnsafePointer($0.normed1.pointer) }
                    matrices.linearBackwardWeight(dQuery.pointer, a.normed1.pointer, g + o.query, rows: n, inFeatures: c.dim, outFeatures: c.queryDim,
                                                  dyBits: dQueryBits, xBits: normed1Bits)
                    matrices.linearBackwardWeight(dKey.pointer, a.normed1.pointer, g + o.key, rows: n, inFeatures: c.dim, outFeatures: c.kvDim, sameInput: true,
                                                  dyBits: dKeyBits, xBits: normed1Bits)
                    matrices.linearBackwardWeight(dValue.pointer, a.normed1.pointer, g + o.value, rows: n, inFeatures: c.dim, outFeatures: c.kvDim, sameInput: true,
                                                  dyBits: dValueBits, xBits: normed1Bits)
                }
                adapterBackward(.q, layer: l, dy: dQuery.pointer, x: a.normed1.pointer, dx: dNormed.pointer, rows: n)
                adapterBackward(.k, layer: l, dy: dKey.pointer, x: a.normed1.pointer, dx: dNormed.pointer, rows: n)
                adapterBackward(.v, layer: l, dy: dValue.pointer, x: a.normed1.pointer, dx: dNormed.pointer, rows: n)
                RMSNorm.backward(dout: dNormed.pointer, x: residuals[l].pointer, weight: w + o.attentionNorm, rstd: a.rstd1.pointer,
                                 dx: dResidual.pointer, dweight: g + o.attentionNorm, rows: n, dim: c.dim)
            }
        }
        if trainsBase {
            batch.tokens.withUnsafeBufferPointer { tokens in
                Embedding.backward(tokens: tokens.baseAddress!, dout: dResidual.pointer, dtable: g + L.embedding, rows: n, dim: c.dim)
            }
        }
    }

    /// The bf16 copy of a gradient that feeds two products, rounded once (nil in fp32).
    private func rounded(_ x: UnsafePointer<Float>, count: Int, into buffer: BFloat16Buffer?) -> UnsafePointer<UInt16>? {
        guard let buffer else { return nil }
        BFloat16.convert(x, into: buffer.pointer, count: count)
        return UnsafePointer(buffer.pointer)
    }

    /// branch = gradient ⊙ mask, in the shared branch buffer.
    private func masked(_ gradient: FloatBuffer, by mask: FloatBuffer, rows: Int) -> UnsafeMutablePointer<Float> {
        for i in 0..<rows * model.config.dim { branch.pointer[i] = gradient.pointer[i] * mask.pointer[i] }
        return branch.pointer
    }
}

/// The bf16 copies a bf16 pass keeps of the activations and gradients that feed matrix
/// products: each is written by the kernel that produces it (or rounded once where two products
/// share it) and read by every product it feeds, so no product rounds its input again.
struct BF16Activations {
    struct Layer {
        let normed1, attention, normed2, hidden: BFloat16Buffer
    }
    let layers: [Layer]
    let finalNormed: BFloat16Buffer
    // Backward scratch, shared by the layers.
    let branchGradient, gateGradient, upGradient, queryGradient, keyGradient, valueGradient: BFloat16Buffer
    let logits: BFloat16Buffer

    init(config c: ModelConfig, rows n: Int) {
        layers = (0..<c.layers).map { _ in
            Layer(normed1: BFloat16Buffer(count: n * c.dim), attention: BFloat16Buffer(count: n * c.queryDim),
                  normed2: BFloat16Buffer(count: n * c.dim), hidden: BFloat16Buffer(count: n * c.hiddenDim))
        }
        finalNormed = BFloat16Buffer(count: n * c.dim)
        branchGradient = BFloat16Buffer(count: n * c.dim)
        gateGradient = BFloat16Buffer(count: n * c.hiddenDim)
        upGradient = BFloat16Buffer(count: n * c.hiddenDim)
        queryGradient = BFloat16Buffer(count: n * c.queryDim)
        keyGradient = BFloat16Buffer(count: n * c.kvDim)
        valueGradient = BFloat16Buffer(count: n * c.kvDim)
        logits = BFloat16Buffer(count: CrossEntropy.chunkRows * c.vocabSize)
    }
}
