/// SwiGLU gate: h = silu(g) · u with silu(g) = g · σ(g). All buffers are (count).
/// The `…Bits` outputs, when given, also receive their buffer rounded to bf16 (for the products
/// that read it), written chunk by chunk while the values are still in cache.
public enum SwiGLU {
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
                let sigmoid = 1 / (1 + fastExp(-gv))
                store(gv * sigmoid * load(u.pointer + i), o.pointer + i)
                i += 16
            }
            while i < hi {
                // The vector loop's operations in its order, so an element's value does not
                // depend on whether it falls in the tail (the engine's batch invariance).
                let gv = g.pointer[i]
                let sigmoid = 1 / (1 + fastExp(-gv))
                o.pointer[i] = gv * sigmoid * u.pointer[i]
                i += 1
            }
        }
    }

    /// Writes (not accumulates) dgate and dup from dout.
    /// dup = dout · silu(g);  dgate = dout · u · σ(g) · (1 + g · (1 − σ(g)))
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
                let sigmoid = 1 / (1 + fastExp(-gv))
                store(dv * gv * sigmoid, du.pointer + i)
                store(dv * load(u.pointer + i) * sigmoid * (1 + gv * (1 - sigmoid)), dg.pointer + i)
                i += 16
            }
            while i < hi {
                let gv = g.pointer[i], dv = d.pointer[i]
                let sigmoid = 1 / (1 + fastExp(-gv))
                du.pointer[i] = dv * gv * sigmoid
                dg.pointer[i] = dv * u.pointer[i] * sigmoid * (1 + gv * (1 - sigmoid))
                i += 1
            }
        }
    }
}
