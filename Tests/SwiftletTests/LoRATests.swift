import XCTest
@testable import Swiftlet

final class LoRATests: XCTestCase {
    static let config = ModelConfig(
        dim: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 48, vocabSize: 40, contextLength: 24)

    func model() -> Transformer {
        let model = Transformer(config: Self.config)
        model.initialize(seed: 3)
        return model
    }

    /// Adapters with B ≠ 0, so every path carries gradient.
    func adapters(rank: Int = 3, targets: [LoRATarget] = LoRATarget.allCases) -> LoRAAdapters {
        let adapters = LoRAAdapters(config: LoRAConfig(rank: rank, targets: targets), model: Self.config)
        var rng = RandomGenerator(seed: 11)
        for i in 0..<adapters.parameters.count { adapters.parameters[i] = rng.normal() * 0.1 }
        return adapters
    }

    let batch = Batch(windows: [[1, 5, 9, 13, 17, 21, 25, 29, 33, 2, 4], [2, 4, 8, 16, 32, 3]])

    func testAdapterGradientsMatchFiniteDifferences() {
        let model = model(), adapters = adapters()
        let pass = TrainingPass(model: model, maxRows: 32, adapters: adapters)
        pass.forwardBackward(batch, gradientTokens: batch.lossTokens)
        let analytic = pass.adapterGradients!.array
        var rng = RandomGenerator(seed: 5)
        for view in adapters.views {
            for _ in 0..<2 {
                let i = view.offset + rng.below(view.count)
                let saved = adapters.parameters[i]
                adapters.parameters[i] = saved + 1e-2
                let plus = pass.loss(batch) / Double(batch.lossTokens)
                adapters.parameters[i] = saved - 1e-2
                let minus = pass.loss(batch) / Double(batch.lossTokens)
                adapters.parameters[i] = saved
                assertClose(Double(analytic[i]), (plus - minus) / 2e-2, relative: 3e-2, absolute: 3e-4, view.name)
            }
        }
    }

    func testMergedWeightsGiveTheSameLossesAsBasePlusAdapters() {
        let base = model(), adapters = adapters(targets: [.q, .v, .down])
        var adapted = [Float](repeating: 0, count: batch.rows), merged = [Float](repeating: 0, count: batch.rows)
        _ = TrainingPass(model: base, maxRows: 32, adapters: adapters).loss(batch, rowLosses: &adapted)
        let copy = Transformer(config: Self.config)
        copy.parameters.copy(from: base.parameters)
        adapters.merge(into: copy)
        XCTAssertNotEqual(copy.parameters.array, base.parameters.array)
        _ = TrainingPass(model: copy, maxRows: 32).loss(batch, rowLosses: &merged)
        XCTAssertLessThan(maxAbsDifference(adapted, merged), 1e-4)
    }

    func testAdapterOnlyTrainingLeavesTheBaseBitIdentical() throws {
        let tokenizer = try TestData.tokenizer()
        var config = ModelPreset.tiny.config(vocabSize: tokenizer.vocabSize)
        config.contextLength = 32
        let base = Transformer(config: config)
        base.initialize(seed: 4)
        let baseDir = TestData.temporaryDirectory("lora-base")
        try Checkpoint.save(
            baseDir,
            files: [
                CheckpointFiles.config: try Checkpoint.configBytes(
                    CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer))),
                CheckpointFiles.model: Checkpoint.weightBytes(base),
                CheckpointFiles.tokenizer: tokenizer.modelBytes,
            ])
        let before = base.parameters.array
        let train = WeightedCorpus(
            name: "t", documents: DocumentTokens(stream: tokenizer.encode(TestData.text(lines: 100, seed: 1))))
        let validation = ValidationSet(
            name: "v", documents: DocumentTokens(stream: tokenizer.encode(TestData.text(lines: 20, seed: 2))))
        var losses: [Double] = []
        for merge in [false, true] {
            var options = TrainingOptions()
            options.steps = 6
            options.learningRate = 1e-2
            options.batchTokens = 64
            options.evalInterval = 3
            options.keepBest = true
            options.lora = LoRAConfig(rank: 4, targets: [.q, .k, .v, .o, .gate, .up, .down])
            options.mergeAdapters = merge
            let dir = TestData.temporaryDirectory(merge ? "lora-merged" : "lora-adapter")
            let trainer = try Trainer(
                finetuning: try Checkpoint.load(baseDir), options: options, training: [train],
                validation: [validation], directory: dir)
            _ = try trainer.run(report: { _ in }, shouldStop: { false })
            XCTAssertEqual(trainer.model.parameters.array, before, "training moved only the adapters")
            XCTAssertGreaterThan(trainer.savedStep ?? 0, 0, "the adapters improved on the base")
            if !merge {
                XCTAssertEqual(
                    try FileIO.readBytes(dir + "/" + CheckpointFiles.model),
                    try FileIO.readBytes(baseDir + "/" + CheckpointFiles.model))
                XCTAssertTrue(FileIO.exists(dir + "/" + CheckpointFiles.peftWeights))
            } else {
                XCTAssertFalse(FileIO.exists(dir + "/" + CheckpointFiles.peftWeights))
            }
            let loaded = try Checkpoint.load(dir)
            XCTAssertEqual(loaded.adapter != nil, !merge)
            XCTAssertThrowsError(try Trainer.resume(directory: dir, training: [train], validation: [validation])) {
                error in
                XCTAssertTrue(((error as? SwiftletError)?.message ?? "").contains("cannot be resumed"))
            }
            let windows = Evaluator.windows(of: validation.documents, context: 32, maxTokens: .max)
            losses.append(
                Evaluator.evaluate(
                    pass: TrainingPass(model: loaded.model, maxRows: 64), tokenizer: tokenizer, windows: windows
                ).loss)
            XCTAssertEqual(losses.last!, trainer.state.bestValidationLoss!, accuracy: 1e-4)
        }
        // Both ways of saving hold the same model.
        XCTAssertEqual(losses[0], losses[1], accuracy: 1e-4)
    }
}
