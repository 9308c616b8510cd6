import XCTest
@testable import Swiftlet

final class KernelTests: XCTestCase {
    func testFastExpMatchesExp() {
        var worst: Float = 0
        var x: Float = -80
        while x < 80 {
            let fast = fastExp(Vec(repeating: x))[0]
            worst = max(worst, abs(fast - expf(x)) / expf(x))
            x += 0.173
        }
        XCTAssertLessThan(worst, 5e-6)
        XCTAssertEqual(fastExp(Vec(repeating: -200))[0], 0, accuracy: 1e-37)
    }

    func testRMSNormForwardMatchesReference() {
        for dim in [16, 37, 64] {
            let rows = 5
            let x = TestData.randoms(rows * dim, seed: 1), w = TestData.randoms(dim, seed: 2)
            var out = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
            RMSNorm.forward(x, weight: w, out: &out, rstd: &rstd, rows: rows, dim: dim, eps: 1e-5)
            XCTAssertLessThan(
                maxAbsDifference(out, Reference.rmsNorm(x, weight: w, rows: rows, dim: dim, eps: 1e-5)), 1e-5)
        }
    }

    func testRMSNormBackwardMatchesFiniteDifferences() {
        let rows = 3, dim = 21
        var x = TestData.randoms(rows * dim, seed: 3)
        var w = TestData.randoms(dim, seed: 4)
        let r = TestData.randoms(rows * dim, seed: 5)
        func loss(_ x: [Float], _ w: [Float]) -> Double {
            weightedSum(Reference.rmsNorm(x, weight: w, rows: rows, dim: dim, eps: 1e-5), r)
        }
        var out = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
        RMSNorm.forward(x, weight: w, out: &out, rstd: &rstd, rows: rows, dim: dim, eps: 1e-5)
        var dx = [Float](repeating: 0.5, count: rows * dim)  // backward accumulates onto what is there
        var dw = [Float](repeating: 0, count: dim)
        RMSNorm.backward(dout: r, x: x, weight: w, rstd: rstd, dx: &dx, dweight: &dw, rows: rows, dim: dim)
        let wCopy = w
        for i in 0..<x.count {
            let numeric = numericalDerivative(at: &x, index: i, epsilon: 1e-3) { loss($0, wCopy) }
            assertClose(Double(dx[i] - 0.5), numeric, relative: 1e-2, absolute: 1e-3, "dx[\(i)]")
        }
        let xCopy = x
        for i in 0..<dim {
            let numeric = numericalDerivative(at: &w, index: i, epsilon: 1e-3) { loss(xCopy, $0) }
            assertClose(Double(dw[i]), numeric, relative: 1e-2, absolute: 1e-3, "dw[\(i)]")
        }
    }

    func testSwiGLUForwardAndBackward() {
        let count = 53
        var gate = TestData.randoms(count, seed: 6, scale: 2), up = TestData.randoms(count, seed: 7)
        let r = TestData.randoms(count, seed: 8)
        var out = [Float](repeating: 0, count: count)
        SwiGLU.forward(gate: gate, up: up, out: &out, count: count)
        XCTAssertLessThan(maxAbsDifference(out, Reference.swiglu(gate: gate, up: up)), 1e-5)
        var dg = [Float](repeating: 0, count: count), du = dg
        SwiGLU.backward(dout: r, gate: gate, up: up, dgate: &dg, dup: &du, count: count)
        let upCopy = up, gateCopy = gate
        for i in 0..<count {
            let ng = numericalDerivative(at: &gate, index: i, epsilon: 1e-3) {
                weightedSum(Reference.swiglu(gate: $0, up: upCopy), r)
            }
            assertClose(Double(dg[i]), ng, relative: 1e-2, absolute: 1e-3, "dgate[\(i)]")
            let nu = numericalDerivative(at: &up, index: i, epsilon: 1e-3) {
                weightedSum(Reference.swiglu(gate: gateCopy, up: $0), r)
            }
            assertClose(Double(du[i]), nu, relative: 1e-2, absolute: 1e-3, "dup[\(i)]")
        }
    }

    func testRoPEIsARotationAndInverseUndoesIt() {
        let heads = 3, headDim = 40, rows = 7
        let table = RoPETable(headDim: headDim, maxPositions: 64, theta: 10_000)
        let x = TestData.randoms(rows * heads * headDim, seed: 9)
        var y = x
        let positions: [Int32] = [0, 5, 1, 63, 2, 2, 30]
        RoPE.apply(&y, positions: positions, rows: rows, heads: heads, table: table)
        // Position 0 is the identity; every head keeps its norm.
        XCTAssertLessThan(maxAbsDifference(Array(y[0..<heads * headDim]), Array(x[0..<heads * headDim])), 1e-6)
        for h in 0..<rows * heads {
            let a = x[h * headDim..<(h + 1) * headDim].reduce(0) { $0 + $1 * $1 }
            let b = y[h * headDim..<(h + 1) * headDim].reduce(0) { $0 + $1 * $1 }
            XCTAssertEqual(a, b, accuracy: 1e-3 * a)
        }
        // Rotate-half layout: element j pairs with j + headDim/2.
        let p = 5, j = 3, half = headDim / 2
        let angle = Double(p) * pow(10_000, -2 * Double(j) / Double(headDim))
        let base = 1 * heads * headDim
        XCTAssertEqual(
            Double(y[base + j]), Double(x[base + j]) * cos(angle) - Double(x[base + j + half]) * sin(angle),
            accuracy: 1e-5)
        // The backward (inverse rotation) is the transpose: it undoes the forward.
        RoPE.apply(&y, positions: positions, rows: rows, heads: heads, table: table, inverse: true)
        XCTAssertLessThan(maxAbsDifference(x, y), 1e-5)
    }

    /// Awkward shapes: lengths 1, 17 (not a multiple of anything), 33; grouped KV heads;
    /// a span with cached past keys; head sizes 16 and 24 (SIMD tail paths).
    func spans() -> [SequenceRows] {
        SequenceRows.packed(cumulativeLengths: [0, 1, 18, 51])
    }

    func testAttentionForwardMatchesReference() {
        for (heads, kvHeads, headDim) in [(4, 2, 16), (3, 3, 24), (4, 1, 64)] {
            let spans = spans()
            let rows = 51
            let q = TestData.randoms(rows * heads * headDim, seed: 10),
                k = TestData.randoms(rows * kvHeads * headDim, seed: 11)
            let v = TestData.randoms(rows * kvHeads * headDim, seed: 12)
            var out = [Float](repeating: 0, count: rows * heads * headDim),
                lse = [Float](repeating: 0, count: rows * heads)
            Attention.forward(
                q: q, k: k, v: v, out: &out, logSumExp: &lse, spans: spans, heads: heads, kvHeads: kvHeads,
                headDim: headDim)
            let reference = Reference.attention(
                q: q, k: k, v: v, spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim)
            XCTAssertLessThan(maxAbsDifference(out, reference.out), 1e-5, "heads \(heads)/\(kvHeads) size \(headDim)")
            XCTAssertLessThan(maxAbsDifference(lse, reference.logSumExp), 1e-4)
        }
    }

    func testAttentionWithCachedPastMatchesReference() {
        // Two query rows continuing a sequence whose first 9 keys are cached.
        let heads = 4, kvHeads = 2, headDim = 16
        let span = [SequenceRows(start: 0, count: 2, past: 9, keyStart: 0)]
        let q = TestData.randoms(2 * heads * headDim, seed: 13), k = TestData.randoms(11 * kvHeads * headDim, seed: 14)
        let v = TestData.randoms(11 * kvHeads * headDim, seed: 15)
        var out = [Float](repeating: 0, count: 2 * heads * headDim), lse = [Float](repeating: 0, count: 2 * heads)
        Attention.forward(
            q: q, k: k, v: v, out: &out, logSumExp: &lse, spans: span, heads: heads, kvHeads: kvHeads, headDim: headDim)
        let reference = Reference.attention(
            q: q, k: k, v: v, spans: span, heads: heads, kvHeads: kvHeads, headDim: headDim)
        XCTAssertLessThan(maxAbsDifference(out, reference.out), 1e-5)
    }

    /// Decoding many sequences in one call: one new query row each, against that sequence's
    /// own cached keys elsewhere in a shared cache buffer, with different past lengths.
    func testDecodeAttentionForManySequencesInOneCall() {
        let heads = 6, kvHeads = 3, headDim = 32
        let pasts = [0, 5, 63, 200]
        let cacheStarts = [0, 256, 512, 768]
        let spans = (0..<4).map { SequenceRows(start: $0, count: 1, past: pasts[$0], keyStart: cacheStarts[$0]) }
        let q = TestData.randoms(4 * heads * headDim, seed: 40)
        let k = TestData.randoms(1024 * kvHeads * headDim, seed: 41),
            v = TestData.randoms(1024 * kvHeads * headDim, seed: 42)
        var out = [Float](repeating: 0, count: q.count), lse = [Float](repeating: 0, count: 4 * heads)
        Attention.forward(
            q: q, k: k, v: v, out: &out, logSumExp: &lse, spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim
        )
        for s in 0..<4 {
            // Each sequence alone, with only its own cache.
            let single = [SequenceRows(start: 0, count: 1, past: pasts[s], keyStart: 0)]
            let rowQ = Array(q[s * heads * headDim..<(s + 1) * heads * headDim])
            let cache = cacheStarts[s] * kvHeads * headDim..<(cacheStarts[s] + pasts[s] + 1) * kvHeads * headDim
            let reference = Reference.attention(
                q: rowQ, k: Array(k[cache]), v: Array(v[cache]), spans: single,
                heads: heads, kvHeads: kvHeads, headDim: headDim)
            XCTAssertLessThan(
                maxAbsDifference(Array(out[s * heads * headDim..<(s + 1) * heads * headDim]), reference.out), 1e-5)
        }
    }

    func testAttentionBackwardMatchesFiniteDifferences() {
        checkAttentionBackward(
            cumulativeLengths: [0, 1, 6, 13], heads: 4, kvHeads: 2, headDim: 16, seed: 16,
            strides: (query: 7, key: 5))
    }

    /// Gemma's local layers: a sliding window of 5 positions on spans longer than it (the row
    /// path, each row from its first visible key) and shorter (where it hides nothing), with a
    /// query scale other than 1/√headDim; and a window longer than every span (the tiled path).
    func testSlidingWindowAttentionMatchesReferenceAndFiniteDifferences() {
        checkAttentionBackward(
            cumulativeLengths: [0, 3, 20, 33], heads: 4, kvHeads: 2, headDim: 16, seed: 50,
            strides: (query: 7, key: 5), scale: 0.3, window: 5)
        checkAttentionBackward(
            cumulativeLengths: [0, 3, 20, 33], heads: 2, kvHeads: 1, headDim: 32, seed: 54,
            strides: (query: 11, key: 7), scale: 0.2, window: 64)
    }

    /// Gemma 3 270M's attention shape: 4 query heads sharing 1 key/value head of 256.
    func testGemmaAttentionShapeMatchesReference() {
        checkAttentionBackward(
            cumulativeLengths: [0, 1, 18, 40], heads: 4, kvHeads: 1, headDim: 256, seed: 58,
            strides: (query: 997, key: 499), scale: 1 / 16)
    }

    /// Spans long enough for every path of the tiled kernel: several key tiles with 64- and
    /// 16-key score blocks, 64/32/16-column products, partial four-row tiles, and the row path
    /// for length 1.
    func testTiledAttentionOnLongSpansMatchesReference() {
        for headDim in [48, 64] {
            checkAttentionBackward(
                cumulativeLengths: [0, 1, 18, 88, 219], heads: 4, kvHeads: 2, headDim: headDim, seed: 30,
                strides: (query: 997, key: 499))
        }
    }

    /// Forward against the reference, then dq, dk, dv at every `strides`-th coordinate against
    /// finite differences of the reference (gradient buffers start as garbage: they must be
    /// overwritten).
    func checkAttentionBackward(
        cumulativeLengths: [Int], heads: Int, kvHeads: Int, headDim: Int, seed: UInt64,
        strides: (query: Int, key: Int), scale: Float? = nil, window: Int? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let spans = SequenceRows.packed(cumulativeLengths: cumulativeLengths)
        let rows = cumulativeLengths.last!
        var q = TestData.randoms(rows * heads * headDim, seed: seed),
            k = TestData.randoms(rows * kvHeads * headDim, seed: seed + 1)
        var v = TestData.randoms(rows * kvHeads * headDim, seed: seed + 2)
        let r = TestData.randoms(rows * heads * headDim, seed: seed + 3)
        var out = [Float](repeating: 0, count: q.count), lse = [Float](repeating: 0, count: rows * heads)
        Attention.forward(
            q: q, k: k, v: v, out: &out, logSumExp: &lse, spans: spans, heads: heads, kvHeads: kvHeads,
            headDim: headDim,
            scale: scale, window: window)
        let reference = Reference.attention(
            q: q, k: k, v: v, spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim,
            scale: scale, window: window)
        XCTAssertLessThan(maxAbsDifference(out, reference.out), 1e-5, "head size \(headDim)", file: file, line: line)
        XCTAssertLessThan(maxAbsDifference(lse, reference.logSumExp), 1e-4, file: file, line: line)
        var dq = [Float](repeating: 9, count: q.count), dk = [Float](repeating: 9, count: k.count), dv = dk
        Attention.backward(
            dout: r, q: q, k: k, v: v, out: out, logSumExp: lse, dq: &dq, dk: &dk, dv: &dv,
            spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale, window: window)
        func loss(_ q: [Float], _ k: [Float], _ v: [Float]) -> Double {
            weightedSum(
                Reference.attention(
                    q: q, k: k, v: v, spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim,
                    scale: scale, window: window
                ).out, r)
        }
        let (q0, k0, v0) = (q, k, v)
        for i in stride(from: 0, to: q.count, by: strides.query) {
            let n = numericalDerivative(at: &q, index: i, epsilon: 1e-2) { loss($0, k0, v0) }
            assertClose(
                Double(dq[i]), n, relative: 2e-2, absolute: 2e-3, "dq[\(i)] head size \(headDim)", file: file,
                line: line)
        }
        for i in stride(from: 0, to: k.count, by: strides.key) {
            let n = numericalDerivative(at: &k, index: i, epsilon: 1e-2) { loss(q0, $0, v0) }
            assertClose(
                Double(dk[i]), n, relative: 2e-2, absolute: 2e-3, "dk[\(i)] head size \(headDim)", file: file,
                line: line)
            let m = numericalDerivative(at: &v, index: i, epsilon: 1e-2) { loss(q0, k0, $0) }
            assertClose(
                Double(dv[i]), m, relative: 2e-2, absolute: 2e-3, "dv[\(i)] head size \(headDim)", file: file,
                line: line)
        }
    }

    func testChunkedCrossEntropyMatchesFullOneAndItsGradients() {
        // More rows than one chunk, a vocabulary that is not a multiple of 16, ignored targets.
        let rows = CrossEntropy.chunkRows + 9, dim = 12, vocab = 37
        var hidden = TestData.randoms(rows * dim, seed: 20)
        var weight = TestData.randoms(vocab * dim, seed: 21, scale: 0.5)
        var targets = (0..<rows).map { Int32(($0 * 7) % vocab) }
        targets[3] = -1
        targets[rows - 1] = -1
        var logits = [Float](repeating: 0, count: CrossEntropy.chunkRows * vocab)
        var dh = [Float](repeating: 0, count: rows * dim), dw = [Float](repeating: 0, count: vocab * dim)
        var perRow = [Float](repeating: 0, count: rows)
        let total = CrossEntropy.forwardBackward(
            hidden: hidden, weight: weight, targets: targets, rows: rows, dim: dim, vocab: vocab,
            logits: &logits, gradientScale: 1, dhidden: &dh, dweight: &dw, rowLosses: &perRow,
            matrices: MatrixEngine(precision: .fp32))
        let reference = Reference.crossEntropy(hidden: hidden, weight: weight, targets: targets, dim: dim, vocab: vocab)
        assertClose(total, reference.reduce(0, +), relative: 1e-5, absolute: 1e-4)
        for r in 0..<rows { assertClose(Double(perRow[r]), reference[r], relative: 1e-4, absolute: 1e-4) }
        XCTAssertEqual(perRow[3], 0)
        func loss(_ h: [Float], _ w: [Float]) -> Double {
            Reference.crossEntropy(hidden: h, weight: w, targets: targets, dim: dim, vocab: vocab).reduce(0, +)
        }
        let (h0, w0) = (hidden, weight)
        for i in stride(from: 0, to: hidden.count, by: 97) {
            let n = numericalDerivative(at: &hidden, index: i, epsilon: 1e-2) { loss($0, w0) }
            assertClose(Double(dh[i]), n, relative: 1e-2, absolute: 1e-3, "dh[\(i)]")
        }
        XCTAssertEqual(dh[3 * dim], 0)
        for i in stride(from: 0, to: weight.count, by: 11) {
            let n = numericalDerivative(at: &weight, index: i, epsilon: 1e-2) { loss(h0, $0) }
            assertClose(Double(dw[i]), n, relative: 1e-2, absolute: 1e-2, "dw[\(i)]")
        }
    }

    func testAdamWMatchesTheFormula() {
        var settings = AdamWSettings()
        settings.weightDecay = 0.1
        let count = 35
        var p = TestData.randoms(count, seed: 22), m = TestData.randoms(count, seed: 23, scale: 0.1)
        var v = TestData.randoms(count, seed: 24, scale: 0.1).map { $0 * $0 }
        let g = TestData.randoms(count, seed: 25)
        let (p0, m0, v0) = (p, m, v)
        AdamW.update(
            parameters: &p, gradients: g, m: &m, v: &v, count: count, learningRate: 1e-2, weightDecay: 0.1, step: 3,
            settings: settings)
        for i in 0..<count {
            let mi = 0.9 * Double(m0[i]) + 0.1 * Double(g[i])
            let vi = 0.95 * Double(v0[i]) + 0.05 * Double(g[i]) * Double(g[i])
            let mhat = mi / (1 - pow(0.9, 3)), vhat = vi / (1 - pow(0.95, 3))
            let expected = Double(p0[i]) * (1 - 1e-3) - 1e-2 * mhat / (vhat.squareRoot() + 1e-8)
            XCTAssertEqual(Double(p[i]), expected, accuracy: 1e-5)
            XCTAssertEqual(Double(m[i]), mi, accuracy: 1e-6)
        }
    }

    func testEmbeddingBackwardAccumulatesRepeatedTokens() {
        let dim = 4
        let table = (0..<12).map(Float.init)
        let tokens: [Int32] = [2, 0, 2]
        var out = [Float](repeating: 0, count: 12)
        Embedding.forward(tokens: tokens, table: table, out: &out, rows: 3, dim: dim)
        XCTAssertEqual(Array(out[0..<4]), [8, 9, 10, 11])
        var dtable = [Float](repeating: 0, count: 12)
        Embedding.backward(tokens: tokens, dout: [Float](repeating: 1, count: 12), dtable: &dtable, rows: 3, dim: dim)
        XCTAssertEqual(dtable, [1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2])
    }
}
