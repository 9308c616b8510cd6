import CBF16Kernels
#if canImport(Glibc)
import Glibc
#endif

/// The C kernels that use the CPU's bf16 dot-product instructions (AVX512-BF16), and whether
/// this machine has them. Everything here is only called when `available` is true; the fp32
/// Swift kernels are the fallback everywhere else.
public enum BF16Kernels {
    /// AVX512-BF16 with AVX-512 F/BW/VL, enabled by the OS, and oneDNN's bf16 matmul kernels
    /// (which also use AMX on CPUs that have it). `SWIFTLET_NO_BF16=1` turns it off, to try the
    /// fp32 fallback on a machine that has the instructions.
    public static let available: Bool = {
        if let value = getenv("SWIFTLET_NO_BF16"), String(cString: value) != "0", String(cString: value) != "" {
            return false
        }
        return swiftlet_bf16_available() != 0 && DNNLContext.shared.bf16IsNative
    }()

    /// Whether the bf16 attention kernels take this head size (pairs of 16-lane vectors).
    static func attentionSupports(headDim: Int) -> Bool { available && headDim % 16 == 0 && headDim <= 512 }

    /// bf16 peak from independent vdpbf16ps chains on every core, in GFLOP/s (each lane of one
    /// instruction does two multiply-adds), timed like `Benchmarks.fmaPeak`: best of three.
    public static func dotProductPeak(cores: Int = 2) -> Double {
        guard available else { return 0 }
        let iterations = 30_000_000
        return Benchmarks.peak(cores: cores) { dotProductLoop(iterations: iterations) }
    }

    /// Runs `iterations` rounds of the bf16 dot-product loop on this thread; returns the FLOPs
    /// done. Only where `available`.
    static func dotProductLoop(iterations: Int) -> Double {
        let kept = swiftlet_bf16_dot_loop(iterations)
        return Double(iterations * 12 * 16 * 4) + (kept > 1e30 ? 1 : 0)
    }
}
