import CBF16Kernels
import Glibc

/// Causal multi-head attention with grouped KV heads, computed row by row without ever
/// storing a T×T matrix: each query row's scores live in a stack scratch of its key count.
/// The forward keeps one log-sum-exp per (row, head); the backward recomputes the
/// probabilities from it.
///
/// Layouts: q, out, dq are (rows, heads, headDim); k, v, dk, dv are (rows, kvHeads, headDim);
/// logSumExp is (rows, heads).
///
/// `scale` multiplies the scores (nil: 1/√headDim). `window` (Gemma's local layers): row r at
/// position p sees only keys j with p − window < j ≤ p. A window that binds (a span longer than
/// it) takes the fp32 row path, which starts each row at its first visible key; shorter spans
/// run the usual kernels, where the window changes nothing.
///
/// `precision: .bf16` runs the dot products (Q·Kᵀ, P·V and the backward's four) in bf16 with fp32
/// accumulation through the C kernels (`BF16Kernels`), softmax and log-sum-exp in fp32, where the
/// CPU has AVX512-BF16 and headDim is a multiple of 16; the fp32 kernels otherwise.
public enum Attention {
    /// `outBits`, when given, also receives `out` rounded to bf16 (the next product's input).
    public static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        spans: [SequenceRows], heads: Int, kvHeads: Int, headDim: Int, scale: Float? = nil,
        window: Int? = nil, precision: Precision = .fp32,
        outBits: UnsafeMutablePointer<UInt16>? = nil
    ) {
        let scale = scale ?? 1 / Float(headDim).squareRoot()
        let window = binds(window, spans) ? window : nil
        if precision == .bf16, window == nil, BF16Kernels.attentionSupports(headDim: headDim) {
            return forwardBF16(
                q: q, k: k, v: v, out: out, outBits: outBits, logSumExp: logSumExp, spans: spans,
                heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale)
        }
        forwardFP32(
            q: q, k: k, v: v, out: out, logSumExp: logSumExp, spans: spans, heads: heads, kvHeads: kvHeads,
            headDim: headDim,
            scale: scale, window: window)
        if let outBits {
            for span in spans {
                BFloat16.convert(
                    out + span.start * heads * headDim, into: outBits + span.start * heads * headDim,
                    count: span.count * heads * headDim)
            }
        }
    }

    static func forwardBF16(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, outBits: UnsafeMutablePointer<UInt16>?,
        logSumExp: UnsafeMutablePointer<Float>, spans: [SequenceRows], heads: Int, kvHeads: Int, headDim: Int,
        scale: Float
    ) {
        let group = heads / kvHeads
        let qStride = heads * headDim, kStride = kvHeads * headDim
        let p = (
            q: SendablePointer(UnsafeMutablePointer(mutating: q)),
            k: SendablePointer(UnsafeMutablePointer(mutating: k)),
            v: SendablePointer(UnsafeMutablePointer(mutating: v)), out: SendablePointer(out),
            lse: SendablePointer(logSumExp),
            bits: outBits.map { SendablePointer($0) }
        )
        parallelFor(spans.count * heads, serial: workIsSmall(spans, heads: heads, headDim: headDim)) { item in
            let span = spans[item / heads], h = item % heads, kh = h / group
            let qOffset = span.start * qStride + h * headDim, kOffset = span.keyStart * kStride + kh * headDim
            swiftlet_bf16_attention_forward(
                p.q.pointer + qOffset, qStride, p.k.pointer + kOffset, p.v.pointer + kOffset, kStride,
                p.out.pointer + qOffset, p.bits.map { $0.pointer + qOffset },
                p.lse.pointer + span.start * heads + h, heads,
                span.count, span.past, headDim, scale)
        }
    }

    static func forwardFP32(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        spans: [SequenceRows], heads: Int, kvHeads: Int, headDim: Int, scale: Float, window: Int?
    ) {
        let group = heads / kvHeads
        let qs = SendablePointer(UnsafeMutablePointer(mutating: q)),
            ks = SendablePointer(UnsafeMutablePointer(mutating: k))
        let vs = SendablePointer(UnsafeMutablePointer(mutating: v)), os = SendablePointer(out),
            ls = SendablePointer(logSumExp)
        let qStride = heads * headDim, kStride = kvHeads * headDim
        let maxKeys = longestKeys(spans)
        parallelFor(spans.count * heads, serial: workIsSmall(spans, heads: heads, headDim: headDim)) { item in
            let span = spans[item / heads], h = item % heads, kh = h / group
            if window == nil, usesTiles(span, headDim: headDim) {
                forwardTiled(
                    q: qs.pointer, k: ks.pointer, v: vs.pointer, out: os.pointer, logSumExp: ls.pointer, span: span,
                    head: h, kvHead: kh, heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale)
                return
            }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: maxKeys) { scratch in
                let scores = scratch.baseAddress!
                for r in 0..<span.count {
                    let row = span.start + r
                    let qr = qs.pointer + row * qStride + h * headDim
                    // The row sees keys first..<past + r + 1 (first > 0 only under a window).
                    let first = firstKey(position: span.past + r, window: window)
                    let keyCount = span.past + r + 1 - first
                    let kBase = ks.pointer + (span.keyStart + first) * kStride + kh * headDim
                    let vBase = vs.pointer + (span.keyStart + first) * kStride + kh * headDim
                    var maxScore = -Float.infinity
                    for j in 0..<keyCount {
                        let s = dot(qr, kBase + j * kStride, headDim) * scale
                        scores[j] = s
                        maxScore = Swift.max(maxScore, s)
                    }
                    let sum = exponentiateInPlace(scores, count: keyCount, minus: maxScore)
                    ls.pointer[row * heads + h] = maxScore + log(sum)
                    let orow = os.pointer + row * qStride + h * headDim
                    orow.update(repeating: 0, count: headDim)
                    let inverse = 1 / sum
                    for j in 0..<keyCount {
                        axpy(scores[j] * inverse, vBase + j * kStride, orow, headDim)
                    }
                }
            }
        }
    }

    /// Writes dq, dk and dv (overwriting the rows the spans cover) from dout.
    public static func backward(
        dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        spans: [SequenceRows], heads: Int, kvHeads: Int, headDim: Int, scale: Float? = nil,
        window: Int? = nil, precision: Precision = .fp32
    ) {
        let scale = scale ?? 1 / Float(headDim).squareRoot()
        let window = binds(window, spans) ? window : nil
        if precision == .bf16, window == nil, BF16Kernels.attentionSupports(headDim: headDim) {
            return backwardBF16(
                dout: dout, q: q, k: k, v: v, out: out, logSumExp: logSumExp, dq: dq, dk: dk, dv: dv,
                spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale)
        }
        backwardFP32(
            dout: dout, q: q, k: k, v: v, out: out, logSumExp: logSumExp, dq: dq, dk: dk, dv: dv,
            spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale, window: window)
    }

    static func backwardBF16(
        dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        spans: [SequenceRows], heads: Int, kvHeads: Int, headDim: Int, scale: Float
    ) {
        let group = heads / kvHeads
        let qStride = heads * headDim, kStride = kvHeads * headDim
        let p = (
            dout: SendablePointer(UnsafeMutablePointer(mutating: dout)),
            q: SendablePointer(UnsafeMutablePointer(mutating: q)),
            k: SendablePointer(UnsafeMutablePointer(mutating: k)),
            v: SendablePointer(UnsafeMutablePointer(mutating: v)),
            out: SendablePointer(UnsafeMutablePointer(mutating: out)),
            lse: SendablePointer(UnsafeMutablePointer(mutating: logSumExp)),
            dq: SendablePointer(dq), dk: SendablePointer(dk), dv: SendablePointer(dv)
        )
        // One work item per (sequence, KV head), as in the fp32 kernel: it owns those dk/dv rows.
        parallelFor(spans.count * kvHeads, serial: workIsSmall(spans, heads: heads, headDim: headDim)) { item in
            let span = spans[item / kvHeads], kh = item % kvHeads
            let qOffset = span.start * qStride + kh * group * headDim, kOffset = span.keyStart * kStride + kh * headDim
            swiftlet_bf16_attention_backward(
                p.dout.pointer + qOffset, p.q.pointer + qOffset, p.out.pointer + qOffset,
                p.dq.pointer + qOffset, qStride, p.lse.pointer + span.start * heads + kh * group, heads,
                p.k.pointer + kOffset, p.v.pointer + kOffset, p.dk.pointer + kOffset, p.dv.pointer + kOffset,
                kStride, group, span.count, span.past, headDim, scale)
        }
    }

    static func backwardFP32(
        dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        spans: [SequenceRows], heads: Int, kvHeads: Int, headDim: Int, scale: Float, window: Int?
    ) {
        let group = heads / kvHeads
        let qStride = heads * headDim, kStride = kvHeads * headDim
        let maxKeys = longestKeys(spans)
        let p = (
            dout: SendablePointer(UnsafeMutablePointer(mutating: dout)),
            q: SendablePointer(UnsafeMutablePointer(mutating: q)),
            k: SendablePointer(UnsafeMutablePointer(mutating: k)),
            v: SendablePointer(UnsafeMutablePointer(mutating: v)),
            out: SendablePointer(UnsafeMutablePointer(mutating: out)),
            lse: SendablePointer(UnsafeMutablePointer(mutating: logSumExp)),
            dq: SendablePointer(dq), dk: SendablePointer(dk), dv: SendablePointer(dv)
        )
        // One work item per (sequence, KV head): it owns that head's dk/dv rows, so items never collide.
        parallelFor(spans.count * kvHeads, serial: workIsSmall(spans, heads: heads, headDim: headDim)) { item in
            let span = spans[item / kvHeads], kh = item % kvHeads
            let keyRows = span.past + span.count
            let kBase = p.k.pointer + span.keyStart * kStride + kh * headDim
            let vBase = p.v.pointer + span.keyStart * kStride + kh * headDim
            let dkBase = p.dk.pointer + span.keyStart * kStride + kh * headDim
            let dvBase = p.dv.pointer + span.keyStart * kStride + kh * headDim
            for j in 0..<keyRows {
                (dkBase + j * kStride).update(repeating: 0, count: headDim)
                (dvBase + j * kStride).update(repeating: 0, count: headDim)
            }
            if window == nil, usesTiles(span, headDim: headDim) {
                backwardTiled(
                    dout: p.dout.pointer, q: p.q.pointer, k: p.k.pointer, v: p.v.pointer, out: p.out.pointer,
                    logSumExp: p.lse.pointer, dq: p.dq.pointer, dk: p.dk.pointer, dv: p.dv.pointer, span: span,
                    kvHead: kh, heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale)
                return
            }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: maxKeys) { scratch in
                let probabilities = scratch.baseAddress!
                for h in kh * group..<(kh + 1) * group {
                    for r in 0..<span.count {
                        let row = span.start + r
                        let qr = p.q.pointer + row * qStride + h * headDim
                        let gr = p.dout.pointer + row * qStride + h * headDim
                        let orow = p.out.pointer + row * qStride + h * headDim
                        let dqr = p.dq.pointer + row * qStride + h * headDim
                        let lse = p.lse.pointer[row * heads + h]
                        let first = firstKey(position: span.past + r, window: window)
                        let keyCount = span.past + r + 1 - first
                        let kRow = kBase + first * kStride, vRow = vBase + first * kStride
                        let dkRow = dkBase + first * kStride, dvRow = dvBase + first * kStride
                        for j in 0..<keyCount {
                            probabilities[j] = dot(qr, kRow + j * kStride, headDim) * scale
                        }
                        _ = exponentiateInPlace(probabilities, count: keyCount, minus: lse)
                        let rowDot = dot(gr, orow, headDim)
                        dqr.update(repeating: 0, count: headDim)
                        for j in 0..<keyCount {
                            let pj = probabilities[j]
                            let ds = pj * (dot(gr, vRow + j * kStride, headDim) - rowDot) * scale
                            axpy(ds, kRow + j * kStride, dqr, headDim)
                            axpy(ds, qr, dkRow + j * kStride, headDim)
                            axpy(pj, gr, dvRow + j * kStride, headDim)
                        }
                    }
                }
            }
        }
    }

    /// Tiles pay off once a sequence has a few query rows; decode steps (one row against a
    /// cache) take the row path, which needs no transposed copy of the keys.
    @inline(__always)
    static func usesTiles(_ span: SequenceRows, headDim: Int) -> Bool {
        headDim % 16 == 0 && span.count >= 8
    }

    /// Keys per tile of the forward's online softmax (64 lost ≈ 10 % to per-tile work; 256 gained nothing).
    static let keyTile = 128

    /// One (sequence, head), FlashAttention-2 style: four query rows at a time sweep tiles of
    /// `keyTile` keys (stored transposed), keeping a running maximum, normalizer and unnormalized
    /// output per row, so only a 4 × keyTile block of scores ever exists.
    static func forwardTiled(
        q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, span: SequenceRows,
        head h: Int, kvHead kh: Int, heads: Int, kvHeads: Int, headDim: Int, scale: Float
    ) {
        let kStride = kvHeads * headDim
        let keyRows = span.past + span.count
        let ld = (keyRows + 15) & ~15
        let scratch = swiftlet_thread_scratch_f32(headDim * ld + sweepScratch(headDim: headDim))!
        let kBase = k + span.keyStart * kStride + kh * headDim
        AttentionTiles.transpose(kBase, stride: kStride, count: keyRows, headDim: headDim, into: scratch, ld: ld)
        tiledSweep(
            q: q, kT: scratch, ld: ld, v: v + span.keyStart * kStride + kh * headDim, vStride: kStride, out: out,
            logSumExp: logSumExp, queryStart: span.start, queryCount: span.count, past: span.past,
            head: h, heads: heads, headDim: headDim, scale: scale, scratch: scratch + headDim * ld)
    }

    /// Floats of scratch `tiledSweep` needs besides the transposed keys.
    static func sweepScratch(headDim: Int) -> Int { 4 * keyTile + headDim }

    /// The online-softmax sweep of `forwardTiled` for one (sequence, head), given the keys
    /// already transposed to kT = (headDim, ld) and value rows at `v + j · vStride`. Shared by
    /// the contiguous and the paged (block-table) attention.
    static func tiledSweep(
        q: UnsafeMutablePointer<Float>, kT: UnsafeMutablePointer<Float>, ld: Int, v: UnsafeMutablePointer<Float>,
        vStride: Int, out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        queryStart: Int, queryCount: Int, past: Int, head h: Int, heads: Int, headDim: Int, scale: Float,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let qStride = heads * headDim
        let tile = keyTile
        let s = scratch, sink = s + 4 * tile
        var r0 = 0
        while r0 < queryCount {
            let n = min(AttentionTiles.rowsPerTile, queryCount - r0)
            let maxKeys = past + r0 + n
            func qRow(_ i: Int) -> UnsafeMutablePointer<Float> {
                q + (queryStart + r0 + min(i, n - 1)) * qStride + h * headDim
            }
            func oRow(_ i: Int) -> UnsafeMutablePointer<Float> {
                i < n ? out + (queryStart + r0 + i) * qStride + h * headDim : sink
            }
            var runningMax = SIMD4<Float>(repeating: -.infinity), normalizer = SIMD4<Float>(repeating: 0)
            for i in 0..<AttentionTiles.rowsPerTile { oRow(i).update(repeating: 0, count: headDim) }
            var j0 = 0
            while j0 < maxKeys {
                let width = min(tile, maxKeys - j0)
                AttentionTiles.scores(
                    qRow(0), qRow(1), qRow(2), qRow(3), yT: kT + j0, ld: ld, count: width, headDim: headDim,
                    scale: scale, into: s, sStride: tile)
                var rescale = SIMD4<Float>(repeating: 0)
                for i in 0..<AttentionTiles.rowsPerTile {
                    let row = s + i * tile
                    // Keys this row may see within the tile (causal); the rest weigh nothing.
                    let valid = i < n ? min(width, past + r0 + i + 1 - j0) : 0
                    guard valid > 0 else {
                        row.update(repeating: 0, count: width)
                        rescale[i] = 1
                        continue
                    }
                    let newMax = Swift.max(runningMax[i], maximum(row, count: valid))
                    let correction = runningMax[i] == -.infinity ? 0 : fastExp(runningMax[i] - newMax)
                    let sum = exponentiateInPlace(row, count: valid, minus: newMax)
                    if valid < width { (row + valid).update(repeating: 0, count: width - valid) }
                    normalizer[i] = normalizer[i] * correction + sum
                    runningMax[i] = newMax
                    rescale[i] = correction
                }
                AttentionTiles.combine(
                    s, ld: tile, v + j0 * vStride, stride: vStride, count: width, headDim: headDim,
                    oRow(0), oRow(1), oRow(2), oRow(3), rescale: rescale)
                j0 += width
            }
            for i in 0..<n {
                scaleInPlace(oRow(i), count: headDim, by: 1 / normalizer[i])
                logSumExp[(queryStart + r0 + i) * heads + h] = runningMax[i] + log(normalizer[i])
            }
            r0 += n
        }
    }

    /// One (sequence, KV head): every query head of the group, four rows at a time.
    /// dk and dv rows must already be zero; dq rows are overwritten.
    static func backwardTiled(
        dout: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        span: SequenceRows, kvHead kh: Int, heads: Int, kvHeads: Int, headDim: Int, scale: Float
    ) {
        let qStride = heads * headDim, kStride = kvHeads * headDim
        let group = heads / kvHeads
        let keyRows = span.past + span.count
        let ld = (keyRows + 15) & ~15
        let scratch = swiftlet_thread_scratch_f32(2 * headDim * ld + 8 * ld + headDim)!
        let kT = scratch, vT = kT + headDim * ld, probabilities = vT + headDim * ld, dScores = probabilities + 4 * ld
        let sink = dScores + 4 * ld
        let kBase = k + span.keyStart * kStride + kh * headDim
        let vBase = v + span.keyStart * kStride + kh * headDim
        let dkBase = dk + span.keyStart * kStride + kh * headDim
        let dvBase = dv + span.keyStart * kStride + kh * headDim
        AttentionTiles.transpose(kBase, stride: kStride, count: keyRows, headDim: headDim, into: kT, ld: ld)
        AttentionTiles.transpose(vBase, stride: kStride, count: keyRows, headDim: headDim, into: vT, ld: ld)
        for h in kh * group..<(kh + 1) * group {
            var r0 = 0
            while r0 < span.count {
                let n = min(AttentionTiles.rowsPerTile, span.count - r0)
                let maxKeys = span.past + r0 + n
                func at(_ base: UnsafeMutablePointer<Float>, _ i: Int) -> UnsafeMutablePointer<Float> {
                    base + (span.start + r0 + min(i, n - 1)) * qStride + h * headDim
                }
                func dqRow(_ i: Int) -> UnsafeMutablePointer<Float> { i < n ? at(dq, i) : sink }
                AttentionTiles.scores(
                    at(q, 0), at(q, 1), at(q, 2), at(q, 3), yT: kT, ld: ld, count: maxKeys, headDim: headDim,
                    scale: scale, into: probabilities, sStride: ld)
                AttentionTiles.scores(
                    at(dout, 0), at(dout, 1), at(dout, 2), at(dout, 3), yT: vT, ld: ld, count: maxKeys,
                    headDim: headDim, scale: 1, into: dScores, sStride: ld)
                for i in 0..<AttentionTiles.rowsPerTile {
                    let p = probabilities + i * ld, ds = dScores + i * ld
                    guard i < n else {
                        p.update(repeating: 0, count: maxKeys)
                        ds.update(repeating: 0, count: maxKeys)
                        continue
                    }
                    let row = span.start + r0 + i
                    let keyCount = span.past + r0 + i + 1
                    _ = exponentiateInPlace(p, count: keyCount, minus: logSumExp[row * heads + h])
                    if maxKeys > keyCount { (p + keyCount).update(repeating: 0, count: maxKeys - keyCount) }
                    // dS = P ⊙ (dP − rowsum(dO ⊙ O)) · scale
                    let rowDot = dot(at(dout, i), at(out, i), headDim)
                    let rd = Vec(repeating: rowDot), sv = Vec(repeating: scale)
                    var j = 0
                    while j + 16 <= maxKeys {
                        store(load(p + j) * (load(ds + j) - rd) * sv, ds + j)
                        j += 16
                    }
                    while j < maxKeys {
                        ds[j] = p[j] * (ds[j] - rowDot) * scale
                        j += 1
                    }
                }
                AttentionTiles.combine(
                    dScores, ld: ld, kBase, stride: kStride, count: maxKeys, headDim: headDim,
                    dqRow(0), dqRow(1), dqRow(2), dqRow(3))
                AttentionTiles.accumulateOuter(
                    dScores, ld: ld, at(q, 0), at(q, 1), at(q, 2), at(q, 3), count: maxKeys,
                    headDim: headDim, into: dkBase, stride: kStride)
                AttentionTiles.accumulateOuter(
                    probabilities, ld: ld, at(dout, 0), at(dout, 1), at(dout, 2), at(dout, 3),
                    count: maxKeys, headDim: headDim, into: dvBase, stride: kStride)
                r0 += n
            }
        }
    }

    /// Whether a sliding window hides any key from any row of the spans (a span that reaches
    /// past the window's length).
    static func binds(_ window: Int?, _ spans: [SequenceRows]) -> Bool {
        guard let window else { return false }
        for s in spans where s.past + s.count > window { return true }
        return false
    }

    /// The first key a row at `position` sees: 0, or under a window the oldest of its last
    /// `window` positions.
    @inline(__always)
    static func firstKey(position: Int, window: Int?) -> Int {
        guard let window else { return 0 }
        return Swift.max(0, position + 1 - window)
    }

    /// The most keys any row of the spans sees (no array built: a step allocates nothing).
    static func longestKeys(_ spans: [SequenceRows]) -> Int {
        var longest = 0
        for s in spans { longest = Swift.max(longest, s.past + s.count) }
        return longest
    }

    /// Below ~100k multiply-adds the second thread's wake-up costs more than it saves.
    static func workIsSmall(_ spans: [SequenceRows], heads: Int, headDim: Int) -> Bool {
        var pairs = 0
        for s in spans { pairs += s.count * (s.past + s.count) }
        return pairs * heads * headDim < 100_000
    }
}
