/// The inner loops of the tiled attention path: four query rows at a time against keys
/// stored transposed (headDim, keys), so a score is a broadcast-FMA over 16 keys at once and
/// never needs a horizontal sum. Requires headDim % 16 == 0.
enum AttentionTiles {
    static let rowsPerTile = 4

    /// dst[d · ld + j] = src[j · stride + d] for j < count, zero-padded to ld (a multiple of 16).
    @inline(__always)
    static func transpose(
        _ src: UnsafePointer<Float>, stride: Int, count: Int, headDim: Int,
        into dst: UnsafeMutablePointer<Float>, ld: Int
    ) {
        for j in 0..<count {
            let row = src + j * stride
            for d in 0..<headDim { dst[d * ld + j] = row[d] }
        }
        if ld > count {
            for d in 0..<headDim { (dst + d * ld + count).update(repeating: 0, count: ld - count) }
        }
    }

    /// s_i[j] = scale · (x_i · y_j) for four rows x_i and keys j < count, with yT = (headDim, ld).
    /// Row i of s starts at s + i · sStride.
    @inline(__always)
    static func scores(
        _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>,
        yT: UnsafePointer<Float>, ld: Int, count: Int, headDim: Int, scale: Float,
        into s: UnsafeMutablePointer<Float>, sStride: Int
    ) {
        let sv = Vec(repeating: scale)
        var j = 0
        // 4 rows × 64 keys per pass: 16 accumulators, 8 loads per 16 FMAs.
        while j + 64 <= count {
            var a00 = Vec(), a01 = Vec(), a02 = Vec(), a03 = Vec(), a10 = Vec(), a11 = Vec(), a12 = Vec(), a13 = Vec()
            var a20 = Vec(), a21 = Vec(), a22 = Vec(), a23 = Vec(), a30 = Vec(), a31 = Vec(), a32 = Vec(), a33 = Vec()
            var p = yT + j
            for d in 0..<headDim {
                let y0 = load(p), y1 = load(p + 16), y2 = load(p + 32), y3 = load(p + 48)
                let b0 = Vec(repeating: x0[d]), b1 = Vec(repeating: x1[d]), b2 = Vec(repeating: x2[d]),
                    b3 = Vec(repeating: x3[d])
                a00 = a00.addingProduct(b0, y0); a01 = a01.addingProduct(b0, y1); a02 = a02.addingProduct(b0, y2);
                a03 = a03.addingProduct(b0, y3)
                a10 = a10.addingProduct(b1, y0); a11 = a11.addingProduct(b1, y1); a12 = a12.addingProduct(b1, y2);
                a13 = a13.addingProduct(b1, y3)
                a20 = a20.addingProduct(b2, y0); a21 = a21.addingProduct(b2, y1); a22 = a22.addingProduct(b2, y2);
                a23 = a23.addingProduct(b2, y3)
                a30 = a30.addingProduct(b3, y0); a31 = a31.addingProduct(b3, y1); a32 = a32.addingProduct(b3, y2);
                a33 = a33.addingProduct(b3, y3)
                p += ld
            }
            let r0 = s + j, r1 = r0 + sStride, r2 = r1 + sStride, r3 = r2 + sStride
            store(a00 * sv, r0); store(a01 * sv, r0 + 16); store(a02 * sv, r0 + 32); store(a03 * sv, r0 + 48)
            store(a10 * sv, r1); store(a11 * sv, r1 + 16); store(a12 * sv, r1 + 32); store(a13 * sv, r1 + 48)
            store(a20 * sv, r2); store(a21 * sv, r2 + 16); store(a22 * sv, r2 + 32); store(a23 * sv, r2 + 48)
            store(a30 * sv, r3); store(a31 * sv, r3 + 16); store(a32 * sv, r3 + 32); store(a33 * sv, r3 + 48)
            j += 64
        }
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
            store(a1 * sv, s + sStride + j)
            store(a2 * sv, s + 2 * sStride + j)
            store(a3 * sv, s + 3 * sStride + j)
            j += 16
        }
    }

    /// out_i = Σ_{j<count} w_i[j] · y_j for four rows (w has rows of length ld; y rows at `stride`).
    /// Overwrites out_i (headDim each), or with `rescale` r computes out_i = r_i · out_i + Σ …
    /// (the online-softmax update).
    @inline(__always)
    static func combine(
        _ w: UnsafePointer<Float>, ld: Int, _ y: UnsafePointer<Float>, stride: Int, count: Int, headDim: Int,
        _ o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>,
        _ o2: UnsafeMutablePointer<Float>, _ o3: UnsafeMutablePointer<Float>, rescale: SIMD4<Float>? = nil
    ) {
        @inline(__always) func start(_ o: UnsafeMutablePointer<Float>, _ row: Int) -> Vec {
            guard let rescale else { return Vec() }
            return load(o) * Vec(repeating: rescale[row])
        }
        var dc = 0
        // 4 rows × 64 (then 32) output columns per pass over the keys: 8 loads per 16 FMAs.
        while dc + 64 <= headDim {
            var a00 = start(o0 + dc, 0), a01 = start(o0 + dc + 16, 0), a02 = start(o0 + dc + 32, 0),
                a03 = start(o0 + dc + 48, 0)
            var a10 = start(o1 + dc, 1), a11 = start(o1 + dc + 16, 1), a12 = start(o1 + dc + 32, 1),
                a13 = start(o1 + dc + 48, 1)
            var a20 = start(o2 + dc, 2), a21 = start(o2 + dc + 16, 2), a22 = start(o2 + dc + 32, 2),
                a23 = start(o2 + dc + 48, 2)
            var a30 = start(o3 + dc, 3), a31 = start(o3 + dc + 16, 3), a32 = start(o3 + dc + 32, 3),
                a33 = start(o3 + dc + 48, 3)
            var p = y + dc
            for j in 0..<count {
                let v0 = load(p), v1 = load(p + 16), v2 = load(p + 32), v3 = load(p + 48)
                let b0 = Vec(repeating: w[j]), b1 = Vec(repeating: w[ld + j]), b2 = Vec(repeating: w[2 * ld + j]),
                    b3 = Vec(repeating: w[3 * ld + j])
                a00 = a00.addingProduct(b0, v0); a01 = a01.addingProduct(b0, v1); a02 = a02.addingProduct(b0, v2);
                a03 = a03.addingProduct(b0, v3)
                a10 = a10.addingProduct(b1, v0); a11 = a11.addingProduct(b1, v1); a12 = a12.addingProduct(b1, v2);
                a13 = a13.addingProduct(b1, v3)
                a20 = a20.addingProduct(b2, v0); a21 = a21.addingProduct(b2, v1); a22 = a22.addingProduct(b2, v2);
                a23 = a23.addingProduct(b2, v3)
                a30 = a30.addingProduct(b3, v0); a31 = a31.addingProduct(b3, v1); a32 = a32.addingProduct(b3, v2);
                a33 = a33.addingProduct(b3, v3)
                p += stride
            }
            store(a00, o0 + dc); store(a01, o0 + dc + 16); store(a02, o0 + dc + 32); store(a03, o0 + dc + 48)
            store(a10, o1 + dc); store(a11, o1 + dc + 16); store(a12, o1 + dc + 32); store(a13, o1 + dc + 48)
            store(a20, o2 + dc); store(a21, o2 + dc + 16); store(a22, o2 + dc + 32); store(a23, o2 + dc + 48)
            store(a30, o3 + dc); store(a31, o3 + dc + 16); store(a32, o3 + dc + 32); store(a33, o3 + dc + 48)
            dc += 64
        }
        while dc + 32 <= headDim {
            var a00 = start(o0 + dc, 0), a01 = start(o0 + dc + 16, 0), a10 = start(o1 + dc, 1),
                a11 = start(o1 + dc + 16, 1)
            var a20 = start(o2 + dc, 2), a21 = start(o2 + dc + 16, 2), a30 = start(o3 + dc, 3),
                a31 = start(o3 + dc + 16, 3)
            var p = y + dc
            for j in 0..<count {
                let v0 = load(p), v1 = load(p + 16)
                let b0 = Vec(repeating: w[j]), b1 = Vec(repeating: w[ld + j]), b2 = Vec(repeating: w[2 * ld + j]),
                    b3 = Vec(repeating: w[3 * ld + j])
                a00 = a00.addingProduct(b0, v0); a01 = a01.addingProduct(b0, v1)
                a10 = a10.addingProduct(b1, v0); a11 = a11.addingProduct(b1, v1)
                a20 = a20.addingProduct(b2, v0); a21 = a21.addingProduct(b2, v1)
                a30 = a30.addingProduct(b3, v0); a31 = a31.addingProduct(b3, v1)
                p += stride
            }
            store(a00, o0 + dc); store(a01, o0 + dc + 16)
            store(a10, o1 + dc); store(a11, o1 + dc + 16)
            store(a20, o2 + dc); store(a21, o2 + dc + 16)
            store(a30, o3 + dc); store(a31, o3 + dc + 16)
            dc += 32
        }
        while dc < headDim {
            var a0 = start(o0 + dc, 0), a1 = start(o1 + dc, 1), a2 = start(o2 + dc, 2), a3 = start(o3 + dc, 3)
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
    static func accumulateOuter(
        _ c: UnsafePointer<Float>, ld: Int, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
        _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>, count: Int, headDim: Int,
        into dst: UnsafeMutablePointer<Float>, stride: Int
    ) {
        var dc = 0
        // 64 columns at a time: the four rows' 16 vectors stay in registers while each key's
        // row is loaded, updated with 16 FMAs and stored once.
        while dc + 64 <= headDim {
            let x00 = load(x0 + dc), x01 = load(x0 + dc + 16), x02 = load(x0 + dc + 32), x03 = load(x0 + dc + 48)
            let x10 = load(x1 + dc), x11 = load(x1 + dc + 16), x12 = load(x1 + dc + 32), x13 = load(x1 + dc + 48)
            let x20 = load(x2 + dc), x21 = load(x2 + dc + 16), x22 = load(x2 + dc + 32), x23 = load(x2 + dc + 48)
            let x30 = load(x3 + dc), x31 = load(x3 + dc + 16), x32 = load(x3 + dc + 32), x33 = load(x3 + dc + 48)
            var p = dst + dc
            for j in 0..<count {
                let b0 = Vec(repeating: c[j]), b1 = Vec(repeating: c[ld + j]), b2 = Vec(repeating: c[2 * ld + j]),
                    b3 = Vec(repeating: c[3 * ld + j])
                var d0 = load(p), d1 = load(p + 16), d2 = load(p + 32), d3 = load(p + 48)
                d0 = d0.addingProduct(b0, x00).addingProduct(b1, x10).addingProduct(b2, x20).addingProduct(b3, x30)
                d1 = d1.addingProduct(b0, x01).addingProduct(b1, x11).addingProduct(b2, x21).addingProduct(b3, x31)
                d2 = d2.addingProduct(b0, x02).addingProduct(b1, x12).addingProduct(b2, x22).addingProduct(b3, x32)
                d3 = d3.addingProduct(b0, x03).addingProduct(b1, x13).addingProduct(b2, x23).addingProduct(b3, x33)
                store(d0, p); store(d1, p + 16); store(d2, p + 32); store(d3, p + 48)
                p += stride
            }
            dc += 64
        }
        while dc + 32 <= headDim {
            let x00 = load(x0 + dc), x01 = load(x0 + dc + 16), x10 = load(x1 + dc), x11 = load(x1 + dc + 16)
            let x20 = load(x2 + dc), x21 = load(x2 + dc + 16), x30 = load(x3 + dc), x31 = load(x3 + dc + 16)
            var p = dst + dc
            for j in 0..<count {
                let b0 = Vec(repeating: c[j]), b1 = Vec(repeating: c[ld + j]), b2 = Vec(repeating: c[2 * ld + j]),
                    b3 = Vec(repeating: c[3 * ld + j])
                var d0 = load(p), d1 = load(p + 16)
                d0 = d0.addingProduct(b0, x00).addingProduct(b1, x10).addingProduct(b2, x20).addingProduct(b3, x30)
                d1 = d1.addingProduct(b0, x01).addingProduct(b1, x11).addingProduct(b2, x21).addingProduct(b3, x31)
                store(d0, p); store(d1, p + 16)
                p += stride
            }
            dc += 32
        }
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
