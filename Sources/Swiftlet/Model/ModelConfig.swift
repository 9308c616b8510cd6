/// A Llama-style decoder's shape. Codable: it is the `model` part of a checkpoint's config.json.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var dim: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var hiddenDim: Int
    public var vocabSize: Int
    public var contextLength: Int
    public var normEpsilon: Float = 1e-5
    public var ropeTheta: Float = 10_000
    public var tiedEmbedding: Bool = true
    public var dropout: Float = 0
    /// The width of one attention head when it is not dim / heads (Hugging Face's `head_dim`);
    /// queries are then heads × headDim wide, and the output projection maps that back to dim.
    public var headDimension: Int? = nil
    /// Gemma 3's block instead of Llama's (nil: Llama). What differs is described, not assumed:
    /// see `GemmaOptions`.
    public var gemma: GemmaOptions? = nil

    /// What Gemma 3 adds to the Llama block: RMSNorm on each query and key head, norms after the
    /// attention and feed-forward branches as well as before (their gains hold 1 + w, as
    /// llama.cpp's files store them), a GELU-tanh gated feed-forward, the embedding scaled by
    /// √dim, a query scale of its own, and local layers that attend to a sliding window of the
    /// last `slidingWindow` positions with their own RoPE base, every `globalInterval`-th layer
    /// global (layers 5, 11, 17 of 18 for interval 6).
    public struct GemmaOptions: Codable, Equatable, Sendable {
        public var slidingWindow: Int
        public var globalInterval: Int
        public var localRopeTheta: Float
        /// Scores are q·k / √queryPreAttentionScalar (Hugging Face's `query_pre_attn_scalar`).
        public var queryPreAttentionScalar: Float

        public init(
            slidingWindow: Int = 512, globalInterval: Int = 6, localRopeTheta: Float = 10_000,
            queryPreAttentionScalar: Float = 256
        ) {
            self.slidingWindow = slidingWindow
            self.globalInterval = globalInterval
            self.localRopeTheta = localRopeTheta
            self.queryPreAttentionScalar = queryPreAttentionScalar
        }
    }

    public init(
        dim: Int, layers: Int, heads: Int, kvHeads: Int? = nil, hiddenDim: Int? = nil, vocabSize: Int,
        contextLength: Int, tiedEmbedding: Bool = true, dropout: Float = 0
    ) {
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.hiddenDim = hiddenDim ?? ModelConfig.defaultHiddenDim(dim: dim)
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.tiedEmbedding = tiedEmbedding
        self.dropout = dropout
    }

    public var headDim: Int { headDimension ?? dim / heads }
    /// Width of the queries and of the attention output (dim unless the head size is explicit).
    public var queryDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }

    /// Whether a layer attends to every earlier position (Llama's layers, Gemma's global ones).
    public func isGlobal(layer: Int) -> Bool {
        guard let gemma else { return true }
        return (layer + 1) % gemma.globalInterval == 0
    }

    /// How many of the latest positions (itself included) a layer's rows attend to; nil: all.
    public func attentionWindow(layer: Int) -> Int? {
        isGlobal(layer: layer) ? nil : gemma?.slidingWindow
    }

    /// The RoPE base of a layer.
    public func ropeTheta(layer: Int) -> Float {
        isGlobal(layer: layer) ? ropeTheta : gemma?.localRopeTheta ?? ropeTheta
    }

    /// What attention scores are multiplied by: 1/√headDim, or Gemma's own scale.
    public var queryScale: Float {
        1 / (gemma?.queryPreAttentionScalar ?? Float(headDim)).squareRoot()
    }

    /// What the embedding rows are multiplied by before the first block (Gemma: √dim).
    public var embeddingScale: Float { gemma == nil ? 1 : Float(dim).squareRoot() }

    /// llama2.c's rule: 2/3 of 4·dim, rounded up to a multiple of 32 (768 for dim 288).
    public static func defaultHiddenDim(dim: Int) -> Int {
        let raw = 2 * (4 * dim) / 3
        return (raw + 31) / 32 * 32
    }

    /// Checks the shape makes sense; the reason is a sentence for the user.
    public func validate() throws {
        guard dim > 0, layers > 0, heads > 0, kvHeads > 0, vocabSize > 0, contextLength > 0, hiddenDim > 0 else {
            throw SwiftletError("every model dimension must be positive.")
        }
        if let headDimension {
            guard headDimension > 0, headDimension <= 1024 else {
                throw SwiftletError("the head size \(headDimension) must be between 1 and 1024.")
            }
        } else {
            guard dim % heads == 0 else { throw SwiftletError("dim \(dim) is not a multiple of heads \(heads).") }
        }
        guard heads % kvHeads == 0 else {
            throw SwiftletError("heads \(heads) is not a multiple of kv-heads \(kvHeads).")
        }
        guard headDim % 2 == 0 else {
            throw SwiftletError("the head size \(headDim) must be even for rotary embeddings.")
        }
        guard dropout >= 0, dropout < 1 else { throw SwiftletError("dropout must be in [0, 1).") }
        if let gemma {
            guard gemma.slidingWindow > 0, gemma.globalInterval > 0 else {
                throw SwiftletError("the sliding window and the interval of global layers must be positive.")
            }
            guard gemma.localRopeTheta.isFinite, gemma.localRopeTheta > 0, gemma.queryPreAttentionScalar.isFinite,
                gemma.queryPreAttentionScalar > 0
            else {
                throw SwiftletError("the local RoPE base and the query scale must be positive numbers.")
            }
        }
        guard dim <= 16384, layers <= 256, heads <= 1024, hiddenDim <= 65536, vocabSize <= 1 << 20,
            contextLength <= 1 << 17
        else {
            throw SwiftletError(
                "that model shape is beyond what Swiftlet supports (dim ≤ 16384, context ≤ 131072, vocabulary ≤ 1,048,576)."
            )
        }
    }

    public var parameterCount: Int { ParameterLayout(config: self).totalCount }

    /// Parameters excluding the embedding table (the usual "non-embedding" count); an untied
    /// output head is counted, since every token multiplies through it.
    public var nonEmbeddingParameterCount: Int { parameterCount - vocabSize * dim }

    /// Training FLOPs per token: 6 · N (forward and backward of every weight, the output
    /// projection included) + 12 · layers · dim · context (attention scores and values).
    public var trainingFLOPsPerToken: Double {
        let matmulParameters = nonEmbeddingParameterCount + (tiedEmbedding ? vocabSize * dim : 0)
        return 6 * Double(matmulParameters) + 12 * Double(layers * dim * contextLength)
    }
}

/// Named model shapes. `small` is llama2.c's 15M model.
public enum ModelPreset: String, CaseIterable, Sendable {
    case tiny, small, medium, base

    public func config(vocabSize: Int) -> ModelConfig {
        switch self {
        case .tiny: ModelConfig(dim: 64, layers: 2, heads: 4, kvHeads: 2, vocabSize: vocabSize, contextLength: 128)
        case .small: ModelConfig(dim: 288, layers: 6, heads: 6, vocabSize: vocabSize, contextLength: 256)
        case .medium: ModelConfig(dim: 512, layers: 8, heads: 8, vocabSize: vocabSize, contextLength: 512)
        case .base: ModelConfig(dim: 640, layers: 10, heads: 10, vocabSize: vocabSize, contextLength: 512)
        }
    }

    /// The tokenizer size a preset gets when training trains one.
    public var defaultVocabSize: Int {
        switch self {
        case .tiny: 512
        case .small, .medium: 4096
        case .base: 8192
        }
    }
}

extension ModelConfig {
    /// This shape with a command line's overrides, each checked (the messages name the option).
    public func overriding(contextLength: Int?, kvHeads: Int?, dropout: Float?) throws -> ModelConfig {
        var config = self
        if let contextLength {
            guard (2...(1 << 17)).contains(contextLength) else {
                throw SwiftletError("--context must be between 2 and 131,072.")
            }
            config.contextLength = contextLength
        }
        if let kvHeads {
            guard (1...1024).contains(kvHeads) else { throw SwiftletError("--kv-heads must be between 1 and 1024.") }
            config.kvHeads = kvHeads
        }
        if let dropout {
            guard dropout >= 0, dropout < 1 else { throw SwiftletError("--dropout must be in [0, 1).") }
            config.dropout = dropout
        }
        try config.validate()
        return config
    }
}
