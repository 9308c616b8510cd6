import Glibc

/// Plain, obviously-correct versions of the hand-written kernels, in Double: the tests hold
/// every fast kernel to these.
public enum Reference {
    /// Causal attention over spans, materializing each score row. Layouts as in `Attention`:
    /// `scale` nil is 1/√headDim; under a `window` the row at position p scores every key and
    /// masks those at or before p − window (set to −∞ before the softmax, the textbook way).
    public static func attention(
        q: [Float], k: [Float], v: [Float], spans: [SequenceRows], heads: Int, kvHeads: Int,
        headDim: Int, scale: Float? = nil, window: Int? = nil
    ) -> (out: [Float], logSumExp: [Float]) {
        let rows = spans.map { $0.start + $0.count }.max() ?? 0
        var out = [Float](repeating: 0, count: rows * heads * headDim)
        var lse = [Float](repeating: 0, count: rows * heads)
        let scale = scale.map(Double.init) ?? 1 / Double(headDim).squareRoot()
        for span in spans {
            for h in 0..<heads {
                let kh = h / (heads / kvHeads)
                for r in 0..<span.count {
                    let row = span.start + r
                    let keys = span.past + r + 1
                    var scores = [Double](repeating: 0, count: keys)
                    for j in 0..<keys {
                        if let window, span.past + r - j >= window {
                            scores[j] = -.infinity
                            continue
                        }
                        var s = 0.0
                        for d in 0..<headDim {
                            s +=
                                Double(q[(row * heads + h) * headDim + d])
                                * Double(k[((span.keyStart + j) * kvHeads + kh) * headDim + d])
                        }
                        scores[j] = s * scale
                    }
                    let m = scores.max()!
                    let z = scores.reduce(0) { $0 + exp($1 - m) }
                    lse[row * heads + h] = Float(m + log(z))
                    for d in 0..<headDim {
                        var acc = 0.0
                        for j in 0..<keys {
                            acc +=
                                exp(scores[j] - m) / z * Double(v[((span.keyStart + j) * kvHeads + kh) * headDim + d])
                        }
                        out[(row * heads + h) * headDim + d] = Float(acc)
                    }
                }
            }
        }
        return (out, lse)
    }

    /// Per-row softmax cross-entropy from full logits (rows × vocab); targets < 0 ignored.
    public static func crossEntropy(
        hidden: [Float], weight: [Float], targets: [Int32], dim: Int, vocab: Int
    ) -> [Double] {
        let rows = targets.count
        var losses = [Double](repeating: 0, count: rows)
        for r in 0..<rows where targets[r] >= 0 {
            var logits = [Double](repeating: 0, count: vocab)
            for t in 0..<vocab {
                var s = 0.0
                for d in 0..<dim { s += Double(hidden[r * dim + d]) * Double(weight[t * dim + d]) }
                logits[t] = s
            }
            let m = logits.max()!
            let lse = m + log(logits.reduce(0) { $0 + exp($1 - m) })
            losses[r] = lse - logits[Int(targets[r])]
        }
        return losses
    }

    public static func rmsNorm(_ x: [Float], weight: [Float], rows: Int, dim: Int, eps: Float) -> [Float] {
        var out = x
        for r in 0..<rows {
            var ms = 0.0
            for d in 0..<dim { ms += Double(x[r * dim + d]) * Double(x[r * dim + d]) }
            let s = 1 / (ms / Double(dim) + Double(eps)).squareRoot()
            for d in 0..<dim { out[r * dim + d] = Float(Double(x[r * dim + d]) * s * Double(weight[d])) }
        }
        return out
    }

    /// GELU with its tanh approximation, as written in the Gemma and BERT papers, times up.
    public static func geglu(gate: [Float], up: [Float]) -> [Float] {
        zip(gate, up).map { g, u in
            let x = Double(g)
            return Float(0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) * Double(u))
        }
    }

    public static func swiglu(gate: [Float], up: [Float]) -> [Float] {
        zip(gate, up).map { g, u in Float(Double(g) / (1 + exp(-Double(g))) * Double(u)) }
    }
}
