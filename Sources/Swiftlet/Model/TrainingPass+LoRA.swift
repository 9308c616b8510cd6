/// The adapters' share of the forward and backward (no-ops without adapters). Adapter products
/// run in fp32 through oneDNN whatever the pass's precision: they are rank-sized and cheap.
extension TrainingPass {
    /// y += s·(x·Aᵀ)·Bᵀ, keeping x·Aᵀ for the backward.
    func adapterForward(_ target: LoRATarget, layer l: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int) {
        guard let adapters, let pair = adapters.pairs[l][target], let t = adapterInputs[l][target] else { return }
        let r = adapters.config.rank, p = adapters.parameters.pointer
        Gemm.sgemm(transA: false, transB: true, m: rows, n: r, k: pair.inFeatures, a: x, lda: pair.inFeatures,
                   b: p + pair.a, ldb: pair.inFeatures, beta: 0, c: t.pointer, ldc: r)
        Gemm.sgemm(transA: false, transB: true, m: rows, n: pair.outFeatures, k: r, alpha: adapters.config.scale,
                   a: t.pointer, lda: r, b: p + pair.b, ldb: r, beta: 1, c: y, ldc: pair.outFeatures)
    }

    /// With u = dy·B: dB += s·dyᵀ·(x·Aᵀ), dA += s·uᵀ·x, dx += s·u·A.
    func adapterBackward(_ target: LoRATarget, layer l: Int, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>, rows: Int) {
        guard let adapters, let gradients = adapterGradients, let pair = adapters.pairs[l][target],
              let t = adapterInputs[l][target] else { return }
        let r = adapters.config.rank, s = adapters.config.scale
        let p = adapters.parameters.pointer, g = gradients.pointer, u = adapterScratch.pointer
        Gemm.sgemm(transA: false, transB: false, m: rows, n: r, k: pair.outFeatures, a: dy, lda: pair.outFeatures,
                   b: p + pair.b, ldb: r, beta: 0, c: u, ldc: r)
        Gemm.sgemm(transA: true, transB: false, m: pair.outFeatures, n: r, k: rows, alpha: s, a: dy, lda: pair.outFeatures,
                   b: t.pointer, ldb: r, beta: 1, c: g + pair.b, ldc: r)
        Gemm.sgemm(transA: true, transB: false, m: r, n: pair.inFeatures, k: rows, alpha: s, a: u, lda: r,
                   b: x, ldb: pair.inFeatures, beta: 1, c: g + pair.a, ldc: pair.inFeatures)
        Gemm.sgemm(transA: false, transB: false, m: rows, n: pair.inFeatures, k: r, alpha: s, a: u, lda: r,
                   b: p + pair.a, ldb: pair.inFeatures, beta: 1, c: dx, ldc: pair.inFeatures)
    }
}
