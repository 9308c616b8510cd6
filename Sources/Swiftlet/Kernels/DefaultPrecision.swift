/// The precision training uses unless told otherwise: bf16 where it pays. Having AVX512-BF16 is
/// not enough: on Zen 4 and Zen 5 `vdpbf16ps` does twice the multiply-adds of an fp32 FMA in the
/// same time, but on Intel Emerald Rapids it runs at half the FMA rate, and bf16 training there
/// was 0.65× fp32. So the default times the two instructions against each other on this CPU (the
/// same C loops as `swiftlet bench`'s peaks, a few milliseconds, once per process) and takes
/// bf16 only when its dot products are clearly faster.
public struct DefaultPrecision: Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// No AVX512-BF16 (or `SWIFTLET_NO_BF16=1` hides it).
        case noBF16Instructions
        /// bf16 dot-product FLOP/s ÷ fp32 FMA FLOP/s, measured on one core.
        case measured(ratio: Double)
        /// The measurement gave no usable rates (a zero or non-finite time): fp32, the safe side.
        case unmeasured
    }

    public let precision: Precision
    public let reason: Reason

    /// bf16 is the default from this ratio of its dot-product rate to the fp32 FMA rate: the
    /// products are only part of a step, and the rest pays for the conversions.
    public static let threshold = 1.3

    /// The decision from the measured rates (any unit, the same for both).
    public static func decide(bf16Available: Bool, bf16Rate: Double, fp32Rate: Double) -> DefaultPrecision {
        guard bf16Available else { return DefaultPrecision(precision: .fp32, reason: .noBF16Instructions) }
        let ratio = bf16Rate / fp32Rate
        guard ratio.isFinite, ratio > 0 else { return DefaultPrecision(precision: .fp32, reason: .unmeasured) }
        return DefaultPrecision(precision: ratio >= threshold ? .bf16 : .fp32, reason: .measured(ratio: ratio))
    }

    /// This machine's default, measured the first time it is asked for.
    public static let thisMachine: DefaultPrecision = {
        guard BF16Kernels.available else { return decide(bf16Available: false, bf16Rate: 0, fp32Rate: 0) }
        let rates = measureRates()
        return decide(bf16Available: true, bf16Rate: rates.bf16, fp32Rate: rates.fp32)
    }()

    /// The two loops' FLOP/s on the calling thread, alternating in short runs (≈ 0.2 ms each at
    /// 4 GHz) so that a busy moment of the machine slows both alike, best of six each: ≈ 3 ms.
    /// bf16 is 0 where the CPU lacks it.
    static func measureRates(rounds: Int = 6, iterations: Int = 120_000) -> (bf16: Double, fp32: Double) {
        _ = Benchmarks.fmaLoop(iterations: iterations)  // wakes the wide vector units
        var best = (bf16: 0.0, fp32: 0.0)
        for _ in 0..<rounds {
            var clock = Stopwatch()
            let fp32 = Benchmarks.fmaLoop(iterations: iterations) / clock.seconds
            clock = Stopwatch()
            let bf16 = BF16Kernels.available ? BF16Kernels.dotProductLoop(iterations: iterations) / clock.seconds : 0
            best = (max(best.bf16, bf16), max(best.fp32, fp32))
        }
        return best
    }

    /// Why, in a few words for the user: "bf16 dot products measured 2.01× the fp32 FMA rate on
    /// this CPU, and bf16 is the default from 1.3×".
    public var why: String {
        switch reason {
        case .noBF16Instructions:
            "this CPU has no AVX512-BF16 or AMX bf16 instructions, so bf16 is not used"
        case .measured(let ratio):
            "bf16 dot products measured \(Format.fixed(ratio, 2))× the fp32 FMA rate on this CPU, and bf16 is the default from \(Format.fixed(Self.threshold, 1))×"
        case .unmeasured:
            "the bf16 and fp32 rates could not be measured"
        }
    }
}
