import ArgumentParser
import Swiftlet

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a checkpoint's loss, perplexity and bits per byte on some text.")
    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Checkpoint directory.")
    var checkpoint: String
    @Option(name: .long, parsing: .upToNextOption, help: "Text files or folders.")
    var data: [String]
    @Option(name: .long, help: "Split files into documents at this string (\\n and \\t understood).")
    var docSeparator: String?
    @Option(name: .long, help: "Score at most this many tokens.")
    var maxTokens: Int = 10_000_000
    @Flag(help: "Print one JSON object (tokens, bytes, loss, perplexity, bits_per_byte) at full precision.")
    var json = false
    @Option(
        name: .long,
        help:
            "Score as llama.cpp's llama-perplexity does: all text tokenized as one (no end-of-sequence tokens), cut into N-token chunks, the second half of each chunk scored."
    )
    var chunks: Int?
    @OptionGroup var weights: WeightsOptions

    func validate() throws {
        if let chunks, chunks < 4 { throw ValidationError("--chunks must be at least 4.") }
    }

    func run() throws {
        try runReportingErrors {
            let loaded = try Checkpoint.load(checkpoint)
            try weights.prepare(loaded)
            let separator = docSeparator.map(DocumentFormat.unescaped)
            let corpus = try CorpusReader.readText(paths: data, format: DocumentFormat(separator: separator))
            let context = loaded.model.config.contextLength
            let windows: [TokenWindow]
            if let chunks {
                guard chunks <= context else {
                    throw SwiftletError("--chunks \(chunks) is longer than the model's context of \(context).")
                }
                let tokens = loaded.tokenizer.encodeLargeDocument(corpus.documents.map(\.text).joined())
                windows = Evaluator.perplexityChunks(tokens, chunk: chunks, bos: loaded.tokenizer.documentStart.first)
                guard !windows.isEmpty else {
                    throw SwiftletError("the text is shorter than two chunks of \(chunks) tokens.")
                }
            } else {
                let documents = try TokenCache.tokens(of: corpus, tokenizer: loaded.tokenizer).documents
                windows = Evaluator.windows(of: documents, context: context, maxTokens: maxTokens)
            }
            guard !windows.isEmpty else { throw SwiftletError("the text is too short to score.") }
            let pass = ScoringPass(model: loaded.model, maxRows: max(1, 8192 / context) * context)
            let clock = Stopwatch()
            let result = Evaluator.evaluate(pass: pass, tokenizer: loaded.tokenizer, windows: windows)
            if json {
                print(
                    "{\"tokens\": \(result.tokens), \"bytes\": \(result.bytes), \"loss\": \(result.loss), \"perplexity\": \(result.perplexity), \"bits_per_byte\": \(result.bitsPerByte)}"
                )
                return
            }
            print("tokens: \(result.tokens)")
            print("bytes: \(result.bytes)")
            print("loss: \(Format.fixed(result.loss, 4)) nats/token")
            print("perplexity: \(Format.fixed(result.perplexity, 2))")
            print("bits per byte: \(Format.fixed(result.bitsPerByte, 4))")
            guard result.loss.isFinite else {
                throw SwiftletError("the loss is not a finite number: \(loaded.directory) cannot score this text.")
            }
            Console.info(
                "scored in \(Format.seconds(clock.seconds)) (\(Format.grouped(Int(Double(result.tokens) / clock.seconds))) tokens/s)"
            )
        }
    }
}
