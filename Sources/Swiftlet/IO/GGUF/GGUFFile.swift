/// GGUF (version 2 and 3), llama.cpp's model file: "GGUF", a version, the tensor and metadata
/// counts, typed key–value metadata, one description per tensor (name, dimensions innermost
/// first, ggml type, offset into the data section), then the data section, each tensor aligned
/// to `general.alignment` (32 by default). Everything is little-endian.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    /// An array of one element type; `elementType` is kept so an empty array round-trips.
    case array(elementType: UInt32, [GGUFValue])

    var typeID: UInt32 {
        switch self {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }

    /// The value as an integer, whatever its integer width.
    public var integer: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): Int(v)
        default: nil
        }
    }

    public var number: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: integer.map(Double.init)
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var array: [GGUFValue]? { if case .array(_, let a) = self { a } else { nil } }

    public static func strings(_ values: [String]) -> GGUFValue { .array(elementType: 8, values.map { .string($0) }) }
    public static func floats(_ values: [Float]) -> GGUFValue { .array(elementType: 6, values.map { .float32($0) }) }
    public static func int32s(_ values: [Int32]) -> GGUFValue { .array(elementType: 5, values.map { .int32($0) }) }
}

public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// ggml's order: the first dimension is the contiguous one (a row's length).
    public let dimensions: [Int]
    public let type: GGMLType
    /// Absolute byte offset in the file.
    public let offset: Int
    /// The row-major shape (outermost first), as safetensors and Swiftlet's views write it.
    public var shape: [Int] { dimensions.reversed() }
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A GGUF file read through a memory map: metadata parsed, tensors described and bounds-checked
/// against the file's size, their data left in the mapping until asked for.
public final class GGUFFile {
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int

    public static let magic: [UInt8] = Array("GGUF".utf8)

    public static func looksLikeGGUF(_ path: String) -> Bool {
        guard !FileIO.isDirectory(path), let file = try? MappedFile(path), file.count >= 4 else { return false }
        return (0..<4).allSatisfy { file.bytes.load(fromByteOffset: $0, as: UInt8.self) == magic[$0] }
    }

    public init(_ path: String) throws {
        let file = try MappedFile(path)
        self.file = file
        var reader = GGUFReader(file: file)
        // A file that starts with the magic but is cut short inside the header is a damaged GGUF,
        // not some other file: the reader's first short read says so ("it ends too early").
        guard file.count >= 4,
            (0..<4).allSatisfy({ file.bytes.load(fromByteOffset: $0, as: UInt8.self) == GGUFFile.magic[$0] })
        else {
            throw SwiftletError("\(path) is not a GGUF file (it does not start with \"GGUF\").")
        }
        reader.position = 4
        version = try reader.read(UInt32.self)
        guard version == 2 || version == 3 else {
            throw SwiftletError("\(path) is GGUF version \(version); Swiftlet reads versions 2 and 3.")
        }
        let tensorCount = try reader.count(minimumBytesEach: 24)
        let metadataCount = try reader.count(minimumBytesEach: 13)
        var metadata: [String: GGUFValue] = [:]
        for _ in 0..<metadataCount {
            let key = try reader.string()
            let type = try reader.read(UInt32.self)
            metadata[key] = try reader.value(type: type, depth: 0)
        }
        let alignment = metadata["general.alignment"]?.integer ?? 32
        guard alignment > 0, alignment <= 1 << 16, alignment & (alignment - 1) == 0 else {
            throw reader.corrupt("its alignment \(alignment) is not a power of two")
        }
        var described: [(String, [Int], GGMLType, Int)] = []
        for _ in 0..<tensorCount {
            let name = try reader.string()
            let dimensionCount = try reader.read(UInt32.self)
            guard dimensionCount >= 1, dimensionCount <= 4 else {
                throw reader.corrupt("tensor \(name) has \(dimensionCount) dimensions")
            }
            var dimensions: [Int] = []
            for _ in 0..<dimensionCount {
                let d = try reader.read(UInt64.self)
                guard d <= UInt64(file.count) else {
                    throw reader.corrupt("tensor \(name)'s shape does not fit the file")
                }
                dimensions.append(Int(d))
            }
            let type = GGMLType(rawValue: try reader.read(UInt32.self))
            let offset = try reader.read(UInt64.self)
            guard offset <= UInt64(file.count) else {
                throw reader.corrupt("tensor \(name)'s offset does not fit the file")
            }
            described.append((name, dimensions, type, Int(offset)))
        }
        let dataStart = (reader.position + alignment - 1) / alignment * alignment
        var tensors: [GGUFTensorInfo] = []
        var seen = Set<String>()
        for (name, dimensions, type, offset) in described {
            guard seen.insert(name).inserted else { throw reader.corrupt("tensor \(name) appears twice") }
            var elements = 1
            for d in dimensions {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, product <= file.count * 8 + 64 else {
                    throw reader.corrupt("tensor \(name)'s shape does not fit the file")
                }
                elements = product
            }
            let info = GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: dataStart + offset)
            // Known types are checked against the file now; unknown ones when a loader asks for them.
            if let rowBytes = type.rowBytes(elements: dimensions[0]) {
                let (bytes, overflow) = rowBytes.multipliedReportingOverflow(by: elements / max(dimensions[0], 1))
                guard !overflow, file.contains(offset: info.offset, length: dimensions[0] == 0 ? 0 : bytes) else {
                    throw reader.corrupt("tensor \(name)'s data lies outside the file")
                }
            }
            tensors.append(info)
        }
        self.metadata = metadata
        self.tensors = tensors
        self.alignment = alignment
    }

    public func tensor(named name: String) -> GGUFTensorInfo? { tensors.first { $0.name == name } }

    /// Decodes a tensor to fp32 into `destination` (room for its element count).
    public func decode(_ tensor: GGUFTensorInfo, into destination: UnsafeMutablePointer<Float>) throws {
        guard let codec = tensor.type.codec else {
            throw SwiftletError(
                "\(file.path): tensor \(tensor.name) is \(tensor.type), which Swiftlet cannot read yet (it reads F32, F16, BF16, Q8_0, Q4_0 and Q4_K)."
            )
        }
        guard tensor.type.rowBytes(elements: tensor.dimensions[0]) != nil else {
            throw SwiftletError(
                "\(file.path): tensor \(tensor.name)'s rows of \(tensor.dimensions[0]) are not whole \(tensor.type) blocks."
            )
        }
        codec.decode(file.bytes + tensor.offset, elements: tensor.elementCount, into: destination)
    }
}

/// Bounds-checked little-endian reading of a mapped file; every failure names the file.
struct GGUFReader {
    let file: MappedFile
    var position = 0

    func corrupt(_ why: String) -> SwiftletError { SwiftletError("\(file.path) is not a valid GGUF file (\(why)).") }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        guard file.contains(offset: position, length: MemoryLayout<T>.size) else { throw corrupt("it ends too early") }
        defer { position += MemoryLayout<T>.size }
        return file.load(T.self, at: position)
    }

    /// A count of items each taking at least `minimumBytesEach`, checked against what is left.
    mutating func count(minimumBytesEach: Int) throws -> Int {
        let n = try read(UInt64.self)
        guard n <= UInt64(max(0, file.count - position) / max(minimumBytesEach, 1)) else {
            throw corrupt("a count of \(n) does not fit the file")
        }
        return Int(n)
    }

    mutating func string() throws -> String {
        let length = try count(minimumBytesEach: 1)
        defer { position += length }
        return String(decoding: UnsafeRawBufferPointer(start: file.bytes + position, count: length), as: UTF8.self)
    }

    mutating func value(type: UInt32, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try read(UInt8.self))
        case 1: return .int8(try read(Int8.self))
        case 2: return .uint16(try read(UInt16.self))
        case 3: return .int16(try read(Int16.self))
        case 4: return .uint32(try read(UInt32.self))
        case 5: return .int32(try read(Int32.self))
        case 6: return .float32(Float(bitPattern: try read(UInt32.self)))
        case 7: return .bool(try read(UInt8.self) != 0)
        case 8: return .string(try string())
        case 9:
            guard depth == 0 else { throw corrupt("it nests arrays") }
            let elementType = try read(UInt32.self)
            let sizes: [UInt32: Int] = [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 10: 8, 11: 8, 12: 8]
            guard let size = sizes[elementType] else { throw corrupt("an array has element type \(elementType)") }
            let n = try count(minimumBytesEach: size)
            var values: [GGUFValue] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try value(type: elementType, depth: depth + 1)) }
            return .array(elementType: elementType, values)
        case 10: return .uint64(try read(UInt64.self))
        case 11: return .int64(try read(Int64.self))
        case 12: return .float64(Double(bitPattern: try read(UInt64.self)))
        default: throw corrupt("a value has type \(type)")
        }
    }
}

/// Writes a GGUF version 3 file: metadata in the given order, then tensors in the given order,
/// each at a 32-byte-aligned offset.
public struct GGUFWriter {
    public struct Tensor {
        public let name: String
        /// Row-major shape, outermost first (written reversed, as ggml counts).
        public let shape: [Int]
        public let type: GGMLType
        public let byteCount: Int
        /// Writes the tensor's `byteCount` bytes when the file is written (so a model's tensors
        /// are encoded one at a time, never all held at once); it holds what it reads.
        let fill: (UnsafeMutableRawBufferPointer) -> Void

        public init(name: String, shape: [Int], type: GGMLType, data: [UInt8]) {
            self.init(name: name, shape: shape, type: type, byteCount: data.count) { out in
                data.withUnsafeBytes { out.copyMemory(from: $0) }
            }
        }

        /// A tensor whose bytes `fill` computes when the file is written.
        public init(
            name: String, shape: [Int], type: GGMLType, byteCount: Int,
            fill: @escaping (UnsafeMutableRawBufferPointer) -> Void
        ) {
            self.name = name
            self.shape = shape
            self.type = type
            self.byteCount = byteCount
            self.fill = fill
        }
    }

    public var metadata: [(String, GGUFValue)] = []
    public var tensors: [Tensor] = []
    public static let alignment = 32

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        metadata.removeAll { $0.0 == key }
        metadata.append((key, value))
    }

    /// The file: the header as bytes, each tensor made as it is written.
    public func serialized() -> FileBytes {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        func put(string: String) {
            put(UInt64(string.utf8.count))
            out += string.utf8
        }
        func put(value: GGUFValue) {
            switch value {
            case .uint8(let v): put(v)
            case .int8(let v): put(v)
            case .uint16(let v): put(v)
            case .int16(let v): put(v)
            case .uint32(let v): put(v)
            case .int32(let v): put(v)
            case .uint64(let v): put(v)
            case .int64(let v): put(v)
            case .float32(let v): put(v.bitPattern)
            case .float64(let v): put(v.bitPattern)
            case .bool(let v): put(UInt8(v ? 1 : 0))
            case .string(let s): put(string: s)
            case .array(let elementType, let values):
                put(elementType)
                put(UInt64(values.count))
                for v in values { put(value: v) }
            }
        }
        out += GGUFFile.magic
        put(UInt32(3))
        put(UInt64(tensors.count))
        put(UInt64(metadata.count))
        for (key, value) in metadata {
            put(string: key)
            put(value.typeID)
            put(value: value)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset = (offset + t.byteCount + Self.alignment - 1) / Self.alignment * Self.alignment
        }
        for (t, tensorOffset) in zip(tensors, offsets) {
            put(string: t.name)
            put(UInt32(t.shape.count))
            for d in t.shape.reversed() { put(UInt64(d)) }
            put(t.type.rawValue)
            put(UInt64(tensorOffset))
        }
        func padding(_ n: Int) -> [UInt8] {
            [UInt8](repeating: 0, count: (Self.alignment - n % Self.alignment) % Self.alignment)
        }
        out += padding(out.count)
        var file = FileBytes(out)
        for t in tensors {
            file.append(generated: t.byteCount, fill: t.fill)
            file.append(padding(t.byteCount))
        }
        return file
    }
}
