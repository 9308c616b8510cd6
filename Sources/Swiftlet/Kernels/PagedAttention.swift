import CBF16Kernels
import CSpinWait
import Glibc

/// One layer's keys and values in a block pool, as the kernel sees them: token j of a span is
/// at `keys + blockTables[keyStart + j / blockSize] · blockStride + (j % blockSize) · rowStride`.
public struct KVPages {
    public var keys: UnsafePointer<Float>
    public var values: UnsafePointer<Float>
    public var blockTables: UnsafePointer<Int32>
    public var blockSize: Int
    public var blockStride: Int
    public var rowStride: Int
    public init(
        keys: UnsafePointer<Float>, values: UnsafePointer<Float>, blockTables: UnsafePointer<Int32>,
        blockSize: Int, blockStride: Int, rowStride: Int
    ) {
        self.keys = keys
        self.values = values
        self.blockTables = blockTables
        self.blockSize = blockSize
        self.blockStride = blockStride
        self.rowStride = rowStride
    }
}

/// Causal attention of query rows against keys and values stored in pool blocks (the
/// inference engine's KV cache). Same arithmetic as `Attention.forward`: decode rows and short
/// chunks take the row path, walking the blocks in place; chunks of 8 or more rows gather their
/// keys through the block table into the tiled path's transposed scratch (and the values into
/// a contiguous copy) and share its online-softmax sweep.
///
/// Layouts: q and out are (rows, heads, headDim); logSumExp is (rows, heads).
public enum PagedAttention {
    public static func forward(
        q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        spans: [SequenceRows], pages: KVPages, heads: Int, kvHeads: Int, headDim: Int,
        scale: Float? = nil, window: Int? = nil
    ) {
        let scale = scale ?? 1 / Float(headDim).squareRoot()
        // A window that binds sends its spans down the row path (see `Attention`).
        let window = Attention.binds(window, spans) ? window : nil
        func usesTiles(_ span: SequenceRows, headDim: Int) -> Bool {
            window == nil && Self.usesTiles(span, headDim: headDim)
        }
        let group = heads / kvHeads
        let qs = SendablePointer(UnsafeMutablePointer(mutating: q)), os = SendablePointer(out),
            ls = SendablePointer(logSumExp)
        let pagesBox = UncheckedSendable(pages)
        // Work items: (span, head) for tiled spans; (span, a range of heads) for the row path,
        // whose spans are cut into head ranges when there are too few of them to keep every
        // core busy (a lone decoding sequence would otherwise run on one core while the other
        // waits). Per (row, head) the arithmetic is the same whatever the cut, so the result is
        // too. Coded as (span, first head, end head, tiled) in a stack buffer (a step allocates
        // nothing).
        var maxRowKeys = 0, pairs = 0, rowSpans = 0
        for s in spans where !usesTiles(s, headDim: headDim) {
            maxRowKeys = max(maxRowKeys, s.past + s.count)
            rowSpans += 1
        }
        for s in spans { pairs += s.count * (s.past + s.count) }
        let serial = pairs * heads * headDim < 20_000
        let parts = serial || rowSpans == 0 ? 1 : headParts(rowSpans: rowSpans, heads: heads, kvHeads: kvHeads)
        withUnsafeTemporaryAllocation(of: WorkItem.self, capacity: spans.count * heads) { items in
            var count = 0
            for (i, s) in spans.enumerated() {
                if usesTiles(s, headDim: headDim) {
                    for h in 0..<heads {
                        items[count] = WorkItem(span: i, heads: h..<h + 1, tiled: true)
                        count += 1
                    }
                } else {
                    for part in 0..<parts {
                        items[count] = WorkItem(
                            span: i, heads: headRange(part, of: parts, heads: heads, kvHeads: kvHeads))
                        count += 1
                    }
                }
            }
            let coded = UncheckedSendable(items)
            // Decode rows take the row path (a dot product and a horizontal sum per key). With the
            // worker team spinning between the products of a step, sharing costs well under a
            // microsecond, so rows are split over both cores from ≈ 10 µs of work.
            parallelFor(count, serial: serial) { index in
                let item = coded.value[index]
                let span = spans[item.span]
                let pages = pagesBox.value
                if item.tiled {
                    let head = item.heads.lowerBound
                    forwardTiled(
                        q: qs.pointer, out: os.pointer, logSumExp: ls.pointer, span: span, pages: pages, head: head,
                        kvHead: head / group, heads: heads, headDim: headDim, scale: scale)
                } else {
                    // Scores of every head, kept per thread from call to call.
                    let scores = swiftlet_thread_scratch_f32(heads * (maxRowKeys + 1))!
                    forwardRows(
                        q: qs.pointer, out: os.pointer, logSumExp: ls.pointer, span: span, pages: pages, heads: heads,
                        kvHeads: kvHeads, headDim: headDim, scale: scale, window: window, scores: scores,
                        scoreStride: maxRowKeys, headRange: item.heads)
                }
            }
        }
    }

    /// One work item of `forward`: a span's heads, tiled (one head) or on the row path.
    struct WorkItem {
        var span: Int
        var heads: Range<Int>
        var tiled = false
    }

    /// Items per core the row path aims for: a few, so a core the OS runs late (a busy machine)
    /// leaves the rest to the other instead of holding it up.
    static let rowItemsPerCore = 2

    /// How many head ranges each row-path span is cut into: enough for `rowItemsPerCore` items
    /// per core in all, at most one per head.
    static func headParts(rowSpans: Int, heads: Int, kvHeads: Int) -> Int {
        let wanted = ComputeThreads.count * rowItemsPerCore
        guard rowSpans < wanted else { return 1 }
        return min(heads, (wanted + rowSpans - 1) / rowSpans)
    }

    /// Part `part` of `parts` of the heads: cut at key/value-head boundaries when there are at
    /// least as many KV heads as parts (each part then reads its own columns of the cache rows),
    /// at query heads otherwise.
    static func headRange(_ part: Int, of parts: Int, heads: Int, kvHeads: Int) -> Range<Int> {
        let units = kvHeads >= parts ? kvHeads : heads, width = heads / units
        return (units * part / parts) * width..<(units * (part + 1) / parts) * width
    }

    @inline(__always)
    static func usesTiles(_ span: SequenceRows, headDim: Int) -> Bool {
        Attention.usesTiles(span, headDim: headDim)
    }

    /// Row by row, the heads of `headRange` (every head by default) at once, walking the blocks
    /// in place: each cached token's key row (the columns of those heads) is read once, in
    /// address order, which keeps the loads streaming. Head h's scores live at
    /// scores + h · scoreStride, the heads' 1/Σ after them. Per (row, head) the arithmetic is the
    /// contiguous kernel's row path, operation for operation, so cutting the heads into ranges
    /// run on different cores changes nothing in the result.
    static func forwardRows(
        q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        span: SequenceRows, pages: KVPages, heads: Int, kvHeads: Int, headDim: Int, scale: Float,
        window: Int? = nil, scores: UnsafeMutablePointer<Float>, scoreStride: Int, headRange: Range<Int>? = nil
    ) {
        let headRange = headRange ?? 0..<heads
        let qStride = heads * headDim, group = heads / kvHeads
        let bs = pages.blockSize, rowStride = pages.rowStride
        let table = pages.blockTables + span.keyStart
        // The columns of each cache row these heads read (their KV heads').
        let columns = (headRange.lowerBound / group) * headDim..<((headRange.upperBound - 1) / group + 1) * headDim
        for r in 0..<span.count {
            let row = span.start + r
            let qRow = q + row * qStride
            // Keys first..<end: all of them, or under a window the last `window`. Score i is key first + i.
            let first = Attention.firstKey(position: span.past + r, window: window), end = span.past + r + 1
            let keyCount = end - first
            var j = first
            while j < end {
                let block = pages.keys + Int(table[j / bs]) * pages.blockStride
                let offset = j % bs, run = min(bs - offset, end - j)
                for i in 0..<run {
                    prefetch(pages.keys, key: j + i + prefetchDistance, end: end, pages, table, columns)
                    let key = block + (offset + i) * rowStride
                    for h in headRange {
                        scores[h * scoreStride + j - first + i] =
                            dot(qRow + h * headDim, key + (h / group) * headDim, headDim) * scale
                    }
                }
                j += run
            }
            let inverse = scores + heads * scoreStride
            for h in headRange {
                let s = scores + h * scoreStride
                let maxScore = maximum(s, count: keyCount)
                let sum = exponentiateInPlace(s, count: keyCount, minus: maxScore)
                logSumExp[row * heads + h] = maxScore + log(sum)
                inverse[h] = 1 / sum
            }
            let oRow = out + row * qStride
            (oRow + headRange.lowerBound * headDim).update(repeating: 0, count: headRange.count * headDim)
            j = first
            while j < end {
                let block = pages.values + Int(table[j / bs]) * pages.blockStride
                let offset = j % bs, run = min(bs - offset, end - j)
                for i in 0..<run {
                    prefetch(pages.values, key: j + i + prefetchDistance, end: end, pages, table, columns)
                    let value = block + (offset + i) * rowStride
                    for h in headRange {
                        axpy(
                            scores[h * scoreStride + j - first + i] * inverse[h], value + (h / group) * headDim,
                            oRow + h * headDim,
                            headDim)
                    }
                }
                j += run
            }
        }
    }

    /// How many cached tokens ahead of the one in use the row path prefetches. The cache rows come
    /// from memory each step (a token's weights stream through the last-level cache in between),
    /// and a core that reads only some heads' columns of each row gives the hardware prefetcher
    /// a strided pattern it does not run far enough ahead of; perf put most of the row path's
    /// time on those loads.
    static let prefetchDistance = 8

    /// Starts loading `columns` of cached token `j`'s row (keys or values) if it is one of the
    /// row's keys (below `end`).
    @inline(__always)
    static func prefetch(
        _ base: UnsafePointer<Float>, key j: Int, end: Int, _ pages: KVPages, _ table: UnsafePointer<Int32>,
        _ columns: Range<Int>
    ) {
        guard j < end else { return }
        let bs = pages.blockSize
        let row = base + Int(table[j / bs]) * pages.blockStride + (j % bs) * pages.rowStride
        let first = UInt(bitPattern: row + columns.lowerBound) & ~63, last = UInt(bitPattern: row + columns.upperBound)
        var line = first
        while line < last {
            swl_prefetch(UnsafeRawPointer(bitPattern: line))
            line += 64
        }
    }

    /// Gathers the span's keys (transposed, zero-padded to ld) and values (contiguous) through
    /// the block table, then runs the contiguous kernel's tiled sweep.
    static func forwardTiled(
        q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        span: SequenceRows, pages: KVPages, head h: Int, kvHead kh: Int, heads: Int, headDim: Int, scale: Float
    ) {
        let keyRows = span.past + span.count
        let ld = (keyRows + 15) & ~15
        let scratch = swiftlet_thread_scratch_f32(
            headDim * ld + keyRows * headDim + Attention.sweepScratch(headDim: headDim))!
        let kT = scratch, v = kT + headDim * ld, rest = v + keyRows * headDim
        let bs = pages.blockSize
        let table = pages.blockTables + span.keyStart
        for j in 0..<keyRows {
            let offset = Int(table[j / bs]) * pages.blockStride + (j % bs) * pages.rowStride + kh * headDim
            let key = pages.keys + offset
            for d in 0..<headDim { kT[d * ld + j] = key[d] }
            (v + j * headDim).update(from: pages.values + offset, count: headDim)
        }
        if ld > keyRows {
            for d in 0..<headDim { (kT + d * ld + keyRows).update(repeating: 0, count: ld - keyRows) }
        }
        Attention.tiledSweep(
            q: q, kT: kT, ld: ld, v: v, vStride: headDim, out: out, logSumExp: logSumExp,
            queryStart: span.start, queryCount: span.count, past: span.past,
            head: h, heads: heads, headDim: headDim, scale: scale, scratch: rest)
    }
}
