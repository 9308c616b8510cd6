/// Kept KV caches: a conversation's next turn continues where the last one ended, computing
/// only the tokens that differ (usually just the new turn's).
extension GenerationEngine {
    /// Gives a kept cache's blocks back to the pool.
    public func releaseCache(_ id: RequestID) {
        guard var cache = kept.removeValue(forKey: id) else { return }
        cache.table.release(to: pool)
    }

    /// Hands a kept cache to a new sequence: it keeps the longest common prefix of the cached
    /// tokens and the prompt — always leaving at least the prompt's last token to compute, so
    /// there are logits to sample from — and returns the blocks past that prefix.
    func adoptCache(_ id: RequestID, into sequence: ActiveRequest) {
        guard let cache = kept.removeValue(forKey: id) else { return }
        let prompt = sequence.request.prompt
        var common = 0
        let limit = min(cache.tokens.count, prompt.count - 1)
        while common < limit, cache.tokens[common] == prompt[common] { common += 1 }
        var table = cache.table
        table.truncate(toLength: common, returningTo: pool)
        sequence.table = table
        sequence.cachedTokens = Array(prompt[..<common])
        sequence.prefilled = common
        sequence.reused = common
    }
}
