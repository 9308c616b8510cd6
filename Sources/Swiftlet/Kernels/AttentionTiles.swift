/// The inner loops of the tiled attention path: four query rows at a time against keys
/// stored transposed (headDim, keys), so a score is a broadcast-FMA over 16 keys at once and
/// never needs a horizontal sum. Requires headDim % 16 == 0.
enum AttentionTiles {
    static let rowsPerTile = 4

    /// dst[d · ld + j] = src[j · stride + d] for j < count, zero-padded to ld (a multiple of 16).
    @inline(__always)
    static func transpose(_ src: UnsafePointer<Float>, stride: Int, count: Int, headDim: Int,
                          into dst: UnsafeMutablePointer<Float>, ld: Int) {
        for j in 0..<count {
            let row = src + j * stride
            for d in 0..<headDim { dst[d * ld + j] = row[d] }
        }
        if ld > count {
            for d in 0..<headDim { (dst + d * ld + count).update(repeating: 0, count: ld - count) }
        }
    }

    /// s_i[j] = scale · (x_i · y_j) for four rows x_i and keys j < count, with yT = (headDim, ld).
    /// s has rows of length ld.
    @inline(__always)
    static func scores(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>,
                       yT: UnsafePointer<Float>, ld: Int, count: Int, headDim: Int, scale: Float,
                       into s: UnsafeMutablePointer<Float>) {
        let sv = Vec(repeating: scale)
        var j = 0
        while j < count {
            var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
            var p = yT + j
            for d in 0..<headDim {
                let y = load(p)
                a0 = a0.addingProduct(Vec(repeating: x0[d]), y)
                a1 = a1.addingProduct(Vec(repeating: x1[d]), y)
                a2 = a2.addingProduct(Vec(repeating: x2[d]), y)
                a3 = a3.addingProduct(Vec(repeating: x3[d]), y)
                p += ld
            }
            store(a0 * sv, s + j)
            store(a1 * sv, s + ld + j)
            store(a2 * sv, s + 2 * ld + j)
            store(a3 * sv, s + 3 * ld + j)
            j += 16
        }
    }

    /// out_i = Σ_{j<count} w_i[j] · y_j for four rows (w has rows of length ld; y rows at `stride`).
    /// Overwrites out_i (headDim each).
    @inline(__always)
    static func combine(_ w: UnsafePointer<Float>, ld: Int, _ y: UnsafePointer<Float>, stride: Int, count: Int, headDim: Int,
                        _ o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>,
                        _ o2: UnsafeMutablePointer<Float>, _ o3: UnsafeMutablePointer<Float>) {
        var dc = 0
        while dc < headDim {
            var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
            var p = y + dc
            for j in 0..<count {
                let v = load(p)
                a0 = a0.addingProduct(Vec(repeating: w[j]), v)
                a1 = a1.addingProduct(Vec(repeating: w[ld + j]), v)
                a2 = a2.addingProduct(Vec(repeating: w[2 * ld + j]), v)
                a3 = a3.addingProduct(Vec(repeating: w[3 * ld + j]), v)
                p += stride
            }
            store(a0, o0 + dc)
            store(a1, o1 + dc)
            store(a2, o2 + dc)
            store(a3, o3 + dc)
            dc += 16
        }
    }

    /// dst_j += Σ_i c_i[j] · x_i for keys j < count (dst rows at `stride`), four rows x_i.
    @inline(__always)
    static func accumulateOuter(_ c: UnsafePointer<Float>, ld: Int, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                                _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>, count: Int, headDim: Int,
                                into dst: UnsafeMutablePointer<Float>, stride: Int) {
        var dc = 0
        while dc < headDim {
            let v0 = load(x0 + dc), v1 = load(x1 + dc), v2 = load(x2 + dc), v3 = load(x3 + dc)
            var p = dst + dc
            for j in 0..<count {
                var acc = load(p)
                acc = acc.addingProduct(Vec(repeating: c[j]), v0)
                acc = acc.addingProduct(Vec(repeating: c[ld + j]), v1)
                acc = acc.addingProduct(Vec(repeating: c[2 * ld + j]), v2)
                acc = acc.addingProduct(Vec(repeating: c[3 * ld + j]), v3)
                store(acc, p)
                p += stride
            }
            dc += 16
        }
    }
}
