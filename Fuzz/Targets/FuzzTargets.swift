// libFuzzer entry points for every loader of Swiftlet. Compiled into the Swiftlet module itself
// (Fuzz/build.sh), so the targets reach the loaders' internal functions too. One binary holds
// every target; SWIFTLET_FUZZ_TARGET picks one. A target feeds the bytes to a loader and ignores
// the thrown error: a loader may refuse anything, but never trap, crash, hang or allocate without
// bound (libFuzzer's -malloc_limit_mb catches that), whatever the input.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

enum FuzzTargets {
    static let all: [String: ([UInt8]) -> Void] = [
        "safetensors": safetensors,
        "config": config,
        "tokenizer": tokenizer,
        "charsmap": charsmap,
        "trainer": trainer,
        "classifier": classifier,
        "adapter": adapter,
        "csv": { labeled($0, ext: "csv") },
        "tsv": { labeled($0, ext: "tsv") },
        "jsonl": { labeled($0, ext: "jsonl") },
        "prompts": prompts,
        "transcript": transcript,
        "tokencache": tokenCache,
        "gguf": gguf,
        "hfconfig": huggingFaceConfig,
        "safetensorsfile": safetensorsFile,
        "peft": peftAdapter,
    ]

    /// Writes the input where the file loaders (which map files) can read it.
    static func withFile(_ bytes: [UInt8], name: String, _ body: (String) -> Void) {
        let dir = "/tmp/swiftlet-fuzz-\(getpid())"
        try? FileIO.createDirectory(dir)
        let path = dir + "/" + name
        guard (try? FileIO.writeAtomically(bytes, to: path)) != nil else { return }
        body(path)
    }

    /// A GGUF file: parsed, every tensor Swiftlet can read decoded, the vocabulary rebuilt into a
    /// SentencePiece model, and the whole model loaded as every command loads it.
    static func gguf(_ bytes: [UInt8]) {
        withFile(bytes, name: "fuzz.gguf") { path in
            guard let file = try? GGUFFile(path) else { return }
            for tensor in file.tensors where tensor.elementCount <= 1 << 22 {
                let buffer = FloatBuffer(count: tensor.elementCount)
                try? file.decode(tensor, into: buffer.pointer)
            }
            _ = try? GGUFModel.tokenizer(path)
            if let loaded = try? Checkpoint.load(path) { exercise(loaded.tokenizer, text: "ROMEO: <|user|>") }
        }
    }

    /// config.json of a Hugging Face directory, and the rest of a checkpoint's config around it.
    static func huggingFaceConfig(_ bytes: [UInt8]) {
        guard let json = JSONValue.parse(bytes),
            let config = try? HuggingFaceConfig.modelConfig(json, path: "config.json")
        else { return }
        _ = MemoryPlan.training(config, rows: config.contextLength).total
        _ = ParameterLayout(config: config).totalCount <= 0
        _ = JSONValue.object(HuggingFaceConfig.keys(for: config, bosID: 1, eosID: 2)).prettyText
    }

    /// A safetensors file of any dtype, read through the memory map and widened to fp32.
    static func safetensorsFile(_ bytes: [UInt8]) {
        withFile(bytes, name: "fuzz.safetensors") { path in
            guard let file = try? SafetensorsFile(path) else { return }
            for entry in file.entries.values where entry.elementCount <= 1 << 22 {
                let buffer = FloatBuffer(count: entry.elementCount)
                try? file.decode(entry, into: buffer.pointer)
            }
        }
    }

    /// PEFT's adapter_config.json beside a fixed adapter_model.safetensors for a tiny model.
    static func peftAdapter(_ bytes: [UInt8]) {
        let dir = "/tmp/swiftlet-fuzz-\(getpid())/peft"
        try? FileIO.createDirectory(dir)
        guard (try? FileIO.writeAtomically(bytes, to: dir + "/" + PEFTAdapter.config)) != nil else { return }
        if !FileIO.exists(dir + "/" + PEFTAdapter.weights) {
            let adapters = LoRAAdapters(
                config: LoRAConfig(rank: 2, targets: [.q, .v]), model: ModelPreset.tiny.config(vocabSize: 64))
            for (name, file) in PEFTAdapter.files(adapters, baseModel: dir) where name == PEFTAdapter.weights {
                try? FileIO.writeAtomically(file, to: dir + "/" + name)
            }
        }
        _ = try? PEFTAdapter.load(dir, model: ModelPreset.tiny.config(vocabSize: 64))
    }

    nonisolated(unsafe) static var selected: ([UInt8]) -> Void = { _ in }

    static func safetensors(_ bytes: [UInt8]) {
        guard let placements = try? Safetensors.header(bytes, path: "fuzz.safetensors") else { return }
        // Copy what the header describes, as a loader does, into buffers of exactly that size.
        for placement in placements.values {
            let buffer = FloatBuffer(count: placement.count)
            Safetensors.copy(placement, from: bytes, to: buffer.pointer)
        }
    }

    static func config(_ bytes: [UInt8]) {
        guard let config = try? JSONDecoder().decode(CheckpointConfig.self, from: Data(bytes)),
            (try? config.model.validate()) != nil
        else { return }
        _ = MemoryPlan.training(config.model, rows: config.model.contextLength).total
        _ = GenerationEngine.memoryPlan(config.model, options: GenerationEngine.Options(parallel: 256)).total
        _ = config.model.trainingFLOPsPerToken
    }

    /// A whole tokenizer.model: validated, loaded into libsentencepiece, used.
    static func tokenizer(_ bytes: [UInt8]) {
        guard let tokenizer = try? Tokenizer(modelBytes: bytes) else { return }
        exercise(tokenizer, text: String(decoding: bytes.prefix(64), as: UTF8.self))
    }

    /// The bytes as a normalizer's character map inside a real model: whatever the validator lets
    /// through must be safe for libsentencepiece to normalize any text with.
    static func charsmap(_ bytes: [UInt8]) {
        guard var proto = baseModel else { return }
        proto.normalizerSpec.precompiledCharsmap = bytes
        guard let tokenizer = try? Tokenizer(modelBytes: proto.serialized) else { return }
        exercise(tokenizer, text: String(decoding: bytes.suffix(48), as: UTF8.self))
    }

    static func exercise(_ tokenizer: Tokenizer, text: String) {
        for sample in [text, "Hello, world! ﬁ Ｆ ①", "\u{0}\u{1}\u{7F}\u{80}", String(repeating: "ab ", count: 40)] {
            let ids = tokenizer.encode(sample)
            _ = tokenizer.decode(ids)
        }
    }

    /// The seed corpus's tokenizer, to carry fuzzed character maps.
    static let baseModel: SentencePieceModelProto? = {
        guard let dir = ProcessInfo.processInfo.environment["SWIFTLET_FUZZ_SEEDS"],
            let bytes = try? FileIO.readBytes(dir + "/tokenizer/tokenizer.model")
        else { return nil }
        return try? SentencePieceModelProto(bytes: bytes)
    }()

    /// trainer.json: decoded, checked, and resumed against a small fixed corpus.
    static func trainer(_ bytes: [UInt8]) {
        guard let state = try? JSONDecoder().decode(TrainerState.self, from: Data(bytes)),
            (try? state.validate()) != nil, (try? state.options.validate()) != nil, let position = state.data
        else { return }
        var documents = DocumentTokens(tokens: [], documentStarts: [0])
        for length in [5, 40, 130, 2, 77] { documents.append((0..<length).map { Int32($0 % 50) }) }
        let corpora = (position.cursors.count == 2 ? [0, 1] : [0]).map {
            WeightedCorpus(name: "c\($0)", documents: documents)
        }
        guard let packer = try? BatchPacker(corpora: corpora, context: 32, seed: state.options.seed, position: position)
        else { return }
        for _ in 0..<3 { _ = packer.nextBatch(rows: 48) }
    }

    static func classifier(_ bytes: [UInt8]) {
        guard let config = try? JSONDecoder().decode(ClassifierConfig.self, from: Data(bytes)),
            (try? config.validate()) != nil
        else { return }
        let head = ClassifierHead(config: config, dim: 4)
        _ = Dictionary(uniqueKeysWithValues: config.labels.enumerated().map { ($1, $0) })
        _ = head.views.map(\.count)
    }

    static func adapter(_ bytes: [UInt8]) {
        guard let config = try? JSONDecoder().decode(LoRAConfig.self, from: Data(bytes)),
            (try? config.validate()) != nil
        else { return }
        let model = ModelPreset.tiny.config(vocabSize: 64)
        let adapters = LoRAAdapters(config: config, model: model)
        precondition(
            adapters.parameters.count == config.parameterCount(model), "adapter.json's parameter count is the arena's")
    }

    static func labeled(_ bytes: [UInt8], ext: String) {
        guard let text = try? FileIO.utf8Text(bytes, path: "fuzz") else { return }
        let path = "fuzz." + ext
        // A header line naming a column in two spellings half the time, to reach the ambiguity checks.
        for (textName, labelName) in [("text", "label"), ("Text", "LABEL")] {
            switch ext {
            case "jsonl":
                _ = try? LabeledDataReader.jsonLines(text, path: path, textName: textName, labelName: labelName)
            case "csv":
                if let records = try? LabeledDataReader.csvRecords(text, path: path) {
                    _ = try? LabeledDataReader.table(records, path: path, textName: textName, labelName: labelName)
                }
            default:
                _ = try? LabeledDataReader.table(
                    LabeledDataReader.tsvRecords(text), path: path, textName: textName, labelName: labelName)
            }
        }
    }

    static func prompts(_ bytes: [UInt8]) {
        guard let text = try? FileIO.utf8Text(bytes, path: "fuzz") else { return }
        _ = try? PromptsFile.parse(text, name: "fuzz.txt", maxTokens: 16, sampling: SamplingSettings(), stop: [])
    }

    static func transcript(_ bytes: [UInt8]) {
        _ = try? ChatTranscript.decode(bytes, path: "fuzz.json")
    }

    /// The token cache twice: as raw bytes (caught by the checksum), and with a valid envelope
    /// (magic, key, checksum) around the fuzzed body, so the layout checks behind it are reached.
    static func tokenCache(_ bytes: [UInt8]) {
        _ = TokenCache.decode(bytes, key: 7, vocabSize: 512)
        var wrapped = TokenCache.magic
        withUnsafeBytes(of: UInt64(7).littleEndian) { wrapped += $0 }
        wrapped += bytes
        withUnsafeBytes(of: Fingerprint.fnv1a(wrapped).littleEndian) { wrapped += $0 }
        _ = TokenCache.decode(wrapped, key: 7, vocabSize: 512)
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> Int32 {
    let name = ProcessInfo.processInfo.environment["SWIFTLET_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.all[name] else {
        fputs("set SWIFTLET_FUZZ_TARGET to one of: \(FuzzTargets.all.keys.sorted().joined(separator: ", "))\n", stderr)
        exit(2)
    }
    FuzzTargets.selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : [UInt8](UnsafeBufferPointer(start: data, count: size))
    FuzzTargets.selected(bytes)
    return 0
}
