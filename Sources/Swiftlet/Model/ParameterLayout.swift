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
    /// Gemma 3's extra norms: on each query and key head (headDim gains), and after the
    /// attention and feed-forward branches (dim gains); nil in a Llama block.
    public var queryNorm, keyNorm, attentionOutputNorm, mlpOutputNorm: Int?
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
            if c.gemma != nil {
                // Hugging Face's Gemma 3 names, in its order: its post_attention_layernorm is the
                // norm after the attention branch, pre_feedforward_layernorm the one before the MLP.
                let attentionNorm = add(p + "input_layernorm.weight", [c.dim], decayed: false)
                let query = add(p + "self_attn.q_proj.weight", [c.queryDim, c.dim], decayed: true)
                let key = add(p + "self_attn.k_proj.weight", [c.kvDim, c.dim], decayed: true)
                let value = add(p + "self_attn.v_proj.weight", [c.kvDim, c.dim], decayed: true)
                let output = add(p + "self_attn.o_proj.weight", [c.dim, c.queryDim], decayed: true)
                let queryNorm = add(p + "self_attn.q_norm.weight", [c.headDim], decayed: false)
                let keyNorm = add(p + "self_attn.k_norm.weight", [c.headDim], decayed: false)
                let attentionOutputNorm = add(p + "post_attention_layernorm.weight", [c.dim], decayed: false)
                let mlpNorm = add(p + "pre_feedforward_layernorm.weight", [c.dim], decayed: false)
                let gate = add(p + "mlp.gate_proj.weight", [c.hiddenDim, c.dim], decayed: true)
                let up = add(p + "mlp.up_proj.weight", [c.hiddenDim, c.dim], decayed: true)
                let down = add(p + "mlp.down_proj.weight", [c.dim, c.hiddenDim], decayed: true)
                let mlpOutputNorm = add(p + "post_feedforward_layernorm.weight", [c.dim], decayed: false)
                layers.append(
                    LayerOffsets(
                        attentionNorm: attentionNorm, query: query, key: key, value: value, output: output,
                        mlpNorm: mlpNorm, gate: gate, up: up, down: down, queryNorm: queryNorm, keyNorm: keyNorm,
                        attentionOutputNorm: attentionOutputNorm, mlpOutputNorm: mlpOutputNorm))
                continue
            }
            layers.append(
                LayerOffsets(
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
