import ArgumentParser
import Swiftlet

/// Sampling options shared by generate (and later chat).
struct SamplingOptions: ParsableArguments {
    @Option(name: .long, help: "Softmax temperature; 0 picks the likeliest token every time.")
    var temperature: Float = 0.8
    @Option(name: .long, help: "Sample only from the k likeliest tokens (0 = off).")
    var topK: Int = 0
    @Option(name: .long, help: "Sample from the smallest set of tokens whose probability reaches p.")
    var topP: Float = 0.95
    @Option(name: .long, help: "Drop tokens less likely than this fraction of the likeliest one (0 = off).")
    var minP: Float = 0
    @Option(name: .long, help: "Divide positive (multiply negative) logits of tokens already seen by this (1 = off).")
    var repetitionPenalty: Float = 1
    @Option(
        name: .long,
        help: "Lower the logits of tokens the reply already holds by this (OpenAI's presence penalty, -2 to 2).")
    var presencePenalty: Float = 0
    @Option(name: .long, help: "Lower the logits of the reply's tokens by this for every time they occur (-2 to 2).")
    var frequencyPenalty: Float = 0
    @Option(name: .long, help: "Random seed; the same seed gives the same text.")
    var seed: UInt64?
    @Option(name: .long, help: "Largest number of new tokens.")
    var maxTokens: Int = 256
    @Option(name: .long, help: ArgumentHelp(WeightsChoice.help))
    var weights: String?
    @Option(name: .long, help: "End the reply before this text (repeatable); it is not printed.")
    var stop: [String] = []

    func validate() throws {
        do {
            try settings.validate()
        } catch let error as SwiftletError {
            throw ValidationError(error.message)
        }
        guard maxTokens > 0, maxTokens <= 1 << 24 else {
            throw ValidationError("--max-tokens must be between 1 and 16,777,216.")
        }
        guard topK <= 1 << 20 else { throw ValidationError("--top-k must be at most 1,048,576.") }
        guard stop.count <= 256 else { throw ValidationError("at most 256 --stop strings.") }
        guard !stop.contains(where: \.isEmpty) else { throw ValidationError("--stop must not be empty.") }
        try WeightsChoice.validate(weights)
    }

    var settings: SamplingSettings {
        SamplingSettings(
            temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repetitionPenalty,
            presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty,
            seed: seed ?? UInt64(Stopwatch.now() * 1e6))
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract:
            "Continue a prompt with a trained model, streaming the text; or complete a file of prompts in parallel.")
    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Checkpoint directory.")
    var checkpoint: String
    @Option(name: .long, help: "The prompt (read from standard input when absent).")
    var prompt: String?
    @Option(name: .long, help: "A file of prompts, one per line: plain text or JSON objects; results as JSON lines.")
    var promptsFile: String?
    @Option(name: .long, help: "With --prompts-file: prompts generated at once.")
    var parallel: Int = 8
    @Option(
        name: .long, help: "With --prompts-file: write the JSON lines here (atomically) instead of standard output.")
    var out: String?
    @OptionGroup var sampling: SamplingOptions
    @Option(
        name: .long,
        help: ArgumentHelp(
            "What the KV cache holds: \(KVCacheFormat.names); f16 rounds keys and values to fp16 and computes attention as llama.cpp's flash attention does over its fp16 cache (its default). (default: f32)"
        ))
    var kvCache: String?
    @Flag(name: .long, help: "Report speed on standard error.")
    var verbose = false

    var cacheFormat: KVCacheFormat { kvCache.flatMap(KVCacheFormat.init(rawValue:)) ?? .f32 }

    func validate() throws {
        guard parallel > 0, parallel <= 256 else { throw ValidationError("--parallel must be between 1 and 256.") }
        if promptsFile != nil, prompt != nil {
            throw ValidationError("give either --prompt or --prompts-file, not both.")
        }
        if promptsFile == nil, out != nil { throw ValidationError("--out goes with --prompts-file.") }
        if let kvCache, KVCacheFormat(rawValue: kvCache) == nil {
            throw ValidationError("--kv-cache takes \(KVCacheFormat.names), not \(kvCache).")
        }
    }

    func run() throws {
        try runReportingErrors {
            Interrupt.install()
            let loaded = try Checkpoint.load(checkpoint)
            let precision = try WeightsChoice.prepare(sampling.weights, loaded)
            if let promptsFile {
                try runBatch(loaded, file: promptsFile, precision: precision)
                return
            }
            let text = prompt ?? readAllStandardInput()
            let tokens = loaded.tokenizer.encodeDocument(text)
            guard !tokens.isEmpty else { throw SwiftletError("the prompt is empty.") }
            Console.write(text)
            let result = try Generator.generate(
                model: loaded.model, tokenizer: loaded.tokenizer, prompt: tokens,
                maxTokens: sampling.maxTokens, sampling: sampling.settings, stop: sampling.stop,
                weights: precision, kvCache: cacheFormat, onText: Console.write, shouldStop: { Interrupt.isRequested })
            Console.write("\n")
            if verbose {
                Console.info(
                    "\(tokens.count) prompt tokens, first token after \(Format.fixed(result.timeToFirstToken * 1000, 1)) ms; \(result.tokens.count) new tokens at \(Format.fixed(result.tokensPerSecond, 1)) tokens/s (stopped: \(result.stopReason.rawValue))"
                )
            }
        }
    }

    func runBatch(_ loaded: Checkpoint, file: String, precision: Precision) throws {
        let lines = try PromptsFile.parse(
            FileIO.readUTF8(file), name: file, maxTokens: sampling.maxTokens,
            sampling: sampling.settings, stop: sampling.stop)
        let options = GenerationEngine.Options(parallel: parallel, weights: precision, kvCache: cacheFormat)
        try GenerationEngine.memoryPlan(loaded.model.config, options: options).check(
            "generating \(parallel) completions at once")
        let engine = GenerationEngine(model: loaded.model, tokenizer: loaded.tokenizer, options: options)
        var ids: [GenerationEngine.RequestID] = []
        for line in lines {
            let request = GenerationRequest(
                prompt: loaded.tokenizer.encodeDocument(line.prompt), maxTokens: line.maxTokens,
                sampling: line.sampling, stop: line.stop)
            do {
                ids.append(try engine.submit(request))
            } catch let error as SwiftletError {
                throw SwiftletError("line \(line.line) of \(file): \(error.message)")
            }
        }
        var results: [GenerationEngine.RequestID: GenerationResult] = [:]
        var tokens = 0
        var showedProgress = false
        let clock = Stopwatch()
        while !engine.isIdle {
            if Interrupt.isRequested { for id in ids where results[id] == nil { engine.cancel(id) } }
            for (id, result) in engine.step() {
                results[id] = result
                tokens += result.tokens.count
            }
            // A progress line only for runs long enough to wait for.
            let done = results.count, seconds = clock.seconds
            if seconds >= 2 || (showedProgress && engine.isIdle) {
                Console.progress(
                    "generate: \(done)/\(lines.count) prompts, \(Format.fixed(Double(tokens) / max(seconds, 1e-9), 1)) tokens/s, ETA \(Format.eta(elapsed: seconds, done: done, total: lines.count))",
                    final: engine.isIdle)
                showedProgress = true
            }
        }
        let output = zip(lines, ids).map { line, id in
            CompletionRecord(prompt: line.prompt, result: results[id]!).jsonLine + "\n"
        }.joined()
        if let out {
            try FileIO.writeAtomically(output, to: out)
        } else {
            Console.write(output)
        }
        if verbose {
            Console.info(
                "\(lines.count) prompts, \(tokens) new tokens in \(Format.fixed(clock.seconds, 2)) s (\(Format.fixed(Double(tokens) / max(clock.seconds, 1e-9), 1)) tokens/s)"
            )
        }
        if Interrupt.isRequested { throw ExitCode(130) }
    }
}
