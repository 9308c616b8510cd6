/// y[out] (+)= W[out×in] · x[in] for single-row products (decoding), where a GEMM library's
/// M=1 path is slow (oneDNN: 12 GB/s on one core here) and the work is bandwidth-bound:
/// stream each weight row once, four rows at a time sharing the loads of x.
public enum Gemv {
    /// Below this many weights one core is faster than waking the second (~50 µs).
    static let parallelThreshold = 1 << 20
    /// The same for several rows, in multiply-adds: only ≥ ~0.1 ms of work pays for the wake-up
    /// (1M and 100M measured the same as this in the 8-prompt engine benchmark).
    static let rowsParallelThreshold = 1 << 22

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
        let parts = rows * outFeatures * inFeatures >= rowsParallelThreshold ? 2 : 1
        let ws = SendablePointer(UnsafeMutablePointer(mutating: w)), xs = SendablePointer(UnsafeMutablePointer(mutating: x))
        let ys = SendablePointer(y)
        parallelFor(parts) { part in
            let lo = (outFeatures * part / parts) & ~3
            let hi = part == parts - 1 ? outFeatures : (outFeatures * (part + 1) / parts) & ~3
            // One weight row at a time against every input row: the weights are read as one
            // forward stream (what the hardware prefetcher follows best; the step is bound by
            // reading them), each row then reused from L1.
            let grouped = outFeatures & ~3
            for r in lo..<hi {
                let wr = ws.pointer + r * inFeatures
                var i = 0
                if r >= grouped {
                    // `rows` sums its last (outFeatures % 4) rows with `dot`; so do we.
                    for i in 0..<rows {
                        let s = dot(wr, xs.pointer + i * inFeatures, inFeatures)
                        let y = ys.pointer + i * outFeatures + r
                        y.pointee = accumulate ? y.pointee + s : s
                    }
                    continue
                }
                while i + 4 <= rows {
                    rowAgainstFour(wr, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures + r, inFeatures: inFeatures,
                                   outFeatures: outFeatures, accumulate: accumulate)
                    i += 4
                }
                while i < rows {
                    let x = xs.pointer + i * inFeatures
                    var acc = Vec()
                    var k = 0
                    while k + 16 <= inFeatures {
                        acc = acc.addingProduct(load(wr + k), load(x + k))
                        k += 16
                    }
                    var s = horizontalSum(acc)
                    while k < inFeatures {
                        s += wr[k] * x[k]
                        k += 1
                    }
                    let y = ys.pointer + i * outFeatures + r
                    y.pointee = accumulate ? y.pointee + s : s
                    i += 1
                }
            }
        }
    }

    /// One weight row against four input rows; per element the same sums as `rows`.
    @inline(__always)
    static func rowAgainstFour(_ w: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                               inFeatures n: Int, outFeatures: Int, accumulate: Bool) {
        let x1 = x0 + n, x2 = x1 + n, x3 = x2 + n
        var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
        var k = 0
        while k + 16 <= n {
            let v = load(w + k)
            a0 = a0.addingProduct(v, load(x0 + k)); a1 = a1.addingProduct(v, load(x1 + k))
            a2 = a2.addingProduct(v, load(x2 + k)); a3 = a3.addingProduct(v, load(x3 + k))
            k += 16
        }
        var s0 = horizontalSum(a0), s1 = horizontalSum(a1), s2 = horizontalSum(a2), s3 = horizontalSum(a3)
        while k < n {
            s0 += w[k] * x0[k]; s1 += w[k] * x1[k]; s2 += w[k] * x2[k]; s3 += w[k] * x3[k]
            k += 1
        }
        if accumulate {
            y[0] += s0; y[outFeatures] += s1; y[2 * outFeatures] += s2; y[3 * outFeatures] += s3
        } else {
            y[0] = s0; y[outFeatures] = s1; y[2 * outFeatures] = s2; y[3 * outFeatures] = s3
        }
    }
}
