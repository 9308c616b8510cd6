#if canImport(Glibc)
import Glibc
#endif

/// A file mapped read-only into memory. Weight files of pretrained models are gigabytes: a
/// loader reads the header, checks every tensor's byte range against `count`, and converts
/// tensors straight from the mapping into the parameter arena, never holding a second copy.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawPointer
    public let count: Int

    public init(_ path: String) throws {
        guard FileIO.exists(path) else { throw SwiftletError("\(path) does not exist.") }
        guard !FileIO.isDirectory(path) else { throw SwiftletError("\(path) is a directory, not a file.") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SwiftletError("\(path) could not be read.") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SwiftletError("\(path) could not be read.") }
        self.path = path
        count = Int(info.st_size)
        if count == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw SwiftletError("\(path) could not be mapped into memory.")
        }
        bytes = UnsafeRawPointer(mapped)
    }

    deinit {
        if count == 0 {
            UnsafeMutableRawPointer(mutating: bytes).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: bytes), count)
        }
    }

    /// Whether `length` bytes from `offset` lie inside the file (overflow-safe).
    public func contains(offset: Int, length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= count && length <= count - offset
    }

    public func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
