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
    /// Y[rows×out] (+)= X[rows×in] · Wᵀ for a few rows (the decode rows of a batch): each weight
    /// row is read from memory once for all of them. Every output element is summed in exactly
    /// the order `apply` uses, so a row's result never depends on which other rows share the
    /// call: batching does not change what a sequence generates.
    public static func applyRows(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int,
                                 inFeatures: Int, outFeatures: Int, accumulate: Bool) {
        if rows == 1 {
            apply(w, x, y, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
            return
        }
        let parts = rows * outFeatures * inFeatures >= parallelThreshold ? 2 : 1
        let ws = SendablePointer(UnsafeMutablePointer(mutating: w)), xs = SendablePointer(UnsafeMutablePointer(mutating: x))
        let ys = SendablePointer(y)
        parallelFor(parts) { part in
            let lo = (outFeatures * part / parts) & ~3
            let hi = part == parts - 1 ? outFeatures : (outFeatures * (part + 1) / parts) & ~3
            // Weight rows in groups of 4 (kept in L1 while every input row passes), input rows by fours.
            var r = lo
            while r + 4 <= hi {
                var i = 0
                while i + 4 <= rows && inFeatures % 16 == 0 {
                    quadOfRows(ws.pointer + r * inFeatures, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures + r,
                               inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
                    i += 4
                }
                while i + 2 <= rows {
                    pairOfRows(ws.pointer + r * inFeatures, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures + r,
                               inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
                    i += 2
                }
                if i < rows {
                    Gemv.rows(ws.pointer, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures, from: r, to: r + 4,
                              inFeatures: inFeatures, accumulate: accumulate)
                }
                r += 4
            }
            if r < hi {
                for i in 0..<rows {
                    Gemv.rows(ws.pointer, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures, from: r, to: hi,
                              inFeatures: inFeatures, accumulate: accumulate)
                }
            }
        }
    }

    /// Four weight rows against two input rows; per element the same sums as `rows`.
    @inline(__always)
    static func pairOfRows(_ w0: UnsafePointer<Float>, _ xa: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           inFeatures n: Int, outFeatures: Int, accumulate: Bool) {
        let w1 = w0 + n, w2 = w1 + n, w3 = w2 + n
        let xb = xa + n
        var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
        var b0 = Vec(), b1 = Vec(), b2 = Vec(), b3 = Vec()
        var i = 0
        while i + 16 <= n {
            let va = load(xa + i), vb = load(xb + i)
            let v0 = load(w0 + i), v1 = load(w1 + i), v2 = load(w2 + i), v3 = load(w3 + i)
            a0 = a0.addingProduct(v0, va); a1 = a1.addingProduct(v1, va); a2 = a2.addingProduct(v2, va); a3 = a3.addingProduct(v3, va)
            b0 = b0.addingProduct(v0, vb); b1 = b1.addingProduct(v1, vb); b2 = b2.addingProduct(v2, vb); b3 = b3.addingProduct(v3, vb)
            i += 16
        }
        var s0 = horizontalSum(a0), s1 = horizontalSum(a1), s2 = horizontalSum(a2), s3 = horizontalSum(a3)
        var t0 = horizontalSum(b0), t1 = horizontalSum(b1), t2 = horizontalSum(b2), t3 = horizontalSum(b3)
        while i < n {
            s0 += w0[i] * xa[i]; s1 += w1[i] * xa[i]; s2 += w2[i] * xa[i]; s3 += w3[i] * xa[i]
            t0 += w0[i] * xb[i]; t1 += w1[i] * xb[i]; t2 += w2[i] * xb[i]; t3 += w3[i] * xb[i]
            i += 1
        }
        let ya = y, yb = y + outFeatures
        if accumulate {
            ya[0] += s0; ya[1] += s1; ya[2] += s2; ya[3] += s3
            yb[0] += t0; yb[1] += t1; yb[2] += t2; yb[3] += t3
        } else {
            ya[0] = s0; ya[1] = s1; ya[2] = s2; ya[3] = s3
            yb[0] = t0; yb[1] = t1; yb[2] = t2; yb[3] = t3
        }
    }
    /// Four weight rows against four input rows (16 accumulators, 8 loads per 16 FMAs); per
    /// element the same sums as `rows` when inFeatures is a multiple of 16.
    @inline(__always)
    static func quadOfRows(_ w0: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           inFeatures n: Int, outFeatures: Int, accumulate: Bool) {
        let w1 = w0 + n, w2 = w1 + n, w3 = w2 + n
        let x1 = x0 + n, x2 = x1 + n, x3 = x2 + n
        var a00 = Vec(), a01 = Vec(), a02 = Vec(), a03 = Vec(), a10 = Vec(), a11 = Vec(), a12 = Vec(), a13 = Vec()
        var a20 = Vec(), a21 = Vec(), a22 = Vec(), a23 = Vec(), a30 = Vec(), a31 = Vec(), a32 = Vec(), a33 = Vec()
        var i = 0
        while i + 16 <= n {
            let v0 = load(w0 + i), v1 = load(w1 + i), v2 = load(w2 + i), v3 = load(w3 + i)
            let u0 = load(x0 + i), u1 = load(x1 + i), u2 = load(x2 + i), u3 = load(x3 + i)
            a00 = a00.addingProduct(v0, u0); a01 = a01.addingProduct(v1, u0); a02 = a02.addingProduct(v2, u0); a03 = a03.addingProduct(v3, u0)
            a10 = a10.addingProduct(v0, u1); a11 = a11.addingProduct(v1, u1); a12 = a12.addingProduct(v2, u1); a13 = a13.addingProduct(v3, u1)
            a20 = a20.addingProduct(v0, u2); a21 = a21.addingProduct(v1, u2); a22 = a22.addingProduct(v2, u2); a23 = a23.addingProduct(v3, u2)
            a30 = a30.addingProduct(v0, u3); a31 = a31.addingProduct(v1, u3); a32 = a32.addingProduct(v2, u3); a33 = a33.addingProduct(v3, u3)
            i += 16
        }
        // (No scalar tail: callers pass inFeatures % 16 == 0.)
        @inline(__always) func put(_ y: UnsafeMutablePointer<Float>, _ a: Vec, _ b: Vec, _ c: Vec, _ d: Vec) {
            if accumulate {
                y[0] += horizontalSum(a); y[1] += horizontalSum(b); y[2] += horizontalSum(c); y[3] += horizontalSum(d)
            } else {
                y[0] = horizontalSum(a); y[1] = horizontalSum(b); y[2] = horizontalSum(c); y[3] = horizontalSum(d)
            }
        }
        put(y, a00, a01, a02, a03)
        put(y + outFeatures, a10, a11, a12, a13)
        put(y + 2 * outFeatures, a20, a21, a22, a23)
        put(y + 3 * outFeatures, a30, a31, a32, a33)
    }
}
