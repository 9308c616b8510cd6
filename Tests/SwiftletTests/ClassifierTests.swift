import XCTest
@testable import Swiftlet

final class ClassifierTests: XCTestCase {
    func testHeadGradientsMatchFiniteDifferences() {
        let dim = 8, count = 3
        for pooling in Pooling.allCases {
            let head = ClassifierHead(config: ClassifierConfig(labels: ["a", "b", "c"], pooling: pooling), dim: dim)
            head.initialize(seed: 1)
            for i in 0..<head.parameters.count { head.parameters[i] += Float(i % 7) * 0.05 - 0.15 }
            // Hidden rows of three packed texts (lengths 2, 4, 1), pooled, then the weighted loss.
            let cumulative = [0, 2, 6, 7]
            var hidden = TestData.randoms(7 * dim, seed: 3)
            let labels = [2, 0, 1], weights: [Float] = [1, 2, 0.5]
            func loss(_ h: [Float]) -> Double {
                var pooled = [Float](repeating: 0, count: count * dim)
                ClassifierHead.pool(h, cumulativeLengths: cumulative, dim: dim, pooling: pooling, into: &pooled)
                return head.lossAndGradients(
                    pooled, labels: labels, classWeights: weights, normalizer: 2,
                    gradients: FloatBuffer(count: head.parameters.count), dPooled: nil
                ).loss / 2
            }
            var pooled = [Float](repeating: 0, count: count * dim), dPooled = pooled
            ClassifierHead.pool(hidden, cumulativeLengths: cumulative, dim: dim, pooling: pooling, into: &pooled)
            let gradients = FloatBuffer(count: head.parameters.count)
            _ = head.lossAndGradients(
                pooled, labels: labels, classWeights: weights, normalizer: 2, gradients: gradients, dPooled: &dPooled)
            var dHidden = [Float](repeating: .nan, count: 7 * dim)
            ClassifierHead.unpool(dPooled, cumulativeLengths: cumulative, dim: dim, pooling: pooling, into: &dHidden)
            for i in stride(from: 0, to: 7 * dim, by: 3) {
                let numeric = numericalDerivative(at: &hidden, index: i, epsilon: 1e-2, loss)
                assertClose(Double(dHidden[i]), numeric, relative: 2e-2, absolute: 1e-4, "\(pooling) hidden \(i)")
            }
            for i in stride(from: 0, to: head.parameters.count, by: 2) {
                let saved = head.parameters[i]
                head.parameters[i] = saved + 1e-2
                let plus = loss(hidden)
                head.parameters[i] = saved - 1e-2
                let minus = loss(hidden)
                head.parameters[i] = saved
                assertClose(
                    Double(gradients[i]), (plus - minus) / 2e-2, relative: 2e-2, absolute: 1e-4,
                    "\(pooling) parameter \(i)")
            }
        }
    }

    func classifier() throws -> FeatureExtractor {
        let tokenizer = try TestData.tokenizer()
        let model = Transformer(
            config: ModelConfig(
                dim: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 128, vocabSize: tokenizer.vocabSize,
                contextLength: 64))
        model.initialize(seed: 5)
        return FeatureExtractor(model: model, tokenizer: tokenizer, maxRows: 256)
    }

    func testPackedFeaturesEqualTextsOneAtATime() throws {
        let classifier = try classifier()
        let texts = [
            "the king speaks", "my lord", "what is this that I shall not be here to love and war of the queen",
            "good night",
        ]
        var done: [Int] = []
        let packed = classifier.features(texts, poolings: Pooling.allCases) { done.append($0) }
        XCTAssertEqual(done.last, texts.count, "progress ends with every text done")
        XCTAssertEqual(done, done.sorted())
        XCTAssertGreaterThan(
            classifier.batches(texts.map(classifier.tokens)).first!.range.count, 1, "several texts share a pass")
        for (i, text) in texts.enumerated() {
            let alone = classifier.features([text], poolings: Pooling.allCases)
            for pooling in Pooling.allCases {
                XCTAssertLessThan(
                    maxAbsDifference(Array(packed[pooling]![i * 64..<(i + 1) * 64]), alone[pooling]!), 1e-5)
            }
        }
    }

    func testASyntheticTaskIsLearnedPerfectly() throws {
        let tokenizer = try TestData.tokenizer()
        var config = ModelPreset.tiny.config(vocabSize: tokenizer.vocabSize)
        config.contextLength = 32
        let model = Transformer(config: config)
        model.initialize(seed: 2)
        let dir = TestData.temporaryDirectory("cls-base")
        try Checkpoint.save(
            dir,
            files: [
                CheckpointFiles.config: try Checkpoint.configBytes(
                    CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer))),
                CheckpointFiles.model: Checkpoint.weightBytes(model),
                CheckpointFiles.tokenizer: tokenizer.modelBytes,
            ])
        // Royal words against everyday ones, in random order and number.
        var rng = RandomGenerator(seed: 9)
        func text(_ words: [String]) -> String {
            (0..<(2 + rng.below(4))).map { _ in words[rng.below(words.count)] }.joined(separator: " ")
        }
        let royal = ["king", "queen", "prince", "lord"], plain = ["night", "war", "love", "here"]
        let examples = (0..<160).map { i in i % 2 == 0 ? (text(royal), 0) : (text(plain), 1) }
        let out = TestData.temporaryDirectory("cls-out")
        var options = ClassifierTrainingOptions(mode: .head)
        options.epochs = 10
        let trainer = try ClassifierTrainer(
            base: try Checkpoint.load(dir), labels: ["royal", "plain"], train: Array(examples[..<120]),
            validation: Array(examples[120...]), options: options, directory: out)
        try trainer.run(report: { _ in })
        XCTAssertEqual(trainer.bestAccuracy, 1)
        let kept = try Checkpoint.load(out)
        let head = try XCTUnwrap(kept.classifier)
        XCTAssertEqual(head.config.labels, ["royal", "plain"])
        let probabilities = FeatureExtractor(model: kept.model, tokenizer: kept.tokenizer).probabilities(
            ["king queen lord", "love war night"], head: head)
        XCTAssertGreaterThan(probabilities[0][0], 0.5)
        XCTAssertGreaterThan(probabilities[1][1], 0.5)
        XCTAssertThrowsError(
            try ClassifierTrainer(
                base: kept, labels: ["only"], train: [("x", 0)], validation: [("y", 0)],
                options: options, directory: out))
        // End to end with dropout, steps of 32 texts split over passes of one context (32 rows):
        // every epoch runs and the model moves.
        var full = ClassifierTrainingOptions(mode: .full)
        full.pooling = .mean
        full.epochs = 2
        full.maxRowsPerPass = 32
        full.dropout = 0.1
        let before = try Checkpoint.load(dir).model.parameters.array
        let fullOut = TestData.temporaryDirectory("cls-full")
        let endToEnd = try ClassifierTrainer(
            base: try Checkpoint.load(dir), labels: ["royal", "plain"], train: Array(examples[..<120]),
            validation: Array(examples[120...]), options: full, directory: fullOut)
        var epochs = 0, progress: [(epoch: Int, done: Int, total: Int)] = []
        try endToEnd.run(report: { event in
            if case .epoch = event { epochs += 1 }
            if case let .progress(epoch, done, total, _, _, _) = event { progress.append((epoch, done, total)) }
        })
        XCTAssertEqual(epochs, 2)
        // A progress report after every step: 120 texts in steps of 32 are 4 steps an epoch.
        XCTAssertEqual(progress.map(\.epoch), [1, 1, 1, 1, 2, 2, 2, 2])
        XCTAssertEqual(progress.map(\.done), [1, 2, 3, 4, 1, 2, 3, 4])
        XCTAssertTrue(progress.allSatisfy { $0.total == 4 })
        XCTAssertGreaterThanOrEqual(endToEnd.bestAccuracy, 0.95)
        XCTAssertNotEqual(endToEnd.model.parameters.array, before, "full fine-tuning trained the model")
        XCTAssertEqual(endToEnd.base.model.parameters.array, before, "the base stays as it was")
    }

    func testZeroShotPicksTheLabelTheModelLearned() throws {
        let tokenizer = try TestData.tokenizer()
        var config = ModelPreset.tiny.config(vocabSize: tokenizer.vocabSize)
        config.contextLength = 32
        let model = Transformer(config: config)
        model.initialize(seed: 3)
        // A model taught that kings are royal and nights are plain.
        let lines = (0..<40).flatMap { _ in ["Text: the king\nLabel: royal", "Text: good night\nLabel: plain"] }
        var documents = DocumentTokens(tokens: [], documentStarts: [0])
        for line in lines { documents.append(tokenizer.encode(line) + [tokenizer.eosID]) }
        var options = TrainingOptions()
        options.steps = 60
        options.batchTokens = 128
        options.learningRate = 3e-3
        options.evalInterval = 1000
        let trainer = try Trainer(
            model: model, tokenizer: tokenizer, state: TrainerState(options: options, preset: "tiny"),
            training: [WeightedCorpus(name: "l", documents: documents)], validation: [],
            directory: TestData.temporaryDirectory("zero"))
        for _ in 0..<60 { _ = try trainer.trainStep() }
        let zeroShot = try ZeroShot(labels: ["royal", "plain"])
        let pass = TrainingPass(model: model, maxRows: 128)
        var done: [Int] = []
        let p = zeroShot.probabilities(["the king", "good night"], model: model, tokenizer: tokenizer, pass: pass) {
            done.append($0)
        }
        XCTAssertEqual(done.last, 2, "progress ends with every text done")
        XCTAssertGreaterThan(p[0][0], 0.5)
        XCTAssertGreaterThan(p[1][1], 0.5)
        XCTAssertEqual(p[0][0] + p[0][1], 1, accuracy: 1e-5)
        XCTAssertThrowsError(try ZeroShot(labels: ["one"]))
        XCTAssertThrowsError(try ZeroShot(labels: ["a", "b"], template: "{label} {text}"))
    }

    /// A checkpoint directory holding a freshly initialized model of this shape.
    func baseCheckpoint(_ config: ModelConfig, tokenizer: Tokenizer, seed: UInt64, name: String) throws -> String {
        let model = Transformer(config: config)
        model.initialize(seed: seed)
        let dir = TestData.temporaryDirectory(name)
        try Checkpoint.save(
            dir,
            files: [
                CheckpointFiles.config: try Checkpoint.configBytes(
                    CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer))),
                CheckpointFiles.model: Checkpoint.weightBytes(model),
                CheckpointFiles.tokenizer: tokenizer.modelBytes,
            ])
        return dir
    }

    /// A long-context model's classifier trains on passes sized by its texts, not by its context
    /// (Gemma 3's 32,768 tokens): the longest text sets the context unless --context does, the
    /// memory plan has no logits, and a frozen embedding stays as it was.
    func testAPassSizedByTheDataAndAFrozenEmbedding() throws {
        let tokenizer = try TestData.tokenizer()
        var config = ModelPreset.tiny.config(vocabSize: tokenizer.vocabSize)
        config.contextLength = 8192
        let dir = try baseCheckpoint(config, tokenizer: tokenizer, seed: 4, name: "cls-long-base")
        let base = try Checkpoint.load(dir)
        let texts = ["the king speaks", "good night", "my lord, what is this that I shall not be here", "love and war"]
        let examples = (0..<24).map { (texts[$0 % 4], $0 % 2) }
        var options = ClassifierTrainingOptions(mode: .full)
        options.freezeEmbedding = true
        options.epochs = 1
        options.pooling = .last
        options.batchSize = 8
        let trainer = try ClassifierTrainer(
            base: base, labels: ["a", "b"], train: Array(examples[..<16]), validation: Array(examples[16...]),
            options: options, directory: TestData.temporaryDirectory("cls-long-out"))
        let longest = texts.map { FeatureExtractor.tokens($0, tokenizer: tokenizer, context: 8192).count }.max()!
        XCTAssertEqual(trainer.context, longest)
        XCTAssertEqual(trainer.rowsPerPass, 8 * longest, "one step's texts at their longest")
        let plan = trainer.memoryPlan
        XCTAssertFalse(plan.parts.contains { $0.name == "logits" }, "no loss here needs the vocabulary projection")
        XCTAssertLessThan(plan.total, MemoryPlan.training(config, rows: config.contextLength).total)
        XCTAssertTrue(plan.summary.hasPrefix("about "), plan.summary)
        try trainer.run(report: { _ in })
        let embedding = config.vocabSize * config.dim, L = base.model.layout
        XCTAssertEqual(
            Array(trainer.model.parameters.array[L.embedding..<L.embedding + embedding]),
            Array(base.model.parameters.array[L.embedding..<L.embedding + embedding]),
            "the frozen embedding did not move")
        XCTAssertNotEqual(trainer.model.parameters.array, base.model.parameters.array, "the rest of the model trained")
        // --context cuts every text to its beginning; beyond the model's context it is refused.
        options.context = 3
        let short = try ClassifierTrainer(
            base: base, labels: ["a", "b"], train: Array(examples[..<16]), validation: Array(examples[16...]),
            options: options, directory: TestData.temporaryDirectory("cls-short-out"))
        XCTAssertEqual(short.context, 3)
        XCTAssertEqual((short.trainTokens + short.validationTokens).map(\.count).max(), 3)
        XCTAssertEqual(
            short.trainTokens[2].last, tokenizer.eosID, "a cut text still ends with the end-of-sequence token")
        options.context = 9000
        XCTAssertThrowsError(
            try ClassifierTrainer(
                base: base, labels: ["a", "b"], train: Array(examples[..<16]), validation: Array(examples[16...]),
                options: options, directory: TestData.temporaryDirectory("cls-long-refused")))
        var lora = ClassifierTrainingOptions(mode: .lora)
        lora.freezeEmbedding = true
        XCTAssertThrowsError(try lora.validate(), "a frozen embedding goes with full fine-tuning only")
    }

    /// The defaults follow the base: Swiftlet's own models get the from-scratch recipe, a GGUF
    /// or Hugging Face model pretrained elsewhere the one measured on Gemma 3 270M.
    func testTheDefaultsFollowWhereTheBaseWasPretrained() throws {
        let gguf = try Checkpoint.load(InteropTests.fixtures + "/gguf-Q8_0.gguf")
        XCTAssertTrue(gguf.isPretrainedElsewhere)
        let tokenizer = try TestData.tokenizer()
        let own = try Checkpoint.load(
            try baseCheckpoint(
                ModelPreset.tiny.config(vocabSize: tokenizer.vocabSize), tokenizer: tokenizer,
                seed: 1, name: "cls-own-base"))
        XCTAssertFalse(own.isPretrainedElsewhere)
        let scratch = ClassifierTrainingOptions(mode: nil, pretrainedElsewhere: false)
        XCTAssertEqual(scratch.mode, .full)
        XCTAssertEqual(scratch.epochs, 6)
        XCTAssertEqual(scratch.modelLearningRate, 3e-4)
        XCTAssertEqual(scratch.dropout, 0.1)
        XCTAssertEqual(scratch.warmupSteps, 0)
        XCTAssertFalse(scratch.freezeEmbedding)
        let pretrained = ClassifierTrainingOptions(mode: nil, pretrainedElsewhere: true)
        XCTAssertEqual(pretrained.mode, .full)
        XCTAssertEqual(pretrained.epochs, ClassifierTrainingOptions.pretrained.epochs)
        XCTAssertEqual(pretrained.modelLearningRate, ClassifierTrainingOptions.pretrained.fullLearningRate)
        XCTAssertEqual(pretrained.dropout, 0)
        XCTAssertEqual(pretrained.warmupSteps, ClassifierTrainingOptions.pretrained.warmupSteps)
        XCTAssertTrue(pretrained.freezeEmbedding)
        XCTAssertFalse(ClassifierTrainingOptions(mode: .lora, pretrainedElsewhere: true).freezeEmbedding)
        XCTAssertEqual(pretrained.precision, Precision.trainingDefault)
        XCTAssertEqual(
            ClassifierTrainingOptions(mode: .head, pretrainedElsewhere: true).headLearningRate, 3e-3,
            "the head alone is the same either way")
        XCTAssertNoThrow(try pretrained.validate())
    }
}
