import CTestSupport
import XCTest

@testable import Swiftlet

/// The three passes run one `Block`: scoring's forward is training's bit for bit, generation's
/// forward equals both on the same rows, and none of them allocates inside a step.
final class PassTests: XCTestCase {
    /// Head size 16: sequences of 8 rows or more take the tiled attention path, shorter ones the row path.
    static let config = ModelConfig(
        dim: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 48, vocabSize: 40, contextLength: 32)

    func model(_ config: ModelConfig = config) -> Transformer {
        let model = Transformer(config: config)
        model.initialize(seed: 3)
        var rng = RandomGenerator(seed: 4)
        for i in 0..<model.parameters.count { model.parameters[i] += rng.normal() * 0.1 }
        return model
    }

    let documents: [[Int32]] = [
        (0..<19).map { Int32(($0 * 5 + 1) % 40) }, [2, 4, 8, 16, 32, 3], (0..<9).map { Int32(($0 * 3 + 2) % 40) },
    ]

    func array(_ pointer: UnsafePointer<Float>, _ count: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: pointer, count: count))
    }

    func adapters(for config: ModelConfig) -> LoRAAdapters {
        let adapters = LoRAAdapters(config: LoRAConfig(rank: 3, targets: LoRATarget.allCases), model: config)
        var rng = RandomGenerator(seed: 11)
        for i in 0..<adapters.parameters.count { adapters.parameters[i] = rng.normal() * 0.1 }
        return adapters
    }

    func testScoringForwardIsTheTrainingForwardBitForBit() throws {
        let model = model()
        let batch = Batch(windows: documents)
        let dim = Self.config.dim
        var precisions: [Precision] = [.fp32]
        if MatrixEngine.bf16IsNative { precisions.append(.bf16) }
        for precision in precisions {
            for adapters in [nil, adapters(for: Self.config)] {
                let training = TrainingPass(model: model, maxRows: 64, precision: precision, adapters: adapters)
                let scoring = ScoringPass(model: model, maxRows: 64, precision: precision, adapters: adapters)
                var trainingRows = [Float](repeating: 0, count: batch.rows)
                var scoringRows = trainingRows
                let trainingLoss = training.loss(batch, rowLosses: &trainingRows)
                let scoringLoss = scoring.loss(batch, rowLosses: &scoringRows)
                let label = "\(precision), adapters: \(adapters != nil)"
                XCTAssertEqual(
                    array(training.finalHidden, batch.rows * dim), array(scoring.finalHidden, batch.rows * dim), label)
                XCTAssertEqual(trainingLoss, scoringLoss, label)
                XCTAssertEqual(trainingRows, scoringRows, label)
                // The forward of a training step (with a backward after it) is the same forward.
                training.forwardBackward(batch, gradientTokens: batch.lossTokens)
                XCTAssertEqual(
                    array(training.finalHidden, batch.rows * dim), array(scoring.finalHidden, batch.rows * dim), label)
            }
        }
    }

    /// Prompts fed to generation together, one chunk each (a GEMM per chunk, attention reading
    /// the paged cache; lengths on both attention paths), end in the hidden states training and
    /// scoring compute for their last rows when given each prompt alone: the logits equal the
    /// training pass's final hidden state times the output head, summed as generation's row
    /// product sums — bit for bit. (A GEMM's rows may depend on how many rows it has, so the same
    /// rows means the same sequences per product.)
    func testGenerationForwardEqualsTrainingAndScoringOnTheSameRows() {
        let model = model()
        let c = Self.config
        let pool = KVBlockPool(config: c, blockCount: 32, blockSize: 4)
        let generation = GenerationPass(model: model, pool: pool, maxRows: 64, maxLogitRows: 4)
        let training = TrainingPass(model: model, maxRows: 64)
        let scoring = ScoringPass(model: model, maxRows: 64)
        var tables: [BlockTable] = []
        var batch = GenerationBatch()
        for document in documents {
            var table = BlockTable()
            XCTAssertTrue(table.grow(toHold: document.count, from: pool))
            batch.append(document, past: 0, blocks: table.blocks, wantsLogits: true)
            tables.append(table)
        }
        XCTAssertEqual(generation.forward(batch), documents.count)
        // Each prompt alone through training and scoring (the same rows: a window's rows are its
        // tokens but the last) — generation ran them together and is batch-invariant.
        let head = model.parameters.pointer + model.layout.outputHead
        var expected = [Float](repeating: 0, count: c.vocabSize)
        for (s, document) in documents.enumerated() {
            let alone = Batch(windows: [document + [0]])
            training.forwardOnly(alone)
            scoring.forward(alone)
            let lastRow = (document.count - 1) * c.dim
            XCTAssertEqual(array(training.finalHidden + lastRow, c.dim), array(scoring.finalHidden + lastRow, c.dim))
            Gemv.applyRows(
                head, training.finalHidden + lastRow, &expected, rows: 1, inFeatures: c.dim, outFeatures: c.vocabSize,
                accumulate: false)
            XCTAssertEqual(array(generation.logits.pointer + s * c.vocabSize, c.vocabSize), expected, "sequence \(s)")
        }
        for var table in tables { table.release(to: pool) }
    }

    /// Allocations the process makes while `body` runs (every thread's), apart from oneDNN's.
    func allocations(_ body: () -> Void) -> Int {
        let before = swl_test_allocations()
        swl_test_count_allocations(1)
        body()
        swl_test_count_allocations(0)
        return swl_test_allocations() - before
    }

    /// Asserts a steady-state step allocates nothing. Attention's tile scratch is kept per
    /// thread and grows the first time a thread gets the largest item, and which thread gets
    /// which item varies: each thread may grow once, never again. So of three steps at least one
    /// allocates nothing, and all three together at most once per thread — while an allocation
    /// inside every step would show in all three.
    func assertSteady(_ label: String, file: StaticString = #filePath, line: UInt = #line, _ step: () -> Void) {
        let counts = (0..<3).map { _ in allocations(step) }
        XCTAssertEqual(counts.min(), 0, "\(label): \(counts)", file: file, line: line)
        XCTAssertLessThanOrEqual(
            counts.reduce(0, +), ComputeThreads.count, "\(label): \(counts)", file: file, line: line)
    }

    func testTheCounterSeesAllocations() {
        let counted = allocations { _ = FloatBuffer(count: 1000) }
        XCTAssertGreaterThan(counted, 0)
    }

    /// In steady state (buffers sized, caches warm) a step allocates nothing: a training step
    /// (with and without adapters, fp32 and bf16), a scoring pass and a generation step.
    func testNothingIsAllocatedInsideAStep() {
        let model = model()
        let batch = Batch(windows: documents)
        var precisions: [Precision] = [.fp32]
        if MatrixEngine.bf16IsNative { precisions.append(.bf16) }
        for precision in precisions {
            for adapters in [nil, adapters(for: Self.config)] {
                let training = TrainingPass(model: model, maxRows: 64, precision: precision, adapters: adapters)
                training.forwardBackward(batch, gradientTokens: batch.lossTokens, dropoutSeed: 1)
                let label = "training, \(precision), adapters: \(adapters != nil)"
                assertSteady(label) { training.forwardBackward(batch, gradientTokens: batch.lossTokens) }
                let scoring = ScoringPass(model: model, maxRows: 64, precision: precision, adapters: adapters)
                _ = scoring.loss(batch)
                assertSteady("scoring, \(precision), adapters: \(adapters != nil)") { _ = scoring.loss(batch) }
            }
        }
        let pool = KVBlockPool(config: Self.config, blockCount: 32, blockSize: 4)
        let generation = GenerationPass(model: model, pool: pool, maxRows: 64, maxLogitRows: 4)
        var tables = [BlockTable](repeating: BlockTable(), count: 3)
        var step = GenerationBatch()
        // Step 0 reads three prompts; then each step decodes one token of each.
        func decode(_ k: Int) {
            step.removeAll()
            for s in 0..<3 {
                let count = k == 0 ? min(8, documents[s].count) : 1
                let past = tables[s].length
                _ = tables[s].grow(toHold: past + count, from: pool)
                if k == 0 {
                    step.append(documents[s].prefix(count), past: past, blocks: tables[s].blocks, wantsLogits: true)
                } else {
                    step.append(CollectionOfOne(Int32(k % 40)), past: past, blocks: tables[s].blocks, wantsLogits: true)
                }
                tables[s].length += count
            }
            generation.forward(step)
        }
        decode(0)
        decode(1)
        // Tables that already hold room for the next three tokens.
        for s in 0..<3 { XCTAssertTrue(tables[s].grow(toHold: tables[s].length + 3, from: pool)) }
        var k = 2
        assertSteady("generation") {
            decode(k)
            k += 1
        }
        for var table in tables { table.release(to: pool) }
    }
}
