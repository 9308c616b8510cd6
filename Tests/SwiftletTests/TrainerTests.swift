import XCTest
@testable import Swiftlet

final class TrainerTests: XCTestCase {
    func testETAFollowsTheRateSoFar() {
        XCTAssertEqual(Format.eta(elapsed: 10, done: 1, total: 4), "30.0s")
        XCTAssertEqual(Format.eta(elapsed: 30, done: 3, total: 12), "1m30s")
        XCTAssertEqual(Format.eta(elapsed: 5, done: 2, total: 2), "0.0s")
        XCTAssertEqual(Format.eta(elapsed: 5, done: 0, total: 2), "?")
    }

    /// A timed run's schedule is set from the time left at every estimate, so it ends with the
    /// budget whether the speed holds, rises or falls partway.
    func testATimedRunsScheduleEndsWithItsBudget() {
        // 300 s at 0.5 s a step after a first step of 2 s: 10 steps took 6.5 s, 587 more fit.
        XCTAssertEqual(Trainer.plannedSteps(step: 10, seconds: 6.5, firstStepSeconds: 2, budget: 300), 597)
        // Late in the run, the steps already taken count as they were, not at today's speed.
        XCTAssertEqual(Trainer.plannedSteps(step: 400, seconds: 200, firstStepSeconds: 0.5, budget: 300), 600)
        XCTAssertEqual(Trainer.plannedSteps(step: 400, seconds: 280, firstStepSeconds: 0.5, budget: 300), 428)
        // The budget spent (or a clock that did not move): one more step, never fewer than taken.
        XCTAssertEqual(Trainer.plannedSteps(step: 500, seconds: 301, firstStepSeconds: 1, budget: 300), 501)
        XCTAssertEqual(Trainer.plannedSteps(step: 10, seconds: 1, firstStepSeconds: 1, budget: 300), 11)
    }

    func makeTrainer(
        _ directory: String, steps: Int, dropout: Float = 0.1
    ) throws -> (Trainer, [WeightedCorpus], [ValidationSet]) {
        let tokenizer = try TestData.tokenizer()
        let train = [
            WeightedCorpus(
                name: "train", documents: DocumentTokens(stream: tokenizer.encode(TestData.text(lines: 300, seed: 1))))
        ]
        let validation = [
            ValidationSet(
                name: "val", documents: DocumentTokens(stream: tokenizer.encode(TestData.text(lines: 40, seed: 2))))
        ]
        var config = ModelPreset.tiny.config(vocabSize: tokenizer.vocabSize)
        config.contextLength = 32
        config.dropout = dropout
        var options = TrainingOptions()
        options.steps = steps
        options.batchTokens = 128
        options.microBatchTokens = 64  // two micro-batches per step: accumulation is exercised
        options.evalInterval = 4
        options.saveInterval = 1000
        let trainer = try Trainer(
            model: Transformer(config: config), tokenizer: tokenizer, preset: "tiny", options: options,
            training: train, validation: validation, directory: directory)
        return (trainer, train, validation)
    }

    func testStopAndResumeEndsWithTheSameWeights() throws {
        let straightDir = TestData.temporaryDirectory("straight")
        let (straight, train, validation) = try makeTrainer(straightDir, steps: 10)
        XCTAssertEqual(try straight.run(report: { _ in }, shouldStop: { false }), .finished)

        let stoppedDir = TestData.temporaryDirectory("stopped")
        let (first, _, _) = try makeTrainer(stoppedDir, steps: 10)
        var steps = 0
        let outcome = try first.run(report: { if case .step = $0 { steps += 1 } }, shouldStop: { steps >= 6 })
        XCTAssertEqual(outcome, .interrupted)
        XCTAssertEqual(first.state.step, 6)
        let resumed = try Trainer.resume(directory: stoppedDir, training: train, validation: validation)
        XCTAssertEqual(resumed.state.step, 6)
        XCTAssertEqual(try resumed.run(report: { _ in }, shouldStop: { false }), .finished)
        XCTAssertEqual(resumed.state.step, 10)
        XCTAssertLessThan(maxAbsDifference(straight.model.parameters.array, resumed.model.parameters.array), 1e-6)
        XCTAssertEqual(
            straight.records.filter { $0.kind == "eval" }.map(\.step),
            resumed.records.filter { $0.kind == "eval" }.map(\.step))
    }

    func testCheckpointDirectoryHasEverythingAndLoads() throws {
        let dir = TestData.temporaryDirectory("complete")
        let (trainer, _, _) = try makeTrainer(dir, steps: 4, dropout: 0)
        _ = try trainer.run(report: { _ in }, shouldStop: { false })
        for file in [
            CheckpointFiles.config, CheckpointFiles.model, CheckpointFiles.tokenizer, CheckpointFiles.trainer,
            CheckpointFiles.optimizer, CheckpointFiles.metrics, CheckpointFiles.lossCurve,
        ] {
            XCTAssertTrue(FileIO.exists(dir + "/" + file), file)
        }
        XCTAssertFalse(FileIO.exists(dir + ".tmp"))
        XCTAssertFalse(FileIO.exists(dir + ".old"))
        let svg = try FileIO.readUTF8(dir + "/" + CheckpointFiles.lossCurve)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("polyline"))
        let metrics = try FileIO.readUTF8(dir + "/" + CheckpointFiles.metrics)
        XCTAssertTrue(metrics.contains("\"bitsPerByte\""))
        let loaded = try Checkpoint.load(dir)
        XCTAssertEqual(loaded.model.parameters.array, trainer.model.parameters.array)
        XCTAssertEqual(loaded.config.training["steps"], "4")
    }

    func testBrokenCheckpointsAreRejectedClearly() throws {
        let dir = TestData.temporaryDirectory("broken")
        let (trainer, _, _) = try makeTrainer(dir, steps: 1, dropout: 0)
        _ = try trainer.run(report: { _ in }, shouldStop: { false })
        func expectError(_ contains: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try Checkpoint.load(dir), file: file, line: line) { error in
                let message = (error as? SwiftletError)?.message ?? "\(error)"
                XCTAssertTrue(message.contains(contains), message, file: file, line: line)
            }
        }
        XCTAssertThrowsError(try Checkpoint.load(dir + "-missing"))

        let weights = try FileIO.readBytes(dir + "/" + CheckpointFiles.model)
        try FileIO.writeAtomically(
            [200, 1, 0, 0, 0, 0, 0, 0] + Array("{garbage".utf8), to: dir + "/" + CheckpointFiles.model)
        expectError("not a valid safetensors file")
        try FileIO.writeAtomically(weights, to: dir + "/" + CheckpointFiles.model)

        let tokenizerBytes = try FileIO.readBytes(dir + "/" + CheckpointFiles.tokenizer)
        let other = try Tokenizer.train(
            text: TestData.text(seed: 99), options: TokenizerTrainingOptions(vocabSize: 330))
        try FileIO.writeAtomically(other.modelBytes, to: dir + "/" + CheckpointFiles.tokenizer)
        expectError("does not match")
        try FileIO.writeAtomically(tokenizerBytes, to: dir + "/" + CheckpointFiles.tokenizer)

        FileIO.removeItem(dir + "/" + CheckpointFiles.config)
        expectError("has no config.json")
    }

    func testInterruptedSaveFallsBackToThePreviousCheckpoint() throws {
        let dir = TestData.temporaryDirectory("swap")
        let (trainer, train, validation) = try makeTrainer(dir, steps: 2, dropout: 0)
        var steps = 0
        _ = try trainer.run(report: { if case .step = $0 { steps += 1 } }, shouldStop: { steps >= 1 })
        // A crash between the two renames leaves only NAME.old behind …
        try FileIO.rename(dir, to: dir + ".old")
        XCTAssertNoThrow(try Checkpoint.load(dir))
        // … and an empty NAME (say, made by hand) does not hide it.
        try FileIO.createDirectory(dir)
        XCTAssertEqual(try Checkpoint.load(dir).directory, dir + ".old")
        // Resuming from the fallback and saving puts a whole checkpoint back at NAME.
        let resumed = try Trainer.resume(directory: dir, training: train, validation: validation)
        XCTAssertEqual(try resumed.run(report: { _ in }, shouldStop: { false }), .finished)
        XCTAssertTrue(Checkpoint.isComplete(dir))
        XCTAssertFalse(FileIO.exists(dir + ".old"))
        XCTAssertEqual(try Checkpoint.load(dir).config.training["steps"], "2")
    }

    func testDivergenceStopsWithoutSaving() throws {
        let dir = TestData.temporaryDirectory("diverge")
        let (trainer, _, _) = try makeTrainer(dir, steps: 3, dropout: 0)
        trainer.model.parameters[trainer.model.layout.layers[0].query] = .nan
        XCTAssertThrowsError(try trainer.run(report: { _ in }, shouldStop: { false })) { error in
            XCTAssertTrue(((error as? SwiftletError)?.message ?? "").contains("diverged"))
        }
        XCTAssertFalse(Checkpoint.isComplete(dir))
    }

    func testEvaluationReportsBitsPerByte() throws {
        let (trainer, _, _) = try makeTrainer(TestData.temporaryDirectory("eval"), steps: 1, dropout: 0)
        let result = try XCTUnwrap(trainer.evaluate())
        let tokenizer = try TestData.tokenizer()
        let validation = tokenizer.encode(TestData.text(lines: 40, seed: 2))
        // Every token but the first is predicted once; their bytes are the text's bytes.
        XCTAssertEqual(result.tokens, validation.count - 1)
        XCTAssertEqual(result.bytes, tokenizer.decode(Array(validation.dropFirst())).utf8.count)
        XCTAssertEqual(
            result.bitsPerByte, result.loss * Double(result.tokens) / (Double(result.bytes) * log(2)), accuracy: 1e-9)
        // An untrained model is near uniform: loss ≈ ln(vocabulary).
        XCTAssertEqual(result.loss, log(Double(trainer.model.config.vocabSize)), accuracy: 0.5)
    }

    func testTooLittleTextIsAClearError() throws {
        let tokenizer = try TestData.tokenizer()
        let config = ModelPreset.tiny.config(vocabSize: tokenizer.vocabSize)
        var options = TrainingOptions()
        options.steps = 1
        XCTAssertThrowsError(
            try Trainer(
                model: Transformer(config: config), tokenizer: tokenizer, preset: "tiny", options: options,
                training: [WeightedCorpus(name: "one", documents: DocumentTokens(stream: [5]))],
                validation: [], directory: "/tmp/never")
        ) { error in
            XCTAssertTrue(((error as? SwiftletError)?.message ?? "").contains("no document of two or more tokens"))
        }
        options.steps = -3
        XCTAssertThrowsError(try options.validate())
    }
}
