import XCTest
@testable import Swiftlet

/// The AVX512-BF16 kernels (C, `BF16Kernels`) against plain references: rounding bit for bit,
/// attention forward against the Double reference, backward against the fp32 kernel and finite
/// differences, all within bf16 tolerance (8 significant bits). Skipped on CPUs without the
/// instructions, where those kernels are never called.
final class BF16KernelTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(BF16Kernels.available, "this CPU has no AVX512-BF16 instructions")
    }

    func testRoundingMatchesTheSwiftRoundingBitForBit() {
        for count in [1, 15, 16, 17, 31, 32, 33, 70, 1000] {  // every tail of the 32- and 16-lane loops
            let x = TestData.randoms(count, seed: UInt64(count), scale: 3)
            var bits = [UInt16](repeating: 0xFFFF, count: count + 1)
            BFloat16.convertSerially(x, into: &bits, count: count)
            for i in 0..<count { XCTAssertEqual(bits[i], BFloat16.round(x[i]), "count \(count), element \(i)") }
            XCTAssertEqual(bits[count], 0xFFFF, "wrote past the end")
        }
        // Ties to even, and values that round up into the next binade.
        let ties: [Float] = [1 + 1 / 256, 1 + 3 / 256, -(1 + 1 / 256), Float(bitPattern: 0x3F80_FFFF)]
        var bits = [UInt16](repeating: 0, count: ties.count)
        BFloat16.convertSerially(ties, into: &bits, count: ties.count)
        XCTAssertEqual(bits, ties.map(BFloat16.round))
    }

    /// Awkward shapes: lengths 1, 17, 33, 70 and 131 packed in one call (partial 8-row tiles, key
    /// counts off every block size), grouped KV heads, head sizes 16, 48 (odd column blocks) and 64.
    let cumulativeLengths = [0, 1, 18, 51, 121, 252]

    func testForwardMatchesTheReferenceWithinBF16Tolerance() {
        for (heads, kvHeads, headDim) in [(4, 2, 16), (3, 3, 48), (4, 1, 64)] {
            let spans = SequenceRows.packed(cumulativeLengths: cumulativeLengths)
            let rows = cumulativeLengths.last!
            let q = TestData.randoms(rows * heads * headDim, seed: 10),
                k = TestData.randoms(rows * kvHeads * headDim, seed: 11)
            let v = TestData.randoms(rows * kvHeads * headDim, seed: 12)
            var out = [Float](repeating: 7, count: q.count), lse = [Float](repeating: 7, count: rows * heads)
            var bits = [UInt16](repeating: 0, count: q.count)
            Attention.forward(
                q: q, k: k, v: v, out: &out, logSumExp: &lse, spans: spans, heads: heads, kvHeads: kvHeads,
                headDim: headDim, precision: .bf16, outBits: &bits)
            // The reference on the bf16-rounded inputs: what is left is the rounding of the
            // probabilities (≤ 2⁻⁹ relative) and the order of the fp32 sums.
            let rounded = { (x: [Float]) in x.map { BFloat16.value(BFloat16.round($0)) } }
            let exact = Reference.attention(
                q: rounded(q), k: rounded(k), v: rounded(v), spans: spans, heads: heads, kvHeads: kvHeads,
                headDim: headDim)
            XCTAssertLessThan(maxAbsDifference(out, exact.out), 1e-2, "heads \(heads)/\(kvHeads) size \(headDim)")
            XCTAssertLessThan(maxAbsDifference(lse, exact.logSumExp), 1e-4, "log-sum-exp is fp32 from bf16 scores")
            let fp32 = Reference.attention(
                q: q, k: k, v: v, spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim)
            XCTAssertLessThan(maxAbsDifference(out, fp32.out), 0.1)
            XCTAssertGreaterThan(maxAbsDifference(out, fp32.out), 0, "bf16 should not be bit-identical to fp32")
            XCTAssertEqual(bits, out.map(BFloat16.round), "outBits is out rounded")
        }
    }

    func testForwardWithCachedPastKeys() {
        let heads = 2, kvHeads = 1, headDim = 32
        let span = [SequenceRows(start: 0, count: 11, past: 20, keyStart: 3)]
        let q = TestData.randoms(11 * heads * headDim, seed: 13), k = TestData.randoms(40 * kvHeads * headDim, seed: 14)
        let v = TestData.randoms(40 * kvHeads * headDim, seed: 15)
        var out = [Float](repeating: 0, count: q.count), lse = [Float](repeating: 0, count: 11 * heads)
        Attention.forward(
            q: q, k: k, v: v, out: &out, logSumExp: &lse, spans: span, heads: heads, kvHeads: kvHeads, headDim: headDim,
            precision: .bf16)
        let reference = Reference.attention(
            q: q, k: Array(k[(3 * headDim)...]), v: Array(v[(3 * headDim)...]),
            spans: [SequenceRows(start: 0, count: 11, past: 20, keyStart: 0)],
            heads: heads, kvHeads: kvHeads, headDim: headDim)
        XCTAssertLessThan(maxAbsDifference(out, reference.out), 0.1)
        XCTAssertLessThan(maxAbsDifference(lse, reference.logSumExp), 0.1)
    }

    /// dq, dk, dv against the fp32 kernel (itself held to finite differences) on the same inputs,
    /// as relative L2 errors, and a few coordinates against finite differences of the reference.
    func testBackwardMatchesTheFP32KernelWithinBF16Tolerance() {
        for (heads, kvHeads, headDim) in [(4, 2, 16), (3, 3, 48), (4, 1, 64)] {
            let spans = SequenceRows.packed(cumulativeLengths: cumulativeLengths)
            let rows = cumulativeLengths.last!
            var q = TestData.randoms(rows * heads * headDim, seed: 20),
                k = TestData.randoms(rows * kvHeads * headDim, seed: 21)
            var v = TestData.randoms(rows * kvHeads * headDim, seed: 22)
            let r = TestData.randoms(q.count, seed: 23)
            var out = [Float](repeating: 0, count: q.count), lse = [Float](repeating: 0, count: rows * heads)
            Attention.forward(
                q: q, k: k, v: v, out: &out, logSumExp: &lse, spans: spans, heads: heads, kvHeads: kvHeads,
                headDim: headDim, precision: .bf16)
            var dq = [Float](repeating: 9, count: q.count), dk = [Float](repeating: 9, count: k.count), dv = dk
            Attention.backward(
                dout: r, q: q, k: k, v: v, out: out, logSumExp: lse, dq: &dq, dk: &dk, dv: &dv, spans: spans,
                heads: heads, kvHeads: kvHeads, headDim: headDim, precision: .bf16)
            var out32 = out, lse32 = lse
            Attention.forward(
                q: q, k: k, v: v, out: &out32, logSumExp: &lse32, spans: spans, heads: heads, kvHeads: kvHeads,
                headDim: headDim)
            var dq32 = dq, dk32 = dk, dv32 = dv
            Attention.backward(
                dout: r, q: q, k: k, v: v, out: out32, logSumExp: lse32, dq: &dq32, dk: &dk32, dv: &dv32,
                spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim)
            for (name, a, b) in [("dq", dq, dq32), ("dk", dk, dk32), ("dv", dv, dv32)] {
                let error = relativeError(a, b)
                XCTAssertLessThan(error, 2e-2, "\(name), heads \(heads)/\(kvHeads) size \(headDim)")
                XCTAssertGreaterThan(error, 0, "\(name) should not be bit-identical to fp32")
            }
            func loss(_ q: [Float], _ k: [Float], _ v: [Float]) -> Double {
                weightedSum(
                    Reference.attention(
                        q: q, k: k, v: v, spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim
                    ).out, r)
            }
            let (q0, k0, v0) = (q, k, v)
            for i in stride(from: 5, to: q.count, by: q.count / 7) {
                let n = numericalDerivative(at: &q, index: i, epsilon: 1e-2) { loss($0, k0, v0) }
                assertClose(Double(dq[i]), n, relative: 5e-2, absolute: 2e-2, "dq[\(i)] size \(headDim)")
            }
            for i in stride(from: 3, to: k.count, by: k.count / 7) {
                let n = numericalDerivative(at: &k, index: i, epsilon: 1e-2) { loss(q0, $0, v0) }
                assertClose(Double(dk[i]), n, relative: 5e-2, absolute: 2e-2, "dk[\(i)] size \(headDim)")
                let m = numericalDerivative(at: &v, index: i, epsilon: 1e-2) { loss(q0, k0, $0) }
                assertClose(Double(dv[i]), m, relative: 5e-2, absolute: 2e-2, "dv[\(i)] size \(headDim)")
            }
        }
    }

    func testDotProductPeakRuns() {
        XCTAssertGreaterThan(BF16Kernels.dotProductPeak(cores: 1), 0)
    }

    func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        let difference = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        let norm = b.reduce(0.0) { $0 + Double($1) * Double($1) }
        return (difference / norm).squareRoot()
    }
}
