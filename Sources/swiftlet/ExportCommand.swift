import ArgumentParser
import Swiftlet

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint as a Hugging Face model directory or a llama.cpp GGUF file.",
        discussion: """
            --format hf writes config.json, model.safetensors (fp32), tokenizer.model and the tokenizer and \
            generation files transformers reads; --format gguf writes a llama-architecture GGUF for llama.cpp, \
            ollama and LM Studio. Adapters are merged in; optimizer state and metrics are left out.
            """)
    @OptionGroup var threading: ThreadOptions

    @OptionGroup var source: CheckpointArgument
    @Option(name: .long, help: "hf or gguf.")
    var format: String
    @Option(name: [.customShort("o"), .long], help: "The directory (hf) or file (gguf) to write; it must not exist.")
    var output: String
    @Option(
        name: .long,
        help:
            "GGUF tensor type: f32, f16, bf16, q8_0, q5_0 or q4_0 (norm gains stay f32; llama.cpp's own quantizers, bit for bit)."
    )
    var type: String = "f32"

    func validate() throws {
        guard ["hf", "gguf"].contains(format) else { throw ValidationError("--format must be hf or gguf.") }
        guard GGUFModel.exportTypes[type] != nil else {
            throw ValidationError("--type must be f32, f16, bf16, q8_0, q5_0 or q4_0.")
        }
        if format == "hf" && type != "f32" {
            throw ValidationError("--type applies to --format gguf only (hf weights are fp32).")
        }
    }

    func run() throws {
        try runReportingErrors {
            let loaded = try Checkpoint.load(source.path)
            let clock = Stopwatch()
            if format == "hf" {
                try ModelExport.huggingFace(loaded, to: output)
            } else {
                if (try? SentencePieceModelProto(bytes: loaded.tokenizer.modelBytes))?.trainerSpec.modelType == .unigram
                {
                    Console.info(
                        "warning: this tokenizer is a unigram model; llama.cpp tokenizes every SentencePiece vocabulary with BPE merges, so its token ids will differ from Swiftlet's (train with --tokenizer-type bpe, the default, to avoid this)."
                    )
                }
                try ModelExport.gguf(loaded, type: GGUFModel.exportTypes[type]!, to: output)
            }
            Console.info(
                "wrote \(output) (\(format == "hf" ? "Hugging Face model directory" : "GGUF, \(type)")) in \(Format.seconds(clock.seconds))"
            )
        }
    }
}
