import XCTest
@testable import Swiftlet
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

final class FinetuneTests: XCTestCase {
    let dialogue = [
        ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: "my lord"),
        ChatMessage(role: .assistant, content: "good night"), ChatMessage(role: .user, content: "what is this"),
        ChatMessage(role: .assistant, content: "love"),
    ]

    func testChatTemplateTrainsOnlyTheAssistant() throws {
        let tokenizer = try TestData.tokenizer()
        let ids = try ChatTemplate.standard.markers(tokenizer)
        let (tokens, trainable) = try ChatTemplate.standard.encode(dialogue, tokenizer: tokenizer)
        XCTAssertEqual(tokens.count, trainable.count)
        XCTAssertEqual(tokens.filter { $0 == ids.endOfTurn }.count, 5)
        // Walk the turns: marker, content, end; trained exactly for assistant content and its end.
        var i = 0
        for message in dialogue {
            XCTAssertEqual(tokens[i], ids.id(of: message.role))
            XCTAssertFalse(trainable[i])
            let content = tokenizer.encode(message.content)
            XCTAssertEqual(Array(tokens[i + 1...i + content.count]), content)
            XCTAssertTrue(trainable[i + 1...i + content.count + 1].allSatisfy { $0 == (message.role == .assistant) })
            i += content.count + 2
        }
        XCTAssertEqual(i, tokens.count)
        XCTAssertEqual(
            try ChatTemplate.standard.prompt(Array(dialogue.prefix(2)), tokenizer: tokenizer).last, ids.assistant)
    }

    func testNoGradientFlowsFromSystemAndUserTokens() throws {
        let tokenizer = try TestData.tokenizer()
        var documents = DocumentTokens(tokens: [], documentStarts: [0])
        let (tokens, trainable) = try ChatTemplate.standard.encode(dialogue, tokenizer: tokenizer)
        documents.append(tokens, trainable: trainable)
        documents.append(tokenizer.encode("the king speaks"))  // plain text beside it trains everywhere
        let packer = try BatchPacker(corpora: [WeightedCorpus(name: "d", documents: documents)], context: 64, seed: 1)
        let batch = packer.nextBatch(rows: documents.count - 2)
        XCTAssertEqual(batch.sequenceCount, 2)
        for r in 0..<tokens.count - 1 {
            XCTAssertEqual(batch.targets[r] >= 0, trainable[r + 1], "row \(r)")
        }
        XCTAssertTrue(batch.targets[(tokens.count - 1)...].allSatisfy { $0 >= 0 })
        // The loss's gradient with respect to every untrained row's hidden state is exactly zero.
        var config = ModelPreset.tiny.config(vocabSize: tokenizer.vocabSize)
        config.contextLength = 64
        let model = Transformer(config: config)
        model.initialize(seed: 2)
        let pass = TrainingPass(model: model, maxRows: 64)
        pass.forwardBackward(batch, gradientTokens: batch.lossTokens)
        var dhidden = [Float](repeating: .nan, count: batch.rows * config.dim)
        var dweight = [Float](repeating: 0, count: config.vocabSize * config.dim)
        var rowLosses = [Float](repeating: .nan, count: batch.rows)
        let logits = FloatBuffer(count: CrossEntropy.chunkRows * config.vocabSize)
        _ = batch.targets.withUnsafeBufferPointer { targets in
            CrossEntropy.forwardBackward(
                hidden: pass.finalHidden, weight: model.parameters.pointer + model.layout.outputHead,
                targets: targets.baseAddress!, rows: batch.rows, dim: config.dim, vocab: config.vocabSize,
                logits: logits.pointer, gradientScale: 1, dhidden: &dhidden, dweight: &dweight,
                rowLosses: &rowLosses, matrices: pass.matrices)
        }
        for r in 0..<batch.rows where batch.targets[r] < 0 {
            XCTAssertEqual(rowLosses[r], 0)
            XCTAssertTrue(dhidden[r * config.dim..<(r + 1) * config.dim].allSatisfy { $0 == 0 }, "row \(r)")
        }
        XCTAssertTrue((0..<batch.rows).contains { batch.targets[$0] >= 0 && dhidden[$0 * config.dim] != 0 })
    }

    func testDialogueLinesAreRead() throws {
        let dir = TestData.temporaryDirectory("dialogues")
        try FileIO.writeAtomically(
            """
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
            {"text": "plain text sits beside dialogues"}
            """, to: dir + "/chat.jsonl")
        let corpus = try CorpusReader.readText(paths: [dir + "/chat.jsonl"])
        XCTAssertEqual(corpus.documents.count, 2)
        XCTAssertEqual(corpus.documents[0].messages?.map(\.role), [.user, .assistant])
        XCTAssertNil(corpus.documents[1].messages)
        let documents = try TokenCache.tokens(of: corpus, tokenizer: try TestData.tokenizer()).documents
        XCTAssertEqual(documents.documentCount, 2)
        XCTAssertEqual(documents.trainable?.count, documents.count)
        try FileIO.writeAtomically(
            "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}\n", to: dir + "/bad.jsonl")
        XCTAssertThrowsError(try CorpusReader.readText(paths: [dir + "/bad.jsonl"])) { error in
            XCTAssertTrue(((error as? SwiftletError)?.message ?? "").contains("line 1"))
        }
    }

    func testEarlyStoppingKeepsTheBestCheckpoint() throws {
        let tokenizer = try TestData.tokenizer()
        var config = ModelPreset.tiny.config(vocabSize: tokenizer.vocabSize)
        config.contextLength = 32
        let base = Transformer(config: config)
        base.initialize(seed: 4)
        let baseDir = TestData.temporaryDirectory("ft-base")
        try Checkpoint.save(
            baseDir,
            files: [
                CheckpointFiles.config: try Checkpoint.configBytes(
                    CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer))),
                CheckpointFiles.model: Checkpoint.weightBytes(base),
                CheckpointFiles.tokenizer: tokenizer.modelBytes,
            ])
        // A learning rate far too high: validation improves at first, then gets worse.
        var options = TrainingOptions()
        options.steps = 200
        options.learningRate = 0.05
        options.warmupSteps = 1
        options.batchTokens = 64
        options.evalInterval = 5
        options.keepBest = true
        options.patience = 2
        let train = WeightedCorpus(
            name: "t", documents: DocumentTokens(stream: tokenizer.encode(TestData.text(lines: 200, seed: 1))))
        let validation = ValidationSet(
            name: "v", documents: DocumentTokens(stream: tokenizer.encode(TestData.text(lines: 30, seed: 2))))
        let dir = TestData.temporaryDirectory("ft-out")
        let trainer = try Trainer(
            finetuning: try Checkpoint.load(baseDir), options: options, training: [train], validation: [validation],
            directory: dir)
        XCTAssertEqual(try trainer.run(report: { _ in }, shouldStop: { false }), .stoppedEarly)
        XCTAssertLessThan(trainer.state.step, 200)
        let evaluations = trainer.records.filter { $0.kind == "eval" }
        XCTAssertEqual(evaluations.first?.step, 0, "the base is measured before the first step")
        let best = try XCTUnwrap(evaluations.min { $0.loss < $1.loss })
        XCTAssertEqual(trainer.savedStep, best.step)
        XCTAssertEqual(evaluations.last!.step - best.step, options.evalInterval * options.patience!)
        // The kept checkpoint scores the best loss.
        let kept = try Checkpoint.load(dir)
        XCTAssertEqual(kept.config.training["steps"], String(best.step))
        let pass = TrainingPass(model: kept.model, maxRows: 64)
        let rescored = Evaluator.evaluate(
            pass: pass, tokenizer: tokenizer,
            windows: Evaluator.windows(of: validation.documents, context: 32, maxTokens: options.evalTokens))
        XCTAssertEqual(rescored.loss, best.loss, accuracy: 1e-6)
        XCTAssertEqual(
            try Checkpoint.load(baseDir).model.parameters.array, base.parameters.array, "the base is untouched")
    }
}
