/// y[out] (+)= W[out×in] · x[in] for single-row products (decoding), where a GEMM library's
/// M=1 path is slow (oneDNN: 12 GB/s on one core here) and the work is bandwidth-bound:
/// stream each weight row once, front to back. The weights are fp32
/// or bf16 (`GemvWeight`): bf16 halves the bytes streamed, and every sum is taken in the same
/// order either way, so bf16 weights give exactly the fp32 result of their rounded values.
public enum Gemv {
    /// From this many weights (~10 µs of streaming) a product is split over both cores: the
    /// worker team starts a job in well under a microsecond while its workers spin.
    static let parallelThreshold = 1 << 16
    /// The same for several rows, in multiply-adds.
    static let rowsParallelThreshold = 1 << 16

    public static func apply<W: GemvWeight>(_ w: UnsafePointer<W>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                             inFeatures: Int, outFeatures: Int, accumulate: Bool) {
        let parts = outFeatures * inFeatures >= parallelThreshold ? 2 : 1
        let ws = SendablePointer(UnsafeMutablePointer(mutating: w)), xs = SendablePointer(UnsafeMutablePointer(mutating: x))
        let ys = SendablePointer(y)
        parallelFor(parts) { part in
            let lo = outFeatures * part / parts, hi = outFeatures * (part + 1) / parts
            rows(ws.pointer, xs.pointer, ys.pointer, from: lo, to: hi, inFeatures: inFeatures, accumulate: accumulate)
        }
    }

    /// One weight row at a time, each a single forward stream: measured here, a 32000×288
    /// matrix streams at 27 GB/s this way against 12.5 GB/s when four rows are interleaved.
    @inline(__always)
    static func rows<W: GemvWeight>(_ w: UnsafePointer<W>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                     from lo: Int, to hi: Int, inFeatures n: Int, accumulate: Bool) {
        for r in lo..<hi {
            let s = weightDot(w + r * n, x, n)
            y[r] = accumulate ? y[r] + s : s
        }
    }

    /// Y[rows×out] (+)= X[rows×in] · Wᵀ for a few rows (the decode rows of a batch): each weight
    /// row is read from memory once for all of them. Every output element is summed in exactly
    /// the order `apply` uses, so a row's result never depends on which other rows share the
    /// call: batching does not change what a sequence generates.
    public static func applyRows<W: GemvWeight>(_ w: UnsafePointer<W>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int,
                                 inFeatures: Int, outFeatures: Int, accumulate: Bool) {
        if rows == 1 {
            apply(w, x, y, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
            return
        }
        let parts = rows * outFeatures * inFeatures >= rowsParallelThreshold ? 2 : 1
        let ws = SendablePointer(UnsafeMutablePointer(mutating: w)), xs = SendablePointer(UnsafeMutablePointer(mutating: x))
        let ys = SendablePointer(y)
        parallelFor(parts) { part in
            let lo = outFeatures * part / parts, hi = outFeatures * (part + 1) / parts
            // One weight row at a time against every input row: the weights are read as one
            // forward stream (what the hardware prefetcher follows best; the step is bound by
            // reading them), each row then reused from L1.
            for r in lo..<hi {
                let wr = ws.pointer + r * inFeatures
                var i = 0
                while i + 4 <= rows {
                    rowAgainstFour(wr, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures + r, inFeatures: inFeatures,
                                   outFeatures: outFeatures, accumulate: accumulate)
                    i += 4
                }
                while i < rows {
                    let s = weightDot(wr, xs.pointer + i * inFeatures, inFeatures)
                    let y = ys.pointer + i * outFeatures + r
                    y.pointee = accumulate ? y.pointee + s : s
                    i += 1
                }
            }
        }
    }

    /// One weight row against four input rows; per element exactly `weightDot`'s sums.
    @inline(__always)
    static func rowAgainstFour<W: GemvWeight>(_ w: UnsafePointer<W>, _ x0: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                              inFeatures n: Int, outFeatures: Int, accumulate: Bool) {
        let x1 = x0 + n, x2 = x1 + n, x3 = x2 + n
        var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
        var b0 = Vec(), b1 = Vec(), b2 = Vec(), b3 = Vec()
        var k = 0
        while k + 32 <= n {
            let v = W.vector(w + k), u = W.vector(w + k + 16)
            a0 = a0.addingProduct(v, load(x0 + k)); a1 = a1.addingProduct(v, load(x1 + k))
            a2 = a2.addingProduct(v, load(x2 + k)); a3 = a3.addingProduct(v, load(x3 + k))
            b0 = b0.addingProduct(u, load(x0 + k + 16)); b1 = b1.addingProduct(u, load(x1 + k + 16))
            b2 = b2.addingProduct(u, load(x2 + k + 16)); b3 = b3.addingProduct(u, load(x3 + k + 16))
            k += 32
        }
        while k + 16 <= n {
            let v = W.vector(w + k)
            a0 = a0.addingProduct(v, load(x0 + k)); a1 = a1.addingProduct(v, load(x1 + k))
            a2 = a2.addingProduct(v, load(x2 + k)); a3 = a3.addingProduct(v, load(x3 + k))
            k += 16
        }
        var s0 = horizontalSum(a0 + b0), s1 = horizontalSum(a1 + b1), s2 = horizontalSum(a2 + b2), s3 = horizontalSum(a3 + b3)
        while k < n {
            let wk = w[k].value
            s0 += wk * x0[k]; s1 += wk * x1[k]; s2 += wk * x2[k]; s3 += wk * x3[k]
            k += 1
        }
        if accumulate {
            y[0] += s0; y[outFeatures] += s1; y[2 * outFeatures] += s2; y[3 * outFeatures] += s3
        } else {
            y[0] = s0; y[outFeatures] = s1; y[2 * outFeatures] = s2; y[3 * outFeatures] = s3
        }
    }
}

/// A weight element `Gemv` can stream: 16 at a time as fp32 lanes, or one as a Float.
public protocol GemvWeight {
    static func vector(_ p: UnsafePointer<Self>) -> Vec
    var value: Float { get }
}

extension Float: GemvWeight {
    @inline(__always) public static func vector(_ p: UnsafePointer<Float>) -> Vec { load(p) }
    @inline(__always) public var value: Float { self }
}

/// A bf16 value's bit pattern (the top half of an fp32); widening it is a 16-bit shift.
public struct BFloat16Bits: GemvWeight {
    public var bits: UInt16
    /// Written lane by lane on purpose: LLVM turns this loop into one vpmovzxwd and one vpslld,
    /// while `SIMD16<UInt32>(truncatingIfNeeded:)` is an out-of-line generic call per vector.
    @inline(__always) public static func vector(_ p: UnsafePointer<BFloat16Bits>) -> Vec {
        let halves = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt16>.self)
        var bits = SIMD16<UInt32>()
        for i in 0..<16 { bits[i] = UInt32(halves[i]) &<< 16 }
        return unsafeBitCast(bits, to: Vec.self)
    }
    @inline(__always) public var value: Float { BFloat16.value(bits) }
}

/// Dot product of a weight row of either kind with fp32 x: two accumulators over 32-float steps,
/// then a 16-float step, then the scalar tail (`dot` is this with fp32 weights).
@inline(__always) func weightDot<W: GemvWeight>(_ w: UnsafePointer<W>, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = Vec(), acc1 = Vec()
    var i = 0
    while i + 32 <= n {
        acc0 = acc0.addingProduct(W.vector(w + i), load(x + i))
        acc1 = acc1.addingProduct(W.vector(w + i + 16), load(x + i + 16))
        i += 32
    }
    while i + 16 <= n {
        acc0 = acc0.addingProduct(W.vector(w + i), load(x + i))
        i += 16
    }
    var sum = horizontalSum(acc0 + acc1)
    while i < n {
        sum += w[i].value * x[i]
        i += 1
    }
    return sum
}
