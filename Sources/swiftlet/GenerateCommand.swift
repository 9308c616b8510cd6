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
    @Option(name: .long, help: "Random seed; the same seed gives the same text.")
    var seed: UInt64?
    @Option(name: .long, help: "Largest number of new tokens.")
    var maxTokens: Int = 256

    func validate() throws {
        guard temperature >= 0 else { throw ValidationError("--temperature must be 0 or more.") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 (off) or more.") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1].") }
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive.") }
    }

    var settings: SamplingSettings {
        SamplingSettings(temperature: temperature, topK: topK, topP: topP,
                         seed: seed ?? UInt64(Stopwatch.now() * 1e6))
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a trained model, streaming the text.")

    @Option(name: .long, help: "Checkpoint directory.")
    var checkpoint: String
    @Option(name: .long, help: "The prompt (read from standard input when absent).")
    var prompt: String?
    @OptionGroup var sampling: SamplingOptions
    @Flag(name: .long, help: "Report speed on standard error.")
    var verbose = false

    func run() throws {
        try runReportingErrors {
            Interrupt.install()
            let loaded = try Checkpoint.load(checkpoint)
            let text = prompt ?? readAllStandardInput()
            let tokens = loaded.tokenizer.encode(text)
            guard !tokens.isEmpty else { throw SwiftletError("the prompt is empty.") }
            let session = InferenceSession(model: loaded.model)
            Console.write(text)
            let result = try Generator.generate(session: session, tokenizer: loaded.tokenizer, prompt: tokens,
                                                maxTokens: sampling.maxTokens, sampling: sampling.settings,
                                                onText: Console.write, shouldStop: { Interrupt.isRequested })
            Console.write("\n")
            if verbose {
                Console.info("\(tokens.count) prompt tokens in \(Format.fixed(result.promptSeconds * 1000, 1)) ms; \(result.tokens.count) new tokens at \(Format.fixed(result.tokensPerSecond, 1)) tokens/s (stopped: \(result.stopReason.rawValue))")
            }
        }
    }
}
