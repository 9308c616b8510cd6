/// Hugging Face's `LlamaConfig` keys (config.json of a `LlamaForCausalLM` directory) to and
/// from Swiftlet's `ModelConfig`. Whatever Swiftlet cannot compute the same way — rope scaling,
/// biases, another activation, another architecture — is refused in one sentence instead of
/// being silently ignored.
public enum HuggingFaceConfig {
    public static let architecture = "LlamaForCausalLM"

    /// The model shape a Hugging Face config.json describes.
    public static func modelConfig(_ json: JSONValue, path: String) throws -> ModelConfig {
        guard let keys = json.object else { throw SwiftletError("\(path) is not a JSON object.") }
        let architectures = keys["architectures"]?.array?.compactMap(\.string) ?? []
        let modelType = keys["model_type"]?.string
        guard modelType == "llama" || architectures.contains(architecture) else {
            let named = architectures.first ?? modelType ?? "no architecture"
            throw SwiftletError("\(path) describes \(named); Swiftlet runs Llama models (LlamaForCausalLM) only.")
        }
        if let other = architectures.first(where: { $0 != architecture }) {
            throw SwiftletError("\(path) describes \(other); Swiftlet runs Llama models (LlamaForCausalLM) only.")
        }
        func integer(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = keys[key], !v.isNull {
                guard let n = v.integer, n > 0 else { throw SwiftletError("\(path): \(key) must be a positive whole number.") }
                return n
            }
            guard let value else { throw SwiftletError("\(path) has no \(key).") }
            return value
        }
        func number(_ key: String, default value: Double) throws -> Double {
            guard let v = keys[key], !v.isNull else { return value }
            guard let n = v.number, n.isFinite, n > 0 else { throw SwiftletError("\(path): \(key) must be a positive number.") }
            return n
        }
        if let act = keys["hidden_act"]?.string, act != "silu" {
            throw SwiftletError("\(path) uses the activation \(act); Swiftlet's Llama uses SiLU (SwiGLU) only.")
        }
        for key in ["attention_bias", "mlp_bias"] where keys[key]?.bool == true {
            throw SwiftletError("\(path) sets \(key); Swiftlet's Llama has no biases.")
        }
        var ropeTheta = try number("rope_theta", default: 10_000)
        // transformers 5 moved rope settings into `rope_parameters`; 4.x has `rope_scaling`.
        for key in ["rope_scaling", "rope_parameters"] {
            guard let rope = keys[key], !rope.isNull else { continue }
            let kind = rope["rope_type"]?.string ?? rope["type"]?.string ?? "default"
            guard kind == "default" else {
                throw SwiftletError("\(path) uses \(kind) rope scaling; Swiftlet supports plain RoPE only.")
            }
            if let theta = rope["rope_theta"]?.number { ropeTheta = theta }
        }
        let dim = try integer("hidden_size"), heads = try integer("num_attention_heads")
        let headDim = try integer("head_dim", default: dim % heads == 0 ? dim / heads : nil)
        var config = ModelConfig(dim: dim, layers: try integer("num_hidden_layers"), heads: heads,
                                 kvHeads: try integer("num_key_value_heads", default: heads),
                                 hiddenDim: try integer("intermediate_size"), vocabSize: try integer("vocab_size"),
                                 contextLength: try integer("max_position_embeddings", default: 2048),
                                 tiedEmbedding: keys["tie_word_embeddings"]?.bool ?? false)
        config.normEpsilon = Float(try number("rms_norm_eps", default: 1e-6))
        config.ropeTheta = Float(ropeTheta)
        if headDim * heads != dim { config.headDimension = headDim }
        do { try config.validate() } catch let error as SwiftletError {
            throw SwiftletError("\(path): \(error.message)")
        }
        return config
    }

    /// The `LlamaConfig` keys for a model (what transformers needs to build LlamaForCausalLM).
    public static func keys(for c: ModelConfig, bosID: Int32, eosID: Int32, dtype: String = "float32") -> [String: JSONValue] {
        [
            "architectures": .array([.string(architecture)]),
            "model_type": .string("llama"),
            "hidden_size": .number(Double(c.dim)),
            "intermediate_size": .number(Double(c.hiddenDim)),
            "num_hidden_layers": .number(Double(c.layers)),
            "num_attention_heads": .number(Double(c.heads)),
            "num_key_value_heads": .number(Double(c.kvHeads)),
            "head_dim": .number(Double(c.headDim)),
            "vocab_size": .number(Double(c.vocabSize)),
            "max_position_embeddings": .number(Double(c.contextLength)),
            "rms_norm_eps": .float(c.normEpsilon),
            "rope_theta": .float(c.ropeTheta),
            "rope_scaling": .null,
            "tie_word_embeddings": .bool(c.tiedEmbedding),
            "hidden_act": .string("silu"),
            "attention_bias": .bool(false),
            "mlp_bias": .bool(false),
            "attention_dropout": .number(0),
            "initializer_range": .number(0.02),
            "pretraining_tp": .number(1),
            "use_cache": .bool(true),
            "bos_token_id": bosID >= 0 ? .number(Double(bosID)) : .null,
            "eos_token_id": eosID >= 0 ? .number(Double(eosID)) : .null,
            "torch_dtype": .string(dtype),
        ]
    }
}
