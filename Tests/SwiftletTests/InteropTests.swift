import XCTest
@testable import Swiftlet
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Hugging Face directories, PEFT adapters and GGUF files: Swiftlet's own writers and readers
/// round trip bit for bit, and files made by transformers and llama.cpp themselves (the small
/// fixtures under Tests/Fixtures/interop, made by scripts/make-interop-fixtures.py) load to what
/// those tools compute. The full comparison against the running tools is `make interop`.
final class InteropTests: XCTestCase {
    static let fixtures: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)
        return parts.joined(separator: "/") + "/Fixtures/interop"
    }()

    func makeCheckpoint(
        _ name: String, kvHeads: Int = 2, headDimension: Int? = nil, tied: Bool = true,
        chat: ChatTemplate? = nil
    ) throws -> (String, Checkpoint) {
        let tokenizer = try TestData.bpeTokenizer()
        var config = ModelConfig(
            dim: 64, layers: 2, heads: 4, kvHeads: kvHeads, hiddenDim: 96, vocabSize: tokenizer.vocabSize,
            contextLength: 64, tiedEmbedding: tied)
        config.headDimension = headDimension
        config.ropeTheta = 50_000
        config.normEpsilon = 1e-6
        let model = Transformer(config: config)
        model.initialize(seed: 3)
        // Norm gains away from 1, so a mix-up of tensors shows.
        for view in model.layout.views where view.shape.count == 1 {
            for i in 0..<view.count { model.parameters[view.offset + i] = 1 + 0.01 * Float(i % 7) }
        }
        let dir = TestData.temporaryDirectory(name)
        let checkpointConfig = CheckpointConfig(
            model: config, tokenizer: TokenizerFacts(tokenizer), training: ["steps": "3"], chat: chat)
        try Checkpoint.save(dir, files: try Checkpoint.modelFiles(checkpointConfig, model: model, tokenizer: tokenizer))
        return (dir, try Checkpoint.load(dir))
    }

    func testHalfPrecisionRoundTripsEveryValueAndRoundsAsTheHardwareDoes() {
        for bits in 0...UInt16.max {
            let value = Float16Bits.value(bits)
            guard !value.isNaN else {
                XCTAssertTrue(Float16Bits.round(value) & 0x7C00 == 0x7C00 && Float16Bits.round(value) & 0x3FF != 0)
                continue
            }
            XCTAssertEqual(value.bitPattern, Float(Float16(bitPattern: bits)).bitPattern, "\(bits)")
            XCTAssertEqual(Float16Bits.round(value), bits)
        }
        var rng = RandomGenerator(seed: 4)
        for i in 0..<200_000 {
            let scale: Float = [1e-9, 1e-6, 1e-3, 1, 100, 7e4][i % 6]
            let x = rng.normal() * scale
            XCTAssertEqual(Float16Bits.round(x), Float16(x).bitPattern, "\(x)")
        }
    }

    func testQ8_0BlocksAreGGMLsReferenceQuantization() {
        let values = TestData.randoms(64, seed: 5)
        var bytes = [UInt8](repeating: 0, count: 2 * 34)
        bytes.withUnsafeMutableBytes { Q8_0Codec.encode(values, blocks: 2, into: $0.baseAddress!) }
        var decoded = [Float](repeating: 0, count: 64)
        bytes.withUnsafeBytes { Q8_0Codec.decode($0.baseAddress!, blocks: 2, into: &decoded) }
        for b in 0..<2 {
            let block = values[b * 32..<(b + 1) * 32]
            let d = block.map(abs).max()! / 127
            let stored = Float16Bits.value(UInt16(bytes[b * 34]) | UInt16(bytes[b * 34 + 1]) << 8)
            XCTAssertEqual(stored, Float16Bits.value(Float16Bits.round(d)))
            for j in 0..<32 {
                let q = Int8(bitPattern: bytes[b * 34 + 2 + j])
                XCTAssertEqual(q, Int8((values[b * 32 + j] / d).rounded()))
                XCTAssertEqual(decoded[b * 32 + j], Float(q) * stored)
            }
        }
    }

    func testGGUFExportLoadsBackBitForBit() throws {
        for (name, kvHeads, headDimension, tied) in [
            ("gguf-gqa", 2, nil, true), ("gguf-headdim", 1, 24 as Int?, false),
        ] {
            let (_, original) = try makeCheckpoint(
                name, kvHeads: kvHeads, headDimension: headDimension, tied: tied, chat: .standard)
            let path = TestData.temporaryDirectory(name + "-out") + "/model.gguf"
            try ModelExport.gguf(original, type: .f32, to: path)
            let loaded = try Checkpoint.load(path)
            XCTAssertEqual(loaded.model.config, original.model.config)
            XCTAssertEqual(loaded.model.parameters.array, original.model.parameters.array)
            XCTAssertEqual(loaded.tokenizer.modelBytes.count > 0, true)
            let text = TestData.text(lines: 60, seed: 11) + "  tabs\t\tand   spaces <|user|>Hi<|end|> ✨\n"
            XCTAssertEqual(loaded.tokenizer.encode(text), original.tokenizer.encode(text))
            XCTAssertEqual(
                try ChatTemplate.standard.markers(loaded.tokenizer).endOfTurn,
                try ChatTemplate.standard.markers(original.tokenizer).endOfTurn)
            XCTAssertEqual(loaded.config.chat, .standard)
            XCTAssertEqual(loaded.source, .gguf(version: 3, fileType: "F32 ×\(original.model.layout.views.count)"))
            XCTAssertThrowsError(try ModelExport.gguf(original, type: .f32, to: path))  // never replaces a file
            // Each tensor is encoded as the file is written (one tensor's bytes in memory, not the file's).
            let streamed = try GGUFModel.serialize(original, type: .q8_0, name: name)
            let made = streamed.pieces.filter { if case .generated = $0 { true } else { false } }
            XCTAssertEqual(made.count, try GGUFFile(path).tensors.count)
            let streamedPath = path + ".streamed"
            try FileIO.writeAtomically(streamed, to: streamedPath)
            XCTAssertEqual(try FileIO.readBytes(streamedPath), streamed.joined)
            // The narrower types load back as their rounding of the weights.
            let rounding: [(GGMLType, (Float) -> Float)] = [
                (.f16, { Float16Bits.value(Float16Bits.round($0)) }),
                (.bf16, { BFloat16.value(BFloat16.round($0)) }),
            ]
            for (type, round) in rounding {
                let narrow = path + ".\(type)"
                try ModelExport.gguf(original, type: type, to: narrow)
                let back = try Checkpoint.load(narrow)
                for view in original.model.layout.views {
                    let a = Array(
                        UnsafeBufferPointer(start: original.model.parameters.pointer + view.offset, count: view.count))
                    let b = Array(
                        UnsafeBufferPointer(start: back.model.parameters.pointer + view.offset, count: view.count))
                    XCTAssertEqual(b, view.shape.count == 1 ? a : a.map(round), "\(type) \(view.name)")
                }
            }
            for type in [GGMLType.q8_0, .q5_0, .q4_0] {
                let quantized = path + ".\(type)"
                try ModelExport.gguf(original, type: type, to: quantized)
                let back = try Checkpoint.load(quantized)
                let codec = try XCTUnwrap(type.encoder)
                for view in original.model.layout.views where view.shape.count == 2 {
                    let a = UnsafeBufferPointer(
                        start: original.model.parameters.pointer + view.offset, count: view.count)
                    var bytes = [UInt8](repeating: 0, count: view.count / 32 * codec.blockBytes)
                    bytes.withUnsafeMutableBytes {
                        codec.encode(a.baseAddress!, blocks: view.count / 32, into: $0.baseAddress!)
                    }
                    var expected = [Float](repeating: 0, count: view.count)
                    bytes.withUnsafeBytes { codec.decode($0.baseAddress!, blocks: view.count / 32, into: &expected) }
                    // q and k were quantized in llama.cpp's row order: rows of 64 → blocks stay within rows either way.
                    let b = Array(
                        UnsafeBufferPointer(start: back.model.parameters.pointer + view.offset, count: view.count))
                    XCTAssertEqual(b, expected, "\(type) \(view.name)")
                }
            }
        }
    }

    func testHuggingFaceExportAndTheFirstCheckpointFormatLoad() throws {
        let (dir, original) = try makeCheckpoint(
            "hf-roundtrip", kvHeads: 1, headDimension: 32, tied: false, chat: .standard)
        let config = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(dir + "/config.json")))
        XCTAssertEqual(config["architectures"], .array([.string("LlamaForCausalLM")]))
        XCTAssertEqual(config["head_dim"]?.integer, 32)
        XCTAssertEqual(config["num_key_value_heads"]?.integer, 1)
        XCTAssertEqual(config["rms_norm_eps"]?.number, 1e-6)
        XCTAssertEqual(config["tie_word_embeddings"]?.bool, false)
        let tokenizerConfig = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(dir + "/tokenizer_config.json")))
        XCTAssertEqual(tokenizerConfig["chat_template"]?.string, HuggingFaceDirectory.jinja(.standard))
        XCTAssertEqual(tokenizerConfig["add_bos_token"]?.bool, false)
        let out = TestData.temporaryDirectory("hf-export") + "/model"
        try ModelExport.huggingFace(original, to: out)
        XCTAssertFalse(FileIO.exists(out + "/optimizer.safetensors"))
        let back = try Checkpoint.load(out)
        XCTAssertEqual(back.source, .swiftlet(version: 2))
        XCTAssertEqual(back.model.config, original.model.config)
        XCTAssertEqual(back.model.parameters.array, original.model.parameters.array)
        XCTAssertEqual(back.config.chat, .standard)
        XCTAssertEqual(back.config.training, original.config.training)

        // Without the "swiftlet" key it is any Hugging Face directory: same model.
        var keys = config.object!
        keys["swiftlet"] = nil
        try FileIO.writeAtomically(JSONValue.object(keys).prettyText, to: out + "/config.json")
        let plain = try Checkpoint.load(out)
        XCTAssertEqual(plain.source, .huggingFace)
        XCTAssertEqual(plain.model.parameters.array, original.model.parameters.array)
        XCTAssertEqual(plain.config.chat, .standard)  // found from tokenizer_config.json's template

        // A checkpoint from before Hugging Face keys still loads, as it was.
        let old = TestData.temporaryDirectory("format-1")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileIO.writeAtomically(Array(try encoder.encode(original.config)), to: old + "/config.json")
        try FileIO.writeAtomically(try FileIO.readBytes(dir + "/model.safetensors"), to: old + "/model.safetensors")
        try FileIO.writeAtomically(original.tokenizer.modelBytes, to: old + "/tokenizer.model")
        let legacy = try Checkpoint.load(old)
        XCTAssertEqual(legacy.source, .swiftlet(version: 1))
        XCTAssertEqual(legacy.model.parameters.array, original.model.parameters.array)
    }

    func testPEFTAdaptersRoundTripAndMerge() throws {
        let (dir, original) = try makeCheckpoint("peft", kvHeads: 2)
        let adapters = LoRAAdapters(
            config: LoRAConfig(rank: 4, alpha: 6, targets: [.q, .v, .down]), model: original.model.config)
        adapters.initialize(seed: 8)
        for i in 0..<adapters.parameters.count { adapters.parameters[i] += 0.01 * Float(i % 5) }
        for (name, bytes) in PEFTAdapter.files(adapters, baseModel: dir) {
            try FileIO.writeAtomically(bytes, to: dir + "/" + name)
        }
        let config = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(dir + "/adapter_config.json")))
        XCTAssertEqual(config["target_modules"], .array([.string("q_proj"), .string("v_proj"), .string("down_proj")]))
        XCTAssertEqual(config["base_model_name_or_path"]?.string, dir)
        let weights = try SafetensorsFile(dir + "/adapter_model.safetensors")
        XCTAssertNotNil(weights.entries["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"])
        let loaded = try Checkpoint.load(dir)
        XCTAssertEqual(loaded.adapter, adapters.config)
        let merged = Transformer(config: original.model.config)
        merged.parameters.copy(from: original.model.parameters)
        adapters.merge(into: merged)
        XCTAssertEqual(loaded.model.parameters.array, merged.parameters.array)
    }

    func testWholeTextAndLineByLineEncodingAgree() throws {
        let tokenizer = try TestData.bpeTokenizer()
        let text = TestData.text(lines: 300, seed: 3).replacingAll("and", with: "and    ") + "\n\n   \t  x  \n  y\t\t\n"
        XCTAssertEqual(tokenizer.encode(text), tokenizer.encodeWhole(text))
        XCTAssertEqual(tokenizer.encodeLarge(text), tokenizer.encode(text))
    }

    // MARK: Files made by transformers and llama.cpp

    func testTransformersSavePretrainedDirectoryComputesWhatTransformersComputes() throws {
        let dir = Self.fixtures + "/hf-bf16-sharded"
        let expected = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(Self.fixtures + "/hf-expected.json")))
        let loaded = try Checkpoint.load(dir)
        XCTAssertEqual(loaded.source, .huggingFace)
        XCTAssertTrue(loaded.conversions.contains("BF16 weights widened to fp32"), "\(loaded.conversions)")
        XCTAssertTrue(
            loaded.conversions.contains { $0.hasSuffix("safetensors shards joined") && !$0.hasPrefix("1 ") },
            "\(loaded.conversions)")
        XCTAssertFalse(loaded.model.config.tiedEmbedding)
        let ids = try XCTUnwrap(expected["ids"]?.array?.compactMap(\.integer)).map(Int32.init)
        XCTAssertEqual(loaded.tokenizer.encode(try XCTUnwrap(expected["text"]?.string)), ids)
        let pass = TrainingPass(model: loaded.model, maxRows: 128)
        let loss = pass.loss(Batch(windows: [ids])) / Double(ids.count - 1)
        XCTAssertEqual(loss, try XCTUnwrap(expected["loss"]?.number), accuracy: 1e-4)
    }

    func testLlamaCppQuantizedFilesDequantizeAsGGUFPyDoes() throws {
        let expected = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(Self.fixtures + "/gguf-expected.json")))
        let text = try XCTUnwrap(expected["text"]?.string)
        let llamaIDs = try XCTUnwrap(expected["llama_tokenize_ids"]?.array?.compactMap(\.integer)).map(Int32.init)
        for (type, hashes) in try XCTUnwrap(expected["files"]?.object) {
            let path = Self.fixtures + "/gguf-\(type).gguf"
            let file = try GGUFFile(path)
            for tensor in file.tensors {
                let values = FloatBuffer(count: tensor.elementCount)
                try file.decode(tensor, into: values.pointer)
                let bytes = [UInt8](UnsafeRawBufferPointer(start: values.pointer, count: tensor.elementCount * 4))
                XCTAssertEqual(Fingerprint.hex(bytes), hashes[tensor.name]?.string, "\(type) \(tensor.name)")
            }
            let loaded = try Checkpoint.load(path)
            XCTAssertEqual(loaded.tokenizer.encode(text), llamaIDs, type)
            XCTAssertTrue(loaded.model.config.tiedEmbedding)
        }
    }

    func testQuantizersWriteWhatGGUFPyWrites() throws {
        let expected = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(Self.fixtures + "/gguf-expected.json")))
        let input = try FileIO.readBytes(Self.fixtures + "/quantize-input.f32")
        let values = input.withUnsafeBytes { [Float]($0.bindMemory(to: Float.self)) }
        let quantize = try XCTUnwrap(expected["quantize"]?.object)
        XCTAssertEqual(Set(quantize.keys), ["Q8_0", "Q5_0", "Q4_0"])
        for (name, hash) in quantize {
            let type: GGMLType = ["Q8_0": .q8_0, "Q5_0": .q5_0, "Q4_0": .q4_0][name]!
            let encoder = try XCTUnwrap(type.encoder)
            let blocks = values.count / encoder.blockElements
            var bytes = [UInt8](repeating: 0, count: blocks * encoder.blockBytes)
            bytes.withUnsafeMutableBytes { encoder.encode(values, blocks: blocks, into: $0.baseAddress!) }
            XCTAssertEqual(Fingerprint.hex(bytes), hash.string, name)
        }
    }

    /// The fingerprint of scripts/make-gemma-dequantize-fixture.py: Σ splitmix64(bits + 2³²·i).
    static func dequantizeFingerprint(_ values: UnsafePointer<Float>, count: Int) -> String {
        var total: UInt64 = 0
        for i in 0..<count {
            var z = UInt64(values[i].bitPattern) &+ UInt64(i) << 32
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            total &+= z ^ (z >> 31)
        }
        let h = String(total, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }

    /// A published mixed-type file (F32, Q8_0, Q5_0, Q4_K, Q6_K as llama-quantize chose them):
    /// every tensor decodes to gguf-py's values. Skipped unless `make gemma` fetched the file.
    func testGemmaQ4_K_MFileDequantizesAsGGUFPyDoes() throws {
        let path =
            (ProcessInfo.processInfo.environment["SWIFTLET_MODELS"] ?? NSHomeDirectory() + "/.cache/swiftlet/models")
            + "/gemma-3-270m-q4_k_m.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(path) is absent (make gemma fetches it)")
        }
        let expected = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(Self.fixtures + "/gemma-dequantize.json")))
        let tensors = try XCTUnwrap(expected["tensors"]?.object)
        let file = try GGUFFile(path)
        XCTAssertEqual(Set(file.tensors.map(\.name)), Set(tensors.keys))
        var types = Set<String>()
        for tensor in file.tensors {
            let values = FloatBuffer(count: tensor.elementCount)
            try file.decode(tensor, into: values.pointer)
            XCTAssertEqual(
                Self.dequantizeFingerprint(values.pointer, count: tensor.elementCount),
                tensors[tensor.name]?["fingerprint"]?.string, "\(tensor.type) \(tensor.name)")
            types.insert(tensor.type.description)
        }
        XCTAssertEqual(types, ["F32", "Q8_0", "Q5_0", "Q4_K", "Q6_K"])
    }

    // MARK: Refusals

    func testUnsupportedModelsAreRefusedInOneSentence() throws {
        let dir = TestData.temporaryDirectory("refusals")
        func refused(_ path: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try Checkpoint.load(path), file: file, line: line) { error in
                let message = (error as? SwiftletError)?.message ?? "\(error)"
                XCTAssertTrue(message.contains(fragment), message, file: file, line: line)
            }
        }
        func gguf(_ name: String, _ edit: (inout GGUFWriter) -> Void) throws -> String {
            var w = GGUFWriter()
            w.set("general.architecture", .string("llama"))
            w.set("tokenizer.ggml.model", .string("llama"))
            edit(&w)
            let path = dir + "/" + name + ".gguf"
            try FileIO.writeAtomically(w.serialized(), to: path)
            return path
        }
        refused(try gguf("gpt2") { $0.set("tokenizer.ggml.model", .string("gpt2")) }, "GPT-2-style BPE vocabulary")
        refused(try gguf("qwen") { $0.set("general.architecture", .string("qwen2")) }, "qwen2 architecture")
        refused(try gguf("scaled") { $0.set("llama.rope.scaling.type", .string("linear")) }, "rope scaling")
        let (_, original) = try makeCheckpoint("refusals-model")
        let good = dir + "/good.gguf"
        try ModelExport.gguf(original, type: .f32, to: good)
        let bytes = try FileIO.readBytes(good)
        try FileIO.writeAtomically(Array(bytes[..<(bytes.count - 100)]), to: dir + "/cut.gguf")
        refused(dir + "/cut.gguf", "is not a valid GGUF file")
        try FileIO.writeAtomically(Array(bytes[..<40]), to: dir + "/header.gguf")
        refused(dir + "/header.gguf", "is not a valid GGUF file")
        // Cut inside the 24-byte header (magic, version, two counts): damaged, not "not GGUF" (a short read or a count that does not fit).
        for length in [4, 5, 8, 12, 16, 23] {
            try FileIO.writeAtomically(Array(bytes[..<length]), to: dir + "/short.gguf")
            refused(dir + "/short.gguf", "is not a valid GGUF file")
        }
        try FileIO.writeAtomically(Array("GGU".utf8), to: dir + "/magic.gguf")
        refused(dir + "/magic.gguf", "is a file, not a checkpoint")

        let hf = TestData.temporaryDirectory("refusals-hf") + "/m"
        try ModelExport.huggingFace(original, to: hf)
        let config = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(hf + "/config.json"))?.object)
        for (key, value, fragment) in [
            ("rope_scaling", JSONValue.object(["rope_type": .string("linear"), "factor": .number(2)]), "rope scaling"),
            ("model_type", .string("mistral"), "Llama (LlamaForCausalLM) and Gemma 3"),
            ("attention_bias", .bool(true), "no biases"),
            ("hidden_act", .string("gelu"), "SiLU"),
        ] {
            var edited = config
            edited[key] = value
            if key == "model_type" { edited["architectures"] = .array([.string("MistralForCausalLM")]) }
            try FileIO.writeAtomically(JSONValue.object(edited).prettyText, to: hf + "/config.json")
            refused(hf, fragment)
        }
        try FileIO.writeAtomically(JSONValue.object(config).prettyText, to: hf + "/config.json")
        FileIO.removeItem(hf + "/tokenizer.model")
        refused(hf, "SentencePiece tokenizer")
    }
}
