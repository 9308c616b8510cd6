/// A GGUF's quantized matrices, kept in the file's mapping until a command asks to decode with
/// them as stored (`--weights stored`, the default for such a file).
public struct StoredWeights: @unchecked Sendable {
    /// Each matrix's type, by its offset in the parameter arena.
    public let types: [Int: GGMLType]
    let pack: (Transformer) -> QuantizedWeights

    /// Packs the blocks for the kernels (the file's bytes, repacked, no re-quantization).
    public func load(_ model: Transformer) -> QuantizedWeights { pack(model) }
}

extension WeightFormat {
    /// Bytes a decoded token reads of the weight matrices (4 per fp32 value, 2 per bf16, a
    /// block's bytes per block), for `info`.
    public func bytesPerToken(_ checkpoint: Checkpoint) -> Int? {
        let layout = checkpoint.model.layout
        var bytes = 0
        for offset in QuantizedWeights.productMatrices(layout) {
            guard let view = layout.views.first(where: { $0.offset == offset }) else { continue }
            let type: GGMLType?
            switch self {
            case .fp32: type = .f32
            case .bf16: type = .bf16
            case .stored:
                guard let stored = checkpoint.storedWeights else { return nil }
                type = stored.types[offset] ?? .f32
            default: type = QuantizedMatrix.supports(quantizedType!, columns: view.shape[1]) ? quantizedType! : .f32
            }
            bytes += QuantizedMatrix.streamedBytes(type ?? .f32, rows: view.shape[0], columns: view.shape[1])
        }
        return bytes
    }
}
