import XCTest
@testable import Swiftlet

/// Gemma 3's block through the passes, on a tiny model small enough for finite differences:
/// per-head query and key norms, norms after both branches, GeGLU, the √dim embedding scale, a
/// query scale of its own, local layers with a sliding window (4 positions, shorter than the
/// sequences) and their own RoPE base between global ones.
final class GemmaModelTests: XCTestCase {
    static let config: ModelConfig = {
        var c = ModelConfig(dim: 32, layers: 3, heads: 2, kvHeads: 1, hiddenDim: 48, vocabSize: 40, contextLength: 24)
        c.headDimension = 16
        c.normEpsilon = 1e-6
        c.ropeTheta = 1000
        c.gemma = ModelConfig.GemmaOptions(
            slidingWindow: 4, globalInterval: 3, localRopeTheta: 50, queryPreAttentionScalar: 8)
        return c
    }()

    func randomModel() -> Transformer {
        let model = Transformer(config: Self.config)
        model.initialize(seed: 3)
        var rng = RandomGenerator(seed: 4)
        for i in 0..<model.parameters.count { model.parameters[i] += rng.normal() * 0.1 }
        return model
    }

    /// Lengths beyond the window on both attention paths (the tiled one from 8 rows, which a
    /// binding window sends down the row path) and a short one it does not reach.
    let documents: [[Int32]] = [
        [1, 5, 9, 13, 17, 21, 25, 29, 33, 2, 6], [2, 4, 8], (0..<14).map { Int32(($0 * 7 + 3) % 40) },
    ]

    func testTheConfigDescribesGemmasLayers() {
        let c = Self.config
        XCTAssertEqual((0..<3).map { c.attentionWindow(layer: $0) }, [4, 4, nil])
        XCTAssertEqual((0..<3).map { c.ropeTheta(layer: $0) }, [50, 50, 1000])
        XCTAssertEqual(c.queryScale, 1 / Float(8).squareRoot())
        let model = Transformer(config: c)
        XCTAssertEqual(model.ropeTables.count, 2)
        XCTAssertNotNil(model.layout.layers[0].queryNorm)
        XCTAssertNotNil(model.layout.layers[0].mlpOutputNorm)
    }

    func testWholeModelGradientMatchesFiniteDifferences() {
        assertModelGradientMatchesFiniteDifferences(randomModel(), Batch(windows: documents))
    }

    /// Generation (a paged KV cache, prompt chunks and then one token at a time, past the
    /// window) predicts what the training forward predicts on the same tokens.
    func testCachedDecodingMatchesTheTrainingForward() {
        let model = randomModel()
        let tokens = documents[2]
        let training = TrainingPass(model: model, maxRows: 32)
        var rowLosses = [Float](repeating: 0, count: tokens.count - 1)
        _ = training.loss(Batch(windows: [tokens]), rowLosses: &rowLosses)
        let pool = KVBlockPool(config: model.config, blockCount: 16, blockSize: 4)
        let generation = GenerationPass(model: model, pool: pool, maxRows: 32, maxLogitRows: 1)
        var table = BlockTable()
        // A 9-token prompt chunk (tiled unless the window binds), then single tokens.
        for (start, end) in [(0, 9)] + (9..<tokens.count - 1).map { ($0, $0 + 1) } {
            XCTAssertTrue(table.grow(toHold: end, from: pool))
            var batch = GenerationBatch()
            batch.append(tokens[start..<end], past: start, blocks: table.blocks, wantsLogits: true)
            generation.forward(batch)
            table.length = end
            let logits = Array(UnsafeBufferPointer(start: generation.logits.pointer, count: model.config.vocabSize))
            let m = logits.max()!
            let lse = Double(m) + log(logits.reduce(0.0) { $0 + exp(Double($1 - m)) })
            XCTAssertEqual(
                lse - Double(logits[Int(tokens[end])]), Double(rowLosses[end - 1]), accuracy: 1e-3,
                "after \(end) tokens")
        }
        table.release(to: pool)
    }

    /// A long-context model trains on shorter windows.
    func testALongContextModelTrainsOnShorterWindows() {
        var options = TrainingOptions.finetuning(contextLength: 8)
        XCTAssertEqual(options.context(for: Self.config), 24)
        options.trainingContext = 8
        XCTAssertEqual(options.context(for: Self.config), 8)
        options.trainingContext = 100
        XCTAssertEqual(options.context(for: Self.config), 24)
        options.trainingContext = 1
        XCTAssertThrowsError(try options.validate())
    }

    func testScoringForwardIsTheTrainingForward() {
        let model = randomModel()
        let batch = Batch(windows: documents)
        let training = TrainingPass(model: model, maxRows: 32)
        let scoring = ScoringPass(model: model, maxRows: 32)
        XCTAssertEqual(training.loss(batch), scoring.loss(batch))
    }
}
