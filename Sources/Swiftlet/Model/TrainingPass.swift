/// Forward and backward of the Transformer over a packed batch, llm.c style: every activation
/// the backward needs is kept per layer in buffers allocated once, and every backward
/// accumulates (+=) into the gradient arena, so micro-batches add up for free. The layers are
/// `Block`'s, the same forward that scoring and generation run.
public final class TrainingPass {
    public let model: Transformer
    public let maxRows: Int
    /// Mirrors the parameter arena.
    public let gradients: FloatBuffer
    /// Runs every matrix product, in fp32 or bf16.
    public let matrices: MatrixEngine
    /// LoRA: trainable adapters beside a frozen base. The base's matrices then get no gradients.
    public let adapters: LoRAAdapters?
    /// Mirrors the adapter arena.
    public let adapterGradients: FloatBuffer?

    let buffers: PassBuffers
    let blocks: [Block]
    /// residuals[l] is the input of layer l; residuals[layers] feeds the final norm.
    let residuals: [UnsafeMutablePointer<Float>]
    let activations: [BlockActivations]
    let finalNorm: Norm
    let finalNormed: Activation
    let finalRstd: UnsafeMutablePointer<Float>
    let scratch: BlockGradients
    /// The vocabulary projection's scratch, (chunkRows, vocab): made at the first loss, so a pass
    /// that never computes one (a classifier's, on the hidden states) never holds it (Gemma 3:
    /// 256 × 262,144 floats, 268 MB).
    lazy var logits: UnsafeMutablePointer<Float> = buffers.floats(CrossEntropy.chunkRows * model.config.vocabSize)
    lazy var logitBits: UnsafeMutablePointer<UInt16>? = buffers.bits(CrossEntropy.chunkRows * model.config.vocabSize)
    /// Whether the backward reaches the token embeddings (false: they are frozen, and their
    /// gradient stays as it was — zero after the optimizer step's reset).
    public var trainsEmbedding = true
    /// The last batch's sequences, refilled in place.
    var sequences: [SequenceRows] = []
    /// Bytes of bf16 copies the pass holds now (its activations' and the products' weights and
    /// scratch), for checking the memory plan against.
    var bfloat16Bytes: Int { buffers.bfloat16Bytes + matrices.bfloat16Bytes }

    public init(model: Transformer, maxRows: Int, precision: Precision = .fp32, adapters: LoRAAdapters? = nil) {
        self.model = model
        self.maxRows = maxRows
        self.adapters = adapters
        matrices = MatrixEngine(precision: precision)
        let c = model.config
        let n = maxRows
        let gradients = FloatBuffer(count: model.layout.totalCount)
        let adapterGradients = adapters.map { FloatBuffer(count: $0.parameters.count) }
        self.gradients = gradients
        self.adapterGradients = adapterGradients
        let buffers = PassBuffers(bf16: precision == .bf16)
        self.buffers = buffers
        blocks = model.blocks(
            gradients: gradients, adapters: adapters.map { AdapterBinding(adapters: $0, gradients: adapterGradients) },
            rowWeights: nil, buffers: buffers, rows: n)
        residuals = (0...c.layers).map { _ in buffers.floats(n * c.dim) }
        let branch = buffers.floats(n * c.dim)
        activations = (0..<c.layers).map { l in
            buffers.blockActivations(c, rows: n, layer: l, dropoutMasks: true, branch: branch)
        }
        finalNorm = model.finalNorm(gradients: gradients)
        finalNormed = buffers.activation(n * c.dim)
        finalRstd = buffers.floats(n)
        scratch = buffers.blockGradients(c, rows: n)
        sequences.reserveCapacity(n)
    }

    /// Forward, loss and backward. Gradients of the mean loss over `gradientTokens` tokens
    /// are added to `gradients`. Returns the summed loss over the batch's target tokens.
    /// `dropoutSeed` switches dropout on (when the config has any); masks are a hash of the
    /// seed, the element and the layer's branch, so each pass and site draws its own.
    @discardableResult
    public func forwardBackward(_ batch: Batch, gradientTokens: Int, dropoutSeed: UInt64? = nil) -> Double {
        forward(batch, dropoutSeed: dropoutSeed)
        let c = model.config
        let L = model.layout
        let w = model.parameters.pointer
        let loss = batch.targets.withUnsafeBufferPointer { targets in
            CrossEntropy.forwardBackward(
                hidden: finalNormed.values, weight: w + L.outputHead, targets: targets.baseAddress!,
                rows: batch.rows, dim: c.dim, vocab: c.vocabSize, logits: logits,
                gradientScale: 1 / Float(max(gradientTokens, 1)), dhidden: scratch.normed,
                dweight: adapters == nil ? gradients.pointer + L.outputHead : nil,
                matrices: matrices, hiddenBits: finalNormed.readBits, logitBits: logitBits)
        }
        backward(batch, dropout: dropoutSeed != nil)
        return loss
    }

    /// Summed loss over the batch's target tokens, without gradients or dropout (evaluation
    /// during training, in the buffers the run already has). `rowLosses`, when given, receives
    /// each row's loss (0 where the target is ignored).
    public func loss(_ batch: Batch, rowLosses: UnsafeMutablePointer<Float>? = nil) -> Double {
        forward(batch, dropoutSeed: nil)
        return ScoringPass.loss(
            batch, hidden: finalNormed, model: model, logits: logits, rowLosses: rowLosses, matrices: matrices)
    }

    /// Hidden states after the final norm of the last forward: (rows, dim).
    public var finalHidden: UnsafeMutablePointer<Float> { finalNormed.values }

    /// Forward without a loss (for a head on the hidden states): fills `finalHidden`.
    public func forwardOnly(_ batch: Batch, dropoutSeed: UInt64? = nil) {
        forward(batch, dropoutSeed: dropoutSeed)
    }

    /// Where a caller writes ∂loss/∂finalHidden before `backward(fromFinalHidden:)`.
    public var finalHiddenGradient: UnsafeMutablePointer<Float> { scratch.normed }

    /// Backward from a gradient with respect to `finalHidden` (rows × dim, written by the caller
    /// into `finalHiddenGradient`) after `forwardOnly`: accumulates into the model's (or the
    /// adapters') gradients.
    public func backward(fromFinalHidden batch: Batch, dropout: Bool = false) {
        backward(batch, dropout: dropout)
    }

    func context(_ batch: Batch, positions: UnsafePointer<Int32>, dropoutSeed: UInt64?) -> PassContext {
        PassContext(
            rows: batch.rows, positions: positions, sequences: sequences, keyValues: .batch,
            products: .matrices(matrices),
            attentionPrecision: matrices.precision, dropoutSeed: model.config.dropout > 0 ? dropoutSeed : nil)
    }

    func forward(_ batch: Batch, dropoutSeed: UInt64?) {
        let n = batch.rows
        precondition(n <= maxRows, "batch of \(n) rows exceeds the pass's \(maxRows)")
        batch.fillSequences(&sequences)
        matrices.beginPass()
        batch.tokens.withUnsafeBufferPointer { tokens in
            Embedding.forward(
                tokens: tokens.baseAddress!, table: model.parameters.pointer + model.layout.embedding,
                out: residuals[0],
                rows: n, dim: model.config.dim, scale: model.config.embeddingScale)
        }
        batch.positions.withUnsafeBufferPointer { positions in
            let p = context(batch, positions: positions.baseAddress!, dropoutSeed: dropoutSeed)
            for (l, block) in blocks.enumerated() {
                block.forward(residuals[l], into: residuals[l + 1], activations[l], p)
            }
        }
        finalNorm.forward(residuals[blocks.count], finalNormed, rstd: finalRstd, rows: n)
    }

    /// From ∂L/∂finalHidden in `scratch.normed` down to the embedding.
    func backward(_ batch: Batch, dropout: Bool) {
        let c = model.config
        let n = batch.rows
        scratch.residual.update(repeating: 0, count: n * c.dim)
        finalNorm.backward(scratch.normed, x: residuals[blocks.count], rstd: finalRstd, dx: scratch.residual, rows: n)
        batch.positions.withUnsafeBufferPointer { positions in
            // Any seed: the backward reads the masks the forward drew, not the seed.
            let p = context(batch, positions: positions.baseAddress!, dropoutSeed: dropout ? 0 : nil)
            for l in stride(from: blocks.count - 1, through: 0, by: -1) {
                blocks[l].backward(residuals[l], activations[l], scratch, p, matrices: matrices)
            }
        }
        guard adapters == nil, trainsEmbedding else { return }
        batch.tokens.withUnsafeBufferPointer { tokens in
            Embedding.backward(
                tokens: tokens.baseAddress!, dout: scratch.residual, dtable: gradients.pointer + model.layout.embedding,
                rows: n, dim: c.dim, scale: c.embeddingScale)
        }
    }
}
