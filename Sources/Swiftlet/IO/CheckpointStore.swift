#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The resumable part of a training run, saved beside the weights so that `--resume`
/// continues it exactly: trainer.json (options, counts, data cursor), optimizer.safetensors
/// (the AdamW moments), metrics.jsonl and the loss-curve picture drawn from it.
public struct TrainingSnapshot {
    public var state: TrainerState
    public var optimizer: Optimizer
    public var records: [MetricRecord]
    /// The loss curve's title.
    public var title: String

    public init(state: TrainerState, optimizer: Optimizer, records: [MetricRecord], title: String) {
        self.state = state
        self.optimizer = optimizer
        self.records = records
        self.title = title
    }
}

/// Everything one save puts in a checkpoint directory.
public struct CheckpointContents {
    public var config: CheckpointConfig
    /// The weights written as model.safetensors (the base weights when adapters are kept apart).
    public var model: Transformer
    public var tokenizer: Tokenizer
    /// LoRA adapters: written beside the base weights as PEFT's files, or merged into them.
    public var adapters: LoRAAdapters?
    public var mergeAdapters = false
    /// A classification head and its labels.
    public var classifier: ClassifierHead?
    public var training: TrainingSnapshot?
    /// A run's metrics.jsonl and loss curve without resumable state (a classifier's training).
    public var metrics: (records: [MetricRecord], title: String)?

    public init(
        config: CheckpointConfig, model: Transformer, tokenizer: Tokenizer, adapters: LoRAAdapters? = nil,
        mergeAdapters: Bool = false, classifier: ClassifierHead? = nil, training: TrainingSnapshot? = nil,
        metrics: (records: [MetricRecord], title: String)? = nil
    ) {
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.adapters = adapters
        self.mergeAdapters = mergeAdapters
        self.classifier = classifier
        self.training = training
        self.metrics = metrics
    }
}

/// The one place that knows the files of a checkpoint directory, and how each is written and
/// read back: trainers and exports hand it what they made, and it writes every file in one
/// atomic save (`Checkpoint.save`: a temporary directory of our own, renamed into place);
/// `Checkpoint.load` reads the model, the adapters and the head, and the functions here the
/// training state a resumed run needs. No trainer writes or reads a checkpoint file itself.
public enum CheckpointStore {
    /// Writes `contents` as the whole directory, replacing the checkpoint there atomically.
    /// `supersedes`: the checkpoint the run continued from (NAME.old after an interrupted save).
    /// config.json records the Swiftlet (version and commit) that wrote it.
    public static func write(_ contents: CheckpointContents, to directory: String, supersedes: String? = nil) throws {
        var contents = contents
        contents.config.writtenBy = "swiftlet " + SwiftletVersion.description
        try Checkpoint.save(directory, files: try files(contents, directory: directory), supersedes: supersedes)
    }

    /// The files of a save, by name. The weights, the moments and the head are streamed from
    /// where they lie when the files are written (`FileBytes`), not copied into arrays first.
    static func files(_ contents: CheckpointContents, directory: String) throws -> [String: FileBytes] {
        var files = try HuggingFaceDirectory.files(
            contents.config, model: contents.model, tokenizer: contents.tokenizer)
        if let adapters = contents.adapters {
            if contents.mergeAdapters {
                let merged = Transformer(config: contents.model.config)
                merged.parameters.copy(from: contents.model.parameters)
                adapters.merge(into: merged)
                files[CheckpointFiles.model] = Checkpoint.weightFile(merged)
            } else {
                // The base weights stay as they were; the adapters go beside them.
                files.merge(PEFTAdapter.files(adapters, baseModel: directory).mapValues(FileBytes.init)) { $1 }
            }
        }
        if let head = contents.classifier {
            files[CheckpointFiles.classifierConfig] = FileBytes(Array(try encoder.encode(head.config)))
            files[CheckpointFiles.classifier] = Checkpoint.tensorFile(head.views, head.parameters)
        }
        if let training = contents.training {
            let optimizer = training.optimizer
            files[CheckpointFiles.trainer] = FileBytes(Array(try encoder.encode(training.state)))
            let moments = [(momentNames.first, optimizer.firstMoment), (momentNames.second, optimizer.secondMoment)]
            var file = Safetensors.file(
                moments.map { name, buffer in
                    Safetensors.Tensor(
                        name: name, shape: [buffer.count],
                        values: UnsafeBufferPointer(start: buffer.pointer, count: buffer.count))
                })
            for (_, buffer) in moments { file.keepAlive(buffer) }
            files[CheckpointFiles.optimizer] = file
        }
        if let (records, title) = contents.training.map({ ($0.records, $0.title) }) ?? contents.metrics {
            files[CheckpointFiles.metrics] = FileBytes(Array(records.map { $0.jsonLine + "\n" }.joined().utf8))
            files[CheckpointFiles.lossCurve] = FileBytes(Array(LossCurve.svg(records, title: title).utf8))
        }
        return files
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }

    private static let momentNames = (first: "adamw.m", second: "adamw.v")

    // MARK: Reading a run back

    /// trainer.json of the checkpoint loaded from `dir` (`directory` is the name the user gave),
    /// checked: every count in range, the options valid. A directory without resumable
    /// training state (trainer.json and optimizer.safetensors) is refused in one sentence.
    public static func trainerState(in dir: String, directory: String) throws -> TrainerState {
        guard FileIO.exists(dir + "/" + CheckpointFiles.trainer), FileIO.exists(dir + "/" + CheckpointFiles.optimizer)
        else {
            throw SwiftletError(
                "\(directory) holds no training state to resume (trainer.json and optimizer.safetensors).")
        }
        let path = dir + "/" + CheckpointFiles.trainer
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: Data(try FileIO.readBytes(path)))
        } catch {
            throw SwiftletError("\(path) is not valid training state.")
        }
        guard state.options.lora == nil else {
            throw SwiftletError(
                "\(directory) is a LoRA fine-tune, which cannot be resumed; fine-tune again from it (its adapters are merged in when loaded)."
            )
        }
        guard state.data != nil else {
            throw SwiftletError("\(path) is not valid training state (or was saved by an older Swiftlet).")
        }
        do {
            try state.validate()
            try state.options.validate()
        } catch let error as SwiftletError {
            throw SwiftletError("\(path) is not valid training state: \(error.message)")
        }
        return state
    }

    /// Fills the optimizer's moments from optimizer.safetensors in `dir`, checking each
    /// tensor's size against the arena and that no second moment (a mean of squares) is negative.
    public static func readMoments(in dir: String, into optimizer: Optimizer) throws {
        let path = dir + "/" + CheckpointFiles.optimizer
        let bytes = try FileIO.readBytes(path)
        let moments = try Safetensors.header(bytes, path: path)
        for (name, buffer) in [
            (momentNames.first, optimizer.firstMoment), (momentNames.second, optimizer.secondMoment),
        ] {
            guard let placement = moments[name], placement.count == buffer.count else {
                throw SwiftletError("\(path) does not match the model (tensor \(name)).")
            }
            try Checkpoint.fill(
                buffer, views: [TensorView(name: name, offset: 0, shape: [buffer.count], isDecayed: false)],
                from: bytes, placements: moments, path: path)
        }
        let v = optimizer.secondMoment
        if (0..<v.count).contains(where: { v.pointer[$0] < 0 }) {
            throw SwiftletError(
                "\(path): tensor \(momentNames.second) holds a negative value, which no optimizer state can.")
        }
    }

    /// The metrics of `dir` up to `step` (a line written after the saved step belongs to a run
    /// that went on without saving); unreadable lines are skipped, a missing file is none.
    public static func metrics(in dir: String, through step: Int) -> [MetricRecord] {
        guard let text = try? FileIO.readUTF8(dir + "/" + CheckpointFiles.metrics) else { return [] }
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { try? decoder.decode(MetricRecord.self, from: Data($0.utf8)) }
            .filter { $0.step <= step }
    }

    /// A live metric line, appended to the saved checkpoint's metrics.jsonl once there is one
    /// (the next save rewrites the file whole, so a lost line costs nothing).
    public static func appendMetric(_ record: MetricRecord, to directory: String) {
        guard Checkpoint.isComplete(directory) else { return }
        try? FileIO.appendLine(record.jsonLine, to: directory + "/" + CheckpointFiles.metrics)
    }
}
