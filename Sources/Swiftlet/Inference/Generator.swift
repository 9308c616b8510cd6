/// Completion of one prompt: the engine with a single request, driven to the end.
public enum Generator {
    public static func generate(
        model: Transformer, tokenizer: Tokenizer, prompt: [Int32], maxTokens: Int,
        sampling: SamplingSettings, stop: [String] = [], weights: Precision = .fp32,
        kvCache: KVCacheFormat = .f32, onText: @escaping (String) -> Void, shouldStop: () -> Bool = { false }
    ) throws -> GenerationResult {
        let engine = GenerationEngine(
            model: model, tokenizer: tokenizer,
            options: GenerationEngine.Options(parallel: 1, weights: weights, kvCache: kvCache))
        let id = try engine.submit(
            GenerationRequest(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stop: stop, onText: onText))
        guard let result = engine.runUntilIdle(shouldStop: shouldStop)[id] else {
            fatalError("the engine lost a request")
        }
        return result
    }
}
