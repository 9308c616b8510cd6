import Glibc

/// Loss, perplexity and bits per byte of a model on held-out tokens.
public struct EvaluationResult: Sendable {
    public let loss: Double
    public let tokens: Int
    public let bytes: Int
    public var perplexity: Double { exp(loss) }
    /// Nats per token → bits per byte of the text those tokens spell.
    public var bitsPerByte: Double { loss * Double(tokens) / (Double(max(bytes, 1)) * log(2)) }
}

public enum Evaluator {
    /// Cuts the stream into back-to-back windows of up to `context` predictions (each window's
    /// first token has no prediction, as in training) and scores up to `maxTokens` of them.
    public static func windows(of tokens: [Int32], context: Int, maxTokens: Int) -> [[Int32]] {
        guard tokens.count >= 2 else { return [] }
        var windows: [[Int32]] = []
        var start = 0
        var total = 0
        while start + 1 < tokens.count, total < maxTokens {
            let end = min(start + context + 1, tokens.count)
            windows.append(Array(tokens[start..<end]))
            total += end - start - 1
            start = end - 1
        }
        return windows
    }

    public static func evaluate(pass: TrainingPass, tokenizer: Tokenizer, windows: [[Int32]]) -> EvaluationResult {
        let context = pass.model.config.contextLength
        let perPass = max(1, pass.maxRows / context)
        var lossSum: Double = 0, tokens = 0, bytes = 0
        var i = 0
        while i < windows.count {
            let group = Array(windows[i..<min(i + perPass, windows.count)])
            let batch = Batch(windows: group)
            lossSum += pass.loss(batch)
            tokens += batch.lossTokens
            bytes += batch.targets.withUnsafeBufferPointer { tokenizer.byteCount($0) }
            i += perPass
        }
        return EvaluationResult(loss: tokens > 0 ? lossSum / Double(tokens) : .nan, tokens: tokens, bytes: bytes)
    }
}
