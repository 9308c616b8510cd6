/// Gemma's gated feed-forward: h = gelu(g) · u with GELU's tanh approximation,
/// gelu(g) = ½g(1 + tanh(√(2/π)(g + 0.044715g³))) = g · σ(a(g)), a(g) = 2√(2/π)(g + 0.044715g³)
/// (½(1 + tanh z) is σ(2z): one exponential, as SwiGLU). All buffers are (count); the `…Bits`
/// outputs, when given, also receive their buffer rounded to bf16, as in `SwiGLU`.
public enum GeGLU {
    static let c0: Float = 2 * (2 / Float.pi).squareRoot()
    static let c1: Float = 0.044_715

    public static func forward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int,
        outBits: UnsafeMutablePointer<UInt16>? = nil
    ) {
        let chunks = count >= 1 << 17 ? 2 : 1
        let g = SendablePointer(UnsafeMutablePointer(mutating: gate)),
            u = SendablePointer(UnsafeMutablePointer(mutating: up))
        let o = SendablePointer(out), bits = outBits.map { SendablePointer($0) }
        parallelFor(chunks) { chunk in
            var i = (count * chunk / chunks) & ~15
            let lo = i
            let hi = chunk == chunks - 1 ? count : (count * (chunk + 1) / chunks) & ~15
            defer { if let bits { BFloat16.convertSerially(o.pointer + lo, into: bits.pointer + lo, count: hi - lo) } }
            while i + 16 <= hi {
                let gv = load(g.pointer + i)
                let sigmoid = 1 / (1 + fastExp(-(gv + gv * gv * gv * c1) * c0))
                store(gv * sigmoid * load(u.pointer + i), o.pointer + i)
                i += 16
            }
            while i < hi {
                // The vector loop's operations in its order (batch invariance, as in SwiGLU).
                let gv = g.pointer[i]
                let sigmoid = 1 / (1 + fastExp(-(gv + gv * gv * gv * c1) * c0))
                o.pointer[i] = gv * sigmoid * u.pointer[i]
                i += 1
            }
        }
    }

    /// Writes (not accumulates) dgate and dup from dout.
    /// dup = dout · gelu(g);  dgate = dout · u · (σ + g · σ(1 − σ) · a'(g)), a'(g) = 2√(2/π)(1 + 3·0.044715g²)
    public static func backward(
        dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
        dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, count: Int,
        dgateBits: UnsafeMutablePointer<UInt16>? = nil, dupBits: UnsafeMutablePointer<UInt16>? = nil
    ) {
        let chunks = count >= 1 << 17 ? 2 : 1
        let d = SendablePointer(UnsafeMutablePointer(mutating: dout))
        let g = SendablePointer(UnsafeMutablePointer(mutating: gate)),
            u = SendablePointer(UnsafeMutablePointer(mutating: up))
        let dg = SendablePointer(dgate), du = SendablePointer(dup)
        let gateBits = dgateBits.map { SendablePointer($0) }, upBits = dupBits.map { SendablePointer($0) }
        parallelFor(chunks) { chunk in
            var i = (count * chunk / chunks) & ~15
            let lo = i
            let hi = chunk == chunks - 1 ? count : (count * (chunk + 1) / chunks) & ~15
            defer {
                if let gateBits {
                    BFloat16.convertSerially(dg.pointer + lo, into: gateBits.pointer + lo, count: hi - lo)
                }
                if let upBits { BFloat16.convertSerially(du.pointer + lo, into: upBits.pointer + lo, count: hi - lo) }
            }
            while i + 16 <= hi {
                let gv = load(g.pointer + i), dv = load(d.pointer + i)
                let g2 = gv * gv
                let sigmoid = 1 / (1 + fastExp(-(gv + g2 * gv * c1) * c0))
                let slope = (1 + g2 * (3 * c1)) * c0
                store(dv * gv * sigmoid, du.pointer + i)
                store(dv * load(u.pointer + i) * sigmoid * (1 + gv * (1 - sigmoid) * slope), dg.pointer + i)
                i += 16
            }
            while i < hi {
                let gv = g.pointer[i], dv = d.pointer[i]
                let g2 = gv * gv
                let sigmoid = 1 / (1 + fastExp(-(gv + g2 * gv * c1) * c0))
                let slope = (1 + g2 * (3 * c1)) * c0
                du.pointer[i] = dv * gv * sigmoid
                dg.pointer[i] = dv * u.pointer[i] * sigmoid * (1 + gv * (1 - sigmoid) * slope)
                i += 1
            }
        }
    }
}
