/// y[out] (+)= W[out×in] · x[in] for single-row products (decoding), where a GEMM library's
/// M=1 path is slow (oneDNN: 12 GB/s on one core here) and the work is bandwidth-bound:
/// stream each weight row once, four rows at a time sharing the loads of x.
public enum Gemv {
    /// Below this many weights one core is faster than waking the second (~50 µs).
    static let parallelThreshold = 1 << 20

    public static func apply(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                             inFeatures: Int, outFeatures: Int, accumulate: Bool) {
        let parts = outFeatures * inFeatures >= parallelThreshold ? 2 : 1
        let ws = SendablePointer(UnsafeMutablePointer(mutating: w)), xs = SendablePointer(UnsafeMutablePointer(mutating: x))
        let ys = SendablePointer(y)
        parallelFor(parts) { part in
            let lo = (outFeatures * part / parts) & ~3
            let hi = part == parts - 1 ? outFeatures : (outFeatures * (part + 1) / parts) & ~3
            rows(ws.pointer, xs.pointer, ys.pointer, from: lo, to: hi, inFeatures: inFeatures, accumulate: accumulate)
        }
    }

    @inline(__always)
    static func rows(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                     from lo: Int, to hi: Int, inFeatures n: Int, accumulate: Bool) {
        var r = lo
        while r + 4 <= hi {
            let w0 = w + r * n, w1 = w0 + n, w2 = w1 + n, w3 = w2 + n
            var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
            var i = 0
            while i + 16 <= n {
                let xv = load(x + i)
                a0 = a0.addingProduct(load(w0 + i), xv)
                a1 = a1.addingProduct(load(w1 + i), xv)
                a2 = a2.addingProduct(load(w2 + i), xv)
                a3 = a3.addingProduct(load(w3 + i), xv)
                i += 16
            }
            var s0 = horizontalSum(a0), s1 = horizontalSum(a1), s2 = horizontalSum(a2), s3 = horizontalSum(a3)
            while i < n {
                s0 += w0[i] * x[i]; s1 += w1[i] * x[i]; s2 += w2[i] * x[i]; s3 += w3[i] * x[i]
                i += 1
            }
            if accumulate {
                y[r] += s0; y[r + 1] += s1; y[r + 2] += s2; y[r + 3] += s3
            } else {
                y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3
            }
            r += 4
        }
        while r < hi {
            let s = dot(w + r * n, x, n)
            y[r] = accumulate ? y[r] + s : s
            r += 1
        }
    }
}
