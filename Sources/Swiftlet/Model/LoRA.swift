/// Which linear layers get low-rank adapters.
public enum LoRATarget: String, Codable, CaseIterable, Sendable {
    case q, k, v, o, gate, up, down

    /// Hugging Face's module name, for tensor names like PEFT's.
    var module: String {
        switch self {
        case .q: "self_attn.q_proj"
        case .k: "self_attn.k_proj"
        case .v: "self_attn.v_proj"
        case .o: "self_attn.o_proj"
        case .gate: "mlp.gate_proj"
        case .up: "mlp.up_proj"
        case .down: "mlp.down_proj"
        }
    }
}

/// The shape of a set of adapters; saved as adapter.json beside adapter.safetensors.
public struct LoRAConfig: Codable, Sendable, Equatable {
    public var rank: Int
    public var alpha: Float
    public var targets: [LoRATarget]

    public init(rank: Int, alpha: Float? = nil, targets: [LoRATarget] = LoRATarget.allCases) {
        self.rank = rank
        self.alpha = alpha ?? Float(2 * rank)
        self.targets = targets
    }

    /// The adapters' output is scaled by alpha / rank, so changing the rank keeps the step size.
    public var scale: Float { alpha / Float(rank) }

    public func validate() throws {
        guard rank > 0, rank <= 1024 else { throw SwiftletError("--lora-rank must be between 1 and 1024.") }
        guard alpha > 0, alpha.isFinite else { throw SwiftletError("--lora-alpha must be positive.") }
        guard !targets.isEmpty else { throw SwiftletError("--lora-targets names no layer.") }
        guard Set(targets).count == targets.count else { throw SwiftletError("--lora-targets names a layer twice.") }
    }

    /// A and B of every target in every layer: rank × (in + out) each.
    public func parameterCount(_ c: ModelConfig) -> Int {
        let perLayer = targets.reduce(0) { sum, target in
            switch target {
            case .q, .o: sum + 2 * c.dim
            case .k, .v: sum + c.dim + c.kvDim
            case .gate, .up, .down: sum + c.dim + c.hiddenDim
            }
        }
        return rank * perLayer * c.layers
    }
}

/// LoRA (Hu et al., 2021): a frozen weight W (out × in) gains a trainable low-rank update,
/// y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with A (rank × in) and B (out × rank), B starting at zero so training
/// starts from the base model exactly. All A and B live in one arena with its own layout, so
/// the optimizer and checkpoint code treat them like any parameters.
public final class LoRAAdapters: @unchecked Sendable {
    public let config: LoRAConfig
    public let model: ModelConfig
    public let views: [TensorView]
    public let parameters: FloatBuffer
    /// offsets[layer][target] of A and B, with the layer's in/out features.
    public struct Pair: Sendable {
        public let a, b, inFeatures, outFeatures: Int
    }
    public let pairs: [[LoRATarget: Pair]]

    public init(config: LoRAConfig, model c: ModelConfig) {
        self.config = config
        model = c
        var views: [TensorView] = [], pairs: [[LoRATarget: Pair]] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            views.append(TensorView(name: name, offset: offset, shape: shape, isDecayed: false))
            offset += shape.reduce(1, *)
            return offset - shape.reduce(1, *)
        }
        for l in 0..<c.layers {
            var layer: [LoRATarget: Pair] = [:]
            for target in LoRATarget.allCases where config.targets.contains(target) {
                let (inFeatures, outFeatures) = Self.features(target, c)
                let name = "model.layers.\(l).\(target.module)"
                let a = add(name + ".lora_A.weight", [config.rank, inFeatures])
                let b = add(name + ".lora_B.weight", [outFeatures, config.rank])
                layer[target] = Pair(a: a, b: b, inFeatures: inFeatures, outFeatures: outFeatures)
            }
            pairs.append(layer)
        }
        self.views = views
        self.pairs = pairs
        parameters = FloatBuffer(count: offset)
    }

    static func features(_ target: LoRATarget, _ c: ModelConfig) -> (inFeatures: Int, outFeatures: Int) {
        switch target {
        case .q: (c.dim, c.queryDim)
        case .o: (c.queryDim, c.dim)
        case .k, .v: (c.dim, c.kvDim)
        case .gate, .up: (c.dim, c.hiddenDim)
        case .down: (c.hiddenDim, c.dim)
        }
    }

    /// A ~ N(0, 1/in) (the base layer's own scale), B = 0.
    public func initialize(seed: UInt64) {
        var rng = RandomGenerator(seed: seed ^ 0x10_4A)
        parameters.zero()
        for layer in pairs {
            for target in LoRATarget.allCases {
                guard let pair = layer[target] else { continue }
                let std = 1 / Float(pair.inFeatures).squareRoot()
                for i in 0..<config.rank * pair.inFeatures { parameters[pair.a + i] = rng.normal() * std }
            }
        }
    }

    /// The base weight offset that pair (layer, target) adapts.
    static func weightOffset(_ target: LoRATarget, _ o: LayerOffsets) -> Int {
        switch target {
        case .q: o.query
        case .k: o.key
        case .v: o.value
        case .o: o.output
        case .gate: o.gate
        case .up: o.up
        case .down: o.down
        }
    }

    /// W += s·B·A for every adapted layer: the merged model computes exactly what base + adapters do.
    public func merge(into transformer: Transformer) {
        let w = transformer.parameters.pointer
        for (l, layer) in pairs.enumerated() {
            for (target, pair) in layer {
                let weight = w + Self.weightOffset(target, transformer.layout.layers[l])
                Gemm.sgemm(
                    transA: false, transB: false, m: pair.outFeatures, n: pair.inFeatures, k: config.rank,
                    alpha: config.scale, a: parameters.pointer + pair.b, lda: config.rank,
                    b: parameters.pointer + pair.a, ldb: pair.inFeatures, beta: 1, c: weight, ldc: pair.inFeatures)
            }
        }
    }
}
