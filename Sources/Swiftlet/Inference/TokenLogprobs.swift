/// A token and its log-probability under the model.
public struct TokenLogprob: Sendable, Equatable {
    public let token: Int32
    public let logprob: Float
    public init(token: Int32, logprob: Float) {
        self.token = token
        self.logprob = logprob
    }
}

/// One sampled token as a request's `onToken` hears it: with its log-probability and the
/// likeliest alternatives when the request asked for them.
public struct GeneratedToken: Sendable, Equatable {
    public let token: Int32
    /// log p(token), when the request asked for log-probabilities.
    public let logprob: Float?
    /// The `logprobs` likeliest tokens, likeliest first (possibly including `token`).
    public let topLogprobs: [TokenLogprob]
}

public enum Logprobs {
    /// log-softmax of `logits` at `chosen`, and the `top` likeliest tokens. These are the model's
    /// own probabilities — before penalties, temperature and truncation, as vLLM reports them by
    /// default — so they do not depend on how the token was sampled.
    public static func of(_ chosen: Int32, logits: UnsafePointer<Float>, vocab: Int, top: Int) -> GeneratedToken {
        var maxLogit = -Float.infinity
        for i in 0..<vocab { maxLogit = max(maxLogit, logits[i]) }
        var sum = 0.0
        for i in 0..<vocab { sum += Double(expf(logits[i] - maxLogit)) }
        let logNormalizer = maxLogit + Float(log(sum))
        // The `top` best, kept sorted by insertion (top is small: at most 20).
        var best: [Int32] = []
        let k = min(top, vocab)
        if k > 0 {
            best.reserveCapacity(k + 1)
            for i in 0..<vocab {
                let l = logits[i]
                guard best.count < k || l > logits[Int(best[k - 1])] else { continue }
                var at = best.count
                while at > 0, logits[Int(best[at - 1])] < l { at -= 1 }
                best.insert(Int32(i), at: at)
                if best.count > k { best.removeLast() }
            }
        }
        return GeneratedToken(
            token: chosen, logprob: logits[Int(chosen)] - logNormalizer,
            topLogprobs: best.map { TokenLogprob(token: $0, logprob: logits[Int($0)] - logNormalizer) })
    }
}
