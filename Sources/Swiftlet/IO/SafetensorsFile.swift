#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A safetensors file read through a memory map: the header parsed and every tensor's byte
/// range checked against its dtype, shape and the file's size before anything is allocated;
/// F32, F16 and BF16 tensors are widened to fp32 straight into the caller's buffer.
public final class SafetensorsFile {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: String
        public let shape: [Int]
        /// Absolute byte range in the file.
        public let offset: Int
        public let byteCount: Int
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let file: MappedFile
    public let entries: [String: Entry]
    public let metadata: [String: String]

    static let elementBytes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
        "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8,
    ]

    public init(_ path: String) throws {
        file = try MappedFile(path)
        func corrupt(_ why: String) -> SwiftletError {
            SwiftletError("\(path) is not a valid safetensors file (\(why)).")
        }
        guard file.count >= 8 else { throw corrupt("it is shorter than its header") }
        let headerLength = file.load(UInt64.self, at: 0)
        guard headerLength > 0, headerLength <= UInt64(file.count - 8), headerLength < 100_000_000 else {
            throw corrupt("its header length \(headerLength) does not fit the file")
        }
        let header = Array(UnsafeRawBufferPointer(start: file.bytes + 8, count: Int(headerLength)))
        guard let json = JSONValue.parse(header), let fields = json.object else {
            throw corrupt("its header is not the expected JSON")
        }
        let dataStart = 8 + Int(headerLength), dataLength = file.count - dataStart
        var entries: [String: Entry] = [:], metadata: [String: String] = [:]
        for (name, value) in fields {
            if name == "__metadata__" {
                for (k, v) in value.object ?? [:] { metadata[k] = v.string }
                continue
            }
            guard let dtype = value["dtype"]?.string, let shapeValues = value["shape"]?.array,
                let range = value["data_offsets"]?.array, range.count == 2,
                let begin = range[0].integer, let end = range[1].integer
            else {
                throw corrupt("tensor \(name) is not described as dtype, shape and data_offsets")
            }
            guard let size = Self.elementBytes[dtype] else {
                throw corrupt("tensor \(name) has the unknown dtype \(dtype)")
            }
            var count = 1
            var shape: [Int] = []
            for v in shapeValues {
                guard let d = v.integer, d >= 0 else { throw corrupt("tensor \(name) has a bad shape") }
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= dataLength / size else {
                    throw corrupt("tensor \(name)'s shape does not fit the file")
                }
                count = product
                shape.append(d)
            }
            guard begin >= 0, end >= begin, end <= dataLength, end - begin == count * size else {
                throw corrupt("tensor \(name)'s byte range does not match its shape")
            }
            entries[name] = Entry(
                name: name, dtype: dtype, shape: shape, offset: dataStart + begin, byteCount: end - begin)
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// Widens one tensor to fp32 into `destination` (room for its element count).
    public func decode(_ entry: Entry, into destination: UnsafeMutablePointer<Float>) throws {
        let source = file.bytes + entry.offset
        switch entry.dtype {
        case "F32": F32Codec.decode(source, elements: entry.elementCount, into: destination)
        case "F16": F16Codec.decode(source, elements: entry.elementCount, into: destination)
        case "BF16": BF16Codec.decode(source, elements: entry.elementCount, into: destination)
        default:
            throw SwiftletError(
                "\(file.path): tensor \(entry.name) is \(entry.dtype); Swiftlet reads F32, F16 and BF16 weights.")
        }
    }
}

/// The weights of a Hugging Face model directory: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` maps each tensor to.
public struct HuggingFaceWeights {
    public let files: [SafetensorsFile]
    /// Tensor name → the file holding it.
    public let location: [String: Int]
    public let sharded: Bool

    public static let single = "model.safetensors"
    public static let index = "model.safetensors.index.json"

    public init(directory dir: String) throws {
        if FileIO.exists(dir + "/" + Self.index) {
            let path = dir + "/" + Self.index
            guard let json = JSONValue.parse(try FileIO.readBytes(path)), let map = json["weight_map"]?.object else {
                throw SwiftletError("\(path) is not a valid safetensors index (no weight_map).")
            }
            var shardNames: [String] = [], location: [String: Int] = [:]
            for (tensor, value) in map {
                guard let shard = value.string, !shard.contains("/"), !shard.hasPrefix(".") else {
                    throw SwiftletError("\(path) maps \(tensor) to a file outside the directory.")
                }
                if let i = shardNames.firstIndex(of: shard) {
                    location[tensor] = i
                } else {
                    shardNames.append(shard)
                    location[tensor] = shardNames.count - 1
                }
            }
            var files: [SafetensorsFile] = []
            for (i, shard) in shardNames.enumerated() {
                guard FileIO.exists(dir + "/" + shard) else {
                    throw SwiftletError("\(path) names the shard \(shard), which is missing.")
                }
                let file = try SafetensorsFile(dir + "/" + shard)
                for (tensor, j) in location where j == i && file.entries[tensor] == nil {
                    throw SwiftletError("\(path) puts \(tensor) in \(shard), which does not hold it.")
                }
                files.append(file)
            }
            self.files = files
            self.location = location
            sharded = true
        } else if FileIO.exists(dir + "/" + Self.single) {
            let file = try SafetensorsFile(dir + "/" + Self.single)
            files = [file]
            location = file.entries.mapValues { _ in 0 }
            sharded = false
        } else if FileIO.exists(dir + "/pytorch_model.bin") || FileIO.exists(dir + "/pytorch_model.bin.index.json") {
            throw SwiftletError(
                "\(dir) holds PyTorch .bin weights only; Swiftlet reads safetensors (save_pretrained writes them by default)."
            )
        } else {
            throw SwiftletError("\(dir) has no model.safetensors.")
        }
    }

    public func entry(_ name: String) -> SafetensorsFile.Entry? {
        location[name].flatMap { files[$0].entries[name] }
    }

    public var names: [String] { Array(location.keys) }

    /// The dtypes present, e.g. ["BF16"].
    public var dtypes: Set<String> { Set(files.flatMap { $0.entries.values.map(\.dtype) }) }

    public func decode(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        guard let i = location[name], let entry = files[i].entries[name] else {
            throw SwiftletError("the model has no tensor \(name).")
        }
        try files[i].decode(entry, into: destination)
    }
}
