/// Carves the flat parameter arena into named tensors, once. Names follow Hugging Face's
/// Llama layout so a checkpoint means the same thing to other tools.
public struct TensorView: Sendable, Equatable {
    public let name: String
    public let offset: Int
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }
    /// Norm gains and embeddings get no weight decay by default.
    public let isDecayed: Bool
}

public struct LayerOffsets: Sendable {
    public let attentionNorm, query, key, value, output, mlpNorm, gate, up, down: Int
}

public struct ParameterLayout: Sendable {
    public let views: [TensorView]
    public let embedding: Int
    public let layers: [LayerOffsets]
    public let finalNorm: Int
    /// The output projection: the embedding table itself when tied.
    public let outputHead: Int
    public let totalCount: Int

    public init(config c: ModelConfig) {
        var views: [TensorView] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], decayed: Bool) -> Int {
            let start = offset
            views.append(TensorView(name: name, offset: start, shape: shape, isDecayed: decayed))
            offset += shape.reduce(1, *)
            return start
        }
        embedding = add("model.embed_tokens.weight", [c.vocabSize, c.dim], decayed: false)
        var layers: [LayerOffsets] = []
        for l in 0..<c.layers {
            let p = "model.layers.\(l)."
            layers.append(LayerOffsets(
                attentionNorm: add(p + "input_layernorm.weight", [c.dim], decayed: false),
                query: add(p + "self_attn.q_proj.weight", [c.queryDim, c.dim], decayed: true),
                key: add(p + "self_attn.k_proj.weight", [c.kvDim, c.dim], decayed: true),
                value: add(p + "self_attn.v_proj.weight", [c.kvDim, c.dim], decayed: true),
                output: add(p + "self_attn.o_proj.weight", [c.dim, c.queryDim], decayed: true),
                mlpNorm: add(p + "post_attention_layernorm.weight", [c.dim], decayed: false),
                gate: add(p + "mlp.gate_proj.weight", [c.hiddenDim, c.dim], decayed: true),
                up: add(p + "mlp.up_proj.weight", [c.hiddenDim, c.dim], decayed: true),
                down: add(p + "mlp.down_proj.weight", [c.dim, c.hiddenDim], decayed: true)))
        }
        self.layers = layers
        finalNorm = add("model.norm.weight", [c.dim], decayed: false)
        outputHead = c.tiedEmbedding ? embedding : add("lm_head.weight", [c.vocabSize, c.dim], decayed: true)
        totalCount = offset
        self.views = views
    }
}
