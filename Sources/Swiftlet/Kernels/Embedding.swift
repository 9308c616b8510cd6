/// Token embedding lookup, optionally scaled (Gemma multiplies the rows by √dim). table is
/// (vocab, dim); out is (rows, dim).
public enum Embedding {
    /// out[row] = scale · table[token].
    public static func forward(
        tokens: UnsafePointer<Int32>, table: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        rows: Int, dim: Int, scale: Float = 1
    ) {
        for r in 0..<rows {
            if scale == 1 {
                (out + r * dim).update(from: table + Int(tokens[r]) * dim, count: dim)
            } else {
                let row = table + Int(tokens[r]) * dim, o = out + r * dim
                for d in 0..<dim { o[d] = row[d] * scale }
            }
        }
    }

    /// dtable[token] += scale · dout[row].
    public static func backward(
        tokens: UnsafePointer<Int32>, dout: UnsafePointer<Float>, dtable: UnsafeMutablePointer<Float>,
        rows: Int, dim: Int, scale: Float = 1
    ) {
        for r in 0..<rows {
            axpy(scale, dout + r * dim, dtable + Int(tokens[r]) * dim, dim)
        }
    }
}
