/// The generation engine under load, with random weights and prompts (greedy, no end token).
extension Benchmarks {
    /// Tokens/s of `prompts` requests run together against the same requests one after another
    /// at batch 1, and the time to first token of a `joinTokens`-token prompt that arrives
    /// while `prompts` sequences are decoding.
    public static func generate(
        config: ModelConfig, prompts: Int = 8, newTokens: Int = 128, promptTokens: Int = 32,
        joinTokens: Int = 200
    ) throws -> [BenchResult] {
        guard promptTokens + newTokens <= config.contextLength else {
            throw SwiftletError(
                "--prompt-tokens plus --new-tokens (\(promptTokens + newTokens)) exceed the context of \(config.contextLength)."
            )
        }
        let model = Transformer(config: config)
        model.initialize(seed: 1)
        var rng = RandomGenerator(seed: 11)
        let requests = (0..<prompts).map { _ in
            GenerationRequest(
                prompt: (0..<promptTokens).map { _ in Int32(rng.below(config.vocabSize)) }, maxTokens: newTokens,
                sampling: SamplingSettings(temperature: 0))
        }
        func run(_ batch: [GenerationRequest], parallel: Int) throws -> (tokens: Int, seconds: Double) {
            let engine = GenerationEngine(
                model: model, tokenizer: nil, options: GenerationEngine.Options(parallel: parallel))
            for r in batch { try engine.submit(r) }
            let clock = Stopwatch()
            let results = engine.runUntilIdle()
            return (results.values.reduce(0) { $0 + $1.tokens.count }, clock.seconds)
        }
        _ = try run(Array(requests.prefix(2)), parallel: 2)  // warm-up: GEMM kernels, page faults
        // The machine is shared and noisy: the best of two interleaved runs of each.
        var sequentialRate = 0.0, parallelRate = 0.0
        for _ in 0..<2 {
            var sequential = (tokens: 0, seconds: 0.0)
            for r in requests {
                let one = try run([r], parallel: 1)
                sequential = (sequential.tokens + one.tokens, sequential.seconds + one.seconds)
            }
            let parallel = try run(requests, parallel: prompts)
            sequentialRate = max(sequentialRate, Double(sequential.tokens) / sequential.seconds)
            parallelRate = max(parallelRate, Double(parallel.tokens) / parallel.seconds)
        }

        // A long prompt joins `prompts` sequences that are already decoding; median of five joins.
        let engine = GenerationEngine(
            model: model, tokenizer: nil, options: GenerationEngine.Options(parallel: prompts + 1))
        for r in requests { try engine.submit(r) }
        while engine.waitingCount > 0 || engine.runningCount < prompts { _ = engine.step() }
        for _ in 0..<3 { _ = engine.step() }
        let joinLength = min(joinTokens, config.contextLength - 1)
        var waits: [Double] = []
        for _ in 0..<5 {
            let prompt = (0..<joinLength).map { _ in Int32(rng.below(config.vocabSize)) }
            let id = try engine.submit(
                GenerationRequest(prompt: prompt, maxTokens: 1, sampling: SamplingSettings(temperature: 0)))
            var joined: GenerationResult?
            while joined == nil { joined = engine.step().first { $0.id == id }?.result }
            waits.append(joined!.timeToFirstToken)
        }
        waits.sort()
        return [
            BenchResult("generate.parallel.tokens_per_s", parallelRate, "tokens/s"),
            BenchResult("generate.sequential.tokens_per_s", sequentialRate, "tokens/s"),
            BenchResult("generate.speedup", parallelRate / sequentialRate, "x"),
            BenchResult("generate.ttft_busy_ms", waits[waits.count / 2] * 1000, "ms"),
        ]
    }
}
