import CDNNL

/// Matrix products through oneDNN (measured ≈ 96 % of this machine's fp32 peak; see the
/// architecture guide). All matrices are row-major.
public enum Gemm {
    /// C[m×n] = alpha · op(A) · op(B) + beta · C, with op(X) = Xᵀ when `transX`.
    @inline(__always)
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        ComputeThreads.applyToMatrixLibrary()
        let status = dnnl_sgemm(
            transA ? 84 : 78, transB ? 84 : 78,  // 'T' : 'N'
            Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb),
            beta, c, Int64(ldc))
        if status != dnnl_success { fatalError("dnnl_sgemm failed with status \(status)") }
    }

    /// y[rows×out] (+)= x[rows×in] · W[out×in]ᵀ — a linear layer's forward.
    @inline(__always)
    public static func linear(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = false
    ) {
        if rows == 1 {
            Gemv.apply(w, x, y, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
            return
        }
        sgemm(
            transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
            a: x, lda: inFeatures, b: w, ldb: inFeatures, beta: accumulate ? 1 : 0, c: y, ldc: outFeatures)
    }

    /// dx[rows×in] (+)= dy[rows×out] · W[out×in] — a linear layer's input gradient.
    @inline(__always)
    public static func linearBackwardInput(
        _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool
    ) {
        sgemm(
            transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures,
            a: dy, lda: outFeatures, b: w, ldb: inFeatures, beta: accumulate ? 1 : 0, c: dx, ldc: inFeatures)
    }

    /// dW[out×in] += dy[rows×out]ᵀ · x[rows×in] — a linear layer's weight gradient.
    @inline(__always)
    public static func linearBackwardWeight(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int
    ) {
        sgemm(
            transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows,
            a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: dw, ldc: inFeatures)
    }
}
