#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// File helpers with user-facing errors. Every write goes to a temporary name in the same
/// directory and is renamed into place, so a crash never leaves a half-written file.
public enum FileIO {
    public static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public static func readBytes(_ path: String) throws -> [UInt8] {
        guard exists(path) else { throw SwiftletError("\(path) does not exist.") }
        guard !isDirectory(path) else { throw SwiftletError("\(path) is a directory, not a file.") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SwiftletError("\(path) could not be read.")
        }
        return [UInt8](data)
    }

    /// Reads a text file, rejecting anything that is not valid UTF-8 (a binary file, say).
    public static func readUTF8(_ path: String) throws -> String {
        let bytes = try readBytes(path)
        // NUL bytes are valid UTF-8 but never appear in text (UTF-16 files are full of them).
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
            throw SwiftletError("\(path) is not UTF-8 text (is it a binary file?).")
        }
        return text
    }

    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let ok = FileManager.default.createFile(atPath: temporary, contents: Data(bytes))
        guard ok else { throw SwiftletError("could not write \(path).") }
        try rename(temporary, to: path)
    }

    public static func writeAtomically(_ text: String, to path: String) throws {
        try writeAtomically(Array(text.utf8), to: path)
    }

    /// Writes and fsyncs a file (no rename: the caller's directory swap is the atomic step).
    public static func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SwiftletError("could not write \(path).") }
        defer { close(fd) }
        var written = 0
        try bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                guard n > 0 else { throw SwiftletError("could not write \(path) (is the disk full?).") }
                written += n
            }
        }
        guard fsync(fd) == 0 else { throw SwiftletError("could not flush \(path) to disk.") }
    }

    /// Flushes a directory's entries (so a rename inside it survives a crash).
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw SwiftletError("could not move \(from) to \(to).")
        }
    }

    public static func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw SwiftletError("could not create the directory \(path).")
        }
    }

    public static func removeItem(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Regular files under a directory (recursively), sorted, skipping hidden names.
    public static func filesUnder(_ directory: String) -> [String] {
        guard let names = try? FileManager.default.subpathsOfDirectory(atPath: directory) else { return [] }
        return names.filter { name in
            !name.split(separator: "/").contains { $0.hasPrefix(".") }
        }.map { directory.hasSuffix("/") ? directory + $0 : directory + "/" + $0 }
            .filter { !isDirectory($0) }
            .sorted()
    }

    public static func appendLine(_ line: String, to path: String) throws {
        guard let handle = fopen(path, "a") else { throw SwiftletError("could not append to \(path).") }
        defer { fclose(handle) }
        fputs(line + "\n", handle)
    }
}
