import CQuantKernels
import XCTest

@testable import Swiftlet

/// The fp16 KV cache's attention (`--kv-cache f16`, half_attention.c) against a twin written here
/// from llama.cpp's flash-attention arithmetic (ggml_vec_dot_f16's summation order, the fp16
/// output accumulator rounded after every key), bit for bit in every instruction-set variant;
/// and against the fp32 attention on the same keys and values, within fp16's precision.
final class HalfCacheAttentionTests: XCTestCase {
    static func half(_ x: Float) -> Float { Float16Bits.value(Float16Bits.round(x)) }

    /// ggml_vec_dot_f16 with AVX512: element i in lane i % 16 of accumulator (i / 16) % 4, the
    /// accumulators added 0+2, 1+3, then together, the lanes halved pairwise; leftovers in double.
    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        var acc = [[Float]](repeating: [Float](repeating: 0, count: 16), count: 4)
        let whole = a.count - a.count % 64
        for i in 0..<whole { acc[i / 16 % 4][i % 16] = acc[i / 16 % 4][i % 16].addingProduct(a[i], b[i]) }
        var lanes = (0..<16).map { (acc[0][$0] + acc[2][$0]) + (acc[1][$0] + acc[3][$0]) }
        for width in [8, 4, 2, 1] { for l in 0..<width { lanes[l] = lanes[l] + lanes[l + width] } }
        var sum = Double(lanes[0])
        for i in whole..<a.count { sum += Double(a[i] * b[i]) }
        return Float(sum)
    }

    /// One row and head: the scaled query in fp16, scores in key order, the online softmax with
    /// the output in fp16, divided by the weights' sum at the end.
    static func attend(_ q: [Float], keys: [[Float]], values: [[Float]], scale: Float) -> [Float] {
        let query = q.map { half($0 * scale) }
        var acc = [Float](repeating: 0, count: q.count), maximum = -Float.infinity, sum: Float = 0
        for (key, value) in zip(keys, values) {
            let s = dot(key, query)
            var ms: Float = 1, vs: Float = 1
            if s > maximum {
                ms = expf(maximum - s)
                maximum = s
                acc = acc.map { half($0 * ms) }
            } else {
                vs = expf(s - maximum)
            }
            for d in acc.indices { acc[d] = half(acc[d].addingProduct(value[d], vs)) }
            sum = sum * ms + vs
        }
        return acc.map { $0 * (1 / sum) }
    }

    func testRoundingAndTheRowOperationsMatchTheTwinInEveryVariant() {
        let best = QuantKernels.best
        defer { QuantKernels.use(best) }
        var x = TestData.randoms(301, seed: 3, scale: 4)
        x += [0, -0, 65504, 65519.99, 65520, -70000, 6e-8, 3e-8, 2.98e-8, -1e-6, 1e-5, 0.1, .infinity, -.infinity]
        let a = TestData.randoms(256, seed: 4).map(Self.half), b = TestData.randoms(256, seed: 5).map(Self.half)
        let short = Array(a[0..<48]), shortB = Array(b[0..<48])
        for isa in QuantKernels.available {
            QuantKernels.use(isa)
            var y = [Float](repeating: 0, count: x.count)
            swiftlet_half_round(x, &y, x.count)
            XCTAssertEqual(y.map(\.bitPattern), x.map { Self.half($0).bitPattern }, QuantKernels.names[isa])
            XCTAssertEqual(swiftlet_half_dot(a, b, 256).bitPattern, Self.dot(a, b).bitPattern, QuantKernels.names[isa])
            XCTAssertEqual(
                swiftlet_half_dot(short, shortB, 48).bitPattern, Self.dot(short, shortB).bitPattern,
                QuantKernels.names[isa])
            var acc = a
            swiftlet_half_scale(&acc, 0.37, 256)
            XCTAssertEqual(acc.map(\.bitPattern), a.map { Self.half($0 * 0.37).bitPattern })
            swiftlet_half_mad(&acc, b, 1.9, 256)
            let expected = zip(a, b).map { Self.half(Self.half($0 * 0.37).addingProduct($1, 1.9)) }
            XCTAssertEqual(acc.map(\.bitPattern), expected.map(\.bitPattern), QuantKernels.names[isa])
        }
    }

    /// Two sequences in a paged cache (blocks of 4, scrambled): a prompt chunk of 5 rows after 3
    /// cached tokens, and a decode row after 10, with 4 query heads on 2 KV heads, with and
    /// without a sliding window of 4.
    func testAttentionMatchesTheTwinAndTheFP32AttentionOnTheSameCache() {
        let heads = 4, kvHeads = 2, headDim = 64, blockSize = 4, scale: Float = 0.125
        let spans = [
            SequenceRows(start: 0, count: 5, past: 3, keyStart: 0),
            SequenceRows(start: 5, count: 1, past: 10, keyStart: 2),
        ]
        let tables: [Int32] = [3, 0, 5, 1, 4]  // sequence 0: blocks 3, 0; sequence 1: 5, 1, 4
        let rowStride = kvHeads * headDim, blockStride = blockSize * rowStride
        let keys = TestData.randoms(6 * blockStride, seed: 7).map(Self.half)
        let values = TestData.randoms(6 * blockStride, seed: 8).map(Self.half)
        let q = TestData.randoms(6 * heads * headDim, seed: 9, scale: 3)
        for window in [nil, 4] as [Int?] {
            var half = [Float](repeating: 0, count: q.count), full = half
            var lse = [Float](repeating: 0, count: 6 * heads), fullLSE = lse
            keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    tables.withUnsafeBufferPointer { t in
                        let pages = KVPages(
                            keys: k.baseAddress!, values: v.baseAddress!, blockTables: t.baseAddress!,
                            blockSize: blockSize, blockStride: blockStride, rowStride: rowStride)
                        HalfCacheAttention.forward(
                            q: q, out: &half, logSumExp: &lse, spans: spans, pages: pages, heads: heads,
                            kvHeads: kvHeads, headDim: headDim, scale: scale, window: window)
                        PagedAttention.forward(
                            q: q, out: &full, logSumExp: &fullLSE, spans: spans, pages: pages, heads: heads,
                            kvHeads: kvHeads, headDim: headDim, scale: scale, window: window)
                    }
                }
            }
            for (s, span) in spans.enumerated() {
                for r in 0..<span.count {
                    let position = span.past + r, first = window.map { max(0, position + 1 - $0) } ?? 0
                    for h in 0..<heads {
                        func rowOf(_ buffer: [Float], _ j: Int) -> [Float] {
                            let block = Int(tables[span.keyStart + j / blockSize])
                            let at = block * blockStride + j % blockSize * rowStride + h / (heads / kvHeads) * headDim
                            return Array(buffer[at..<at + headDim])
                        }
                        let row = (span.start + r) * heads + h
                        let expected = Self.attend(
                            Array(q[row * headDim..<(row + 1) * headDim]),
                            keys: (first...position).map { rowOf(keys, $0) },
                            values: (first...position).map { rowOf(values, $0) }, scale: scale)
                        let got = Array(half[row * headDim..<(row + 1) * headDim])
                        XCTAssertEqual(
                            got.map(\.bitPattern), expected.map(\.bitPattern), "span \(s) row \(r) head \(h)")
                        for d in 0..<headDim {
                            XCTAssertEqual(
                                got[d], full[row * headDim + d], accuracy: 1e-2, "span \(s) row \(r) head \(h)")
                        }
                        XCTAssertEqual(lse[row], fullLSE[row], accuracy: 1e-2)
                    }
                }
            }
        }
    }

    /// Greedy decoding with the fp16 cache: the same tokens alone and beside other prompts.
    func testTheHalfCacheEngineIsBatchInvariant() throws {
        let config = ModelConfig(
            dim: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 96, vocabSize: 97, contextLength: 64,
            tiedEmbedding: true)
        let model = Transformer(config: config)
        model.initialize(seed: 4)
        let requests = [(9, 1), (1, 2), (20, 3)].map { n, seed in
            var rng = RandomGenerator(seed: UInt64(seed))
            return GenerationRequest(
                prompt: (0..<n).map { _ in Int32(3 + rng.below(90)) }, maxTokens: 12,
                sampling: SamplingSettings(temperature: 0))
        }
        func run(_ requests: [GenerationRequest], _ format: KVCacheFormat) throws -> [[Int32]] {
            let engine = GenerationEngine(
                model: model, tokenizer: nil,
                options: GenerationEngine.Options(parallel: 3, promptTokensPerStep: 8, kvCache: format))
            let ids = try requests.map { try engine.submit($0) }
            let results = engine.runUntilIdle()
            return ids.map { results[$0]!.tokens }
        }
        let together = try run(requests, .f16)
        for (i, request) in requests.enumerated() {
            XCTAssertEqual(try run([request], .f16)[0], together[i], "request \(i)")
        }
        XCTAssertEqual(together.map(\.count), [12, 12, 12])
    }
}
