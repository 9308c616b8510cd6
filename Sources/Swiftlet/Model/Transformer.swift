/// The model: its shape, the parameter arena and the rotary tables. Training passes and
/// inference sessions borrow it; it holds no activations.
public final class Transformer: @unchecked Sendable {
    public let config: ModelConfig
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    /// The rotary tables, one per RoPE base the layers use (Llama one; Gemma its local and its
    /// global base): `ropeTable(layer:)`.
    let ropeTables: [Float: RoPETable]
    /// Quantized blocks that decoding streams instead of these parameters (which then hold the
    /// values the blocks decode to): `WeightFormat.prepare`.
    public var quantized: QuantizedWeights?

    public init(config: ModelConfig) {
        self.config = config
        layout = ParameterLayout(config: config)
        parameters = FloatBuffer(count: layout.totalCount)
        var tables: [Float: RoPETable] = [:]
        for l in 0..<config.layers {
            let theta = config.ropeTheta(layer: l)
            if tables[theta] == nil {
                tables[theta] = RoPETable(headDim: config.headDim, maxPositions: config.contextLength, theta: theta)
            }
        }
        ropeTables = tables
    }

    /// The rotary table of a layer.
    func ropeTable(layer: Int) -> RoPETable { ropeTables[config.ropeTheta(layer: layer)]! }

    /// GPT-2 / llama2.c initialisation: N(0, 0.02) for matrices, scaled by 1/√(2·layers) for
    /// the projections that write into the residual stream; norm gains at 1.
    public func initialize(seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        let residualStd = 0.02 / Float(2 * config.layers).squareRoot()
        for view in layout.views {
            let p = parameters.pointer + view.offset
            if view.shape.count == 1 {
                p.update(repeating: 1, count: view.count)
            } else {
                let writesResidual = view.name.hasSuffix("o_proj.weight") || view.name.hasSuffix("down_proj.weight")
                let std = writesResidual ? residualStd : 0.02
                for i in 0..<view.count { p[i] = rng.normal() * std }
            }
        }
    }

    public func view(named name: String) -> TensorView? { layout.views.first { $0.name == name } }

    /// Rounds every parameter to its nearest bf16 value, in place: the model then computes
    /// with bf16 weights whichever kernel reads them (a copy for inference; never train on it).
    public func roundParametersToBFloat16() {
        let p = parameters.pointer
        for i in 0..<layout.totalCount { p[i] = BFloat16.value(BFloat16.round(p[i])) }
    }
}
