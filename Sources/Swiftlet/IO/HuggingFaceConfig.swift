/// Hugging Face's config.json keys of a `LlamaForCausalLM` or `Gemma3ForCausalLM` directory
/// (`LlamaConfig`, `Gemma3TextConfig`) to and from Swiftlet's `ModelConfig`. Whatever Swiftlet
/// cannot compute the same way — rope scaling, biases, another activation, logit softcapping,
/// another architecture — is refused in one sentence instead of being silently ignored.
public enum HuggingFaceConfig {
    public static let architecture = "LlamaForCausalLM"
    public static let gemmaArchitecture = "Gemma3ForCausalLM"
    public static let gemmaModelType = "gemma3_text"

    /// The architecture a model is written as.
    public static func architecture(of c: ModelConfig) -> String { c.gemma == nil ? architecture : gemmaArchitecture }

    /// The model shape a Hugging Face config.json describes.
    public static func modelConfig(_ json: JSONValue, path: String) throws -> ModelConfig {
        guard let keys = json.object else { throw SwiftletError("\(path) is not a JSON object.") }
        let architectures = keys["architectures"]?.array?.compactMap(\.string) ?? []
        let modelType = keys["model_type"]?.string
        let isGemma = modelType == gemmaModelType || architectures.contains(gemmaArchitecture)
        guard isGemma || modelType == "llama" || architectures.contains(architecture) else {
            let named = architectures.first ?? modelType ?? "no architecture"
            throw SwiftletError(
                "\(path) describes \(named); Swiftlet runs Llama (LlamaForCausalLM) and Gemma 3 (Gemma3ForCausalLM) models only."
            )
        }
        let expected = isGemma ? gemmaArchitecture : architecture
        if let other = architectures.first(where: { $0 != expected }) {
            throw SwiftletError(
                "\(path) describes \(other); Swiftlet runs Llama (LlamaForCausalLM) and Gemma 3 (Gemma3ForCausalLM) models only."
            )
        }
        func integer(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = keys[key], !v.isNull {
                guard let n = v.integer, n > 0 else {
                    throw SwiftletError("\(path): \(key) must be a positive whole number.")
                }
                return n
            }
            guard let value else { throw SwiftletError("\(path) has no \(key).") }
            return value
        }
        func number(_ key: String, default value: Double) throws -> Double {
            guard let v = keys[key], !v.isNull else { return value }
            guard let n = v.number, n.isFinite, n > 0 else {
                throw SwiftletError("\(path): \(key) must be a positive number.")
            }
            return n
        }
        if isGemma {
            // Gemma 3 names its activation hidden_activation (hidden_act is an older spelling).
            for key in ["hidden_activation", "hidden_act"] {
                if let act = keys[key]?.string, act != "gelu_pytorch_tanh" {
                    throw SwiftletError(
                        "\(path) uses the activation \(act); Swiftlet's Gemma 3 uses GELU-tanh (gelu_pytorch_tanh) only."
                    )
                }
            }
            for key in ["attn_logit_softcapping", "final_logit_softcapping"] where !(keys[key]?.isNull ?? true) {
                throw SwiftletError("\(path) caps its logits (\(key)), which Swiftlet does not do.")
            }
            if keys["use_bidirectional_attention"]?.bool == true {
                throw SwiftletError(
                    "\(path) sets use_bidirectional_attention; Swiftlet's Gemma 3 is a causal language model.")
            }
        } else if let act = keys["hidden_act"]?.string, act != "silu" {
            throw SwiftletError("\(path) uses the activation \(act); Swiftlet's Llama uses SiLU (SwiGLU) only.")
        }
        for key in ["attention_bias", "mlp_bias"] where keys[key]?.bool == true {
            throw SwiftletError("\(path) sets \(key); Swiftlet's Llama has no biases.")
        }
        var ropeTheta = try number("rope_theta", default: isGemma ? 1_000_000 : 10_000)
        // transformers 5 moved rope settings into `rope_parameters`; 4.x has `rope_scaling`.
        for key in ["rope_scaling", "rope_parameters"] {
            guard let rope = keys[key], !rope.isNull else { continue }
            let kind = rope["rope_type"]?.string ?? rope["type"]?.string ?? "default"
            guard kind == "default" else {
                throw SwiftletError("\(path) uses \(kind) rope scaling; Swiftlet supports plain RoPE only.")
            }
            if let theta = rope["rope_theta"]?.number { ropeTheta = theta }
        }
        // save_pretrained leaves out every value that equals the config class's default, so a
        // missing Gemma 3 key means Gemma3TextConfig's default (a missing Llama shape is refused).
        func gemmaDefault(_ value: Int) -> Int? { isGemma ? value : nil }
        let dim = try integer("hidden_size", default: gemmaDefault(2304)),
            heads = try integer("num_attention_heads", default: gemmaDefault(8))
        let headDim = try integer("head_dim", default: isGemma ? 256 : dim % heads == 0 ? dim / heads : nil)
        var config = ModelConfig(
            dim: dim, layers: try integer("num_hidden_layers", default: gemmaDefault(26)), heads: heads,
            kvHeads: try integer("num_key_value_heads", default: isGemma ? 4 : heads),
            hiddenDim: try integer("intermediate_size", default: gemmaDefault(9216)),
            vocabSize: try integer("vocab_size", default: gemmaDefault(262_208)),
            contextLength: try integer("max_position_embeddings", default: isGemma ? 131_072 : 2048),
            tiedEmbedding: keys["tie_word_embeddings"]?.bool ?? isGemma)
        config.normEpsilon = Float(try number("rms_norm_eps", default: 1e-6))
        config.ropeTheta = Float(ropeTheta)
        if headDim * heads != dim { config.headDimension = headDim }
        if isGemma { config.gemma = try gemmaOptions(keys, layers: config.layers, headDim: headDim, path: path) }
        do { try config.validate() } catch let error as SwiftletError {
            throw SwiftletError("\(path): \(error.message)")
        }
        return config
    }

    /// Gemma 3's own keys: the sliding window, which layers are local (`layer_types`, or the
    /// older `sliding_window_pattern`: every Nth layer global), the local RoPE base and the
    /// query scale. Swiftlet's layers follow one interval; any other pattern is refused.
    static func gemmaOptions(
        _ keys: [String: JSONValue], layers: Int, headDim: Int, path: String
    ) throws -> ModelConfig.GemmaOptions {
        var options = ModelConfig.GemmaOptions(
            slidingWindow: 4096, globalInterval: 6, localRopeTheta: 10_000, queryPreAttentionScalar: 256)
        if let v = keys["sliding_window"], !v.isNull {
            guard let n = v.integer, n > 0 else {
                throw SwiftletError("\(path): sliding_window must be a positive whole number.")
            }
            options.slidingWindow = n
        }
        if let v = keys["rope_local_base_freq"], !v.isNull {
            guard let n = v.number, n.isFinite, n > 0 else {
                throw SwiftletError("\(path): rope_local_base_freq must be a positive number.")
            }
            options.localRopeTheta = Float(n)
        }
        if let v = keys["query_pre_attn_scalar"], !v.isNull {
            guard let n = v.number, n.isFinite, n > 0 else {
                throw SwiftletError("\(path): query_pre_attn_scalar must be a positive number.")
            }
            options.queryPreAttentionScalar = Float(n)
        }
        for key in ["sliding_window_pattern", "_sliding_window_pattern"] {
            guard let v = keys[key], !v.isNull else { continue }
            guard let n = v.integer, n > 0 else {
                throw SwiftletError("\(path): \(key) must be a positive whole number.")
            }
            options.globalInterval = n
        }
        if let types = keys["layer_types"], !types.isNull {
            let names = types.array?.compactMap(\.string) ?? []
            guard names.count == layers, names.allSatisfy({ $0 == "sliding_attention" || $0 == "full_attention" })
            else {
                throw SwiftletError(
                    "\(path): layer_types must name sliding_attention or full_attention for each of the \(layers) layers."
                )
            }
            // The interval is where the first global layer is (the stated pattern when no layer
            // is global); every layer must then follow it.
            let interval =
                names.firstIndex(of: "full_attention").map { $0 + 1 } ?? max(options.globalInterval, layers + 1)
            let follows = names.indices.allSatisfy { (names[$0] == "full_attention") == (($0 + 1) % interval == 0) }
            guard follows else {
                throw SwiftletError(
                    "\(path): layer_types puts global layers at irregular places; Swiftlet's Gemma 3 makes every Nth layer global."
                )
            }
            options.globalInterval = interval
        }
        return options
    }

    /// The names of each layer's attention, as `Gemma3TextConfig.layer_types` lists them.
    static func layerTypes(_ c: ModelConfig) -> JSONValue {
        .array((0..<c.layers).map { .string(c.isGlobal(layer: $0) ? "full_attention" : "sliding_attention") })
    }

    /// The config.json keys for a model: `Gemma3TextConfig`'s for Gemma 3, `LlamaConfig`'s otherwise.
    public static func keys(
        for c: ModelConfig, bosID: Int32, eosID: Int32, padID: Int32 = -1, dtype: String = "float32"
    ) -> [String: JSONValue] {
        let shared = sharedKeys(for: c, bosID: bosID, eosID: eosID, dtype: dtype)
        guard let gemma = c.gemma else {
            // What transformers needs to build LlamaForCausalLM.
            return shared.merging(
                [
                    "architectures": .array([.string(architecture)]),
                    "model_type": .string("llama"),
                    "hidden_act": .string("silu"),
                    "mlp_bias": .bool(false),
                    "pretraining_tp": .number(1),
                ], uniquingKeysWith: { $1 })
        }
        return shared.merging(
            [
                "architectures": .array([.string(gemmaArchitecture)]),
                "model_type": .string(gemmaModelType),
                "rope_local_base_freq": .float(gemma.localRopeTheta),
                "sliding_window": .number(Double(gemma.slidingWindow)),
                "sliding_window_pattern": .number(Double(gemma.globalInterval)),
                "layer_types": layerTypes(c),
                "query_pre_attn_scalar": .float(gemma.queryPreAttentionScalar),
                "hidden_activation": .string("gelu_pytorch_tanh"),
                "attn_logit_softcapping": .null,
                "final_logit_softcapping": .null,
                "use_bidirectional_attention": .bool(false),
                "pad_token_id": padID >= 0 ? .number(Double(padID)) : .null,
            ], uniquingKeysWith: { $1 })
    }

    /// The keys Llama's and Gemma 3's configs share: the shape, the norm, RoPE, the special ids.
    static func sharedKeys(for c: ModelConfig, bosID: Int32, eosID: Int32, dtype: String) -> [String: JSONValue] {
        [
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
            "attention_bias": .bool(false),
            "attention_dropout": .number(0),
            "initializer_range": .number(0.02),
            "use_cache": .bool(true),
            "bos_token_id": bosID >= 0 ? .number(Double(bosID)) : .null,
            "eos_token_id": eosID >= 0 ? .number(Double(eosID)) : .null,
            "torch_dtype": .string(dtype),
        ]
    }
}
