import CSpinWait

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

    /// Large products go to both cores in `sharedParts` items rather than two halves: with
    /// halves, perf put 9 % of a 110M-shape fp32 token in one core waiting for the other at the
    /// end of each product. Each output is one row's `weightDot` however the rows are cut.
    public static func apply<W: GemvWeight>(
        _ w: UnsafePointer<W>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        inFeatures: Int, outFeatures: Int, accumulate: Bool
    ) {
        let parts = outFeatures * inFeatures >= parallelThreshold ? sharedParts(outFeatures) : 1
        let ws = SendablePointer(UnsafeMutablePointer(mutating: w)),
            xs = SendablePointer(UnsafeMutablePointer(mutating: x))
        let ys = SendablePointer(y)
        parallelFor(parts) { part in
            let lo = outFeatures * part / parts, hi = outFeatures * (part + 1) / parts
            rows(ws.pointer, xs.pointer, ys.pointer, from: lo, to: hi, inFeatures: inFeatures, accumulate: accumulate)
        }
    }

    /// One weight row at a time, each a single forward stream: measured here, a 32000×288
    /// matrix streams at 27 GB/s this way against 12.5 GB/s when four rows are interleaved.
    @inline(__always)
    static func rows<W: GemvWeight>(
        _ w: UnsafePointer<W>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        from lo: Int, to hi: Int, inFeatures n: Int, accumulate: Bool
    ) {
        for r in lo..<hi {
            let s = weightDot(w + r * n, x, n)
            y[r] = accumulate ? y[r] + s : s
        }
    }

    /// Y[rows×out] (+)= X[rows×in] · Wᵀ for a few rows (the decode rows of a batch): each weight
    /// row is read from memory once for all of them. Every output element is summed in exactly
    /// the order `apply` uses, so a row's result never depends on which other rows share the
    /// call: batching does not change what a sequence generates.
    public static func applyRows<W: GemvWeight>(
        _ w: UnsafePointer<W>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int,
        inFeatures: Int, outFeatures: Int, accumulate: Bool
    ) {
        if rows == 1 {
            apply(w, x, y, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
            return
        }
        let parts = rows * outFeatures * inFeatures >= rowsParallelThreshold ? sharedParts(outFeatures) : 1
        let ws = SendablePointer(UnsafeMutablePointer(mutating: w)),
            xs = SendablePointer(UnsafeMutablePointer(mutating: x))
        let ys = SendablePointer(y)
        parallelFor(parts) { part in
            let lo = outFeatures * part / parts, hi = outFeatures * (part + 1) / parts
            // Three weight rows at a time against every input row, four input rows at a time:
            // each weight vector loaded serves four inputs and each input vector three weights
            // (twelve outputs in registers), where one weight row against four inputs loaded
            // ten vectors for eight multiply-adds and was bound by the loads.
            // Passes over each three weight rows: four input rows each, the last with 1–4; the
            // next three rows are fetched during the passes that run the four-row kernel.
            let passes = (rows + 3) / 4, spread = min(rows / 4 + (rows % 4 >= 2 ? 1 : 0), 3)
            var r = lo
            while r + 3 <= hi {
                let wr = ws.pointer + r * inFeatures
                for pass in 0..<passes {
                    let i = 4 * pass, count = min(4, rows - i)
                    // A lone leftover input row goes alone; two or three take the four-row kernel
                    // with the last one repeated (its extra outputs are not stored).
                    if count == 1 {
                        for j in 0..<3 {
                            single(
                                wr + j * inFeatures, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures + r + j,
                                inFeatures, accumulate)
                        }
                        continue
                    }
                    // The passes over these three rows also fetch the next three, one row per pass
                    // (all three in the first when there are fewer passes): each weight row is
                    // read from memory once and then from L1, and the hardware prefetcher does
                    // not run far enough ahead of that pattern; spread over the passes, the
                    // loads from memory do not all fall in the first.
                    let prefetch =
                        pass < spread && r + 6 <= hi ? (3 * pass / spread)..<(3 * (pass + 1) / spread) : 0..<0
                    threeRowsAgainstFour(
                        wr, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures + r, inFeatures: inFeatures,
                        outFeatures: outFeatures, accumulate: accumulate, prefetch: prefetch, inputs: count)
                }
                r += 3
            }
            // The last one or two weight rows: one at a time against every input row.
            while r < hi {
                let wr = ws.pointer + r * inFeatures
                var i = 0
                while i + 4 <= rows {
                    rowAgainstFour(
                        wr, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures + r, inFeatures: inFeatures,
                        outFeatures: outFeatures, accumulate: accumulate)
                    i += 4
                }
                while i < rows {
                    single(wr, xs.pointer + i * inFeatures, ys.pointer + i * outFeatures + r, inFeatures, accumulate)
                    i += 1
                }
                r += 1
            }
        }
    }

    /// Work items for a product shared by the cores: an even number (the two cores take equal
    /// shares when both run) of 64 to 128 output rows each, up to 16. More than two items mean a
    /// worker the OS preempts midway (a server's network threads want the core now and then)
    /// holds up only its current item: the other core takes the rest.
    @inline(__always)
    static func sharedParts(_ outFeatures: Int) -> Int {
        min(max(2, 2 * (outFeatures / 128)), 16)
    }

    @inline(__always)
    static func single<W: GemvWeight>(
        _ w: UnsafePointer<W>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
        _ accumulate: Bool
    ) {
        let s = weightDot(w, x, n)
        y.pointee = accumulate ? y.pointee + s : s
    }

    /// Three weight rows against four input rows (twelve outputs); per element exactly
    /// `weightDot`'s sums: the first and second 16 of every 32 in their own accumulators, one
    /// more 16-wide step into the first, then the scalar tail.
    @inline(__always)
    static func threeRowsAgainstFour<W: GemvWeight>(
        _ w0: UnsafePointer<W>, _ x0: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        inFeatures n: Int, outFeatures: Int, accumulate: Bool, prefetch: Range<Int>, inputs: Int
    ) {
        let w1 = w0 + n, w2 = w1 + n
        let next = UnsafeRawPointer(w0 + 3 * n), stride = MemoryLayout<W>.stride
        // With fewer than four input rows the last is read again in place of the missing ones.
        let x1 = x0 + n, x2 = inputs > 2 ? x1 + n : x1, x3 = inputs > 3 ? x2 + n : x2
        // a[weight row][input row] sums the first 16 of every 32, b the second.
        var a00 = Vec(), a01 = Vec(), a02 = Vec(), a03 = Vec(), a10 = Vec(), a11 = Vec(), a12 = Vec(), a13 = Vec()
        var a20 = Vec(), a21 = Vec(), a22 = Vec(), a23 = Vec()
        var b00 = Vec(), b01 = Vec(), b02 = Vec(), b03 = Vec(), b10 = Vec(), b11 = Vec(), b12 = Vec(), b13 = Vec()
        var b20 = Vec(), b21 = Vec(), b22 = Vec(), b23 = Vec()
        var k = 0
        while k + 32 <= n {
            if !prefetch.isEmpty {
                // 32 weights are 128 bytes in fp32 (two lines per row), 64 in bf16.
                for row in prefetch {
                    let line = next + (row * n + k) * stride
                    swl_prefetch(line)
                    if stride == 4 { swl_prefetch(line + 64) }
                }
            }
            var v0 = W.vector(w0 + k), v1 = W.vector(w1 + k), v2 = W.vector(w2 + k)
            var u = load(x0 + k)
            a00 = a00.addingProduct(v0, u); a10 = a10.addingProduct(v1, u); a20 = a20.addingProduct(v2, u)
            u = load(x1 + k)
            a01 = a01.addingProduct(v0, u); a11 = a11.addingProduct(v1, u); a21 = a21.addingProduct(v2, u)
            u = load(x2 + k)
            a02 = a02.addingProduct(v0, u); a12 = a12.addingProduct(v1, u); a22 = a22.addingProduct(v2, u)
            u = load(x3 + k)
            a03 = a03.addingProduct(v0, u); a13 = a13.addingProduct(v1, u); a23 = a23.addingProduct(v2, u)
            let h = k + 16
            v0 = W.vector(w0 + h); v1 = W.vector(w1 + h); v2 = W.vector(w2 + h)
            u = load(x0 + h)
            b00 = b00.addingProduct(v0, u); b10 = b10.addingProduct(v1, u); b20 = b20.addingProduct(v2, u)
            u = load(x1 + h)
            b01 = b01.addingProduct(v0, u); b11 = b11.addingProduct(v1, u); b21 = b21.addingProduct(v2, u)
            u = load(x2 + h)
            b02 = b02.addingProduct(v0, u); b12 = b12.addingProduct(v1, u); b22 = b22.addingProduct(v2, u)
            u = load(x3 + h)
            b03 = b03.addingProduct(v0, u); b13 = b13.addingProduct(v1, u); b23 = b23.addingProduct(v2, u)
            k += 32
        }
        if k + 16 <= n {
            let v0 = W.vector(w0 + k), v1 = W.vector(w1 + k), v2 = W.vector(w2 + k)
            var u = load(x0 + k)
            a00 = a00.addingProduct(v0, u); a10 = a10.addingProduct(v1, u); a20 = a20.addingProduct(v2, u)
            u = load(x1 + k)
            a01 = a01.addingProduct(v0, u); a11 = a11.addingProduct(v1, u); a21 = a21.addingProduct(v2, u)
            u = load(x2 + k)
            a02 = a02.addingProduct(v0, u); a12 = a12.addingProduct(v1, u); a22 = a22.addingProduct(v2, u)
            u = load(x3 + k)
            a03 = a03.addingProduct(v0, u); a13 = a13.addingProduct(v1, u); a23 = a23.addingProduct(v2, u)
            k += 16
        }
        // The twelve horizontal sums at once (lane 4j + i: weight row j, input row i), then
        // each output's scalar tail in `weightDot`'s order and the store.
        let sums = horizontalSums12(
            a00 + b00, a01 + b01, a02 + b02, a03 + b03, a10 + b10, a11 + b11, a12 + b12, a13 + b13,
            a20 + b20, a21 + b21, a22 + b22, a23 + b23)
        let ws = (w0, w1, w2), xs = (x0, x1, x2, x3)
        for i in 0..<inputs {
            let x = i == 0 ? xs.0 : i == 1 ? xs.1 : i == 2 ? xs.2 : xs.3
            let yi = y + i * outFeatures
            for j in 0..<3 {
                let w = j == 0 ? ws.0 : j == 1 ? ws.1 : ws.2
                var sum = sums[4 * j + i]
                var t = k
                while t < n {
                    sum += w[t].value * x[t]
                    t += 1
                }
                yi[j] = accumulate ? yi[j] + sum : sum
            }
        }
    }

    /// One weight row against four input rows; per element exactly `weightDot`'s sums.
    @inline(__always)
    static func rowAgainstFour<W: GemvWeight>(
        _ w: UnsafePointer<W>, _ x0: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        inFeatures n: Int, outFeatures: Int, accumulate: Bool
    ) {
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
        var s0 = horizontalSum(a0 + b0), s1 = horizontalSum(a1 + b1), s2 = horizontalSum(a2 + b2),
            s3 = horizontalSum(a3 + b3)
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
