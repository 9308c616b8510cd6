#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Where a checkpoint lives on disk, and the one piece of code that replaces it.
///
/// A save writes every file into a fresh directory of our own, `.NAME.tmp-<random>` beside
/// NAME (created exclusively, so it can never be a user's folder), fsyncs the files and that
/// directory, then swaps it in: NAME → NAME.old, the new directory → NAME, the parent fsynced,
/// NAME.old removed. Each rename is atomic, and a loader falls back to NAME.old when a crash
/// struck between the two (`resolve`). Nothing is ever removed recursively: a directory goes
/// only when it holds nothing but a checkpoint's own files.
extension Checkpoint {
    /// The path without trailing slashes ("/" stays "/").
    static func normalized(_ directory: String) -> String {
        var dir = Substring(directory)
        while dir.count > 1, dir.hasSuffix("/") { dir.removeLast() }
        return String(dir)
    }

    /// A directory holding a whole checkpoint (what `save` writes before any rename).
    public static func isComplete(_ dir: String) -> Bool {
        FileIO.exists(dir + "/" + CheckpointFiles.config)
            && (FileIO.exists(dir + "/" + CheckpointFiles.model) || FileIO.exists(dir + "/" + HuggingFaceWeights.index))
            && FileIO.exists(dir + "/" + CheckpointFiles.tokenizer)
    }

    /// The directory to read: NAME, or NAME.old when a save was interrupted between its renames.
    static func resolve(_ directory: String) throws -> String {
        let dir = normalized(directory)
        if isComplete(dir) || (FileIO.isDirectory(dir) && !isComplete(dir + ".old")) { return dir }
        if isComplete(dir + ".old") { return dir + ".old" }
        if FileIO.exists(dir) {
            throw SwiftletError(
                "\(directory) is a file, not a checkpoint: a checkpoint is a directory (Swiftlet's or a Hugging Face model's) or a .gguf file."
            )
        }
        throw SwiftletError("the checkpoint directory \(directory) does not exist.")
    }

    /// The whole checkpoint at NAME or at its fallback NAME.old, if there is one.
    public static func existing(_ directory: String) -> String? {
        let dir = normalized(directory)
        return [dir, dir + ".old"].first(where: isComplete)
    }

    /// Whether `directory` may be written as a checkpoint: new, empty, or a Swiftlet checkpoint
    /// (possibly mid-swap). Anything else — a user's folder of other files — is never replaced.
    public static func mayWrite(_ directory: String) -> Bool {
        let dir = normalized(directory)
        let name = FileIO.split(dir).name
        guard !name.isEmpty, name != ".", name != "..", dir != "/" else { return false }
        for candidate in [dir, dir + ".old"] where FileIO.exists(candidate) {
            guard FileIO.isDirectory(candidate) else { return false }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: candidate)) ?? []
            if !names.allSatisfy(CheckpointFiles.all.contains) { return false }
        }
        return true
    }

    /// The check every command that starts a new checkpoint makes first (train, finetune,
    /// classify train): nothing of the user's and no earlier checkpoint — at NAME or at its
    /// fallback NAME.old — is in the way.
    public static func checkNewDestination(_ directory: String, resumable: Bool) throws {
        let name = FileIO.split(normalized(directory)).name
        guard !name.isEmpty, name != ".", name != "..", normalized(directory) != "/" else {
            throw SwiftletError(
                "--out \(directory) names no directory of its own; give a new folder's name, like runs/mine.")
        }
        if let existing = existing(directory) {
            let where_ = existing == normalized(directory) ? "" : " (at \(existing), left by an interrupted save)"
            throw SwiftletError(
                "\(directory) already holds a checkpoint\(where_); "
                    + (resumable ? "add --resume to continue it, or choose another --out." : "choose a new --out."))
        }
        guard mayWrite(directory) else {
            throw SwiftletError(
                "\(directory) holds files that are not a Swiftlet checkpoint; choose a new or empty --out.")
        }
    }

    /// Writes a whole checkpoint directory atomically (see the type's comment). `supersedes`
    /// names the checkpoint this run continued from: when that was NAME.old (a resumed run
    /// whose last save was interrupted), it is removed once the new NAME is in place.
    public static func save(_ directory: String, files: [String: [UInt8]], supersedes: String? = nil) throws {
        try save(directory, files: files.mapValues(FileBytes.init), supersedes: supersedes)
    }

    /// The same, each file's pieces streamed to disk from where they lie.
    public static func save(_ directory: String, files: [String: FileBytes], supersedes: String? = nil) throws {
        let dir = normalized(directory)
        guard mayWrite(dir) else {
            throw SwiftletError("\(dir) holds files that are not a Swiftlet checkpoint; it was left alone.")
        }
        let parent = FileIO.split(dir).directory
        removeAbandonedTemporaries(of: dir)
        let temporary = try FileIO.createTemporaryDirectory(beside: dir)
        var written: [String] = []
        do {
            for (name, contents) in files.sorted(by: { $0.key < $1.key }) {
                try FileIO.writeDurably(contents, to: temporary + "/" + name)
                written.append(name)
            }
            FileIO.syncDirectory(temporary)
            try publish(temporary, as: dir, parent: parent, supersedes: supersedes.map(normalized))
        } catch {
            FileIO.removeOwnDirectory(temporary, files: written)
            throw error
        }
    }

    /// The swap: NAME → NAME.old, temporary → NAME, NAME.old removed.
    private static func publish(_ temporary: String, as dir: String, parent: String, supersedes: String?) throws {
        let old = dir + ".old"
        var movedAside = false
        if isComplete(dir) {
            // The current checkpoint becomes the fallback; an older fallback (a whole checkpoint
            // that NAME already superseded) goes first.
            guard FileIO.removeCheckpointDirectory(old, allowed: CheckpointFiles.all) else {
                throw SwiftletError("could not remove the old fallback \(old).")
            }
            try FileIO.rename(dir, to: old)
            FileIO.syncDirectory(parent)
            movedAside = true
        } else if FileIO.exists(dir) {
            // An empty directory is replaced by the rename itself; part of a checkpoint is not ours.
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? ["?"]
            guard FileIO.isDirectory(dir), names.isEmpty else {
                throw SwiftletError("\(dir) holds part of a checkpoint that this run did not write; it was left alone.")
            }
        }
        try FileIO.rename(temporary, to: dir)
        FileIO.syncDirectory(parent)
        // Only a fallback this save made, or the one the run was resumed from, is ours to remove.
        if movedAside || supersedes == old {
            FileIO.removeCheckpointDirectory(old, allowed: CheckpointFiles.all)
            FileIO.syncDirectory(parent)
        }
    }

    /// `.NAME.tmp-<16 hex digits>` directories a killed save of ours left behind (their names
    /// are ours, and they hold only a checkpoint's files); anything else is left alone.
    private static func removeAbandonedTemporaries(of dir: String) {
        let (parent, name) = FileIO.split(dir)
        let prefix = "." + name + ".tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for entry in names where entry.hasPrefix(prefix) {
            let tag = entry.dropFirst(prefix.count)
            guard tag.count == 16, tag.allSatisfy(\.isHexDigit) else { continue }
            FileIO.removeCheckpointDirectory(parent + "/" + entry, allowed: CheckpointFiles.all)
        }
    }
}
