extension Benchmarks {
    /// Time to the first token of a chat's follow-up turn: a conversation of `historyTokens`
    /// tokens (its last reply generated, its cache kept, as `ChatSession` does), then a turn of
    /// `turnTokens` new tokens that continues that cache. Median of five follow-ups.
    public static func chatFollowUp(
        config: ModelConfig, historyTokens: Int = 400, replyTokens: Int = 40,
        turnTokens: Int = 20
    ) throws -> [BenchResult] {
        guard historyTokens + replyTokens + 5 * turnTokens + 5 * replyTokens < config.contextLength else {
            throw SwiftletError(
                "the conversation (\(historyTokens + 5 * (turnTokens + replyTokens)) tokens) does not fit the context of \(config.contextLength); give a larger --context."
            )
        }
        let model = Transformer(config: config)
        model.initialize(seed: 1)
        var rng = RandomGenerator(seed: 12)
        func tokens(_ count: Int) -> [Int32] { (0..<count).map { _ in Int32(rng.below(config.vocabSize)) } }
        let engine = GenerationEngine(model: model, tokenizer: nil, options: GenerationEngine.Options(parallel: 1))
        var conversation = tokens(historyTokens - replyTokens)
        var request = GenerationRequest(
            prompt: conversation, maxTokens: replyTokens, sampling: SamplingSettings(temperature: 0))
        request.keepCache = true
        var previous = try engine.submit(request)
        conversation += engine.runUntilIdle()[previous]!.tokens
        var waits: [Double] = []
        for _ in 0..<5 {
            conversation += tokens(turnTokens)
            var turn = GenerationRequest(
                prompt: conversation, maxTokens: replyTokens, sampling: SamplingSettings(temperature: 0))
            turn.keepCache = true
            turn.reusing = previous
            previous = try engine.submit(turn)
            let result = engine.runUntilIdle()[previous]!
            waits.append(result.timeToFirstToken)
            conversation += result.tokens
        }
        waits.sort()
        return [BenchResult("chat.followup_ttft_ms", waits[waits.count / 2] * 1000, "ms")]
    }
}
