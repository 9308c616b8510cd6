/// Token embedding lookup. table is (vocab, dim); out is (rows, dim).
public enum Embedding {
    public static func forward(tokens: UnsafePointer<Int32>, table: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                               rows: Int, dim: Int) {
        for r in 0..<rows {
            (out + r * dim).update(from: table + Int(tokens[r]) * dim, count: dim)
        }
    }

    /// dtable[token] += dout[row].
    public static func backward(tokens: UnsafePointer<Int32>, dout: UnsafePointer<Float>, dtable: UnsafeMutablePointer<Float>,
                                rows: Int, dim: Int) {
        for r in 0..<rows {
            axpy(1, dout + r * dim, dtable + Int(tokens[r]) * dim, dim)
        }
    }
}
