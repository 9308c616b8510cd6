import XCTest
@testable import Swiftlet

final class PrecisionTests: XCTestCase {
    func testBFloat16RoundsToNearestEven() {
        XCTAssertEqual(BFloat16.round(1), 0x3F80)
        XCTAssertEqual(BFloat16.value(BFloat16.round(3.140625)), 3.140625)
        // 1 + 2⁻⁸ is halfway between two bf16 values: ties go to the even one (1.0).
        XCTAssertEqual(BFloat16.value(BFloat16.round(1 + 1 / 256)), 1)
        XCTAssertEqual(BFloat16.value(BFloat16.round(1 + 3 / 256)), 1 + 4 / 256)
        let x = TestData.randoms(1000, seed: 1)
        var bits = [UInt16](repeating: 0, count: x.count)
        BFloat16.convert(x, into: &bits, count: x.count)
        for i in 0..<x.count {
            XCTAssertEqual(bits[i], BFloat16.round(x[i]))
            XCTAssertEqual(BFloat16.value(bits[i]), x[i], accuracy: abs(x[i]) / 128)
        }
    }

    /// Each of a linear layer's three products in bf16 stays within bf16 rounding of fp32.
    func testBF16ProductsMatchFP32WithinBF16Tolerance() throws {
        try XCTSkipUnless(MatrixEngine.bf16IsNative, "this CPU has no bf16 instructions")
        let fp32 = MatrixEngine(precision: .fp32), bf16 = MatrixEngine(precision: .bf16)
        let rows = 37, inFeatures = 70, outFeatures = 45
        let x = TestData.randoms(rows * inFeatures, seed: 2), w = TestData.randoms(outFeatures * inFeatures, seed: 3)
        let dy = TestData.randoms(rows * outFeatures, seed: 4)
        // A product of K terms with bf16 inputs: error ≈ 2⁻⁸ · √K · |typical term|.
        func compare(_ a: [Float], _ b: [Float], terms: Int, file: StaticString = #filePath, line: UInt = #line) {
            let tolerance = Float(terms).squareRoot() / 64
            XCTAssertLessThan(maxAbsDifference(a, b), tolerance, file: file, line: line)
            XCTAssertGreaterThan(
                maxAbsDifference(a, b), 0, "bf16 should not be bit-identical to fp32", file: file, line: line)
        }
        var y32 = [Float](repeating: 0.5, count: rows * outFeatures), y16 = y32
        fp32.linear(x, w, &y32, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: true)
        bf16.linear(x, w, &y16, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: true)
        compare(y32, y16, terms: inFeatures)
        var dx32 = [Float](repeating: 0, count: rows * inFeatures), dx16 = dx32
        fp32.linearBackwardInput(
            dy, w, &dx32, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: false)
        bf16.linearBackwardInput(
            dy, w, &dx16, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: false)
        compare(dx32, dx16, terms: outFeatures)
        var dw32 = [Float](repeating: 1, count: outFeatures * inFeatures), dw16 = dw32
        fp32.linearBackwardWeight(dy, x, &dw32, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        bf16.linearBackwardWeight(dy, x, &dw16, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        compare(dw32, dw16, terms: rows)
        // Accumulating products really add to what is there.
        XCTAssertLessThan(abs(y16[0] - 0.5 - y32[0] + 0.5), 0.2)
    }

    func testBF16TrainingGradientPointsTheSameWay() throws {
        try XCTSkipUnless(MatrixEngine.bf16IsNative, "this CPU has no bf16 instructions")
        let config = ModelConfig(dim: 64, layers: 2, heads: 4, kvHeads: 2, vocabSize: 50, contextLength: 32)
        let model = Transformer(config: config)
        model.initialize(seed: 1)
        let batch = Batch(windows: [(0..<33).map { Int32($0 % 50) }, (0..<20).map { Int32(($0 * 3) % 50) }])
        let full = TrainingPass(model: model, maxRows: 64),
            half = TrainingPass(model: model, maxRows: 64, precision: .bf16)
        let loss32 = full.forwardBackward(batch, gradientTokens: batch.lossTokens)
        let loss16 = half.forwardBackward(batch, gradientTokens: batch.lossTokens)
        XCTAssertEqual(loss16, loss32, accuracy: 0.01 * loss32)
        let a = full.gradients.array, b = half.gradients.array
        let dotProduct = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let cosine =
            dotProduct
            / (a.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot() * b.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot())
        XCTAssertGreaterThan(cosine, 0.99)
    }

    /// The memory plan's bf16 copies cover what a bf16 training pass really holds after a step
    /// (every weight matrix's copy, the activations', the logits', the scratch), within 25 %,
    /// for a Llama and a Gemma 3 block.
    func testTheMemoryPlanCountsABF16PassCopies() throws {
        try XCTSkipUnless(MatrixEngine.bf16IsNative, "this CPU has no bf16 instructions")
        for config in [
            ModelConfig(dim: 64, layers: 2, heads: 4, kvHeads: 2, vocabSize: 50, contextLength: 32),
            GemmaModelTests.config,
        ] {
            let model = Transformer(config: config)
            model.initialize(seed: 1)
            let batch = Batch(windows: [(0..<25).map { Int32($0 % 40) }, (0..<20).map { Int32(($0 * 3) % 40) }])
            let pass = TrainingPass(model: model, maxRows: 64, precision: .bf16)
            pass.forwardBackward(batch, gradientTokens: batch.lossTokens)
            let plan = MemoryPlan.training(config, rows: 64, precision: .bf16)
            let planned = try XCTUnwrap(plan.parts.first { $0.name == "bf16 copies" }?.bytes)
            XCTAssertGreaterThanOrEqual(planned, pass.bfloat16Bytes, "\(config.gemma == nil ? "Llama" : "Gemma")")
            XCTAssertLessThan(Double(planned), 1.25 * Double(pass.bfloat16Bytes))
            XCTAssertNil(MemoryPlan.training(config, rows: 64).parts.first { $0.name == "bf16 copies" })
        }
    }
}
