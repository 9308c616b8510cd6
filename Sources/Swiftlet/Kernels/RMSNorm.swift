/// RMSNorm over rows: out = x / sqrt(mean(x²) + eps) · weight.
/// Shapes: x and out are (rows, dim); weight is (dim); rstd is (rows), cached for backward.
public enum RMSNorm {
    /// `outBits`, when given, also receives out rounded to bf16 (the input of the products that follow).
    public static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Int, dim: Int, eps: Float, outBits: UnsafeMutablePointer<UInt16>? = nil
    ) {
        let xs = SendablePointer(UnsafeMutablePointer(mutating: x)), os = SendablePointer(out),
            rs = SendablePointer(rstd)
        let bits = outBits.map { SendablePointer($0) }
        let w = SendablePointer(UnsafeMutablePointer(mutating: weight))
        let chunks = rows * dim >= 1 << 17 ? 2 : 1
        parallelFor(chunks) { chunk in
            let lo = rows * chunk / chunks, hi = rows * (chunk + 1) / chunks
            for r in lo..<hi {
                let xr = xs.pointer + r * dim, or = os.pointer + r * dim
                let meanSquare = dot(xr, xr, dim) / Float(dim)
                let s = 1 / (meanSquare + eps).squareRoot()
                rs.pointer[r] = s
                let sv = Vec(repeating: s)
                var i = 0
                while i + 16 <= dim {
                    store(load(xr + i) * sv * load(w.pointer + i), or + i)
                    i += 16
                }
                while i < dim {
                    or[i] = xr[i] * s * w.pointer[i]
                    i += 1
                }
                if let bits { BFloat16.convertSerially(or, into: bits.pointer + r * dim, count: dim) }
            }
        }
    }

    /// Accumulates dx += ∂L/∂x and dweight += ∂L/∂weight given dout = ∂L/∂out.
    /// dx += rstd·w·dout − rstd³/dim · x · Σ(w·dout·x)
    public static func backward(
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
        dweight: UnsafeMutablePointer<Float>, rows: Int, dim: Int
    ) {
        // Rows split over both cores when there are enough; the second half sums its dweight
        // apart and adds it at the end.
        let chunks = rows * dim >= 1 << 16 ? 2 : 1
        withUnsafeTemporaryAllocation(of: Float.self, capacity: dim) { partial in
            let second = partial.baseAddress!
            second.update(repeating: 0, count: dim)
            parallelFor(chunks) { chunk in
                backwardRows(
                    rows * chunk / chunks..<rows * (chunk + 1) / chunks, dout: dout, x: x, weight: weight, rstd: rstd,
                    dx: dx,
                    dweight: chunk == 0 ? dweight : second, dim: dim)
            }
            if chunks == 2 { axpy(1, second, dweight, dim) }
        }
    }

    @inline(__always)
    static func backwardRows(
        _ rows: Range<Int>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dim: Int
    ) {
        for r in rows {
            let xr = x + r * dim, gr = dout + r * dim, dxr = dx + r * dim
            let s = rstd[r]
            var accDot = Vec()
            var i = 0
            while i + 16 <= dim {
                let wg = load(weight + i) * load(gr + i)
                accDot = accDot.addingProduct(wg, load(xr + i))
                // dweight += dout · x · rstd
                store(load(dweight + i).addingProduct(load(gr + i) * load(xr + i), Vec(repeating: s)), dweight + i)
                i += 16
            }
            var tailDot: Float = 0
            while i < dim {
                tailDot += weight[i] * gr[i] * xr[i]
                dweight[i] += gr[i] * xr[i] * s
                i += 1
            }
            let wgx = horizontalSum(accDot) + tailDot
            let c = s * s * s * wgx / Float(dim)
            let sv = Vec(repeating: s), cv = Vec(repeating: c)
            i = 0
            while i + 16 <= dim {
                let v = load(dxr + i) + sv * load(weight + i) * load(gr + i) - cv * load(xr + i)
                store(v, dxr + i)
                i += 16
            }
            while i < dim {
                dxr[i] += s * weight[i] * gr[i] - c * xr[i]
                i += 1
            }
        }
    }
}
