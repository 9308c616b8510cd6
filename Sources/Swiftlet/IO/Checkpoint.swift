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
    /// Everything a checkpoint directory may hold: a folder with anything else is not one.
    static let all: Set = [config, model, tokenizer, trainer, optimizer, metrics, lossCurve, adapter, adapterConfig, classifier, classifierConfig]
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

    public init(model: ModelConfig, tokenizer: TokenizerFacts, training: [String: String] = [:], chat: ChatTemplate? = nil) {
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

    /// Loads and cross-checks config, weights and tokenizer; every problem is one sentence.
    public static func load(_ directory: String) throws -> Checkpoint {
        let dir = try resolve(directory)
        for file in [CheckpointFiles.config, CheckpointFiles.model, CheckpointFiles.tokenizer] where !FileIO.exists(dir + "/" + file) {
            throw SwiftletError("the checkpoint \(directory) has no \(file).")
        }
        let config = try readConfig(dir)
        try config.model.validate()
        let tokenizer = try Tokenizer(contentsOf: dir + "/" + CheckpointFiles.tokenizer)
        let facts = TokenizerFacts(tokenizer)
        guard facts.vocabSize == config.model.vocabSize, facts == config.tokenizer else {
            throw SwiftletError("the checkpoint \(directory) has a tokenizer.model (\(facts.vocabSize) pieces) that does not match the one its model was trained with (\(config.tokenizer.vocabSize) pieces).")
        }
        // The weights file must hold exactly the config's parameters, and this machine must
        // hold them, before the model is allocated.
        let weightsPath = dir + "/" + CheckpointFiles.model
        let weights = try FileIO.readBytes(weightsPath)
        let placements = try Safetensors.header(weights, path: weightsPath)
        let stored = placements.values.reduce(0) { $0 + $1.count }
        guard stored == config.model.parameterCount else {
            throw SwiftletError("\(weightsPath) holds \(Format.grouped(stored)) parameters, but \(CheckpointFiles.config) describes a model of \(Format.grouped(config.model.parameterCount)).")
        }
        try MemoryPlan.weights(config.model).check("loading \(directory)")
        let model = Transformer(config: config.model)
        try fill(model.parameters, views: model.layout.views, from: weights, placements: placements, path: weightsPath)
        let adapter = try loadAdapter(dir, model: model)
        adapter?.merge(into: model)
        return Checkpoint(directory: dir, config: config, model: model, tokenizer: tokenizer, adapter: adapter?.config,
                          classifier: try loadClassifier(dir, dim: config.model.dim))
    }

    static func loadClassifier(_ dir: String, dim: Int) throws -> ClassifierHead? {
        let configPath = dir + "/" + CheckpointFiles.classifierConfig, weightsPath = dir + "/" + CheckpointFiles.classifier
        guard FileIO.exists(configPath) else { return nil }
        let config: ClassifierConfig
        do {
            config = try JSONDecoder().decode(ClassifierConfig.self, from: Data(try FileIO.readBytes(configPath)))
        } catch {
            throw SwiftletError("\(configPath) is not a valid classifier description.")
        }
        do { try config.validate() } catch let error as SwiftletError { throw SwiftletError("\(configPath): \(error.message)") }
        let bytes = try FileIO.readBytes(weightsPath)
        let placements = try Safetensors.header(bytes, path: weightsPath)
        let classes = config.labels.count
        guard placements.values.reduce(0, { $0 + $1.count }) == classes * dim + classes else {
            throw SwiftletError("\(weightsPath) does not hold a head for the \(classes) labels of \(CheckpointFiles.classifierConfig) on \(dim) features.")
        }
        let head = ClassifierHead(config: config, dim: dim)
        try fill(head.parameters, views: head.views, from: bytes, placements: placements, path: weightsPath)
        return head
    }

    /// The adapters saved beside the base weights, if any.
    static func loadAdapter(_ dir: String, model: Transformer) throws -> LoRAAdapters? {
        let configPath = dir + "/" + CheckpointFiles.adapterConfig, weightsPath = dir + "/" + CheckpointFiles.adapter
        guard FileIO.exists(configPath) || FileIO.exists(weightsPath) else { return nil }
        guard FileIO.exists(configPath), FileIO.exists(weightsPath) else {
            throw SwiftletError("the checkpoint \(dir) has only one of \(CheckpointFiles.adapter) and \(CheckpointFiles.adapterConfig).")
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
            throw SwiftletError("\(weightsPath) does not hold the rank-\(config.rank) adapters that \(CheckpointFiles.adapterConfig) describes.")
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
    static func fill(_ buffer: FloatBuffer, views: [TensorView], from bytes: [UInt8], placements: [String: Safetensors.Placement],
                     path: String) throws {
        for view in views {
            guard let placement = placements[view.name] else { throw SwiftletError("\(path) has no tensor \(view.name).") }
            guard placement.shape == view.shape else {
                throw SwiftletError("\(path): tensor \(view.name) has shape \(placement.shape) but the config says \(view.shape).")
            }
            guard view.offset >= 0, view.offset + view.count <= buffer.count else {
                throw SwiftletError("\(path): tensor \(view.name) does not fit the model's parameters.")
            }
            let destination = buffer.pointer + view.offset
            Safetensors.copy(placement, from: bytes, to: destination)
            if let bad = (0..<view.count).first(where: { !destination[$0].isFinite }) {
                throw SwiftletError("\(path): tensor \(view.name) holds a value that is not a finite number (\(destination[bad]) at index \(bad)).")
            }
        }
    }

    public static func weightBytes(_ model: Transformer) -> [UInt8] {
        tensorBytes(model.layout.views, model.parameters)
    }

    public static func tensorBytes(_ views: [TensorView], _ buffer: FloatBuffer) -> [UInt8] {
        let tensors = views.map {
            Safetensors.Tensor(name: $0.name, shape: $0.shape,
                               values: UnsafeBufferPointer(start: buffer.pointer + $0.offset, count: $0.count))
        }
        return Safetensors.serialize(tensors, metadata: ["format": "pt"])
    }

    public static func configBytes(_ config: CheckpointConfig) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(config)) + [10]
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
