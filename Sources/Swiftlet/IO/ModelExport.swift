/// `swiftlet export`: a checkpoint (any format Swiftlet loads) as a Hugging Face model
/// directory or a GGUF file. Only what describes the model is written — no optimizer state,
/// metrics or classifier — and adapters are merged into the weights.
public enum ModelExport {
    public static func huggingFace(_ checkpoint: Checkpoint, to directory: String) throws {
        try refuseExisting(directory)
        try CheckpointStore.write(
            CheckpointContents(config: checkpoint.config, model: checkpoint.model, tokenizer: checkpoint.tokenizer),
            to: directory)
    }

    public static func gguf(_ checkpoint: Checkpoint, type: GGMLType, to path: String) throws {
        try refuseExisting(path)
        let name =
            checkpoint.config.training["name"] ?? checkpoint.directory.split(separator: "/").last.map(String.init)
            ?? "swiftlet"
        try FileIO.writeAtomically(try GGUFModel.serialize(checkpoint, type: type, name: name), to: path)
    }

    /// An export never replaces anything: the user's files stay as they are.
    static func refuseExisting(_ path: String) throws {
        guard !FileIO.exists(path) else {
            throw SwiftletError(
                "\(path) already exists; export writes a new \(FileIO.isDirectory(path) ? "directory" : "file") (choose another name or move it away)."
            )
        }
    }
}
