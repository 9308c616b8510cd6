/// The layers a block is made of, as values over raw buffers: each has a forward, and the ones
/// with parameters a backward that accumulates (+=) into their gradients. They own no memory;
/// the pass that builds them owns every buffer they point into.

/// A (rows × features) activation: its fp32 values and, in a bf16 pass, the bf16 copy the
/// kernel that wrote the values also wrote, so every product it feeds reads it without rounding
/// it again.
struct Activation {
    let values: UnsafeMutablePointer<Float>
    let bits: UnsafeMutablePointer<UInt16>?

    init(_ values: UnsafeMutablePointer<Float>, bits: UnsafeMutablePointer<UInt16>? = nil) {
        self.values = values
        self.bits = bits
    }

    init(_ buffer: FloatBuffer, bits: BFloat16Buffer? = nil) {
        self.init(buffer.pointer, bits: bits?.pointer)
    }

    var readBits: UnsafePointer<UInt16>? { bits.map { UnsafePointer($0) } }

    /// The same activation with its bf16 copy rounded from the values (a gradient that feeds
    /// two products); without a copy, nothing to do.
    func roundingBits(count: Int) -> Activation {
        if let bits { BFloat16.convert(values, into: bits, count: count) }
        return self
    }
}

/// How a pass runs its matrix products.
enum Products {
    /// All rows at once through the engine: fp32 GEMM, or bf16 matmul reading the activations'
    /// bf16 copies (training and scoring).
    case matrices(MatrixEngine)
    /// Generation: each prompt chunk is its own product and the single decode rows share one
    /// row product per weight, so a row's sums never depend on the other sequences in the step.
    case batchInvariant(chunks: [Range<Int>], singleRows: Range<Int>)
}

/// Where a linear layer's weight matrix (out × in, row-major) lives, and the kernels that read
/// each form. Training and scoring read the fp32 values in the parameter arena; generation may
/// stream a narrower copy in its row products.
public enum WeightStorage {
    /// fp32 values: a view into the parameter arena.
    case fp32(UnsafeMutablePointer<Float>)
    /// The arena's values (already rounded to bf16, read by prompt-chunk GEMMs) and their bf16
    /// bits, which the row products stream: half the bytes, the same sums.
    case bf16(values: UnsafeMutablePointer<Float>, bits: UnsafePointer<BFloat16Bits>)
    /// The arena's values (the values the blocks decode to, read by prompt-chunk GEMMs) and the
    /// quantized blocks the row products stream through the integer dot-product kernels (and
    /// Q8_0's and Q4_0's prompt chunks through their tiles, where the CPU has them), with the
    /// pass's scratch for the activation rows quantized per block.
    case quantized(values: UnsafeMutablePointer<Float>, matrix: QuantizedMatrix, scratch: QuantizedActivations)

    /// The fp32 values in the arena: what GEMMs and gradients work on.
    var values: UnsafeMutablePointer<Float> {
        switch self {
        case .fp32(let w), .bf16(let w, _), .quantized(let w, _, _): w
        }
    }

    /// Y[rows×out] (+)= X · Wᵀ for a few rows, every element summed in one fixed order.
    func rowProduct(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int,
        accumulate: Bool
    ) {
        switch self {
        case .fp32(let w):
            Gemv.applyRows(
                w, x, y, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
        case .bf16(_, let bits):
            Gemv.applyRows(
                bits, x, y, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
        case .quantized(_, let matrix, let scratch):
            matrix.apply(x, y, count: rows, accumulate: accumulate, scratch: scratch)
        }
    }

    /// Y[rows×out] (+)= X · Wᵀ for one prompt chunk (a GEMM of its own; Q8_0 and Q4_0 blocks
    /// through their tiled integer kernel where the CPU has it, the row products' bits).
    func chunkProduct(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int,
        accumulate: Bool
    ) {
        if case .quantized(_, let matrix, let scratch) = self, matrix.takesChunks {
            matrix.applyChunk(x, y, count: rows, accumulate: accumulate, scratch: scratch)
            return
        }
        Gemm.linear(x, values, y, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
    }
}

/// What generation's row products stream instead of the fp32 arena: a bf16 copy of it, or the
/// model's quantized matrices (`Transformer.quantized`, which take precedence where a matrix
/// has blocks). Resolved once per weight when a pass is built, never per product.
struct RowWeights {
    let bf16: BFloat16Buffer?
    let quantized: QuantizedWeights?
    /// The activation rows quantized per block, shared by every quantized product of the pass
    /// (its products run one after another).
    let scratch = QuantizedActivations()

    /// The storage of the matrix at `offset` in the arena whose base is `arena`.
    func storage(arena: UnsafeMutablePointer<Float>, offset: Int) -> WeightStorage {
        if let matrix = quantized?.matrix(at: offset) {
            return .quantized(values: arena + offset, matrix: matrix, scratch: scratch)
        }
        if let bf16 {
            let bits = UnsafeRawPointer(bf16.pointer).assumingMemoryBound(to: BFloat16Bits.self)
            return .bf16(values: arena + offset, bits: bits + offset)
        }
        return .fp32(arena + offset)
    }
}

/// A LoRA adapter on a linear layer: y += s·(x·Aᵀ)·Bᵀ, A (rank × in), B (out × rank). Its
/// products run in fp32 whatever the pass's precision: they are rank-sized and cheap.
struct LoRALayer {
    let a, b: UnsafeMutablePointer<Float>
    /// Gradients of A and B (nil in a forward-only pass).
    let da, db: UnsafeMutablePointer<Float>?
    let rank: Int
    let scale: Float
    /// x·Aᵀ of the forward (rows × rank), kept for the backward.
    let projected: UnsafeMutablePointer<Float>
    /// rows × rank scratch of the backward.
    let scratch: UnsafeMutablePointer<Float>?
}

/// A linear layer y = x·Wᵀ (no bias), with an optional LoRA adapter.
struct Linear {
    let weights: WeightStorage
    /// ∂L/∂W in the gradient arena; nil when the weight is frozen (LoRA) or the pass has no backward.
    let gradient: UnsafeMutablePointer<Float>?
    let inFeatures, outFeatures: Int
    let adapter: LoRALayer?

    /// y (+)= x·Wᵀ (+ the adapter's s·(x·Aᵀ)·Bᵀ).
    func forward(
        _ x: Activation, _ y: UnsafeMutablePointer<Float>, rows: Int, accumulate: Bool = false, products: Products
    ) {
        switch products {
        case .matrices(let engine):
            engine.linear(
                x.values, weights.values, y, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
                accumulate: accumulate, xBits: x.readBits)
        case .batchInvariant(let chunks, let singles):
            for chunk in chunks {
                weights.chunkProduct(
                    x.values + chunk.lowerBound * inFeatures, y + chunk.lowerBound * outFeatures, rows: chunk.count,
                    inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
            }
            if !singles.isEmpty {
                weights.rowProduct(
                    x.values + singles.lowerBound * inFeatures, y + singles.lowerBound * outFeatures,
                    rows: singles.count,
                    inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
            }
        }
        guard let lora = adapter else { return }
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: lora.rank, k: inFeatures, a: x.values, lda: inFeatures,
            b: lora.a, ldb: inFeatures, beta: 0, c: lora.projected, ldc: lora.rank)
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: outFeatures, k: lora.rank, alpha: lora.scale,
            a: lora.projected, lda: lora.rank, b: lora.b, ldb: lora.rank, beta: 1, c: y, ldc: outFeatures)
    }

    /// y0 = x·W0ᵀ, y1 = x·W1ᵀ (and y2 = x·W2ᵀ) for generation's decode rows when all the
    /// matrices are quantized alike and have no adapter: one quantization of the rows and one
    /// job of the worker team for them all (`QuantizedMatrix.applySharingInput`), the bits of
    /// separate `forward`s. False, doing nothing, otherwise (prompt chunks in the step, other
    /// weights): the caller then runs the forwards.
    static func forwardSharingInput(
        _ x: Activation, rows: Int, products: Products, _ first: Linear, _ y0: UnsafeMutablePointer<Float>,
        _ second: Linear, _ y1: UnsafeMutablePointer<Float>, _ third: Linear? = nil,
        _ y2: UnsafeMutablePointer<Float>? = nil
    ) -> Bool {
        guard case .batchInvariant(let chunks, let singles) = products, chunks.isEmpty, singles == 0..<rows,
            first.adapter == nil, second.adapter == nil, third?.adapter == nil,
            case .quantized(_, let m0, let scratch) = first.weights, case .quantized(_, let m1, _) = second.weights
        else { return false }
        var m2: QuantizedMatrix?
        if let third {
            guard case .quantized(_, let m, _) = third.weights, y2 != nil else { return false }
            m2 = m
        }
        return QuantizedMatrix.applySharingInput(
            x.values, count: rows, scratch: scratch, m0, y0, m1, y1, m2, y2)
    }

    /// Given dy = ∂L/∂y: dx (+)= dy·W, dW += dyᵀ·x (unless frozen), and the adapter's
    /// dB += s·dyᵀ·(x·Aᵀ), dA += s·uᵀ·x, dx += s·u·A with u = dy·B.
    func backward(
        _ dy: Activation, x: Activation, dx: UnsafeMutablePointer<Float>, rows: Int, accumulateInput: Bool,
        matrices: MatrixEngine
    ) {
        matrices.linearBackwardInput(
            dy.values, weights.values, dx, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
            accumulate: accumulateInput, dyBits: dy.readBits)
        if let gradient {
            matrices.linearBackwardWeight(
                dy.values, x.values, gradient, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
                dyBits: dy.readBits, xBits: x.readBits)
        }
        guard let lora = adapter, let da = lora.da, let db = lora.db, let u = lora.scratch else { return }
        let r = lora.rank
        let s = lora.scale
        Gemm.sgemm(
            transA: false, transB: false, m: rows, n: r, k: outFeatures, a: dy.values, lda: outFeatures,
            b: lora.b, ldb: r, beta: 0, c: u, ldc: r)
        Gemm.sgemm(
            transA: true, transB: false, m: outFeatures, n: r, k: rows, alpha: s, a: dy.values, lda: outFeatures,
            b: lora.projected, ldb: r, beta: 1, c: db, ldc: r)
        Gemm.sgemm(
            transA: true, transB: false, m: r, n: inFeatures, k: rows, alpha: s, a: u, lda: r,
            b: x.values, ldb: inFeatures, beta: 1, c: da, ldc: inFeatures)
        Gemm.sgemm(
            transA: false, transB: false, m: rows, n: inFeatures, k: r, alpha: s, a: u, lda: r,
            b: lora.a, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
    }
}

/// RMSNorm with a learned gain: out = x / rms(x) · w. (Gemma's (1 + w) gain is a property of
/// this value, not a second norm.)
struct Norm {
    let weight: UnsafeMutablePointer<Float>
    let gradient: UnsafeMutablePointer<Float>?
    let dim: Int
    let eps: Float

    /// Writes out (and its bf16 copy) and the per-row 1/rms the backward reads.
    func forward(_ x: UnsafePointer<Float>, _ out: Activation, rstd: UnsafeMutablePointer<Float>, rows: Int) {
        RMSNorm.forward(
            x, weight: weight, out: out.values, rstd: rstd, rows: rows, dim: dim, eps: eps, outBits: out.bits)
    }

    /// dx += ∂L/∂x, dw += ∂L/∂w given dout.
    func backward(
        _ dout: UnsafePointer<Float>, x: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>,
        rows: Int
    ) {
        RMSNorm.backward(dout: dout, x: x, weight: weight, rstd: rstd, dx: dx, dweight: gradient!, rows: rows, dim: dim)
    }
}

/// A residual connection, output = input + dropout(branch), owning its dropout mask. The mask
/// of element i is a hash of the pass's seed, i and the connection's site, so each pass and
/// each connection draws its own and the backward needs only the stored mask.
struct Residual {
    let dim: Int
    let probability: Float
    /// rows × dim: 0 or 1/(1 − p) per element; nil where the pass never drops.
    let mask: UnsafeMutablePointer<Float>?
    let site: UInt64
    /// rows × dim scratch shared by every connection of the pass.
    let branch: UnsafeMutablePointer<Float>

    func drops(_ seed: UInt64?) -> Bool { seed != nil && mask != nil && probability > 0 }

    /// Where the branch's last product writes, and whether it accumulates there: straight onto
    /// the output holding a copy of the input when nothing is dropped (in place when output is
    /// input), else into the branch scratch that `add` then masks.
    func branchTarget(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int,
        seed: UInt64?
    ) -> (pointer: UnsafeMutablePointer<Float>, accumulate: Bool) {
        guard drops(seed) else {
            if UnsafePointer(output) != input { output.update(from: input, count: rows * dim) }
            return (output, true)
        }
        return (branch, false)
    }

    /// Completes output = input + mask ⊙ branch after a dropped branch (nothing otherwise).
    func add(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, seed: UInt64?) {
        guard drops(seed), let mask, let seed else { return }
        let keep = 1 / (1 - probability)
        for i in 0..<rows * dim {
            let m: Float = RandomGenerator.hashUniform(seed: seed, UInt64(i), site, 0x5EED) < probability ? 0 : keep
            mask[i] = m
            output[i] = input[i] + branch[i] * m
        }
    }

    /// output = input + dropout(branch) when the branch's values are already in `branch` (a
    /// branch with an output norm writes them there).
    func addBranch(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, seed: UInt64?) {
        if drops(seed) {
            add(input: input, output: output, rows: rows, seed: seed)
            return
        }
        for i in 0..<rows * dim { output[i] = input[i] + branch[i] }
    }

    /// ∂L/∂branch given ∂L/∂output (which is also ∂L/∂input's share, left in place): the
    /// gradient itself, or masked into the branch scratch.
    func backward(_ dOutput: UnsafeMutablePointer<Float>, rows: Int, dropped: Bool) -> UnsafeMutablePointer<Float> {
        guard dropped, let mask, probability > 0 else { return dOutput }
        for i in 0..<rows * dim { branch[i] = dOutput[i] * mask[i] }
        return branch
    }
}
