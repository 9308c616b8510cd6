import CBF16Kernels

/// Measurements behind `swiftlet bench`. Each returns numbers; the command prints them.
public struct BenchResult: Sendable {
    public let name: String
    public let value: Double
    public let unit: String
    public init(_ name: String, _ value: Double, _ unit: String) {
        self.name = name
        self.value = value
        self.unit = unit
    }
}

public enum Benchmarks {
    /// Repeats `body` until at least `seconds` have passed (after one warm-up call); returns
    /// seconds per call.
    public static func time(seconds: Double = 0.5, _ body: () -> Void) -> Double {
        body()
        var calls = 0
        let clock = Stopwatch()
        repeat {
            body()
            calls += 1
        } while clock.seconds < seconds
        return clock.seconds / Double(calls)
    }

    /// fp32 peak from independent FMA chains on every core, in GFLOP/s: the C loop of
    /// `swiftlet_fp32_fma_loop` (12 chains of zmm FMAs with AVX-512, ymm with AVX2, scalar
    /// elsewhere, chosen by CPUID), timed like the bf16 peak: each core times its own loop (so a
    /// late-starting thread does not count against the others), the rates add up, and the best of
    /// three runs is kept.
    public static func fmaPeak(cores: Int = 2) -> Double {
        let iterations = 30_000_000
        return peak(cores: cores) { fmaLoop(iterations: iterations) }
    }

    /// fp32 lanes of one FMA in that loop on this CPU: 16, 8 or 1 (portable C).
    static var fmaLanes: Int { Int(swiftlet_fp32_fma_lanes()) }

    /// Runs `iterations` rounds of the fp32 FMA loop on this thread; returns the FLOPs done.
    static func fmaLoop(iterations: Int) -> Double {
        let kept = swiftlet_fp32_fma_loop(iterations)
        // The result keeps the loop alive; it is never near this bound.
        return Double(iterations * 12 * fmaLanes * 2) + (kept > 1e30 ? 1 : 0)
    }

    /// Runs `loop` (which returns the FLOPs it did) on every core at once, three times: each core
    /// times its own loop, the cores' rates add up, and the best run is kept, in GFLOP/s.
    static func peak(cores: Int, _ loop: () -> Double) -> Double {
        var best = 0.0
        for _ in 0..<3 {
            let rates = ResultSlots<Double>(count: cores)
            parallelFor(cores) { core in
                let clock = Stopwatch()
                let flops = loop()
                rates.set(core, flops / clock.seconds / 1e9)
            }
            best = max(best, rates.all.reduce(0, +))
        }
        return best
    }

    /// GFLOP/s of C[m×n] = A[m×k] · B[n×k]ᵀ (a linear layer's forward).
    public static func gemm(m: Int, n: Int, k: Int) -> Double {
        let a = FloatBuffer(TestPattern.values(m * k)), b = FloatBuffer(TestPattern.values(n * k)),
            c = FloatBuffer(count: m * n)
        let seconds = time { Gemm.linear(a.pointer, b.pointer, c.pointer, rows: m, inFeatures: k, outFeatures: n) }
        return 2 * Double(m * n * k) / seconds / 1e9
    }

    /// Fused and unfused causal attention, forward and backward, in GFLOP/s of useful (causal)
    /// work: 2·T²·d per head forward (QKᵀ and PV over the lower triangle), 5·T²·d backward.
    public static func attention(headDim: Int, context: Int, heads: Int, kvHeads: Int, sequences: Int) -> [BenchResult]
    {
        let rows = sequences * context
        let q = FloatBuffer(TestPattern.values(rows * heads * headDim)),
            k = FloatBuffer(TestPattern.values(rows * kvHeads * headDim, seed: 2))
        let v = FloatBuffer(TestPattern.values(rows * kvHeads * headDim, seed: 3)),
            dout = FloatBuffer(TestPattern.values(rows * heads * headDim, seed: 4))
        let out = FloatBuffer(count: rows * heads * headDim), lse = FloatBuffer(count: rows * heads)
        let dq = FloatBuffer(count: q.count), dk = FloatBuffer(count: k.count), dv = FloatBuffer(count: v.count)
        let spans = SequenceRows.packed(cumulativeLengths: (0...sequences).map { $0 * context })
        let forwardFLOPs = 2 * Double(context) * Double(context) * Double(headDim) * Double(heads * sequences)
        let backwardFLOPs = 2.5 * forwardFLOPs
        func fusedSeconds(_ precision: Precision) -> (forward: Double, backward: Double) {
            let forward = time {
                Attention.forward(
                    q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer, logSumExp: lse.pointer, spans: spans,
                    heads: heads, kvHeads: kvHeads, headDim: headDim, precision: precision)
            }
            let backward = time {
                Attention.backward(
                    dout: dout.pointer, q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer,
                    logSumExp: lse.pointer,
                    dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, spans: spans, heads: heads, kvHeads: kvHeads,
                    headDim: headDim, precision: precision)
            }
            return (forward, backward)
        }
        let (fused, fusedBackward) = fusedSeconds(.fp32)
        var bf16: [BenchResult] = []
        if BF16Kernels.attentionSupports(headDim: headDim) {
            let (forward, backward) = fusedSeconds(.bf16)
            bf16 = [
                BenchResult("attention.bf16.forward.gflops", forwardFLOPs / forward / 1e9, "GFLOP/s"),
                BenchResult("attention.bf16.backward.gflops", backwardFLOPs / backward / 1e9, "GFLOP/s"),
                BenchResult("attention.bf16.forward.speedup", fused / forward, "x"),
                BenchResult("attention.bf16.backward.speedup", fusedBackward / backward, "x"),
            ]
        }
        let probabilities = FloatBuffer(count: sequences * heads * context * context),
            scratch = FloatBuffer(count: context * context)
        let naive = time {
            UnfusedAttention.forward(
                q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer, probabilities: probabilities.pointer,
                sequences: sequences, length: context, heads: heads, kvHeads: kvHeads, headDim: headDim)
        }
        let naiveBackward = time {
            UnfusedAttention.backward(
                dout: dout.pointer, q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer,
                probabilities: probabilities.pointer, scratch: scratch.pointer, dq: dq.pointer, dk: dk.pointer,
                dv: dv.pointer, sequences: sequences, length: context, heads: heads, kvHeads: kvHeads, headDim: headDim)
        }
        return [
            BenchResult("attention.forward.gflops", forwardFLOPs / fused / 1e9, "GFLOP/s"),
            BenchResult("attention.backward.gflops", backwardFLOPs / fusedBackward / 1e9, "GFLOP/s"),
            BenchResult("attention.naive.forward.gflops", forwardFLOPs / naive / 1e9, "GFLOP/s"),
            BenchResult("attention.naive.backward.gflops", backwardFLOPs / naiveBackward / 1e9, "GFLOP/s"),
        ] + bf16
    }

    /// Full training steps (forward, backward, clipping, AdamW) on random tokens.
    public static func trainStep(
        config: ModelConfig, sequences: Int, steps: Int = 5, precision: Precision = .fp32,
        peakGFLOPs: Double?
    ) -> [BenchResult] {
        let model = Transformer(config: config)
        model.initialize(seed: 1)
        let pass = TrainingPass(model: model, maxRows: sequences * config.contextLength, precision: precision)
        let step = OptimizerStep(groups: [.trained(by: pass, schedule: .constant(1e-4))], gradientClip: 1)
        var rng = RandomGenerator(seed: 9)
        let windows = (0..<sequences).map { _ in
            (0...config.contextLength).map { _ in Int32(rng.below(config.vocabSize)) }
        }
        let batch = Batch(windows: windows)
        func trainOnce() {
            _ = step.take(microBatches: 1) { _, _ in pass.forwardBackward(batch, gradientTokens: batch.rows) }
        }
        trainOnce()
        let clock = Stopwatch()
        for _ in 0..<steps { trainOnce() }
        let tokensPerSecond = Double(steps * batch.rows) / clock.seconds
        var results = [BenchResult("train.tokens_per_s", tokensPerSecond, "tokens/s")]
        if let peakGFLOPs {
            results.append(
                BenchResult(
                    "train.mfu", tokensPerSecond * config.trainingFLOPsPerToken / (peakGFLOPs * 1e9), "fraction"))
        }
        return results
    }

    /// Batch-1 greedy decoding of `tokens` new tokens after a one-token prompt, in tokens/s,
    /// through the generation engine (the path `swiftlet generate` takes), on random (seeded)
    /// weights of this shape in this format (`decode.tokens_per_s`, `decode.bf16.tokens_per_s`,
    /// `decode.q8_0.…`); with `promptTokens` > 0 first the prompt processing rate of a prompt
    /// that long (`prompt.…tokens_per_s`).
    public static func decode(
        config: ModelConfig, tokens: Int, weights: WeightFormat = .fp32, promptTokens: Int = 0
    ) -> [BenchResult] {
        let model = Transformer(config: config)
        model.initialize(seed: 1)
        var precision = Precision.fp32
        switch weights {
        case .fp32, .stored: break
        case .bf16: precision = .bf16
        default: model.quantized = QuantizedWeights.quantizing(model, to: weights.quantizedType!)
        }
        return decode(model: model, precision: precision, name: weights, tokens: tokens, promptTokens: promptTokens)
    }

    /// The same timing on a model already prepared for its weights (`WeightFormat.prepare`):
    /// `bench decode --model FILE` times a file's own weights, as llama-bench does.
    public static func decode(
        model: Transformer, precision: Precision, name weights: WeightFormat, tokens: Int,
        promptTokens: Int = 0
    ) -> [BenchResult] {
        let config = model.config
        let name = weights == .fp32 ? "" : weights.rawValue + "."
        var results: [BenchResult] = []
        let engine = GenerationEngine(
            model: model, tokenizer: nil,
            options: GenerationEngine.Options(
                parallel: 1, promptTokensPerStep: max(256, promptTokens), weights: precision))
        // Untimed first (as llama-bench warms up): the GEMM's first call sets up its kernels and
        // the first steps touch the cache's pages.
        if config.contextLength > 12 {
            let warmup = (0..<min(max(promptTokens, 8), config.contextLength - 5)).map {
                Int32(1 + ($0 + 7) % (config.vocabSize - 1))
            }
            _ = try! engine.submit(
                GenerationRequest(prompt: warmup, maxTokens: 4, sampling: SamplingSettings(temperature: 0)))
            _ = engine.runUntilIdle()
        }
        if promptTokens > 0 {
            // One chunk through the GEMM, timed to its first token.
            let prompt = (0..<min(promptTokens, config.contextLength - 1)).map {
                Int32(1 + $0 % (config.vocabSize - 1))
            }
            let id = try! engine.submit(
                GenerationRequest(prompt: prompt, maxTokens: 1, sampling: SamplingSettings(temperature: 0)))
            let result = engine.runUntilIdle()[id]!
            results.append(
                BenchResult("prompt.\(name)tokens_per_s", Double(prompt.count) / result.timeToFirstToken, "tokens/s"))
        }
        let count = min(tokens, config.contextLength - 1)
        // count + 1 tokens: the first comes from the prompt's pass, then `count` decode steps are timed.
        let id = try! engine.submit(
            GenerationRequest(prompt: [1], maxTokens: count + 1, sampling: SamplingSettings(temperature: 0)))
        let result = engine.runUntilIdle()[id]!
        results.append(BenchResult("decode.\(name)tokens_per_s", result.tokensPerSecond, "tokens/s"))
        return results
    }

}

/// Deterministic non-trivial values for benchmark inputs.
enum TestPattern {
    static func values(_ count: Int, seed: UInt64 = 1) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { _ in Float(rng.uniform() - 0.5) }
    }
}
