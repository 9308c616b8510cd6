/// The textbook attention path, kept as the baseline the fused kernel is measured against:
/// per (sequence, head) a full T×T score matrix from a GEMM, a masked softmax, and GEMMs for
/// the values and every gradient. Same layouts and results as `Attention`, T² memory.
public enum UnfusedAttention {
    /// Causal attention for sequences of `length` rows each, (rows, heads, headDim) layouts.
    /// `probabilities` is scratch of (sequences · heads · length · length), kept for backward.
    public static func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
        sequences: Int, length: Int, heads: Int, kvHeads: Int, headDim: Int
    ) {
        let qStride = heads * headDim, kStride = kvHeads * headDim, group = heads / kvHeads
        let scale = 1 / Float(headDim).squareRoot()
        for s in 0..<sequences {
            for h in 0..<heads {
                let p = probabilities + (s * heads + h) * length * length
                let row0 = s * length
                Gemm.sgemm(
                    transA: false, transB: true, m: length, n: length, k: headDim, alpha: scale,
                    a: q + row0 * qStride + h * headDim, lda: qStride,
                    b: k + row0 * kStride + (h / group) * headDim, ldb: kStride, beta: 0, c: p, ldc: length)
                for i in 0..<length {
                    let row = p + i * length
                    var m = -Float.infinity
                    for j in 0...i { m = max(m, row[j]) }
                    let sum = exponentiateInPlace(row, count: i + 1, minus: m)
                    scaleInPlace(row, count: i + 1, by: 1 / sum)
                    if i + 1 < length { (row + i + 1).update(repeating: 0, count: length - i - 1) }
                }
                Gemm.sgemm(
                    transA: false, transB: false, m: length, n: headDim, k: length, a: p, lda: length,
                    b: v + row0 * kStride + (h / group) * headDim, ldb: kStride, beta: 0,
                    c: out + row0 * qStride + h * headDim, ldc: qStride)
            }
        }
    }

    /// dq, dk, dv from dout with the stored probabilities. `scratch` holds length · length.
    public static func backward(
        dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        sequences: Int, length: Int, heads: Int, kvHeads: Int, headDim: Int
    ) {
        let qStride = heads * headDim, kStride = kvHeads * headDim, group = heads / kvHeads
        let scale = 1 / Float(headDim).squareRoot()
        for s in 0..<sequences {
            let row0 = s * length
            for h in 0..<heads {
                let kh = h / group
                let p = probabilities + (s * heads + h) * length * length
                let first = h % group == 0
                let kOff = row0 * kStride + kh * headDim, qOff = row0 * qStride + h * headDim
                // dV (+)= Pᵀ dO;  dP = dO Vᵀ
                Gemm.sgemm(
                    transA: true, transB: false, m: length, n: headDim, k: length, a: p, lda: length,
                    b: dout + qOff, ldb: qStride, beta: first ? 0 : 1, c: dv + kOff, ldc: kStride)
                Gemm.sgemm(
                    transA: false, transB: true, m: length, n: length, k: headDim, a: dout + qOff, lda: qStride,
                    b: v + kOff, ldb: kStride, beta: 0, c: scratch, ldc: length)
                for i in 0..<length {
                    let rowDot = dot(dout + qOff + i * qStride, out + qOff + i * qStride, headDim)
                    for j in 0..<length {
                        scratch[i * length + j] = p[i * length + j] * (scratch[i * length + j] - rowDot) * scale
                    }
                }
                // dQ = dS K;  dK (+)= dSᵀ Q
                Gemm.sgemm(
                    transA: false, transB: false, m: length, n: headDim, k: length, a: scratch, lda: length,
                    b: k + kOff, ldb: kStride, beta: 0, c: dq + qOff, ldc: qStride)
                Gemm.sgemm(
                    transA: true, transB: false, m: length, n: headDim, k: length, a: scratch, lda: length,
                    b: q + qOff, ldb: qStride, beta: first ? 0 : 1, c: dk + kOff, ldc: kStride)
            }
        }
    }
}
