import Glibc

/// Rotary position embeddings in the Hugging Face Llama layout ("rotate half"): within each
/// head, element j pairs with element j + headDim/2 and both turn by position · θ^(−2j/headDim).
public struct RoPETable {
    public let headDim: Int
    public let maxPositions: Int
    /// (maxPositions, headDim/2) each.
    public let cos: [Float]
    public let sin: [Float]

    public init(headDim: Int, maxPositions: Int, theta: Float) {
        self.headDim = headDim
        self.maxPositions = maxPositions
        let half = headDim / 2
        var c = [Float](repeating: 0, count: maxPositions * half)
        var s = c
        for p in 0..<maxPositions {
            for j in 0..<half {
                let frequency = pow(Double(theta), -2 * Double(j) / Double(headDim))
                let angle = Double(p) * frequency
                c[p * half + j] = Float(Glibc.cos(angle))
                s[p * half + j] = Float(Glibc.sin(angle))
            }
        }
        cos = c
        sin = s
    }
}

public enum RoPE {
    /// Rotates x in place. x is (rows, heads, headDim); positions is (rows).
    /// `inverse` turns by the negative angle, which is the backward pass (a rotation's
    /// transpose is its inverse).
    public static func apply(
        _ x: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows: Int, heads: Int,
        table: RoPETable, inverse: Bool = false
    ) {
        let half = table.headDim / 2
        let headDim = table.headDim
        table.cos.withUnsafeBufferPointer { cosBuffer in
            table.sin.withUnsafeBufferPointer { sinBuffer in
                let cosines = cosBuffer.baseAddress!, sines = sinBuffer.baseAddress!
                // Rows split over both cores once there is enough to share.
                let chunks = rows * heads * half >= 1 << 15 ? 2 : 1
                parallelFor(chunks) { chunk in
                    for r in rows * chunk / chunks..<rows * (chunk + 1) / chunks {
                        let p = Int(positions[r])
                        let c = cosines + p * half
                        let s = sines + p * half
                        for h in 0..<heads {
                            let a = x + (r * heads + h) * headDim
                            let b = a + half
                            var j = 0
                            while j + 16 <= half {
                                let x1 = load(a + j), x2 = load(b + j)
                                let cv = load(c + j)
                                let sv = inverse ? -load(s + j) : load(s + j)
                                store(x1 * cv - x2 * sv, a + j)
                                store(x2 * cv + x1 * sv, b + j)
                                j += 16
                            }
                            while j < half {
                                let x1 = a[j], x2 = b[j]
                                let sj = inverse ? -s[j] : s[j]
                                a[j] = x1 * c[j] - x2 * sj
                                b[j] = x2 * c[j] + x1 * sj
                                j += 1
                            }
                        }
                    }
                }
            }
        }
    }
}
