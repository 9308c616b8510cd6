import XCTest
@testable import Swiftlet

final class OptimizerStepTests: XCTestCase {
    /// One arena of `count` values with a single decayed tensor view.
    func group(_ values: [Float], clipped: Bool = true, rate: Float = 0.01) -> OptimizerStep.Group {
        let views = [TensorView(name: "w", offset: 0, shape: [values.count], isDecayed: true)]
        return OptimizerStep.Group(
            parameters: FloatBuffer(values), gradients: FloatBuffer(count: values.count),
            optimizer: Optimizer(views: views), schedule: .constant(rate), clipped: clipped)
    }

    func testStepEqualsZeroAccumulateClipAdamWByHand() {
        var rng = RandomGenerator(seed: 3)
        let start = (0..<40).map { _ in Float(rng.uniform() - 0.5) }
        let contributions = (0..<3).map { _ in (0..<40).map { _ in Float(rng.uniform() * 4 - 2) } }
        let model = group(start), head = group(start, clipped: false, rate: 0.02)
        let step = OptimizerStep(groups: [model, head], gradientClip: 1)
        model.gradients.copy(from: FloatBuffer(start))  // stale gradients: the step zeroes them first
        var micro: [Int] = []
        let outcome = step.take(microBatches: 3) { i, seed in
            micro.append(i)
            XCTAssertNil(seed, "no dropout seed when the run has no dropout")
            for j in 0..<40 {
                model.gradients.pointer[j] += contributions[i][j]
                head.gradients.pointer[j] += contributions[i][j]
            }
            return Double(i)
        }
        XCTAssertEqual(micro, [0, 1, 2])
        XCTAssertEqual(outcome.loss, 3)
        XCTAssertEqual(step.count, 1)

        // By hand: the summed gradient, its norm, the clip (the model's group only), one AdamW update each.
        let summed = (0..<40).map { j in contributions[0][j] + contributions[1][j] + contributions[2][j] }
        let norm = AdamW.sumOfSquares(summed, count: 40).squareRoot()
        XCTAssertEqual(outcome.gradientNorm, norm)
        XCTAssertGreaterThan(norm, 1, "the test exercises the clip")
        let clippedGradient = FloatBuffer(summed.map { $0 * Float(1 / norm) })
        for (g, gradient, rate) in [(model, clippedGradient, Float(0.01)), (head, FloatBuffer(summed), Float(0.02))] {
            let parameters = FloatBuffer(start)
            Optimizer(views: g.optimizer.views).step(
                parameters: parameters, gradients: gradient, learningRate: rate, step: 1,
                settings: AdamWSettings(), decayEmbeddings: false)
            XCTAssertEqual(g.parameters.array, parameters.array)
        }
    }

    func testAGradientThatIsNotANumberChangesNothing() {
        let model = group([1, 2, 3, 4])
        let step = OptimizerStep(groups: [model], gradientClip: 1, stepsTaken: 7, dropoutSeed: 5)
        var seeds: [UInt64?] = []
        let outcome = step.take(microBatches: 2) { i, seed in
            seeds.append(seed)
            model.gradients.pointer[i] = i == 1 ? .nan : 1
            return 0.5
        }
        XCTAssertFalse(outcome.gradientNorm.isFinite)
        XCTAssertEqual(model.parameters.array, [1, 2, 3, 4])
        XCTAssertEqual(step.count, 7, "a refused step is not counted")
        XCTAssertEqual(
            seeds,
            [
                OptimizerStep.dropoutSeed(run: 5, step: 7, microBatch: 0),
                OptimizerStep.dropoutSeed(run: 5, step: 7, microBatch: 1),
            ])
        XCTAssertNotEqual(seeds[0], seeds[1], "each micro-batch has its own dropout stream")
    }

    func testScheduleDecaysLinearlyOrByCosineAndPatienceCounts() {
        let linear = LearningRateSchedule(peak: 1, floor: 0.1, warmupSteps: 0, totalSteps: 10, decay: .linear)
        XCTAssertEqual(linear.rate(atStep: 0), 1, accuracy: 1e-6)
        XCTAssertEqual(linear.rate(atStep: 5), 0.55, accuracy: 1e-6)
        XCTAssertEqual(linear.rate(atStep: 10), 0.1, accuracy: 1e-6)
        XCTAssertEqual(LearningRateSchedule.constant(0.3).rate(atStep: 1 << 40), 0.3)
        var patience = EarlyStopping(patience: 2)
        XCTAssertFalse(patience.record(improved: false))
        XCTAssertFalse(patience.record(improved: true))
        XCTAssertFalse(patience.record(improved: false))
        XCTAssertTrue(patience.record(improved: false))
        var endless = EarlyStopping(patience: nil)
        XCTAssertFalse((0..<100).contains { _ in endless.record(improved: false) })
    }

    /// The moments hold the updated tensors only: a frozen tensor costs none and stays as it was,
    /// and the others step exactly as in an optimizer over the whole arena (whose moments are
    /// laid out as the arena, which resumed runs rely on).
    func testAFrozenTensorHasNoMomentsAndTheOthersStepAsBefore() {
        let views = [
            TensorView(name: "embedding", offset: 0, shape: [6], isDecayed: false),
            TensorView(name: "w", offset: 6, shape: [2, 3], isDecayed: true),
            TensorView(name: "gain", offset: 12, shape: [4], isDecayed: false),
        ]
        var rng = RandomGenerator(seed: 9)
        let start = (0..<16).map { _ in Float(rng.uniform() - 0.5) }
        let gradient = FloatBuffer((0..<16).map { _ in Float(rng.uniform() - 0.5) })
        let whole = Optimizer(views: views, embedding: 0),
            frozen = Optimizer(views: Array(views.dropFirst()), embedding: 0)
        XCTAssertEqual(whole.firstMoment.count, 16)
        XCTAssertEqual(frozen.firstMoment.count, 10)
        let all = FloatBuffer(start), some = FloatBuffer(start)
        for step in 1...3 {
            whole.step(
                parameters: all, gradients: gradient, learningRate: 0.01, step: step, settings: AdamWSettings(),
                decayEmbeddings: false)
            frozen.step(
                parameters: some, gradients: gradient, learningRate: 0.01, step: step, settings: AdamWSettings(),
                decayEmbeddings: false)
        }
        XCTAssertEqual(Array(some.array.prefix(6)), Array(start.prefix(6)), "the frozen tensor is untouched")
        XCTAssertEqual(Array(some.array.dropFirst(6)), Array(all.array.dropFirst(6)))
        XCTAssertEqual(Array(frozen.firstMoment.array), Array(whole.firstMoment.array.dropFirst(6)))
    }
}
