import XCTest
@testable import Swiftlet

/// Issue 12's loaders: every crafted or damaged input is one sentence, never a crash.
final class HardeningTests: XCTestCase {
    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return (error as? SwiftletError)?.message ?? "\(error)" }
        return "(no error)"
    }

    /// A model whose normalizer carries `charsmap`.
    func model(withCharsmap charsmap: [UInt8]) throws -> [UInt8] {
        var proto = try SentencePieceModelProto(bytes: try TestData.tokenizer().modelBytes)
        proto.normalizerSpec.precompiledCharsmap = charsmap
        return proto.serialized
    }

    static func charsmap(units: [UInt32], normalized: [UInt8]) -> [UInt8] {
        var blob: [UInt8] = []
        withUnsafeBytes(of: UInt32(units.count * 4).littleEndian) { blob += $0 }
        for u in units { withUnsafeBytes(of: u.littleEndian) { blob += $0 } }
        return blob + normalized
    }

    func testCraftedCharsmapsAreRefusedBeforeSentencePieceSeesThem() throws {
        // Each of these made libsentencepiece 0.1.97 read out of bounds (SIGSEGV) on the first
        // encode; now the model is refused with a sentence.
        // Unused slots get labels that match no byte, as darts-clone's builder leaves them.
        func units(_ count: Int) -> [UInt32] { (0..<count).map { UInt32(($0 & 0xFF) ^ 1) } }
        var farOffset = units(256)
        farOffset[0] = 0xFFFF << 10  // the root's children lie far past the array
        var badValue = units(512)
        badValue[0] = 256 << 10  // root base 256
        badValue[256 ^ 0x61] = 0x61 | 1 << 8  // 'a' has a leaf, whose value points past the text
        var cycle = units(256)
        cycle[0] = 0
        cycle[0x61] = 0x61 | 0x61 << 10  // 'a' leads back to the root: a loop
        let cases: [([UInt8], String)] = [
            ([1, 0, 0], "shorter than its header"),
            ([0xFF, 0xFF, 0, 0, 1, 2, 3, 4], "does not fit"),
            (Self.charsmap(units: farOffset, normalized: [0]), "outside its"),
            (Self.charsmap(units: badValue, normalized: [0x62, 0]), "outside its 2 bytes"),
            (Self.charsmap(units: [0, 0], normalized: [0]), "fewer than one block"),
            (Self.charsmap(units: cycle, normalized: [0]), "cycle"),
        ]
        for (blob, expected) in cases {
            let bytes = try model(withCharsmap: blob)
            let text = message { _ = try Tokenizer(modelBytes: bytes) }
            XCTAssertTrue(text.contains("character map is broken") && text.contains(expected), text)
        }
    }

    func testRealCharsmapsPassTheValidator() throws {
        // SentencePiece's own nmt_nfkc map (a darts-clone array with shared subtrees) is valid.
        var options = TokenizerTrainingOptions(vocabSize: 340)
        options.normalization = "nmt_nfkc"
        let tokenizer = try Tokenizer.train(text: TestData.text() + "ﬁne Ｆｕｌｌｗｉｄｔｈ ①②\n", options: options)
        let proto = try SentencePieceModelProto(bytes: tokenizer.modelBytes)
        XCTAssertGreaterThan(proto.normalizerSpec.precompiledCharsmap.count, 1000)
        XCTAssertNoThrow(try CharsmapValidator.validate(modelBytes: tokenizer.modelBytes))
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("ﬁne")), "fine", "the map normalizes")
    }

    func testClassifierAndAdapterFilesAreRangeChecked() {
        XCTAssertTrue(
            message { try ClassifierConfig(labels: ["a", "b", "a"], pooling: .mean).validate() }.contains("twice"))
        XCTAssertTrue(message { try ClassifierConfig(labels: ["a", ""], pooling: .mean).validate() }.contains("empty"))
        XCTAssertTrue(message { try LoRAConfig(rank: 4, targets: [.q, .q]).validate() }.contains("twice"))
        XCTAssertTrue(message { try LoRAConfig(rank: 5000).validate() }.contains("--lora-rank"))
    }

    func testTrainerStateIsRangeChecked() throws {
        var state = TrainerState(options: TrainingOptions(), preset: "tiny")
        XCTAssertNoThrow(try state.validate())
        state.step = -4
        XCTAssertThrowsError(try state.validate())
        state.step = 0
        state.trainingSeconds = .infinity
        XCTAssertThrowsError(try state.validate())
    }

    func testMemoryIsEstimatedBeforeItIsAllocated() throws {
        // dim 16384 × 256 layers passes the shape checks, and used to allocate 4.4 TB at once.
        let huge = ModelConfig(dim: 16384, layers: 256, heads: 128, vocabSize: 32000, contextLength: 4096)
        XCTAssertNoThrow(try huge.validate())
        let text = message { try MemoryPlan.weights(huge).check("loading it", available: 24 << 30) }
        XCTAssertTrue(text.contains("TiB") && text.contains("24.0 GiB"), text)
        // 256 sequences of 131,072 tokens of the small preset's KV cache: 464 GB.
        var small = ModelPreset.small.config(vocabSize: 4096)
        small.contextLength = 131_072
        let plan = GenerationEngine.memoryPlan(small, options: GenerationEngine.Options(parallel: 256))
        XCTAssertGreaterThan(plan.total, 400 << 30)
        XCTAssertTrue(message { try plan.check("generating", available: 24 << 30) }.contains("KV cache"))
        // Products that overflow count as too much, not as a negative figure.
        var overflow = MemoryPlan()
        overflow.add("x", floats: Int.max, 4)
        XCTAssertEqual(overflow.total, Int.max)
    }

    func testLabelColumnsMustBeUnambiguous() throws {
        let dir = TestData.temporaryDirectory("columns")
        try FileIO.writeAtomically("{\"text\":\"a\",\"label\":\"x\",\"Label\":\"y\"}\n", to: dir + "/both.jsonl")
        XCTAssertTrue(
            message { _ = try LabeledDataReader.read(path: dir + "/both.jsonl") }.contains("which both match"))
        try FileIO.writeAtomically("text,Text,label\na,b,c\n", to: dir + "/both.csv")
        XCTAssertTrue(message { _ = try LabeledDataReader.read(path: dir + "/both.csv") }.contains("which both match"))
        try FileIO.writeAtomically("Text,LABEL\na,c\n", to: dir + "/one.csv")
        XCTAssertEqual(try LabeledDataReader.read(path: dir + "/one.csv"), [LabeledExample(text: "a", label: "c")])
    }

    func testLongLinesTrainATokenizer() throws {
        // One 40 KB line used to fail inside SentencePiece with "[!sentences_.empty()]".
        let line = (0..<6000).map { ["king", "queen", "war", "lord"][$0 % 4] + String($0 % 10) }.joined(separator: " ")
        let tokenizer = try Tokenizer.train(text: line + "\n", options: TokenizerTrainingOptions(vocabSize: 292))
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("king queen")), "king queen")
        let cut = Tokenizer.cutLongLines(Array(("é" + String(repeating: "a", count: 30)).utf8), limit: 8)
        XCTAssertNotNil(String(validating: cut, as: UTF8.self), "cuts fall between characters")
    }

    func testTranscriptsAreRangeChecked() {
        let bad =
            #"{"turns":[{"role":"system","content":"x"}],"mode":"chat","settings":{"sampling":{"temperature":1,"topK":0,"topP":1,"minP":0,"repetitionPenalty":1,"seed":1},"maxTokens":5,"stop":[]}}"#
        XCTAssertTrue(
            message { _ = try ChatTranscript.decode(Array(bad.utf8), path: "t.json") }.contains(
                "not a valid chat transcript"))
        let huge = bad.replacingOccurrences(of: "\"system\"", with: "\"user\"").replacingOccurrences(
            of: "\"maxTokens\":5", with: "\"maxTokens\":99999999999")
        XCTAssertTrue(
            message { _ = try ChatTranscript.decode(Array(huge.utf8), path: "t.json") }.contains("max_tokens"))
    }
}
