/// The Transformer's forward over a packed batch with nothing kept for a backward: evaluation
/// (loss, per-row losses for zero-shot), and final hidden states for classification features
/// and embeddings. The same blocks and kernels as `TrainingPass`'s forward, in the same order,
/// so it computes the training forward bit for bit — but with one set of activation buffers
/// shared by every layer (the residual stream updated in place), and no gradient arena, no
/// backward scratch, no dropout masks: a fraction of the memory.
public final class ScoringPass {
    public let model: Transformer
    public let maxRows: Int
    public let matrices: MatrixEngine

    let buffers: PassBuffers
    let blocks: [Block]
    /// The residual stream, (rows, dim), updated in place layer by layer.
    let stream: UnsafeMutablePointer<Float>
    let activations: BlockActivations
    let finalNorm: Norm
    let finalNormed: Activation
    let finalRstd: UnsafeMutablePointer<Float>
    /// The vocabulary projection's scratch, made at the first loss (features never need it).
    lazy var logits: UnsafeMutablePointer<Float> = buffers.floats(CrossEntropy.chunkRows * model.config.vocabSize)
    var sequences: [SequenceRows] = []

    /// `adapters` run beside the base, unmerged (a LoRA fine-tune being evaluated).
    public init(model: Transformer, maxRows: Int, precision: Precision = .fp32, adapters: LoRAAdapters? = nil) {
        self.model = model
        self.maxRows = maxRows
        matrices = MatrixEngine(precision: precision)
        let c = model.config
        let n = maxRows
        let buffers = PassBuffers(bf16: precision == .bf16)
        self.buffers = buffers
        blocks = model.blocks(
            gradients: nil, adapters: adapters.map { AdapterBinding(adapters: $0, gradients: nil) }, rowWeights: nil,
            buffers: buffers, rows: n)
        stream = buffers.floats(n * c.dim)
        activations = buffers.blockActivations(
            c, rows: n, layer: 0, afterAttention: stream, dropoutMasks: false)
        finalNorm = model.finalNorm(gradients: nil)
        finalNormed = buffers.activation(n * c.dim)
        finalRstd = buffers.floats(n)
        sequences.reserveCapacity(n)
    }

    /// Bytes this pass allocates for a model of this shape (weights not included); `logits`:
    /// whether it computes a loss (features and embeddings never make the logits' scratch).
    public static func bytes(_ c: ModelConfig, rows n: Int, precision: Precision = .fp32, logits: Bool = true) -> Int {
        // Per row: the stream, one norm's output, the final norm's; q and attention; k and v;
        // gate, up and hidden; log-sum-exps and three 1/rms. Gemma adds the branch, the raw
        // queries and keys with their per-head 1/rms, and both branches' raw outputs with theirs.
        let gemma = c.gemma != nil ? 3 * c.dim + c.queryDim + c.kvDim + c.heads + c.kvHeads + 2 : 0
        let floats =
            n * (3 * c.dim + 2 * c.queryDim + 2 * c.kvDim + 3 * c.hiddenDim + c.heads + 3 + gemma)
            + (logits
                ? CrossEntropy.chunkRows
                    * c.vocabSize : 0)
        let halves = precision == .bf16 ? n * (2 * c.dim + c.queryDim + c.hiddenDim) : 0
        return 4 * floats + 2 * halves
    }

    /// Summed loss over the batch's target tokens. `rowLosses`, when given, receives each row's
    /// loss (0 where the target is ignored).
    public func loss(_ batch: Batch, rowLosses: UnsafeMutablePointer<Float>? = nil) -> Double {
        forward(batch)
        return Self.loss(
            batch, hidden: finalNormed, model: model, logits: logits, rowLosses: rowLosses, matrices: matrices)
    }

    /// Runs the batch; its hidden states after the final norm are then in `finalHidden`.
    public func forward(_ batch: Batch) {
        let c = model.config
        let n = batch.rows
        precondition(n <= maxRows, "batch of \(n) rows exceeds the pass's \(maxRows)")
        batch.fillSequences(&sequences)
        matrices.beginPass()
        batch.tokens.withUnsafeBufferPointer { tokens in
            Embedding.forward(
                tokens: tokens.baseAddress!, table: model.parameters.pointer + model.layout.embedding, out: stream,
                rows: n, dim: c.dim, scale: c.embeddingScale)
        }
        batch.positions.withUnsafeBufferPointer { positions in
            let p = PassContext(
                rows: n, positions: positions.baseAddress!, sequences: sequences, keyValues: .batch,
                products: .matrices(matrices), attentionPrecision: matrices.precision, dropoutSeed: nil)
            for block in blocks { block.forward(stream, into: stream, activations, p) }
        }
        finalNorm.forward(stream, finalNormed, rstd: finalRstd, rows: n)
    }

    /// Hidden states after the final norm of the last `forward`: (rows, dim).
    public var finalHidden: UnsafeMutablePointer<Float> { finalNormed.values }

    /// The language-model loss on hidden states already computed (no gradient).
    static func loss(
        _ batch: Batch, hidden: Activation, model: Transformer, logits: UnsafeMutablePointer<Float>,
        rowLosses: UnsafeMutablePointer<Float>?, matrices: MatrixEngine
    ) -> Double {
        let c = model.config
        return batch.targets.withUnsafeBufferPointer { targets in
            CrossEntropy.forwardBackward(
                hidden: hidden.values, weight: model.parameters.pointer + model.layout.outputHead,
                targets: targets.baseAddress!, rows: batch.rows, dim: c.dim, vocab: c.vocabSize, logits: logits,
                gradientScale: 0, dhidden: nil, dweight: nil, rowLosses: rowLosses, matrices: matrices,
                hiddenBits: hidden.readBits)
        }
    }
}

/// What evaluation and zero-shot scoring need of a pass: the summed loss of a batch of at most
/// `maxRows` rows. A `ScoringPass` is the one to build for it; a `TrainingPass` serves too, in
/// the buffers a training run already holds.
public protocol BatchScoring: AnyObject {
    var maxRows: Int { get }
    func loss(_ batch: Batch, rowLosses: UnsafeMutablePointer<Float>?) -> Double
}

extension ScoringPass: BatchScoring {}
extension TrainingPass: BatchScoring {}
