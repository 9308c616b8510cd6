import XCTest
@testable import Swiftlet

/// A Gemma 3 model as a Hugging Face directory (Gemma3ForCausalLM's config.json, its tensor
/// names, its norm convention w where the scale is 1 + w) and back: the same weights bit for bit
/// and the same ModelConfig. transformers' side of it is checked by scripts/interop.py.
final class GemmaCheckpointTests: XCTestCase {
    /// Shaped as the 270M: heads × headDim ≠ dim, one KV head, a window shorter than the context.
    static let config: ModelConfig = {
        var c = ModelConfig(dim: 32, layers: 4, heads: 2, kvHeads: 1, hiddenDim: 48, vocabSize: 418, contextLength: 24)
        c.headDimension = 24
        c.normEpsilon = 1e-6
        c.ropeTheta = 1_000_000
        c.gemma = ModelConfig.GemmaOptions(
            slidingWindow: 4, globalInterval: 2, localRopeTheta: 10_000, queryPreAttentionScalar: 24)
        return c
    }()

    static func tokenizer() throws -> Tokenizer {
        try GGUFModel.tokenizer(GemmaTokenizerTests.fixtures + "/vocab-gemma-style.gguf")
    }

    /// Random weights whose norm gains spread as a trained model's do (around 1, some far).
    static func model() -> Transformer {
        let model = Transformer(config: config)
        model.initialize(seed: 5)
        var rng = RandomGenerator(seed: 6)
        for i in 0..<model.parameters.count { model.parameters[i] += rng.normal() * 0.05 }
        for view in model.layout.views where view.shape.count == 1 {
            for i in 0..<view.count {
                model.parameters[view.offset + i] = 1 + rng.normal() * 0.4 + (i % 7 == 0 ? 3 : 0)
            }
        }
        return model
    }

    func testAGemmaDirectoryRoundTripsBitForBit() throws {
        let tokenizer = try Self.tokenizer()
        XCTAssertTrue(HuggingFaceDirectory.isGemmaVocabulary(tokenizer))
        let model = Self.model()
        let dir = TestData.temporaryDirectory("gemma-hf") + "/model"
        let config = CheckpointConfig(
            model: Self.config, tokenizer: TokenizerFacts(tokenizer), training: ["name": "tiny"], chat: .gemma)
        try CheckpointStore.write(CheckpointContents(config: config, model: model, tokenizer: tokenizer), to: dir)

        let json = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(dir + "/config.json")))
        XCTAssertEqual(json["architectures"], .array([.string("Gemma3ForCausalLM")]))
        XCTAssertEqual(json["model_type"]?.string, "gemma3_text")
        XCTAssertEqual(json["head_dim"]?.integer, 24)
        XCTAssertEqual(json["hidden_activation"]?.string, "gelu_pytorch_tanh")
        XCTAssertEqual(json["sliding_window"]?.integer, 4)
        XCTAssertEqual(json["rope_local_base_freq"]?.number, 10_000)
        XCTAssertEqual(json["query_pre_attn_scalar"]?.number, 24)
        XCTAssertEqual(
            json["layer_types"]?.array?.compactMap(\.string),
            ["sliding_attention", "full_attention", "sliding_attention", "full_attention"])
        XCTAssertEqual(json["final_logit_softcapping"], .null)
        XCTAssertEqual(json["pad_token_id"]?.integer, 0)
        let tokenizerConfig = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(dir + "/tokenizer_config.json")))
        XCTAssertEqual(tokenizerConfig["tokenizer_class"]?.string, "GemmaTokenizer")
        XCTAssertEqual(tokenizerConfig["add_bos_token"]?.bool, true)
        XCTAssertEqual(tokenizerConfig["pad_token"]?.string, "<pad>")
        XCTAssertEqual(
            tokenizerConfig["additional_special_tokens"],
            .array([.string("<start_of_turn>"), .string("<end_of_turn>")]))
        // Runs of whitespace are added tokens matched after the normalizer (as SentencePiece
        // matches them); the turn markers are special.
        let added = try XCTUnwrap(tokenizerConfig["added_tokens_decoder"])
        let spaces = added[String(tokenizer.id(ofPiece: "\u{2581}\u{2581}"))]
        XCTAssertEqual(spaces?["normalized"]?.bool, true)
        XCTAssertEqual(spaces?["special"]?.bool, false)
        XCTAssertEqual(added[String(tokenizer.id(ofPiece: GemmaPieces.endOfTurn))]?["special"]?.bool, true)

        // Hugging Face's names, and its norms hold w = gain − 1.
        let weights = try SafetensorsFile(dir + "/model.safetensors")
        for name in [
            "model.layers.0.pre_feedforward_layernorm.weight", "model.layers.3.self_attn.k_norm.weight",
            "model.norm.weight",
            "model.layers.1.post_feedforward_layernorm.weight", "model.embed_tokens.weight",
        ] {
            XCTAssertNotNil(weights.entries[name], name)
        }
        let finalNorm = try XCTUnwrap(model.layout.views.first { $0.name == "model.norm.weight" })
        var stored = [Float](repeating: 0, count: finalNorm.count)
        try HuggingFaceWeights(directory: dir).decode(finalNorm.name, into: &stored)
        XCTAssertEqual(stored, (0..<finalNorm.count).map { model.parameters[finalNorm.offset + $0] - 1 })

        let back = try Checkpoint.load(dir)
        XCTAssertEqual(back.config.model, Self.config)
        XCTAssertEqual(back.model.parameters.array.map(\.bitPattern), model.parameters.array.map(\.bitPattern))
        XCTAssertEqual(back.config.chat, .gemma)
        XCTAssertTrue(back.tokenizer.addsBOS)

        // Without Swiftlet's own keys it is any Gemma3ForCausalLM directory: the same model.
        var keys = try XCTUnwrap(json.object)
        keys["swiftlet"] = nil
        try FileIO.writeAtomically(JSONValue.object(keys).prettyText, to: dir + "/config.json")
        let plain = try Checkpoint.load(dir)
        XCTAssertEqual(plain.source, .huggingFace)
        XCTAssertEqual(plain.config.model, Self.config)
        XCTAssertEqual(plain.model.parameters.array.map(\.bitPattern), model.parameters.array.map(\.bitPattern))
    }

    func testGemmaConfigKeysAreReadAsTransformersReadsThem() throws {
        func config(_ extra: [String: JSONValue]) throws -> ModelConfig {
            var keys = HuggingFaceConfig.keys(for: Self.config, bosID: 2, eosID: 1, padID: 0)
            for (k, v) in extra { keys[k] = v }
            return try HuggingFaceConfig.modelConfig(.object(keys), path: "config.json")
        }
        // The older spelling: only sliding_window_pattern.
        XCTAssertEqual(
            try config(["layer_types": .null, "sliding_window_pattern": .number(2)]).gemma?.globalInterval, 2)
        // save_pretrained leaves out what equals Gemma3TextConfig's defaults.
        let defaults = try config([
            "tie_word_embeddings": .null, "rope_theta": .null, "rms_norm_eps": .null, "max_position_embeddings": .null,
        ])
        XCTAssertEqual(defaults.tiedEmbedding, true)
        XCTAssertEqual(defaults.ropeTheta, 1_000_000)
        XCTAssertEqual(defaults.normEpsilon, 1e-6)
        XCTAssertEqual(defaults.contextLength, 131_072)
        // transformers' default pattern when neither is given: every sixth layer global.
        XCTAssertEqual(try config(["layer_types": .null, "sliding_window_pattern": .null]).gemma?.globalInterval, 6)
        let irregular = JSONValue.array(
            ["full_attention", "sliding_attention", "sliding_attention", "full_attention"].map { .string($0) })
        XCTAssertThrowsError(try config(["layer_types": irregular]))
        XCTAssertThrowsError(try config(["final_logit_softcapping": .number(30)]))
        XCTAssertThrowsError(try config(["hidden_activation": .string("gelu")]))
        XCTAssertThrowsError(try config(["architectures": .array([.string("Gemma3ForConditionalGeneration")])]))
    }

    /// export --format gguf: architecture gemma3 with llama.cpp's names and keys, rows as they
    /// are, gains as they are; read back, the same model, weights and tokenizer.
    func testAGemmaGGUFRoundTripsBitForBit() throws {
        let tokenizer = try Self.tokenizer()
        let model = Self.model()
        var config = Self.config  // its query scale is 1/√headDim, as llama.cpp computes it
        let checkpoint = Checkpoint(
            directory: "tiny",
            config: CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer), chat: .gemma),
            model: model, tokenizer: tokenizer)
        let path = TestData.temporaryDirectory("gemma-gguf") + "/tiny.gguf"
        try ModelExport.gguf(checkpoint, type: .f32, to: path)
        let file = try GGUFFile(path)
        XCTAssertEqual(file.metadata["general.architecture"]?.string, "gemma3")
        XCTAssertEqual(file.metadata["gemma3.attention.sliding_window_pattern"]?.integer, 2)
        XCTAssertNotNil(file.tensor(named: "blk.0.post_ffw_norm.weight"))
        XCTAssertNotNil(file.tensor(named: "blk.3.attn_q_norm.weight"))
        let tokens = try XCTUnwrap(file.metadata["tokenizer.ggml.tokens"]?.array?.compactMap(\.string))
        let types = try XCTUnwrap(file.metadata["tokenizer.ggml.token_type"]?.array?.compactMap(\.integer))
        let turn = try XCTUnwrap(tokens.firstIndex(of: GemmaPieces.startOfTurn))
        XCTAssertEqual(types[turn], 3)
        XCTAssertTrue(tokens.contains("  "), "runs of spaces are spelled with spaces, as llama.cpp matches them")
        let back = try GGUFModel.load(path)
        XCTAssertEqual(back.config.model, config)
        XCTAssertEqual(back.model.parameters.array.map(\.bitPattern), model.parameters.array.map(\.bitPattern))
        XCTAssertEqual(back.tokenizer.modelBytes, tokenizer.modelBytes)
        XCTAssertEqual(back.config.chat, .gemma)

        config.gemma?.queryPreAttentionScalar = 256
        let other = Checkpoint(
            directory: "tiny", config: CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer)),
            model: Transformer(config: config), tokenizer: tokenizer)
        XCTAssertThrowsError(try GGUFModel.serialize(other, type: .f32, name: "tiny"))
    }

    /// Full fine-tuning of Gemma 3 270M is planned before it starts: fp32 weights, gradients and
    /// both AdamW moments (16 bytes a parameter, ≈ 4.3 GB) plus activations and one chunk of
    /// vocabulary logits, refused where it does not fit.
    func testFineTuningThe270MIsPlannedBeforeItStarts() throws {
        var c = ModelConfig(
            dim: 640, layers: 18, heads: 4, kvHeads: 1, hiddenDim: 2048, vocabSize: 262_144, contextLength: 32_768)
        c.headDimension = 256
        c.normEpsilon = 1e-6
        c.gemma = ModelConfig.GemmaOptions(
            slidingWindow: 512, globalInterval: 6, localRopeTheta: 10_000, queryPreAttentionScalar: 256)
        XCTAssertEqual(c.parameterCount, 268_098_176)
        let plan = MemoryPlan.training(c, rows: 2048)
        let bytes = Dictionary(plan.parts.map { ($0.name, $0.bytes) }, uniquingKeysWith: +)
        XCTAssertEqual(bytes["weights"]! + bytes["gradients"]! + bytes["optimizer"]!, 16 * 268_098_176)
        XCTAssertEqual(bytes["logits"], 4 * CrossEntropy.chunkRows * 262_144)
        XCTAssertGreaterThan(bytes["activations"]!, 2048 * 18 * 4 * (5 * 640 + 3 * 1024 + 3 * 256 + 3 * 2048))
        XCTAssertThrowsError(try plan.check("fine-tuning", available: 4 << 30))
        XCTAssertNoThrow(try plan.check("fine-tuning", available: 24 << 30))
        XCTAssertTrue(plan.summary.hasPrefix("about "), plan.summary)
        let lora = MemoryPlan.training(c, rows: 2048, trainedParameters: 1_000_000)
        XCTAssertEqual(plan.total - lora.total, 8 * (268_098_176 - 1_000_000))
    }
}
