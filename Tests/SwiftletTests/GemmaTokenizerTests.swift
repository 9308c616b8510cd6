import XCTest
@testable import Swiftlet
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Gemma 3's vocabulary rebuilt from a GGUF tokenizes as llama.cpp does. The ids are
/// llama-tokenize's, written by scripts/make-gemma-fixtures.py: for a small vocabulary laid out
/// as Gemma's (runs of newlines, spaces and tabs as user-defined tokens, control markers, byte
/// fallback, BOS added, no space prefix) always, and for the real Gemma 3 270M file when
/// `make gemma` has fetched it (CI has no Gemma file: that test skips there).
final class GemmaTokenizerTests: XCTestCase {
    static let fixtures: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)
        return parts.joined(separator: "/") + "/Fixtures/gemma"
    }()

    static let gemmaFile: String = {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
        return home + "/.cache/swiftlet/models/gemma-3-270m-q4_k_m.gguf"
    }()

    struct Expected {
        var plain: [(text: String, ids: [Int32])]
        var chat: (text: String, ids: [Int32])
    }

    func expected(_ name: String) throws -> Expected {
        let json = try XCTUnwrap(JSONValue.parse(try FileIO.readBytes(Self.fixtures + "/" + name)))
        func entry(_ value: JSONValue) throws -> (String, [Int32]) {
            (
                try XCTUnwrap(value["text"]?.string),
                try XCTUnwrap(value["ids"]?.array).map { Int32(try XCTUnwrap($0.integer)) }
            )
        }
        return Expected(
            plain: try XCTUnwrap(json["plain"]?.array).map(entry), chat: try entry(try XCTUnwrap(json["chat"])))
    }

    func check(
        _ tokenizer: Tokenizer, against expected: Expected, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        for (text, ids) in expected.plain {
            XCTAssertEqual(tokenizer.encodeDocument(text), ids, "\(text.debugDescription)", file: file, line: line)
            // The text comes back from its ids (BOS decodes to nothing).
            XCTAssertEqual(tokenizer.decode(ids), text, file: file, line: line)
        }
        // Gemma's chat layout renders the dialogue llama.cpp tokenizes (with its special tokens).
        let messages = [
            ChatMessage(role: .user, content: "What is the capital of France?"),
            ChatMessage(role: .assistant, content: "Paris."),
        ]
        XCTAssertEqual(ChatTemplate.native(for: tokenizer), .gemma)
        XCTAssertEqual(
            try ChatTemplate.gemma.prompt(messages, tokenizer: tokenizer), expected.chat.ids, file: file, line: line)
    }

    func testAGemmaStyleVocabularyTokenizesAsLlamaCpp() throws {
        let tokenizer = try GGUFModel.tokenizer(Self.fixtures + "/vocab-gemma-style.gguf")
        XCTAssertTrue(tokenizer.addsBOS)
        XCTAssertFalse(tokenizer.addsDummyPrefix)
        XCTAssertEqual(tokenizer.bosID, 2)
        XCTAssertEqual(tokenizer.eosID, 1)
        XCTAssertEqual(tokenizer.endOfGenerationIDs, [1, tokenizer.id(ofPiece: GemmaPieces.endOfTurn)])
        try check(tokenizer, against: try expected("vocab-expected.json"))
    }

    func testGemma3TokenizesAsLlamaCpp() throws {
        guard FileIO.exists(Self.gemmaFile) else { throw XCTSkip("Gemma 3 270M is not fetched (make gemma)") }
        let tokenizer = try GGUFModel.tokenizer(Self.gemmaFile)
        XCTAssertEqual(tokenizer.vocabSize, 262_144)
        try check(tokenizer, against: try expected("gemma-3-270m-expected.json"))
    }

    /// Cutting a text after each run of newlines keeps a run whole (Gemma has a piece for "\n\n"),
    /// so the line-by-line and parallel paths give libsentencepiece's ids for the whole text.
    func testLinesAreCutAfterRunsOfNewlines() throws {
        let tokenizer = try GGUFModel.tokenizer(Self.fixtures + "/vocab-gemma-style.gguf")
        var text = ""
        var random = RandomGenerator(seed: 9)
        let parts = ["the", " king", "  ", "\n", "\n\n", "\n\n\n", "\t", " and", "    ", "queen", "é", "\n \n"]
        while text.utf8.count < 3 << 20 { text += parts[Int(random.next() % UInt64(parts.count))] }
        let whole = tokenizer.encodeWhole(text)
        XCTAssertEqual(tokenizer.encode(text), whole)
        XCTAssertEqual(tokenizer.encodeLarge(text), whole)
        XCTAssertEqual(tokenizer.encodeLargeDocument(text), [tokenizer.bosID] + whole)
    }

    /// The gemma3 metadata becomes a Gemma block's description: local and global layers, their
    /// RoPE bases, the window and the query scale.
    func testGemma3MetadataMapsToTheModelConfig() throws {
        let vocabulary = try GGUFFile(Self.fixtures + "/vocab-gemma-style.gguf")
        var writer = GGUFWriter()
        for key in vocabulary.metadata.keys.sorted() where !key.hasPrefix("GGUF.") {
            writer.set(key, vocabulary.metadata[key]!)
        }
        let pieces = try XCTUnwrap(vocabulary.metadata["tokenizer.ggml.tokens"]?.array).count
        writer.tensors.append(
            GGUFWriter.Tensor(
                name: "token_embd.weight", shape: [pieces, 64], type: .f32,
                data: [UInt8](repeating: 0, count: pieces * 64 * 4)))
        let path = TestData.temporaryDirectory("gemma-config") + ".gguf"
        try FileIO.writeAtomically(writer.serialized(), to: path)
        let (config, tokenizer) = try GGUFModel.modelConfig(try GGUFFile(path), path: path)
        XCTAssertEqual(tokenizer.vocabSize, pieces)
        XCTAssertEqual(config.vocabSize, pieces)
        XCTAssertEqual(config.dim, 64)
        XCTAssertEqual(config.layers, 6)
        XCTAssertEqual(config.headDim, 64)
        XCTAssertEqual(config.normEpsilon, 1e-6)
        XCTAssertTrue(config.tiedEmbedding)
        let gemma = try XCTUnwrap(config.gemma)
        XCTAssertEqual(gemma.slidingWindow, 32)
        XCTAssertEqual(gemma.globalInterval, 6)
        XCTAssertEqual(config.queryScale, 1 / 8)
        XCTAssertEqual(config.embeddingScale, 8)
        XCTAssertEqual((0..<6).map { config.isGlobal(layer: $0) }, [false, false, false, false, false, true])
        XCTAssertEqual(config.attentionWindow(layer: 0), 32)
        XCTAssertNil(config.attentionWindow(layer: 5))
        XCTAssertEqual(config.ropeTheta(layer: 0), 10_000)
        XCTAssertEqual(config.ropeTheta(layer: 5), 1_000_000)
        // Gemma's block has four more norms per layer, under Hugging Face's Gemma 3 names.
        let names = Set(ParameterLayout(config: config).views.map(\.name))
        for name in [
            "self_attn.q_norm", "self_attn.k_norm", "post_attention_layernorm", "pre_feedforward_layernorm",
            "post_feedforward_layernorm",
        ] {
            XCTAssertTrue(names.contains("model.layers.0.\(name).weight"), name)
        }
    }

    func testGemmaChatLayout() throws {
        let tokenizer = try GGUFModel.tokenizer(Self.fixtures + "/vocab-gemma-style.gguf")
        let t = ChatTemplate.gemma
        let messages = [
            ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: "Hi"),
            ChatMessage(role: .assistant, content: "Hello."), ChatMessage(role: .user, content: "Bye"),
        ]
        let rendered =
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
            + "<start_of_turn>user\nBye<end_of_turn>\n"
        let (tokens, trainable) = try t.encode(messages, tokenizer: tokenizer)
        XCTAssertEqual(tokens, [tokenizer.bosID] + tokenizer.encode(rendered))
        // Only the reply and its end-of-turn marker are trained.
        let trained = zip(tokens, trainable).filter(\.1).map(\.0)
        XCTAssertEqual(trained, tokenizer.encode("Hello.") + [tokenizer.id(ofPiece: "<end_of_turn>")])
        let firstExchange =
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
        XCTAssertEqual(
            try t.prompt(Array(messages.prefix(3)), tokenizer: tokenizer),
            [tokenizer.bosID] + tokenizer.encode(firstExchange + "<start_of_turn>model\n"))
        XCTAssertEqual(t.stopStrings, ["<end_of_turn>", "<start_of_turn>"])
        // A template survives config.json and is recognized in its Jinja form.
        let decoded = try JSONDecoder().decode(ChatTemplate.self, from: JSONEncoder().encode(t))
        XCTAssertEqual(decoded, t)
        XCTAssertEqual(HuggingFaceDirectory.recognizedTemplate(HuggingFaceDirectory.jinja(t), tokenizer: tokenizer), t)
        // Swiftlet's tokenizers keep their own layout.
        XCTAssertEqual(ChatTemplate.native(for: try TestData.bpeTokenizer()), .standard)
    }
}
