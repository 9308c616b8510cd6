#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// File helpers with user-facing errors. Every write goes to a temporary name of our own
/// beside the target (created exclusively, so it can never be a user's file), is flushed to
/// disk, and is renamed into place; a crash never leaves a half-written file, and a failure
/// removes only what this process created.
public enum FileIO {
    public static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Reads a whole file. Pipes, `/dev/stdin` and `<(…)` work too (read to their end); a
    /// regular file larger than `limit` is refused before anything is allocated.
    public static func readBytes(_ path: String, limit: Int = 1 << 36) throws -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else { throw SwiftletError("\(path) does not exist.") }
        guard (info.st_mode & S_IFMT) != S_IFDIR else { throw SwiftletError("\(path) is a directory, not a file.") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SwiftletError("\(path) could not be read (\(String(cString: strerror(errno)))).") }
        defer { close(fd) }
        let regular = (info.st_mode & S_IFMT) == S_IFREG
        if regular, Int(info.st_size) > limit {
            throw SwiftletError(
                "\(path) is \(Format.bytes(Int(info.st_size))), more than the \(Format.bytes(limit)) this file may hold."
            )
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(regular ? Int(info.st_size) : 1 << 16)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else {
                throw SwiftletError("\(path) could not be read (\(String(cString: strerror(errno)))).")
            }
            if n == 0 { break }
            guard bytes.count + n <= limit else {
                throw SwiftletError("\(path) holds more than the \(Format.bytes(limit)) this input may hold.")
            }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    /// Reads a text file, rejecting anything that is not valid UTF-8 (a binary file, say).
    public static func readUTF8(_ path: String, limit: Int = 1 << 34) throws -> String {
        let bytes = try readBytes(path, limit: limit)
        return try utf8Text(bytes, path: path)
    }

    public static func utf8Text(_ bytes: [UInt8], path: String) throws -> String {
        // NUL bytes are valid UTF-8 but never appear in text (UTF-16 files are full of them).
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
            throw SwiftletError("\(path) is not UTF-8 text (is it a binary file?).")
        }
        return text
    }

    // MARK: - Temporary names

    /// `dir/.NAME.tmp-<16 random hex digits>`: hidden, beside the target (so the rename stays on
    /// one file system), and random so that it names nothing of a user's.
    static func temporaryName(beside path: String) -> String {
        let (directory, name) = split(path)
        var random = SystemRandomNumberGenerator()
        let tag = String(random.next() as UInt64, radix: 16)
        return directory + "/." + name + ".tmp-" + String(repeating: "0", count: 16 - tag.count) + tag
    }

    /// The directory and last component of a path ("a/b/" → ("a", "b"); "b" → (".", "b")).
    static func split(_ path: String) -> (directory: String, name: String) {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return (".", String(trimmed)) }
        let directory = trimmed[..<slash]
        return (directory.isEmpty ? "/" : String(directory), String(trimmed[trimmed.index(after: slash)...]))
    }

    /// A new empty file of our own beside `path`, open for writing (O_EXCL: never an existing file).
    static func createTemporaryFile(beside path: String) throws -> (path: String, fd: Int32) {
        for _ in 0..<16 {
            let candidate = temporaryName(beside: path)
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 { return (candidate, fd) }
            guard errno == EEXIST else {
                throw SwiftletError("could not write \(path) (\(String(cString: strerror(errno)))).")
            }
        }
        throw SwiftletError("could not find a free temporary name beside \(path).")
    }

    /// A new empty directory of our own beside `path` (mkdir fails on an existing name).
    public static func createTemporaryDirectory(beside path: String) throws -> String {
        for _ in 0..<16 {
            let candidate = temporaryName(beside: path)
            if mkdir(candidate, 0o755) == 0 { return candidate }
            guard errno == EEXIST else {
                throw SwiftletError(
                    "could not create a directory beside \(path) (\(String(cString: strerror(errno)))).")
            }
        }
        throw SwiftletError("could not find a free temporary name beside \(path).")
    }

    // MARK: - Writing

    /// Writes a file atomically: a temporary file of our own, fsynced, renamed over `path`,
    /// then the directory fsynced. On failure the temporary file is removed and `path` is untouched.
    public static func writeAtomically(_ contents: FileBytes, to path: String) throws {
        let (temporary, fd) = try createTemporaryFile(beside: path)
        do {
            try writeAll(contents, to: fd, path: path)
            close(fd)
            try rename(temporary, to: path)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        syncDirectory(split(path).directory)
    }

    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        try writeAtomically(FileBytes(bytes), to: path)
    }

    public static func writeAtomically(_ text: String, to path: String) throws {
        try writeAtomically(Array(text.utf8), to: path)
    }

    /// Writes and fsyncs a new file that must not exist yet (inside a directory of our own,
    /// whose rename is the atomic step).
    public static func writeDurably(_ contents: FileBytes, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SwiftletError("could not write \(path) (\(String(cString: strerror(errno)))).") }
        defer { close(fd) }
        try writeAll(contents, to: fd, path: path)
    }

    /// Every byte of every piece, then fsync.
    private static func writeAll(_ contents: FileBytes, to fd: Int32, path: String) throws {
        try contents.forEachPiece { raw in
            var written = 0
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    throw SwiftletError(
                        "could not write \(path) (\(String(cString: strerror(errno))); is the disk full?).")
                }
                written += n
            }
        }
        guard fsync(fd) == 0 else { throw SwiftletError("could not flush \(path) to disk.") }
    }

    /// Flushes a directory's entries (so a rename inside it survives a crash).
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw SwiftletError("could not move \(from) to \(to) (\(String(cString: strerror(errno)))).")
        }
    }

    public static func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw SwiftletError("could not create the directory \(path).")
        }
    }

    /// Removes a directory this process created, with the files it wrote into it (by name;
    /// never recursively, so nothing else can go with it).
    static func removeOwnDirectory(_ path: String, files: [String]) {
        for name in files { unlink(path + "/" + name) }
        rmdir(path)
    }

    /// Removes a checkpoint directory that holds only a checkpoint's own files (by name), and
    /// nothing if it holds anything else. True when it is gone.
    @discardableResult
    static func removeCheckpointDirectory(_ path: String, allowed: Set<String>) -> Bool {
        guard isDirectory(path), let names = try? FileManager.default.contentsOfDirectory(atPath: path),
            names.allSatisfy(allowed.contains)
        else { return !exists(path) }
        for name in names { unlink(path + "/" + name) }
        return rmdir(path) == 0
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
