import ArgumentParser
import Swiftlet

/// Shape options shared by `bench train` and `bench decode`.
struct ShapeOptions: ParsableArguments {
    @Option(name: .long, help: "Model width.") var dim: Int = 288
    @Option(name: .long, help: "Number of layers.") var layers: Int = 6
    @Option(name: .long, help: "Attention heads.") var heads: Int = 6
    @Option(name: .long, help: "Key/value heads (default: heads).") var kvHeads: Int?
    @Option(name: .long, help: "Vocabulary size.") var vocab: Int = 8192
    @Option(name: .long, help: "Context length.") var context: Int = 256

    func config() throws -> ModelConfig {
        guard vocab >= 2 else { throw ValidationError("--vocab must be at least 2.") }
        let c = ModelConfig(
            dim: dim, layers: layers, heads: heads, kvHeads: kvHeads, vocabSize: vocab, contextLength: context)
        try c.validate()
        // Every benchmark allocates at most a training pass of 8 contexts on this shape.
        try MemoryPlan.training(c, rows: 8 * context).check("this benchmark")
        return c
    }
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure this machine: FMA peak, GEMMs, attention, training and decoding speed.",
        discussion:
            "With no subcommand, runs the whole suite. --json prints one {\"name\", \"value\", \"unit\"} object per line.",
        subcommands: [
            All.self, Train.self, Products.self, Decode.self, Generate.self, AttentionBench.self, Packing.self,
            Chat.self,
        ],
        defaultSubcommand: All.self)

    struct Output: ParsableArguments {
        @Flag(name: .long, help: "One JSON object per line instead of a table.") var json = false

        func emit(_ results: [BenchResult]) {
            for r in results {
                if json {
                    print("{\"name\":\"\(r.name)\",\"value\":\(r.value),\"unit\":\"\(r.unit)\"}")
                } else {
                    let value =
                        r.unit == "fraction"
                        ? Format.fixed(r.value * 100, 1) + " %" : Format.fixed(r.value, 1) + " " + r.unit
                    print(r.name.padding(to: 40) + value)
                }
            }
            Console.flush()
        }
    }

    struct All: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The whole suite (a few minutes).")
        @OptionGroup var threading: ThreadOptions
        @OptionGroup var output: Output

        func run() throws {
            let peak = Benchmarks.fmaPeak()
            output.emit([BenchResult("fp32.peak.gflops", peak, "GFLOP/s")])
            let bf16Peak = MatrixEngine.bf16IsNative ? BF16Kernels.dotProductPeak() : 0
            if MatrixEngine.bf16IsNative { output.emit([BenchResult("bf16.peak.gflops", bf16Peak, "GFLOP/s")]) }
            var gemms: [BenchResult] = []
            for (m, n, k) in [(2048, 288, 288), (2048, 768, 288), (2048, 288, 768), (2048, 8192, 288), (1, 8192, 288)] {
                gemms.append(BenchResult("gemm.\(m)x\(n)x\(k).gflops", Benchmarks.gemm(m: m, n: n, k: k), "GFLOP/s"))
            }
            output.emit(gemms)
            output.emit(Benchmarks.attention(headDim: 64, context: 1024, heads: 8, kvHeads: 8, sequences: 2))
            for preset in ModelPreset.allCases where preset != .base {
                let config = preset.config(vocabSize: 8192)
                let sequences = preset == .medium ? 4 : 8
                for precision in Precision.allCases where precision == .fp32 || MatrixEngine.bf16IsNative {
                    output.emit(
                        Benchmarks.trainStep(
                            config: config, sequences: sequences, steps: preset == .tiny ? 20 : 3,
                            precision: precision, peakGFLOPs: precision == .bf16 ? bf16Peak : peak
                        )
                        .map { BenchResult("\(preset.rawValue).\(precision.rawValue).\($0.name)", $0.value, $0.unit) })
                }
            }
            let decodeShape = ModelConfig(dim: 288, layers: 6, heads: 6, vocabSize: 32000, contextLength: 512)
            for weights in [WeightFormat.fp32, .bf16, .q8_0, .q4_0] {
                output.emit(Benchmarks.decode(config: decodeShape, tokens: 256, weights: weights))
            }
            output.emit(try Benchmarks.generate(config: ModelPreset.small.config(vocabSize: 4096)))
            try runReportingErrors { output.emit(try Benchmarks.packing(context: 256, batchTokens: 2048)) }
            var chatShape = ModelPreset.small.config(vocabSize: 4096)
            chatShape.contextLength = 1024
            try runReportingErrors { output.emit(try Benchmarks.chatFollowUp(config: chatShape)) }
        }
    }

    struct Chat: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time to first token of a chat's follow-up turn, continuing the cached conversation.")
        @OptionGroup var threading: ThreadOptions
        @OptionGroup var shape: ShapeOptions
        @Option(name: .long, help: "Tokens of conversation before the follow-up.") var history: Int = 400
        @Option(name: .long, help: "Tokens of the follow-up turn.") var turn: Int = 20
        @OptionGroup var output: Output

        func run() throws {
            try runReportingErrors {
                var config = try shape.config()
                // The presets' 256 tokens cannot hold the conversation: unless --context says otherwise, 1024.
                if config.contextLength == 256 { config.contextLength = 1024 }
                output.emit(try Benchmarks.chatFollowUp(config: config, historyTokens: history, turnTokens: turn))
            }
        }
    }

    struct Packing: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Padding of packed training batches over documents of mixed lengths.")
        @OptionGroup var threading: ThreadOptions
        @Option(name: .long, help: "Context length.") var context: Int = 256
        @Option(name: .long, help: "Tokens per batch.") var batchTokens: Int = 2048
        @Option(name: .long, help: "Documents (lengths log-uniform from 2 tokens to 4 contexts).") var documents: Int =
            5000
        @OptionGroup var output: Output

        func validate() throws {
            guard context > 1, batchTokens > 0, documents > 0 else {
                throw ValidationError("--context, --batch-tokens and --documents must be positive.")
            }
        }

        func run() throws {
            try runReportingErrors {
                output.emit(try Benchmarks.packing(context: context, batchTokens: batchTokens, documents: documents))
            }
        }
    }

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Training steps per second for any model shape, no checkpoint needed.")
        @OptionGroup var threading: ThreadOptions
        @OptionGroup var shape: ShapeOptions
        @Option(name: .long, help: "Sequences per step.") var batch: Int = 8
        @Option(name: .long, help: "Timed steps.") var steps: Int = 5
        @Option(
            name: .long,
            help: "bf16 (products and attention, fp32 accumulation; the default where it pays on this CPU) or fp32."
        )
        var precision: String?
        @OptionGroup var output: Output

        func validate() throws {
            guard batch > 0, steps > 0 else { throw ValidationError("--batch and --steps must be positive.") }
            guard let chosen = precision.map(Precision.init(rawValue:)) ?? Precision.trainingDefault else {
                throw ValidationError("--precision must be fp32 or bf16.")
            }
            if chosen == .bf16, !MatrixEngine.bf16IsNative {
                throw ValidationError("this CPU has no bf16 instructions (AVX512-BF16); use --precision fp32.")
            }
        }

        func run() throws {
            try runReportingErrors {
                let config = try shape.config()
                let chosen = precision.flatMap(Precision.init(rawValue:)) ?? .trainingDefault
                if precision == nil { Console.info(chosen.describedForTraining(requested: false)) }
                // MFU is against the chosen precision's own peak, measured the same way.
                let peak = chosen == .bf16 ? BF16Kernels.dotProductPeak() : Benchmarks.fmaPeak()
                output.emit(
                    [BenchResult("\(chosen.rawValue).peak.gflops", peak, "GFLOP/s")]
                        + Benchmarks.trainStep(
                            config: config, sequences: batch, steps: steps, precision: chosen, peakGFLOPs: peak
                        )
                        .map { BenchResult($0.name, $0.value, $0.unit) })
            }
        }
    }

    struct Products: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each matrix product of a training step (forward, input and weight gradient) in fp32 and bf16.")
        @OptionGroup var threading: ThreadOptions
        @OptionGroup var shape: ShapeOptions
        @Option(name: .long, help: "Sequences per step.") var batch: Int = 8
        @OptionGroup var output: Output

        func validate() throws {
            guard batch > 0 else { throw ValidationError("--batch must be positive.") }
        }

        func run() throws {
            try runReportingErrors {
                output.emit(Benchmarks.products(config: try shape.config(), rows: batch * shape.context))
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Batch-1 decoding speed for any model shape, or a model file, with fp32, bf16 and quantized weights.",
            discussion:
                "With --model, the file's own weights are timed (a GGUF's quantized blocks with --weights stored) and the shape options are not used."
        )
        @OptionGroup var threading: ThreadOptions
        @OptionGroup var shape: ShapeOptions
        @Option(name: .long, help: "Time this checkpoint or GGUF file instead of random weights of the shape options.")
        var model: String?
        @Option(name: .long, help: "New tokens to generate.") var tokens: Int = 256
        @Option(
            name: .long,
            help:
                "Weights to decode with, comma-separated: fp32, bf16, q8_0, q5_0, q4_0, stored (with --model: a GGUF's own blocks) (one after the other, in one run); both = fp32,bf16."
        ) var weights: String = "both"
        @Option(name: .long, help: "Also time a prompt of this many tokens first (prompt processing, tokens/s).")
        var promptTokens: Int = 0
        @Option(name: .long, help: "Runs of each (interleaved); every run is printed.") var repeats: Int = 1
        @OptionGroup var output: Output

        var chosen: [WeightFormat] {
            (weights == "both" ? "fp32,bf16" : weights).split(separator: ",").compactMap {
                WeightFormat(rawValue: String($0))
            }
        }

        func validate() throws {
            guard tokens > 0, repeats > 0, promptTokens >= 0 else {
                throw ValidationError("--tokens and --repeats must be positive.")
            }
            let names = (weights == "both" ? "fp32,bf16" : weights).split(
                separator: ",", omittingEmptySubsequences: false)
            guard !names.isEmpty,
                names.allSatisfy({ WeightFormat(rawValue: String($0)).map { $0 != .stored || model != nil } ?? false })
            else {
                throw ValidationError(
                    "--weights must be a comma-separated list of fp32, bf16, q8_0, q5_0 and q4_0 (and stored, with --model), or both."
                )
            }
        }

        func run() throws {
            try runReportingErrors {
                if let model {
                    for _ in 0..<repeats {
                        for format in chosen {
                            // Loaded again for each: quantizing at load rounds the parameters in place.
                            let loaded = try Checkpoint.load(model)
                            guard promptTokens < loaded.config.model.contextLength else {
                                throw SwiftletError(
                                    "--prompt-tokens must be below the model's context of \(loaded.config.model.contextLength) tokens."
                                )
                            }
                            let precision = try format.prepare(loaded)
                            output.emit(
                                Benchmarks.decode(
                                    model: loaded.model, precision: precision, name: format, tokens: tokens,
                                    promptTokens: promptTokens))
                        }
                    }
                    return
                }
                var config = try shape.config()
                config.contextLength = max(config.contextLength, tokens + 1, promptTokens + 1)
                for _ in 0..<repeats {
                    for format in chosen {
                        output.emit(
                            Benchmarks.decode(
                                config: config, tokens: tokens, weights: format, promptTokens: promptTokens))
                    }
                }
            }
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "The generation engine: concurrent prompts against one at a time, and time to first token when busy.")
        @OptionGroup var threading: ThreadOptions
        @Option(
            name: .long,
            help:
                "Take the shape of a preset (tiny, small, medium, base) instead of the shape options; --vocab still applies."
        )
        var preset: String?
        @OptionGroup var shape: ShapeOptions
        @Option(name: .long, help: "Concurrent prompts.") var prompts: Int = 8
        @Option(name: .long, help: "New tokens per prompt.") var newTokens: Int = 128
        @Option(name: .long, help: "Tokens per prompt.") var promptTokens: Int = 32
        @Option(name: .long, help: "Tokens of the prompt that joins the busy engine.") var joinTokens: Int = 200
        @OptionGroup var output: Output

        func validate() throws {
            guard prompts > 0, newTokens > 0, promptTokens > 0, joinTokens > 0 else {
                throw ValidationError("--prompts, --new-tokens, --prompt-tokens and --join-tokens must be positive.")
            }
            if let preset, ModelPreset(rawValue: preset) == nil {
                throw ValidationError(
                    "--preset must be one of \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
        }

        func run() throws {
            try runReportingErrors {
                var config = try shape.config()
                if let preset { config = ModelPreset(rawValue: preset)!.config(vocabSize: shape.vocab) }
                output.emit(
                    try Benchmarks.generate(
                        config: config, prompts: prompts, newTokens: newTokens,
                        promptTokens: promptTokens, joinTokens: joinTokens))
            }
        }
    }

    struct AttentionBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "attention", abstract: "Fused against unfused attention.")
        @OptionGroup var threading: ThreadOptions
        @Option(name: .long) var headDim: Int = 64
        @Option(name: .long) var context: Int = 1024
        @Option(name: .long) var heads: Int = 8
        @Option(name: .long) var kvHeads: Int?
        @Option(name: .long, help: "Sequences per call.") var sequences: Int = 2
        @OptionGroup var output: Output

        func validate() throws {
            guard headDim > 0, context > 0, heads > 0, sequences > 0, (kvHeads ?? heads) > 0,
                heads % (kvHeads ?? heads) == 0
            else {
                throw ValidationError("shapes must be positive and heads a multiple of --kv-heads.")
            }
        }

        func run() throws {
            output.emit(
                Benchmarks.attention(
                    headDim: headDim, context: context, heads: heads, kvHeads: kvHeads ?? heads, sequences: sequences))
        }
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
