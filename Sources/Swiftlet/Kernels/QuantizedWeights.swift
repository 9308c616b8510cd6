/// A model's matrices in one of ggml's quantized formats, for the products of decoding: what
/// `--weights q8_0` (quantized at load) or `--weights stored` (a GGUF's own blocks) gives.
///
/// The model's fp32 parameters hold the very values the blocks decode to, so every other path
/// (scoring, classification, the embedding lookup, prompt chunks through the GEMM) computes with
/// the same weights; the single-row products of decoding stream the blocks, and so do the prompt
/// chunks of Q8_0 and Q4_0 matrices on a CPU with AVX512-VNNI (tiles of 16 rows, the row
/// products' bits). A matrix whose rows are not whole blocks (or whose type has no kernel) stays
/// fp32.
public final class QuantizedWeights: @unchecked Sendable {
    /// By the matrix's offset in the parameter arena.
    let matrices: [Int: QuantizedMatrix]
    /// Bytes a decoded token reads of the matrices in products (4 per fp32 value).
    public let bytesPerToken: Int
    /// The matrices' types with their counts, for `info` and the run's first line: "Q4_0 ×43, F32 ×2".
    public let summary: String

    func matrix(at offset: Int) -> QuantizedMatrix? { matrices[offset] }

    init(model: Transformer, matrices: [Int: QuantizedMatrix]) {
        self.matrices = matrices
        var bytes = 0
        var counts: [String: Int] = [:]
        for offset in Self.productMatrices(model.layout) {
            let view = model.layout.views.first { $0.offset == offset }!
            if let m = matrices[offset] {
                bytes += m.byteCount
                counts[m.type.description, default: 0] += 1
            } else {
                bytes += 4 * view.count
                counts["F32", default: 0] += 1
            }
        }
        bytesPerToken = bytes
        summary = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) ×\($0.value)" }.joined(
            separator: ", ")
    }

    /// The offsets of the matrices a decoded token multiplies with: every layer's seven and the
    /// output head (the embedding table when tied).
    static func productMatrices(_ layout: ParameterLayout) -> [Int] {
        layout.layers.flatMap { [$0.query, $0.key, $0.value, $0.output, $0.gate, $0.up, $0.down] } + [layout.outputHead]
    }

    /// The types `--weights` quantizes to at load (ggml's reference quantizers, bit for bit).
    public static let loadTypes: [GGMLType] = [.q8_0, .q5_0, .q4_0]

    /// Quantizes every 2-D weight of `model` whose rows are whole blocks to `type` (the
    /// embedding too, as llama.cpp's files do), rounding the fp32 parameters to the values the
    /// blocks hold.
    public static func quantizing(_ model: Transformer, to type: GGMLType) -> QuantizedWeights {
        precondition(loadTypes.contains(type), "QuantizedWeights: Swiftlet does not quantize to \(type)")
        var matrices: [Int: QuantizedMatrix] = [:]
        let products = Set(productMatrices(model.layout))
        for view in model.layout.views
        where view.shape.count == 2 && QuantizedMatrix.supports(type, columns: view.shape[1]) {
            let m = QuantizedMatrix.quantizing(
                model.parameters.pointer + view.offset, rows: view.shape[0], columns: view.shape[1], type: type)
            if products.contains(view.offset) { matrices[view.offset] = m }
        }
        return QuantizedWeights(model: model, matrices: matrices)
    }
}

/// What `--weights` chooses: the weights decoding streams.
public enum WeightFormat: String, CaseIterable, Sendable {
    /// fp32 parameters as they are.
    case fp32
    /// A bf16 copy (parameters rounded to bf16 in place).
    case bf16
    /// ggml's blocks, quantized at load with ggml's reference quantizer.
    case q8_0, q5_0, q4_0
    /// A GGUF file's own quantized blocks, used as stored (no re-quantization).
    case stored

    /// `--weights`' values, for help texts and refusals.
    public static let names = allCases.map(\.rawValue).joined(separator: ", ")

    /// What a command uses when `--weights` is not given: a GGUF's quantized blocks as stored,
    /// otherwise fp32.
    public static func defaultFor(_ checkpoint: Checkpoint) -> WeightFormat {
        checkpoint.storedWeights != nil ? .stored : .fp32
    }

    var quantizedType: GGMLType? {
        switch self {
        case .q8_0: .q8_0
        case .q5_0: .q5_0
        case .q4_0: .q4_0
        default: nil
        }
    }

    /// Makes `checkpoint.model` compute with these weights: rounds or quantizes its parameters
    /// in place (`model.quantized` set for the quantized ones) and returns the precision the
    /// generation engine's options take. One sentence for a checkpoint without stored blocks.
    @discardableResult
    public func prepare(_ checkpoint: Checkpoint) throws -> Precision {
        let model = checkpoint.model
        switch self {
        case .fp32: return .fp32
        case .bf16: return .bf16
        case .stored:
            guard let stored = checkpoint.storedWeights else {
                throw SwiftletError(
                    "\(checkpoint.directory) has no quantized tensors to use as stored; give --weights fp32, bf16, q8_0, q5_0 or q4_0."
                )
            }
            model.quantized = stored.load(model)
            return .fp32
        default:
            model.quantized = QuantizedWeights.quantizing(model, to: quantizedType!)
            return .fp32
        }
    }
}
