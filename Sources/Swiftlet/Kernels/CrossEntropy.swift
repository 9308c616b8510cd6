import Glibc

/// Softmax cross-entropy of the output projection, computed in row chunks straight from the
/// final hidden states: the full (rows × vocab) logits matrix never exists. For each chunk,
/// logits = h · Wᵀ, then the loss and, when asked, dlogits = (softmax − onehot) · weight,
/// dh = dlogits · W and dW += dlogitsᵀ · h.
public enum CrossEntropy {
    public static let chunkRows = 256

    /// Returns the sum over rows of −log p(target). Targets < 0 are ignored (no loss, no
    /// gradient). Gradients are scaled by `gradientScale` (e.g. 1 / tokens in the batch).
    /// `logits` is scratch of (chunkRows, vocab). dh is overwritten; dweight accumulates.
    /// In bf16, `hiddenBits` is the hidden states' bf16 copy and `logitBits` scratch like
    /// `logits` where the gradient is rounded once for both of its products.
    public static func forwardBackward(
        hidden: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        targets: UnsafePointer<Int32>, rows: Int, dim: Int, vocab: Int,
        logits: UnsafeMutablePointer<Float>,
        gradientScale: Float,
        dhidden: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?,
        rowLosses: UnsafeMutablePointer<Float>? = nil,
        matrices engine: MatrixEngine,
        hiddenBits: UnsafePointer<UInt16>? = nil, logitBits: UnsafeMutablePointer<UInt16>? = nil
    ) -> Double {
        var total: Double = 0
        var start = 0
        while start < rows {
            let count = min(chunkRows, rows - start)
            let h = hidden + start * dim, hBits = hiddenBits.map { $0 + start * dim }
            engine.linear(h, weight, logits, rows: count, inFeatures: dim, outFeatures: vocab, xBits: hBits)
            let wantsGradient = dhidden != nil
            let gradientBits = wantsGradient && engine.precision == .bf16 ? logitBits : nil
            let chunkLoss = softmaxRows(
                logits, targets: targets + start, rows: count, vocab: vocab,
                gradientScale: wantsGradient ? gradientScale : nil,
                rowLosses: rowLosses.map { $0 + start }, gradientBits: gradientBits)
            total += chunkLoss
            if let dhidden {
                let dyBits = gradientBits.map { UnsafePointer($0) }
                engine.linearBackwardInput(
                    logits, weight, dhidden + start * dim, rows: count, inFeatures: dim,
                    outFeatures: vocab, accumulate: false, dyBits: dyBits)
                // A frozen output head (LoRA fine-tuning) needs no weight gradient.
                if let dweight {
                    engine.linearBackwardWeight(
                        logits, h, dweight, rows: count, inFeatures: dim, outFeatures: vocab,
                        dyBits: dyBits, xBits: hBits)
                }
            }
            start += count
        }
        return total
    }

    /// Per row: loss = logSumExp − logit[target]. With a gradient scale, overwrites the row
    /// with (softmax − onehot) · scale (all zeros for ignored rows).
    /// `gradientBits`, when given, also receives each gradient row rounded to bf16.
    static func softmaxRows(
        _ logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
        gradientScale: Float?, rowLosses: UnsafeMutablePointer<Float>?,
        gradientBits: UnsafeMutablePointer<UInt16>? = nil
    ) -> Double {
        // Each half sums its rows' losses into its own slot (on the stack: nothing allocated).
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2) { slots in
            let losses = SendablePointer(slots.baseAddress!)
            losses.pointer.update(repeating: 0, count: 2)
            let lp = SendablePointer(logits), tp = SendablePointer(UnsafeMutablePointer(mutating: targets))
            let rl = rowLosses.map { SendablePointer($0) }, bits = gradientBits.map { SendablePointer($0) }
            parallelFor(2, serial: rows * vocab < 1 << 16) { half in
                var sum: Double = 0
                for r in rows * half / 2..<rows * (half + 1) / 2 {
                    let row = lp.pointer + r * vocab
                    let target = Int(tp.pointer[r])
                    if target < 0 {
                        if gradientScale != nil { row.update(repeating: 0, count: vocab) }
                        bits?.pointer.advanced(by: r * vocab).update(repeating: 0, count: vocab)
                        rl?.pointer[r] = 0
                        continue
                    }
                    let maxLogit = maximum(row, count: vocab)
                    let targetLogit = row[target]
                    let sumExp = exponentiateInPlace(row, count: vocab, minus: maxLogit)
                    let loss = maxLogit + log(sumExp) - targetLogit
                    rl?.pointer[r] = loss
                    sum += Double(loss)
                    if let scale = gradientScale {
                        scaleInPlace(row, count: vocab, by: scale / sumExp)
                        row[target] -= scale
                        if let bits { BFloat16.convertSerially(row, into: bits.pointer + r * vocab, count: vocab) }
                    }
                }
                losses.pointer[half] = sum
            }
            return losses.pointer[0] + losses.pointer[1]
        }
    }
}
