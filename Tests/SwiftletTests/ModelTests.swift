import Glibc
import XCTest
@testable import Swiftlet

final class ModelTests: XCTestCase {
    /// Head size 16, so sequences of 8 or more rows take the tiled attention path.
    static let config = ModelConfig(
        dim: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 48, vocabSize: 40, contextLength: 24)

    /// Two sequences of different lengths packed in one batch.
    func packedBatch() -> Batch {
        let a: [Int32] = [1, 5, 9, 13, 17, 21, 25, 29, 33]
        let b: [Int32] = [2, 4, 8, 16, 32, 3]
        return Batch(windows: [a, b])
    }

    func randomModel(_ config: ModelConfig = config, scale: Float = 0.2) -> Transformer {
        let model = Transformer(config: config)
        model.initialize(seed: 3)
        var rng = RandomGenerator(seed: 4)
        for i in 0..<model.parameters.count { model.parameters[i] += rng.normal() * scale * 0.5 }
        return model
    }

    func testWholeModelGradientMatchesFiniteDifferences() {
        assertModelGradientMatchesFiniteDifferences(randomModel(), packedBatch())
    }

    func testPackedBatchLossAndGradientsEqualDocumentsAlone() {
        let model = randomModel()
        // Lengths on both attention paths (row path below 8 rows, tiled from 8), one near the context.
        let documents: [[Int32]] = [
            [2, 4, 8, 16, 32, 3], (0..<18).map { Int32(($0 * 5 + 1) % 40) }, [7, 11],
            (0..<25).map { Int32(($0 * 3 + 2) % 40) },
        ]
        let packed = Batch(windows: documents)
        let total = packed.lossTokens
        let pass = TrainingPass(model: model, maxRows: 64)
        let packedLoss = pass.forwardBackward(packed, gradientTokens: total)
        let packedGradients = pass.gradients.array
        pass.gradients.zero()
        var aloneLoss = 0.0
        for document in documents {
            aloneLoss += pass.forwardBackward(Batch(windows: [document]), gradientTokens: total)
        }
        XCTAssertEqual(packedLoss, aloneLoss, accuracy: 1e-4 * abs(aloneLoss))
        let scale = packedGradients.reduce(0) { max($0, abs($1)) }
        XCTAssertLessThan(maxAbsDifference(packedGradients, pass.gradients.array), 1e-4 * scale)
    }

    /// Runs `tokens` through the engine's forward pass after what `table` holds, `chunk` rows at a
    /// time; returns the logits after the last one.
    func feed(_ tokens: [Int32], into table: inout BlockTable, forward: GenerationPass, chunk: Int = 256) -> [Float] {
        var start = 0
        var logits: [Float] = []
        while start < tokens.count {
            let piece = Array(tokens[start..<min(start + chunk, tokens.count)])
            XCTAssertTrue(table.grow(toHold: table.length + piece.count, from: forward.pool))
            let last = start + piece.count == tokens.count
            var batch = GenerationBatch()
            batch.append(piece, past: table.length, blocks: table.blocks, wantsLogits: last)
            forward.forward(batch)
            if last {
                logits = Array(
                    UnsafeBufferPointer(start: forward.logits.pointer, count: forward.model.config.vocabSize))
            }
            table.length += piece.count
            start += piece.count
        }
        return logits
    }

    func testCachedDecodingMatchesFullForward() {
        // Logits of the last token after feeding a prompt in pieces equal those of one pass.
        let model = randomModel()
        let pool = KVBlockPool(config: model.config, blockCount: 16, blockSize: 4)
        let forward = GenerationPass(model: model, pool: pool, maxRows: 32, maxLogitRows: 2)
        let tokens: [Int32] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
        var wholeTable = BlockTable(), piecesTable = BlockTable()
        let whole = feed(tokens, into: &wholeTable, forward: forward)
        _ = feed(Array(tokens[0..<4]), into: &piecesTable, forward: forward, chunk: 3)
        var pieces: [Float] = []
        for t in tokens[4...] { pieces = feed([t], into: &piecesTable, forward: forward) }
        XCTAssertLessThan(maxAbsDifference(whole, pieces), 1e-4)
        wholeTable.release(to: pool)
        piecesTable.release(to: pool)
        // A prompt prefilled in chunks of 8 (the tiled path, with cached past keys) equals one pass.
        let long: [Int32] = (0..<22).map { Int32(($0 * 7 + 1) % 40) }
        var oneTable = BlockTable(), chunkedTable = BlockTable()
        let onePass = feed(long, into: &oneTable, forward: forward)
        let chunked = feed(long, into: &chunkedTable, forward: forward, chunk: 8)
        XCTAssertLessThan(maxAbsDifference(onePass, chunked), 1e-4)
        oneTable.release(to: pool)
        chunkedTable.release(to: pool)
        // And they match the training pass: the loss of predicting tokens[9] from the first nine tokens, via the cache.
        let pass = TrainingPass(model: model, maxRows: 16)
        var rowLosses = [Float](repeating: 0, count: tokens.count - 1)
        _ = pass.loss(Batch(windows: [tokens]), rowLosses: &rowLosses)
        XCTAssertEqual(whole.count, model.config.vocabSize)
        var table = BlockTable()
        let c = feed(Array(tokens[0..<9]), into: &table, forward: forward)
        let cm = c.max()!
        let clse = Double(cm) + log(c.reduce(0.0) { $0 + exp(Double($1 - cm)) })
        XCTAssertEqual(clse - Double(c[Int(tokens[9])]), Double(rowLosses[8]), accuracy: 1e-3)
    }

    func testTinyModelOverfitsAShortText() throws {
        let config = ModelConfig(dim: 64, layers: 2, heads: 4, kvHeads: 2, vocabSize: 40, contextLength: 32)
        let model = Transformer(config: config)
        model.initialize(seed: 1)
        let sequence: [Int32] = (0..<33).map { Int32(($0 * 7 + 3) % 40) }
        let tokenizer = try TestData.tokenizer()
        var options = TrainingOptions()
        options.steps = 150
        options.batchTokens = 32
        options.learningRate = 3e-3
        options.adam.weightDecay = 0
        options.evalInterval = 1000
        let documents = DocumentTokens(
            tokens: Array(repeating: sequence, count: 4).flatMap { $0 }, documentStarts: [0, 33, 66, 99, 132])
        let state = TrainerState(options: options, preset: "test")
        let trainer = try Trainer(
            model: model, tokenizer: tokenizer, state: state,
            training: [WeightedCorpus(name: "repeat", documents: documents)],
            validation: [ValidationSet(name: "val", documents: DocumentTokens(stream: sequence))],
            directory: TestData.temporaryDirectory("overfit"))
        var lastLoss = Double.infinity
        for _ in 0..<150 { lastLoss = try trainer.trainStep().loss }
        XCTAssertLessThan(lastLoss, 0.05, "a tiny model should memorize a repeating sequence")
    }

    func testDropoutIsDeterministicAndOffInEvaluation() {
        var config = Self.config
        config.dropout = 0.3
        let model = randomModel(config)
        let pass = TrainingPass(model: model, maxRows: 32)
        let batch = packedBatch()
        let a = pass.forwardBackward(batch, gradientTokens: 1, dropoutSeed: 42)
        let b = pass.forwardBackward(batch, gradientTokens: 1, dropoutSeed: 42)
        let c = pass.forwardBackward(batch, gradientTokens: 1, dropoutSeed: 43)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        // Evaluation ignores dropout: the same weights without dropout score the same.
        var plain = config
        plain.dropout = 0
        let twin = Transformer(config: plain)
        twin.parameters.copy(from: model.parameters)
        XCTAssertEqual(pass.loss(batch), TrainingPass(model: twin, maxRows: 32).loss(batch), accuracy: 1e-9)
    }

    func testDropoutGradientMatchesFiniteDifferences() {
        var config = Self.config
        config.dropout = 0.25
        let model = randomModel(config)
        let batch = packedBatch()
        let pass = TrainingPass(model: model, maxRows: 32)
        pass.forwardBackward(batch, gradientTokens: 1, dropoutSeed: 7)
        let analytic = pass.gradients.array
        let scratch = TrainingPass(model: model, maxRows: 32)
        func loss() -> Double {
            scratch.gradients.zero()
            return scratch.forwardBackward(batch, gradientTokens: 1, dropoutSeed: 7)
        }
        for name in ["model.layers.1.mlp.down_proj.weight", "model.layers.0.self_attn.q_proj.weight"] {
            let view = model.view(named: name)!
            for k in 0..<4 {
                let i = view.offset + (k * 131) % view.count
                let saved = model.parameters[i]
                model.parameters[i] = saved + 1e-2
                let plus = loss()
                model.parameters[i] = saved - 1e-2
                let minus = loss()
                model.parameters[i] = saved
                assertClose(Double(analytic[i]), (plus - minus) / 2e-2, relative: 3e-2, absolute: 3e-3, name)
            }
        }
    }

    func testSamplerAlwaysFindsACandidate() {
        let vocab = 50
        var flat = [Float](repeating: 0, count: vocab)
        var sampler = Sampler(SamplingSettings(temperature: 1000, topK: 0, topP: 0.0001, seed: 1))
        for _ in 0..<20 {
            flat = [Float](repeating: 0.25, count: vocab)
            let id = sampler.sample(&flat, vocab: vocab)
            XCTAssertTrue((0..<Int32(vocab)).contains(id))
        }
        var peaked = [Float](repeating: 0, count: vocab)
        peaked[7] = 50
        var greedy = Sampler(SamplingSettings(temperature: 0))
        XCTAssertEqual(greedy.sample(&peaked, vocab: vocab), 7)
        var nucleus = Sampler(SamplingSettings(temperature: 1, topP: 0.5, seed: 3))
        peaked = [Float](repeating: 0, count: vocab)
        peaked[7] = 50
        XCTAssertEqual(nucleus.sample(&peaked, vocab: vocab), 7, "top-p keeps only the dominant token")
    }

    func testSamplerSoftmaxMatchesTheScalarReference() {
        // Vocabularies with and without a scalar tail, temperatures around 1, and logits the
        // vector exp must send to 0: −∞, and more than 87 below the largest.
        for (vocab, temperature) in [(4096, Float(0.8)), (4099, 1), (37, 0.3), (5, 2)] {
            var logits = TestData.randoms(vocab, seed: UInt64(vocab), scale: 8)
            logits[vocab / 2] = -.infinity
            logits[vocab - 1] = logits.max()! - 200
            let largest = logits.max()!
            let exps = logits.map { Double(expf(($0 - largest) / temperature)) }
            let total = exps.reduce(0, +)
            var probabilities = logits
            probabilities.withUnsafeMutableBufferPointer {
                Sampler.softmax($0.baseAddress!, vocab: vocab, temperature: temperature)
            }
            for i in 0..<vocab {
                let expected = exps[i] / total
                XCTAssertEqual(
                    Double(probabilities[i]), expected, accuracy: 1e-6 * expected + 1e-12, "vocab \(vocab), \(i)")
            }
            XCTAssertEqual(probabilities[vocab / 2], 0)
            XCTAssertEqual(probabilities[vocab - 1], 0)
            XCTAssertEqual(Double(probabilities.reduce(0, +)), 1, accuracy: 1e-5)
        }
    }

    func testPresetsHaveTheAdvertisedShapes() {
        let small = ModelPreset.small.config(vocabSize: 4096)
        XCTAssertEqual(
            [small.dim, small.layers, small.heads, small.contextLength, small.hiddenDim], [288, 6, 6, 256, 768])
        XCTAssertGreaterThanOrEqual(ModelPreset.base.config(vocabSize: 8192).parameterCount, 40_000_000)
        let layout = ParameterLayout(config: small)
        XCTAssertEqual(layout.views.first?.name, "model.embed_tokens.weight")
        XCTAssertTrue(
            layout.views.contains { $0.name == "model.layers.5.mlp.down_proj.weight" && $0.shape == [288, 768] })
        XCTAssertEqual(layout.outputHead, layout.embedding, "tied by default")
        var untied = small
        untied.tiedEmbedding = false
        XCTAssertTrue(ParameterLayout(config: untied).views.contains { $0.name == "lm_head.weight" })
    }

    func testLearningRateScheduleWarmsUpThenDecays() {
        let s = LearningRateSchedule(peak: 1, floor: 0.1, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s.rate(atStep: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(atStep: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(atStep: 60), 0.55, accuracy: 1e-3)
        XCTAssertEqual(s.rate(atStep: 110), 0.1, accuracy: 1e-6)
        XCTAssertGreaterThan(s.rate(atStep: 30), s.rate(atStep: 31))
    }
}
