import XCTest
@testable import Swiftlet

/// `classify train` on a Gemma 3 base (a tiny one shaped as the 270M): end to end, the pass sized
/// by the texts rather than the model's context, and the saved classifier labels as it was trained.
final class GemmaClassifierTests: XCTestCase {
    func testAGemmaClassifierTrainsSavesAndLabels() throws {
        let tokenizer = try GemmaCheckpointTests.tokenizer()
        var config = GemmaCheckpointTests.config
        config.contextLength = 4096
        let dir = TestData.temporaryDirectory("gemma-cls-base") + "/model"
        try CheckpointStore.write(
            CheckpointContents(
                config: CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer)),
                model: GemmaCheckpointTests.model(), tokenizer: tokenizer), to: dir)
        let base = try Checkpoint.load(dir)
        var rng = RandomGenerator(seed: 3)
        func text(_ words: [String]) -> String {
            (0..<(2 + rng.below(3))).map { _ in words[rng.below(words.count)] }.joined(separator: " ")
        }
        let good = ["good", "great", "fine"], bad = ["bad", "awful", "poor"]
        let examples = (0..<48).map { i in i % 2 == 0 ? (text(good), 0) : (text(bad), 1) }
        for mode in [ClassifierTrainingMode.full, .lora] {
            var options = ClassifierTrainingOptions(mode: mode)
            options.epochs = 2
            options.batchSize = 8
            options.pooling = .mean
            let out = TestData.temporaryDirectory("gemma-cls-\(mode.rawValue)") + "/classifier"
            let trainer = try ClassifierTrainer(
                base: base, labels: ["good", "bad"], train: Array(examples[..<32]), validation: Array(examples[32...]),
                options: options, directory: out)
            let longest = examples.map { FeatureExtractor.tokens($0.0, tokenizer: tokenizer, context: 4096).count }
                .max()!
            XCTAssertEqual(trainer.context, longest, "the longest text, not the model's 4,096 tokens")
            XCTAssertEqual(trainer.rowsPerPass, 8 * longest)
            var epochs = 0
            try trainer.run(report: { if case .epoch = $0 { epochs += 1 } })
            XCTAssertEqual(epochs, 2, "\(mode)")
            // The checkpoint holds the best epoch; labeling it gives that epoch's validation accuracy.
            let kept = try Checkpoint.load(out)
            XCTAssertNotNil(kept.config.model.gemma)
            let validation = Array(examples[32...])
            let (labels, probabilities) = try Classification.probabilities(
                validation.map(\.0), checkpoint: kept, zeroShot: nil)
            XCTAssertEqual(labels, ["good", "bad"])
            let correct = zip(validation, probabilities).filter { example, p in
                p.indices.max { p[$0] < p[$1] }! == example.1
            }.count
            XCTAssertEqual(Double(correct) / Double(validation.count), trainer.bestAccuracy, accuracy: 1e-9, "\(mode)")
        }
    }
}
