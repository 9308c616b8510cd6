#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data.
/// Only F32 is written; F32 is read (other dtypes are refused with a clear message).
public enum Safetensors {
    public struct Tensor {
        public let name: String
        public let shape: [Int]
        public let values: UnsafeBufferPointer<Float>
        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    struct Entry: Codable {
        let dtype: String
        let shape: [Int]
        let data_offsets: [Int]
    }

    /// The file of tensors in the given order, header padded with spaces to 8-byte alignment:
    /// the header made here, each tensor's values a view of where they lie (`owner`, if given,
    /// keeps that memory alive with the file's contents; otherwise the caller does until it is
    /// written).
    public static func file(_ tensors: [Tensor], metadata: [String: String] = [:], owner: AnyObject? = nil) -> FileBytes
    {
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map {
                "\(JSONText.quoted($0.key)):\(JSONText.quoted($0.value))"
            }
            parts.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for t in tensors {
            let bytes = t.values.count * 4
            parts.append(
                "\(JSONText.quoted(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            )
            offset += bytes
        }
        header += parts.joined(separator: ",") + "}"
        while (header.utf8.count + 8) % 8 != 0 { header += " " }
        var start = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { start += $0 }
        start += header.utf8
        var file = FileBytes(start)
        for t in tensors { file.append(view: UnsafeRawBufferPointer(t.values), owner: owner) }
        return file
    }

    /// The same file's bytes in one array.
    public static func serialize(_ tensors: [Tensor], metadata: [String: String] = [:]) -> [UInt8] {
        file(tensors, metadata: metadata).joined
    }

    /// Where a tensor's values lie in the file (byte offsets from the start of the file).
    public struct Placement: Sendable, Equatable {
        public let shape: [Int]
        public let bytes: Range<Int>
        public var count: Int { bytes.count / 4 }
    }

    /// Reads and checks the header alone: every tensor's shape against its byte range and the
    /// file's size, before anything is allocated for its values.
    public static func header(_ bytes: [UInt8], path: String) throws -> [String: Placement] {
        func corrupt(_ why: String) -> SwiftletError {
            SwiftletError("\(path) is not a valid safetensors file (\(why)).")
        }
        guard bytes.count >= 8 else { throw corrupt("it is shorter than its header") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength > 0, headerLength <= UInt64(bytes.count - 8), headerLength < 100_000_000 else {
            throw corrupt("its header length \(headerLength) does not fit the file")
        }
        let headerBytes = bytes[8..<8 + Int(headerLength)]
        let entries: [String: Entry]
        do {
            let raw = try JSONDecoder().decode([String: HeaderValue].self, from: Data(headerBytes))
            entries = raw.compactMapValues { if case .tensor(let e) = $0 { e } else { nil } }
        } catch {
            throw corrupt("its header is not the expected JSON")
        }
        let dataStart = 8 + Int(headerLength)
        let dataLength = bytes.count - dataStart
        var result: [String: Placement] = [:]
        for (name, entry) in entries {
            guard entry.dtype == "F32" else {
                throw SwiftletError("\(path): tensor \(name) is \(entry.dtype); only F32 is supported.")
            }
            guard entry.data_offsets.count == 2 else { throw corrupt("tensor \(name) has bad offsets") }
            let begin = entry.data_offsets[0], end = entry.data_offsets[1]
            var count = 1
            for d in entry.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow, product <= dataLength / 4 else {
                    throw corrupt("tensor \(name)'s shape does not fit the file")
                }
                count = product
            }
            guard begin >= 0, end >= begin, end <= dataLength, end - begin == count * 4 else {
                throw corrupt("tensor \(name)'s byte range does not match its shape")
            }
            result[name] = Placement(shape: entry.shape, bytes: dataStart + begin..<dataStart + end)
        }
        return result
    }

    /// Copies a tensor's values out of the file's bytes into `destination` (count floats).
    public static func copy(_ placement: Placement, from bytes: [UInt8], to destination: UnsafeMutablePointer<Float>) {
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawPointer(destination).copyMemory(
                from: source.baseAddress! + placement.bytes.lowerBound, byteCount: placement.bytes.count)
        }
    }

    /// Parses a file's bytes into tensors (name → (shape, values)). Every inconsistency is a
    /// user-facing error naming the file.
    public static func parse(_ bytes: [UInt8], path: String) throws -> [String: (shape: [Int], values: [Float])] {
        try header(bytes, path: path).mapValues { placement in
            var values = [Float](repeating: 0, count: placement.count)
            values.withUnsafeMutableBufferPointer { copy(placement, from: bytes, to: $0.baseAddress!) }
            return (placement.shape, values)
        }
    }

    enum HeaderValue: Decodable {
        case tensor(Entry)
        case metadata
        init(from decoder: Decoder) throws {
            if let entry = try? Entry(from: decoder) {
                self = .tensor(entry)
            } else {
                _ = try [String: String](from: decoder)
                self = .metadata
            }
        }
    }
}
