import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Swiftlet

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train or inspect a SentencePiece tokenizer.",
        subcommands: [Train.self, Encode.self, Decode.self, Info.self]
    )

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Train a tokenizer on UTF-8 text files.")
        @OptionGroup var threading: ThreadOptions
        @Option(name: .long, parsing: .upToNextOption, help: "Text files or folders to train on.")
        var input: [String]
        @Option(name: .long, help: "Number of pieces in the vocabulary.")
        var vocabSize: Int = 4096
        @Option(name: .long, help: "unigram or bpe.")
        var modelType: String = "bpe"
        @Option(name: .shortAndLong, help: "Where to write the .model file.")
        var output: String = "tokenizer.model"

        func validate() throws {
            guard vocabSize > 0 else { throw ValidationError("--vocab-size must be positive.") }
            guard TokenizerModelType(rawValue: modelType) != nil else {
                throw ValidationError("--model-type must be unigram or bpe.")
            }
            guard !input.isEmpty else { throw ValidationError("give at least one --input file.") }
        }

        func run() throws {
            try runReportingErrors {
                let corpus = try CorpusReader.readText(paths: input)
                let clock = Stopwatch()
                let tokenizer = try Tokenizer.train(
                    text: corpus.text,
                    options: TokenizerTrainingOptions(
                        vocabSize: vocabSize, modelType: TokenizerModelType(rawValue: modelType)!))
                try FileIO.writeAtomically(tokenizer.modelBytes, to: output)
                Console.info(
                    "trained a \(tokenizer.vocabSize)-piece \(modelType) tokenizer on \(corpus.text.utf8.count) bytes in \(Format.seconds(clock.seconds)) → \(output)"
                )
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the pieces and ids of a text.")
        @OptionGroup var threading: ThreadOptions
        @Option(name: .shortAndLong, help: "A .model file or a checkpoint directory.")
        var model: String
        @Argument(help: "Text to encode (standard input when absent).")
        var text: String?
        @Flag(help: "Print ids only.")
        var ids = false
        @Flag(
            help:
                "The text is a dialogue, {\"messages\": [{\"role\": …, \"content\": …}, …]}, rendered with the chat template."
        )
        var dialogue = false
        @Flag(help: "With --dialogue: end with the assistant's marker, as a prompt for the reply.")
        var generationPrompt = false

        func run() throws {
            try runReportingErrors {
                let tokenizer = try loadTokenizer(model)
                let input = text ?? readAllStandardInput()
                let encoded: [Int32]
                if dialogue {
                    guard let messages = try? JSONDecoder().decode(Dialogue.self, from: Data(input.utf8)).messages
                    else {
                        throw SwiftletError(
                            "the dialogue is not {\"messages\": [{\"role\": \"user\", \"content\": \"…\"}, …]}.")
                    }
                    let template = ChatTemplate.native(for: tokenizer)
                    encoded =
                        generationPrompt
                        ? try template.prompt(messages, tokenizer: tokenizer)
                        : try template.encode(messages, tokenizer: tokenizer).tokens
                } else {
                    encoded = tokenizer.encodeDocument(input)
                }
                if ids {
                    print(encoded.map(String.init).joined(separator: " "))
                } else {
                    for id in encoded { print("\(id)\t\(tokenizer.piece(id))") }
                    Console.info("\(encoded.count) tokens, \(input.utf8.count) bytes")
                }
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Turn ids back into text.")
        @OptionGroup var threading: ThreadOptions
        @Option(name: .shortAndLong, help: "A .model file or a checkpoint directory.")
        var model: String
        @Argument(help: "Token ids.")
        var ids: [Int32]

        func run() throws {
            try runReportingErrors {
                let tokenizer = try loadTokenizer(model)
                if let bad = ids.first(where: { $0 < 0 || Int($0) >= tokenizer.vocabSize }) {
                    throw SwiftletError("id \(bad) is outside the vocabulary (0..<\(tokenizer.vocabSize)).")
                }
                print(tokenizer.decode(ids), terminator: "")
            }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe a tokenizer.")
        @OptionGroup var threading: ThreadOptions
        @Argument(help: "A .model file or a checkpoint directory.")
        var model: String

        func run() throws {
            try runReportingErrors {
                let tokenizer = try loadTokenizer(model)
                print("pieces: \(tokenizer.vocabSize)")
                print("bos: \(tokenizer.bosID)  eos: \(tokenizer.eosID)  unk: \(tokenizer.unknownID)")
                let special = SpecialPieces.all.map { "\($0)=\(tokenizer.id(ofPiece: $0))" }
                print("chat markers: \(special.joined(separator: " "))")
            }
        }
    }
}

func loadTokenizer(_ path: String) throws -> Tokenizer {
    if FileIO.isDirectory(path) {
        return try Tokenizer(
            contentsOf: path + "/" + CheckpointFiles.tokenizer, addsBOS: HuggingFaceDirectory.addsBOS(path))
    }
    if GGUFFile.looksLikeGGUF(path) { return try GGUFModel.tokenizer(path) }
    return try Tokenizer(contentsOf: path)
}

struct Dialogue: Decodable {
    let messages: [ChatMessage]
}
