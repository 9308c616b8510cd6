#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public enum CheckpointFiles {
    public static let config = "config.json"
    public static let model = "model.safetensors"
    public static let tokenizer = "tokenizer.model"
    public static let trainer = "trainer.json"
    public static let optimizer = "optimizer.safetensors"
    public static let metrics = "metrics.jsonl"
    public static let lossCurve = "loss.svg"
    /// LoRA adapters kept apart from the base weights, and their shape.
    public static let adapter = "adapter.safetensors"
    public static let adapterConfig = "adapter.json"
    /// A classification head and its labels.
    public static let classifier = "classifier.safetensors"
    public static let classifierConfig = "classifier.json"
    /// Hugging Face's tokenizer and generation files, and PEFT's adapter files.
    public static let tokenizerConfig = HuggingFaceDirectory.tokenizerConfig
    public static let specialTokensMap = HuggingFaceDirectory.specialTokensMap
    public static let generationConfig = HuggingFaceDirectory.generationConfig
    public static let peftConfig = PEFTAdapter.config
    public static let peftWeights = PEFTAdapter.weights
    /// Everything a checkpoint directory may hold: a folder with anything else is not one.
    static let all: Set = [
        config, model, tokenizer, trainer, optimizer, metrics, lossCurve, adapter, adapterConfig, classifier,
        classifierConfig,
        tokenizerConfig, specialTokensMap, generationConfig, peftConfig, peftWeights,
    ]
}

/// What a checkpoint says about its tokenizer, so a mismatched `tokenizer.model` is caught.
public struct TokenizerFacts: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var bosID: Int32
    public var eosID: Int32
    /// FNV-1a of the serialized model.
    public var fingerprint: String

    public init(_ tokenizer: Tokenizer) {
        vocabSize = tokenizer.vocabSize
        bosID = tokenizer.bosID
        eosID = tokenizer.eosID
        fingerprint = Fingerprint.hex(tokenizer.modelBytes)
    }
}

/// config.json of a checkpoint directory.
public struct CheckpointConfig: Codable, Sendable {
    public var format = "swiftlet-checkpoint-1"
    public var model: ModelConfig
    public var tokenizer: TokenizerFacts
    /// A short summary of how the weights were made (preset, steps, tokens, validation).
    public var training: [String: String]
    /// Set once the model is tuned for chat: the template its dialogues were rendered with.
    public var chat: ChatTemplate?
    /// The Swiftlet that wrote the checkpoint, as `SwiftletVersion.description` says (set by
    /// `CheckpointStore.write`; nil for directories that other tools or older Swiftlets wrote).
    public var writtenBy: String?

    public init(
        model: ModelConfig, tokenizer: TokenizerFacts, training: [String: String] = [:], chat: ChatTemplate? = nil
    ) {
        self.model = model
        self.tokenizer = tokenizer
        self.training = training
        self.chat = chat
    }
}

/// A loaded checkpoint: the model with its weights and the tokenizer it was trained with.
public struct Checkpoint {
    public let directory: String
    public let config: CheckpointConfig
    public let model: Transformer
    public let tokenizer: Tokenizer
    /// Set when the directory keeps LoRA adapters apart; `model` has them merged in.
    public var adapter: LoRAConfig? = nil
    /// The classification head, when the checkpoint has one.
    public var classifier: ClassifierHead? = nil

    /// What the loaded files were (Swiftlet, Hugging Face or GGUF) and what was converted on
    /// the way in (dtypes widened, shards joined, tokenizer rebuilt…), for `info`.
    public var source: CheckpointSource = .swiftlet(version: 2)
    public var conversions: [String] = []
    /// A GGUF's quantized matrices, for decoding as stored (`--weights stored`).
    public var storedWeights: StoredWeights? = nil

    /// The checkpoint as a trainer needs it: training reads the fp32 copy only, so a GGUF's
    /// quantized matrices are let go, and with them the file's mapping, whose pages would
    /// otherwise stay resident for the whole run (253 MB for Gemma 3 270M's Q4_K_M file).
    public func forTraining() -> Checkpoint {
        var copy = self
        copy.storedWeights = nil
        return copy
    }

    /// Loads and cross-checks config, weights and tokenizer; every problem is one sentence.
    /// `path` is a checkpoint directory (Swiftlet's, or any Hugging Face Llama directory with a
    /// tokenizer.model) or a llama-architecture .gguf file.
    public static func load(_ path: String) throws -> Checkpoint {
        if GGUFFile.looksLikeGGUF(path) { return try GGUFModel.load(path) }
        let dir = try resolve(path)
        guard FileIO.exists(dir + "/" + CheckpointFiles.config) else {
            throw SwiftletError("the checkpoint \(path) has no \(CheckpointFiles.config).")
        }
        guard FileIO.exists(dir + "/" + CheckpointFiles.tokenizer) else {
            throw SwiftletError(
                "the checkpoint \(path) has no \(CheckpointFiles.tokenizer); Swiftlet needs a SentencePiece tokenizer (tokenizers with only a tokenizer.json are not supported)."
            )
        }
        let tokenizer = try Tokenizer(
            contentsOf: dir + "/" + CheckpointFiles.tokenizer, addsBOS: HuggingFaceDirectory.addsBOS(dir))
        let (config, source) = try HuggingFaceDirectory.readConfig(dir, tokenizer: tokenizer)
        try config.model.validate()
        let facts = TokenizerFacts(tokenizer)
        guard source == .huggingFace || facts == config.tokenizer else {
            throw SwiftletError(
                "the checkpoint \(path) has a tokenizer.model (\(facts.vocabSize) pieces) that does not match the one its model was trained with (\(config.tokenizer.vocabSize) pieces)."
            )
        }
        // A pretrained model's embedding may have more rows than its tokenizer has pieces.
        guard facts.vocabSize <= config.model.vocabSize else {
            throw SwiftletError(
                "the checkpoint \(path) has a tokenizer.model of \(facts.vocabSize) pieces, more than the model's \(config.model.vocabSize) embeddings."
            )
        }
        // Every tensor's name, shape and byte range are checked, and this machine must hold
        // the weights, before the model is allocated.
        let weights = try HuggingFaceWeights(directory: dir)
        try HuggingFaceDirectory.check(
            weights, against: ParameterLayout(config: config.model).views, config: config.model, dir: dir)
        try MemoryPlan.weights(config.model).check("loading \(path)")
        let model = Transformer(config: config.model)
        let conversions = try HuggingFaceDirectory.loadWeights(weights, into: model, dir: dir)
        let adapter = try loadAdapter(dir, model: model)
        adapter?.merge(into: model)
        var checkpoint = Checkpoint(
            directory: dir, config: config, model: model, tokenizer: tokenizer, adapter: adapter?.config,
            classifier: try loadClassifier(dir, dim: config.model.dim))
        checkpoint.source = source
        checkpoint.conversions = conversions
        return checkpoint
    }

    static func loadClassifier(_ dir: String, dim: Int) throws -> ClassifierHead? {
        let configPath = dir + "/" + CheckpointFiles.classifierConfig,
            weightsPath = dir + "/" + CheckpointFiles.classifier
        guard FileIO.exists(configPath) else { return nil }
        let config: ClassifierConfig
        do {
            config = try JSONDecoder().decode(ClassifierConfig.self, from: Data(try FileIO.readBytes(configPath)))
        } catch {
            throw SwiftletError("\(configPath) is not a valid classifier description.")
        }
        do { try config.validate() } catch let error as SwiftletError {
            throw SwiftletError("\(configPath): \(error.message)")
        }
        let bytes = try FileIO.readBytes(weightsPath)
        let placements = try Safetensors.header(bytes, path: weightsPath)
        let classes = config.labels.count
        guard placements.values.reduce(0, { $0 + $1.count }) == classes * dim + classes else {
            throw SwiftletError(
                "\(weightsPath) does not hold a head for the \(classes) labels of \(CheckpointFiles.classifierConfig) on \(dim) features."
            )
        }
        let head = ClassifierHead(config: config, dim: dim)
        try fill(head.parameters, views: head.views, from: bytes, placements: placements, path: weightsPath)
        return head
    }

    /// The adapters saved beside the base weights, if any: PEFT's files, or the
    /// adapter.json/adapter.safetensors of checkpoints from before them.
    static func loadAdapter(_ dir: String, model: Transformer) throws -> LoRAAdapters? {
        if let peft = try PEFTAdapter.load(dir, model: model.config) { return peft }
        let configPath = dir + "/" + CheckpointFiles.adapterConfig, weightsPath = dir + "/" + CheckpointFiles.adapter
        guard FileIO.exists(configPath) || FileIO.exists(weightsPath) else { return nil }
        guard FileIO.exists(configPath), FileIO.exists(weightsPath) else {
            throw SwiftletError(
                "the checkpoint \(dir) has only one of \(CheckpointFiles.adapter) and \(CheckpointFiles.adapterConfig)."
            )
        }
        let config: LoRAConfig
        do {
            config = try JSONDecoder().decode(LoRAConfig.self, from: Data(try FileIO.readBytes(configPath)))
            try config.validate()
        } catch {
            throw SwiftletError("\(configPath) is not a valid adapter description.")
        }
        let bytes = try FileIO.readBytes(weightsPath)
        let placements = try Safetensors.header(bytes, path: weightsPath)
        guard placements.values.reduce(0, { $0 + $1.count }) == config.parameterCount(model.config) else {
            throw SwiftletError(
                "\(weightsPath) does not hold the rank-\(config.rank) adapters that \(CheckpointFiles.adapterConfig) describes."
            )
        }
        let adapters = LoRAAdapters(config: config, model: model.config)
        try fill(adapters.parameters, views: adapters.views, from: bytes, placements: placements, path: weightsPath)
        return adapters
    }

    static func readConfig(_ dir: String) throws -> CheckpointConfig {
        let path = dir + "/" + CheckpointFiles.config
        do {
            return try JSONDecoder().decode(CheckpointConfig.self, from: Data(try FileIO.readBytes(path)))
        } catch let error as SwiftletError {
            throw error
        } catch {
            throw SwiftletError("\(path) is not a valid Swiftlet config.")
        }
    }

    public static func loadWeights(_ path: String, into model: Transformer) throws {
        try loadTensors(path, views: model.layout.views, into: model.parameters)
    }

    /// Fills `buffer` from the safetensors file, tensor by tensor, checking names and shapes.
    static func loadTensors(_ path: String, views: [TensorView], into buffer: FloatBuffer) throws {
        let bytes = try FileIO.readBytes(path)
        try fill(buffer, views: views, from: bytes, placements: Safetensors.header(bytes, path: path), path: path)
    }

    /// Copies each view's tensor from the file's bytes, checking name, shape and that every
    /// value is a finite number (a NaN or infinite weight would poison every result silently).
    static func fill(
        _ buffer: FloatBuffer, views: [TensorView], from bytes: [UInt8], placements: [String: Safetensors.Placement],
        path: String
    ) throws {
        for view in views {
            guard let placement = placements[view.name] else {
                throw SwiftletError("\(path) has no tensor \(view.name).")
            }
            guard placement.shape == view.shape else {
                throw SwiftletError(
                    "\(path): tensor \(view.name) has shape \(placement.shape) but the config says \(view.shape).")
            }
            guard view.offset >= 0, view.offset + view.count <= buffer.count else {
                throw SwiftletError("\(path): tensor \(view.name) does not fit the model's parameters.")
            }
            let destination = buffer.pointer + view.offset
            Safetensors.copy(placement, from: bytes, to: destination)
            if let bad = (0..<view.count).first(where: { !destination[$0].isFinite }) {
                throw SwiftletError(
                    "\(path): tensor \(view.name) holds a value that is not a finite number (\(destination[bad]) at index \(bad))."
                )
            }
        }
    }

    /// model.safetensors in Hugging Face's layout. A Gemma 3 directory stores each norm's w where
    /// the scale is 1 + w (`Gemma3RMSNorm`), and Swiftlet holds the gain 1 + w, as llama.cpp's
    /// files do: the gains are written as gain − 1 (exact for gains in [0.5, 2²⁴], so they read
    /// back bit for bit).
    public static func weightFile(_ model: Transformer) -> FileBytes {
        guard model.config.gemma != nil else { return tensorFile(model.layout.views, model.parameters) }
        let norms = model.layout.views.filter(HuggingFaceDirectory.isGemmaNormGain)
        let stored = FloatBuffer(count: norms.reduce(0) { $0 + $1.count })
        var start: [String: Int] = [:], next = 0
        for view in norms {
            start[view.name] = next
            for i in 0..<view.count { stored[next + i] = model.parameters[view.offset + i] - 1 }
            next += view.count
        }
        let tensors = model.layout.views.map { view in
            let values = start[view.name].map { stored.pointer + $0 } ?? model.parameters.pointer + view.offset
            return Safetensors.Tensor(
                name: view.name, shape: view.shape, values: UnsafeBufferPointer(start: values, count: view.count))
        }
        var file = Safetensors.file(tensors, metadata: ["format": "pt"], owner: model.parameters)
        // The gains written as gain − 1 live in `stored`, which only the file's contents hold.
        file.keepAlive(stored)
        return file
    }

    /// model.safetensors' bytes in one array (`weightFile`, joined).
    public static func weightBytes(_ model: Transformer) -> [UInt8] { weightFile(model).joined }

    /// A safetensors file of `views` into `buffer`, streamed from the buffer (which it keeps alive).
    public static func tensorFile(_ views: [TensorView], _ buffer: FloatBuffer) -> FileBytes {
        let tensors = views.map {
            Safetensors.Tensor(
                name: $0.name, shape: $0.shape,
                values: UnsafeBufferPointer(start: buffer.pointer + $0.offset, count: $0.count))
        }
        return Safetensors.file(tensors, metadata: ["format": "pt"], owner: buffer)
    }

    /// config.json: Hugging Face's LlamaConfig keys with Swiftlet's facts under "swiftlet".
    public static func configBytes(_ config: CheckpointConfig) throws -> [UInt8] {
        Array(try HuggingFaceDirectory.configJSON(config).prettyText.utf8)
    }

    /// Every file that describes the model: config.json, model.safetensors, tokenizer.model,
    /// and the tokenizer and generation files transformers reads.
    public static func modelFiles(
        _ config: CheckpointConfig, model: Transformer, tokenizer: Tokenizer
    ) throws -> [String: FileBytes] {
        try HuggingFaceDirectory.files(config, model: model, tokenizer: tokenizer)
    }

}

public enum Fingerprint {
    public static func fnv1a(_ bytes: [UInt8], seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
        var hash = seed
        for b in bytes {
            hash ^= UInt64(b)
            hash = hash &* 0x100_0000_01B3
        }
        return hash
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let h = String(fnv1a(bytes), radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }
}
