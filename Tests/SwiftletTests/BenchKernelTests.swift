import XCTest
@testable import Swiftlet

/// Kernels that exist for speed comparisons or special shapes, held to the same references.
final class BenchKernelTests: XCTestCase {
    func testGemvMatchesGemm() {
        for (outFeatures, inFeatures) in [(7, 5), (33, 288), (1200, 1000)] {  // tails, and the two-thread path
            let w = TestData.randoms(outFeatures * inFeatures, seed: 1), x = TestData.randoms(inFeatures, seed: 2)
            var viaGemm = [Float](repeating: 0, count: outFeatures)
            Gemm.sgemm(
                transA: false, transB: true, m: 1, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: w,
                ldb: inFeatures,
                beta: 0, c: &viaGemm, ldc: outFeatures)
            var viaGemv = [Float](repeating: 1, count: outFeatures)
            Gemv.apply(w, x, &viaGemv, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: true)
            XCTAssertLessThan(maxAbsDifference(viaGemv, viaGemm.map { $0 + 1 }), 1e-3)
        }
    }

    func testUnfusedAttentionMatchesFused() {
        let heads = 4, kvHeads = 2, headDim = 16, length = 19, sequences = 2
        let rows = sequences * length
        let q = TestData.randoms(rows * heads * headDim, seed: 3),
            k = TestData.randoms(rows * kvHeads * headDim, seed: 4)
        let v = TestData.randoms(rows * kvHeads * headDim, seed: 5),
            dout = TestData.randoms(rows * heads * headDim, seed: 6)
        let spans = SequenceRows.packed(cumulativeLengths: [0, length, 2 * length])
        var out = [Float](repeating: 0, count: q.count), lse = [Float](repeating: 0, count: rows * heads)
        Attention.forward(
            q: q, k: k, v: v, out: &out, logSumExp: &lse, spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim
        )
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = dk
        Attention.backward(
            dout: dout, q: q, k: k, v: v, out: out, logSumExp: lse, dq: &dq, dk: &dk, dv: &dv, spans: spans,
            heads: heads, kvHeads: kvHeads, headDim: headDim)
        var out2 = [Float](repeating: 0, count: q.count),
            p = [Float](repeating: 0, count: sequences * heads * length * length)
        UnfusedAttention.forward(
            q: q, k: k, v: v, out: &out2, probabilities: &p, sequences: sequences, length: length,
            heads: heads, kvHeads: kvHeads, headDim: headDim)
        XCTAssertLessThan(maxAbsDifference(out, out2), 1e-5)
        var scratch = [Float](repeating: 0, count: length * length)
        var dq2 = dq.map { _ in Float(0) }, dk2 = dk.map { _ in Float(0) }, dv2 = dk2
        UnfusedAttention.backward(
            dout: dout, q: q, k: k, v: v, out: out2, probabilities: p, scratch: &scratch, dq: &dq2, dk: &dk2, dv: &dv2,
            sequences: sequences, length: length, heads: heads, kvHeads: kvHeads, headDim: headDim)
        XCTAssertLessThan(maxAbsDifference(dq, dq2), 1e-4)
        XCTAssertLessThan(maxAbsDifference(dk, dk2), 1e-4)
        XCTAssertLessThan(maxAbsDifference(dv, dv2), 1e-4)
    }
}
