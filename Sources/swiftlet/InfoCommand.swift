import ArgumentParser
import Swiftlet

/// `swiftlet info`: what a checkpoint is, how it was made, and which Swiftlet reads it.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe a checkpoint: architecture, size, tokenizer and training.")
    @OptionGroup var threading: ThreadOptions

    @OptionGroup var source: CheckpointArgument

    func run() throws {
        try runReportingErrors {
            let loaded = try Checkpoint.load(source.path)
            print("swiftlet: \(SwiftletVersion.description)")
            let c = loaded.config.model
            print("checkpoint: \(loaded.directory)")
            print("format: \(loaded.source)" + (loaded.config.writtenBy.map { ", written by \($0)" } ?? ""))
            for conversion in loaded.conversions { print("converted: \(conversion)") }
            print(
                "architecture: Llama-style decoder, dim \(c.dim), \(c.layers) layers, \(c.heads) heads (\(c.kvHeads) kv heads, head size \(c.headDim)), SwiGLU hidden \(c.hiddenDim), context \(c.contextLength)"
            )
            print(
                "parameters: \(Format.grouped(c.parameterCount)) (\(Format.grouped(c.nonEmbeddingParameterCount)) outside the embedding), \(c.tiedEmbedding ? "tied" : "separate") output head"
            )
            let formats = WeightFormat.allCases.compactMap { f in
                f.bytesPerToken(loaded).map { "\(f.rawValue) \(Format.bytes($0))" }
            }
            print(
                "bytes per token (the weight matrices a decoded token reads): " + formats.joined(separator: ", ")
                    + (loaded.storedWeights != nil ? "; stored is the default" : ""))
            print(
                "tokenizer: \(loaded.tokenizer.vocabSize) pieces, bos \(loaded.tokenizer.bosID), eos \(loaded.tokenizer.eosID)"
            )
            print(
                "chat: "
                    + (loaded.config.chat != nil
                        ? "tuned for chat (role markers \(SpecialPieces.all.joined(separator: " ")))"
                        : "not tuned for chat (completion mode)"))
            if let adapter = loaded.adapter {
                print(
                    "adapters: LoRA rank \(adapter.rank), alpha \(adapter.alpha), on \(adapter.targets.map(\.rawValue).joined(separator: ",")) (merged in when loaded)"
                )
            }
            if let head = loaded.classifier {
                print(
                    "classifier: \(head.config.labels.count) labels (\(head.config.labels.joined(separator: ", "))), \(head.config.pooling.rawValue) pooling"
                )
            }
            for (key, value) in loaded.config.training.sorted(by: { $0.key < $1.key }) {
                print("training.\(key): \(value)")
            }
        }
    }
}
