import XCTest
@testable import Swiftlet

/// The training default: bf16 only where its dot products are measured clearly faster than fp32
/// FMAs. The decision is tested on given rates; the timing loops only for running at all.
final class DefaultPrecisionTests: XCTestCase {
    func testDecision() {
        let none = DefaultPrecision.decide(bf16Available: false, bf16Rate: 1000, fp32Rate: 1)
        XCTAssertEqual(none, DefaultPrecision(precision: .fp32, reason: .noBF16Instructions))
        // Zen 4 and Zen 5: vdpbf16ps does twice the multiply-adds of an FMA.
        XCTAssertEqual(
            DefaultPrecision.decide(bf16Available: true, bf16Rate: 1000, fp32Rate: 500),
            DefaultPrecision(precision: .bf16, reason: .measured(ratio: 2)))
        // Emerald Rapids: half the FMA's rate.
        XCTAssertEqual(DefaultPrecision.decide(bf16Available: true, bf16Rate: 82, fp32Rate: 166).precision, .fp32)
        // Equal rates, and just under and at the threshold.
        XCTAssertEqual(DefaultPrecision.decide(bf16Available: true, bf16Rate: 1, fp32Rate: 1).precision, .fp32)
        XCTAssertEqual(DefaultPrecision.decide(bf16Available: true, bf16Rate: 1.29, fp32Rate: 1).precision, .fp32)
        XCTAssertEqual(DefaultPrecision.decide(bf16Available: true, bf16Rate: 1.3, fp32Rate: 1).precision, .bf16)
        // Nothing measured: fp32.
        for (bf16, fp32) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (Double.nan, 1.0), (Double.infinity, 1.0)] {
            XCTAssertEqual(
                DefaultPrecision.decide(bf16Available: true, bf16Rate: bf16, fp32Rate: fp32),
                DefaultPrecision(precision: .fp32, reason: .unmeasured), "\(bf16) / \(fp32)")
        }
    }

    func testTheLineSaysWhy() {
        let fast = DefaultPrecision(precision: .bf16, reason: .measured(ratio: 2.014))
        XCTAssertTrue(fast.why.contains("2.01× the fp32 FMA rate"), fast.why)
        XCTAssertTrue(fast.why.contains("from 1.3×"), fast.why)
        XCTAssertTrue(
            DefaultPrecision(precision: .fp32, reason: .noBF16Instructions).why.contains("no AVX512-BF16"))
        XCTAssertEqual(Precision.fp32.describedForTraining(requested: true), "precision: fp32")
        let line = Precision.trainingDefault.describedForTraining(requested: false)
        XCTAssertTrue(line.hasPrefix("precision: \(Precision.trainingDefault.rawValue)"), line)
        XCTAssertTrue(line.contains(DefaultPrecision.thisMachine.why), line)
    }

    func testThePeakLoopsRun() {
        let lanes = Benchmarks.fmaLanes
        XCTAssertTrue([1, 8, 16].contains(lanes), "\(lanes)")
        #if arch(x86_64)
        if MatrixEngine.bf16IsNative { XCTAssertEqual(lanes, 16, "AVX512-BF16 comes with AVX512-F") }
        #endif
        XCTAssertEqual(Benchmarks.fmaLoop(iterations: 1000), Double(1000 * 12 * lanes * 2))
        let rates = DefaultPrecision.measureRates(rounds: 2, iterations: 10_000)
        XCTAssertGreaterThan(rates.fp32, 0)
        if MatrixEngine.bf16IsNative {
            XCTAssertGreaterThan(rates.bf16, 0)
            guard case .measured = DefaultPrecision.thisMachine.reason else {
                return XCTFail("\(DefaultPrecision.thisMachine)")
            }
        } else {
            XCTAssertEqual(DefaultPrecision.thisMachine.precision, .fp32)
        }
    }
}
