import CQuantKernels
import Glibc

/// Attention over a KV cache held in fp16 (`--kv-cache f16`), computed as llama.cpp's CPU flash
/// attention computes it there (its default cache and attention): the keys and values were
/// rounded to fp16 when stored; each (row, head) rounds its scaled query to fp16, takes each
/// key's score as ggml_vec_dot_f16 sums it, and keeps the output in fp16 through an online
/// softmax — rescaled when the running maximum grows, every key's value added by one fused
/// multiply-add and rounded (half_attention.h) — divided by the sum of the weights at the end.
///
/// llama.cpp takes that path for fewer than 64 query rows of a sequence against fewer than 512
/// cached keys (its decode and short prompts); spans of 64 or more new rows here take
/// `PagedAttention`'s fp32 arithmetic on the fp16 values, as its tiled path does (summed in
/// another order). Its decode against 512 or more keys splits the keys over threads and merges
/// the parts; this keeps one sweep.
enum HalfCacheAttention {
    /// A span of this many new rows or more takes the fp32 arithmetic (llama.cpp's tile height).
    static let tiledRows = 64

    static func forward(
        q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        spans: [SequenceRows], pages: KVPages, heads: Int, kvHeads: Int, headDim: Int, scale: Float, window: Int?
    ) {
        var items = 0, work = 0
        for span in spans {
            if span.count >= tiledRows {
                PagedAttention.forward(
                    q: q, out: out, logSumExp: logSumExp, spans: [span], pages: pages, heads: heads,
                    kvHeads: kvHeads, headDim: headDim, scale: scale, window: window)
            } else {
                items += span.count * heads
                work += span.count * (span.past + span.count) * heads * headDim
            }
        }
        guard items > 0 else { return }
        // Work items (span, row, head) of the short spans, found by walking the spans again
        // (a step allocates nothing).
        let qs = SendablePointer(UnsafeMutablePointer(mutating: q)), os = SendablePointer(out),
            ls = SendablePointer(logSumExp)
        let pagesBox = UncheckedSendable(pages)
        parallelFor(items, serial: work < 20_000) { item in
            var index = item
            for span in spans where span.count < tiledRows {
                if index < span.count * heads {
                    attendRow(
                        q: qs.pointer, out: os.pointer, logSumExp: ls.pointer, span: span, row: index / heads,
                        head: index % heads, pages: pagesBox.value, heads: heads, group: heads / kvHeads,
                        headDim: headDim, scale: scale, window: window)
                    return
                }
                index -= span.count * heads
            }
        }
    }

    /// Row `row` of the span, head `head`: its keys in order, the online softmax in fp16.
    static func attendRow(
        q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        span: SequenceRows, row: Int, head: Int, pages: KVPages, heads: Int, group: Int, headDim: Int,
        scale: Float, window: Int?
    ) {
        let r = span.start + row, position = span.past + row
        let table = pages.blockTables + span.keyStart
        let kvOffset = (head / group) * headDim
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * headDim) { scratch in
            let query = scratch.baseAddress!, acc = query + headDim
            let qRow = q + (r * heads + head) * headDim
            for d in 0..<headDim { query[d] = qRow[d] * scale }
            swiftlet_half_round(query, query, headDim)
            acc.update(repeating: 0, count: headDim)
            var maximum = -Float.infinity, sum: Float = 0
            for j in Attention.firstKey(position: position, window: window)...position {
                let offset =
                    Int(table[j / pages.blockSize]) * pages.blockStride + (j % pages.blockSize) * pages.rowStride
                let s = swiftlet_half_dot(pages.keys + offset + kvOffset, query, headDim)
                var ms: Float = 1, vs: Float = 1
                if s > maximum {
                    ms = expf(maximum - s)
                    maximum = s
                    swiftlet_half_scale(acc, ms, headDim)
                } else {
                    vs = expf(s - maximum)
                }
                swiftlet_half_mad(acc, pages.values + offset + kvOffset, vs, headDim)
                sum = sum * ms + vs
            }
            let inverse: Float = sum == 0 ? 0 : 1 / sum
            let o = out + (r * heads + head) * headDim
            for d in 0..<headDim { o[d] = acc[d] * inverse }
            logSumExp[r * heads + head] = maximum + log(sum)
        }
    }
}
