/// ggml's tensor element types as GGUF files number them. Each stores a row in blocks of
/// `blockElements` values taking `blockBytes` bytes; the quantized ones hold small integers and
/// a per-block scale. Only some have a codec here; the rest are named in the refusal.
public struct GGMLType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGMLType(rawValue: 0)
    public static let f16 = GGMLType(rawValue: 1)
    public static let q4_0 = GGMLType(rawValue: 2)
    public static let q8_0 = GGMLType(rawValue: 8)
    public static let q4_K = GGMLType(rawValue: 12)
    public static let bf16 = GGMLType(rawValue: 30)

    static let names: [UInt32: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
        11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
        19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32",
        27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
    ]

    public var description: String { Self.names[rawValue] ?? "type \(rawValue)" }

    /// The codec that turns this type into fp32, if Swiftlet has one. A new format (Q5_0,
    /// Q6_K, …) is one more `GGMLBlockCodec` and one line here.
    public var codec: (any GGMLBlockCodec.Type)? {
        switch self {
        case .f32: F32Codec.self
        case .f16: F16Codec.self
        case .bf16: BF16Codec.self
        case .q8_0: Q8_0Codec.self
        case .q4_0: Q4_0Codec.self
        case .q4_K: Q4_KCodec.self
        default: nil
        }
    }

    /// The codec that can also write this type (what `export --format gguf --type` offers).
    public var encoder: (any GGMLBlockEncoder.Type)? { codec as? any GGMLBlockEncoder.Type }

    /// Bytes of one row of `elements` values, nil when the row is not whole blocks.
    public func rowBytes(elements: Int) -> Int? {
        guard let codec, elements % codec.blockElements == 0 else { return nil }
        return elements / codec.blockElements * codec.blockBytes
    }
}

/// One element type's block layout and its decoding to fp32 (bit for bit what ggml's
/// `dequantize_row_*` computes). Decoders read unaligned little-endian bytes.
public protocol GGMLBlockCodec {
    static var blockElements: Int { get }
    static var blockBytes: Int { get }
    /// Decodes `blocks` consecutive blocks at `source` into `blocks × blockElements` floats.
    static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>)
}

/// A codec that also writes its type from fp32 (as ggml's `quantize_row_*_ref` does).
public protocol GGMLBlockEncoder: GGMLBlockCodec {
    static func encode(_ source: UnsafePointer<Float>, blocks: Int, into destination: UnsafeMutableRawPointer)
}

extension GGMLBlockCodec {
    /// Decodes a whole tensor of `elements` values (a multiple of the block size), splitting
    /// large ones over the cores.
    public static func decode(_ source: UnsafeRawPointer, elements: Int, into destination: UnsafeMutablePointer<Float>) {
        let blocks = elements / blockElements
        let parts = elements >= 1 << 20 ? 8 : 1
        let d = SendablePointer(destination), s = SendableRawPointer(source)
        parallelFor(parts) { part in
            let begin = blocks * part / parts, end = blocks * (part + 1) / parts
            decode(s.pointer + begin * blockBytes, blocks: end - begin, into: d.pointer + begin * blockElements)
        }
    }
}

struct SendableRawPointer: @unchecked Sendable {
    let pointer: UnsafeRawPointer
    init(_ pointer: UnsafeRawPointer) { self.pointer = pointer }
}

@inline(__always)
private func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float16Bits.value(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

public enum F32Codec: GGMLBlockEncoder {
    public static let blockElements = 1, blockBytes = 4
    public static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: blocks * 4)
    }
    public static func encode(_ source: UnsafePointer<Float>, blocks: Int, into destination: UnsafeMutableRawPointer) {
        destination.copyMemory(from: source, byteCount: blocks * 4)
    }
}

public enum F16Codec: GGMLBlockEncoder {
    public static let blockElements = 1, blockBytes = 2
    public static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks { destination[i] = loadHalf(source, 2 * i) }
    }
    public static func encode(_ source: UnsafePointer<Float>, blocks: Int, into destination: UnsafeMutableRawPointer) {
        for i in 0..<blocks { destination.storeBytes(of: Float16Bits.round(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
    }
}

public enum BF16Codec: GGMLBlockEncoder {
    public static let blockElements = 1, blockBytes = 2
    public static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            destination[i] = BFloat16.value(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
    }
    public static func encode(_ source: UnsafePointer<Float>, blocks: Int, into destination: UnsafeMutableRawPointer) {
        for i in 0..<blocks { destination.storeBytes(of: BFloat16.round(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
    }
}

/// Q8_0: blocks of 32 as an fp16 scale d and 32 signed bytes q; x = d·q.
public enum Q8_0Codec: GGMLBlockEncoder {
    public static let blockElements = 32, blockBytes = 34
    public static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = source + b * blockBytes, out = destination + b * 32
            let d = loadHalf(block, 0)
            for j in 0..<32 { out[j] = Float(block.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
        }
    }

    /// ggml's reference quantizer: d = max|x| / 127, q = round(x / d) (half away from zero),
    /// dividing by the fp32 d before it is rounded to fp16 for storage.
    public static func encode(_ source: UnsafePointer<Float>, blocks: Int, into destination: UnsafeMutableRawPointer) {
        for b in 0..<blocks {
            let x = source + b * 32, block = destination + b * blockBytes
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(x[j])) }
            let d = amax / 127
            let inverse: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: Float16Bits.round(d).littleEndian, as: UInt16.self)
            for j in 0..<32 { block.storeBytes(of: Int8((x[j] * inverse).rounded()), toByteOffset: 2 + j, as: Int8.self) }
        }
    }
}

/// Q4_0: blocks of 32 as an fp16 scale d and 16 bytes of 4-bit q (low nibbles are elements
/// 0–15, high nibbles 16–31); x = d·(q − 8).
public enum Q4_0Codec: GGMLBlockCodec {
    public static let blockElements = 32, blockBytes = 18
    public static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = source + b * blockBytes, out = destination + b * 32
            let d = loadHalf(block, 0)
            for j in 0..<16 {
                let q = block.load(fromByteOffset: 2 + j, as: UInt8.self)
                out[j] = Float(Int(q & 0xF) - 8) * d
                out[j + 16] = Float(Int(q >> 4) - 8) * d
            }
        }
    }
}

/// Q4_K: super-blocks of 256 as fp16 d and dmin, 12 bytes packing eight 6-bit scales and
/// eight 6-bit mins, and 128 bytes of 4-bit q. Each 64 values share the bytes of 32 q: the
/// low nibbles are the first sub-block of 32, the high nibbles the second;
/// x = d·scale·q − dmin·min.
public enum Q4_KCodec: GGMLBlockCodec {
    public static let blockElements = 256, blockBytes = 144

    /// The j-th 6-bit scale and min of the 12 packed bytes (ggml's `get_scale_min_k4`).
    @inline(__always)
    static func scaleAndMin(_ j: Int, _ s: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
        func byte(_ i: Int) -> UInt8 { s.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (byte(j) & 63, byte(j + 4) & 63) }
        return ((byte(j + 4) & 0xF) | ((byte(j - 4) >> 6) << 4), (byte(j + 4) >> 4) | ((byte(j) >> 6) << 4))
    }

    public static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = source + b * blockBytes
            var out = destination + b * 256
            let d = loadHalf(block, 0), dmin = loadHalf(block, 2)
            let scales = block + 4
            var q = block + 16
            for pair in 0..<4 {
                let (s1, m1) = scaleAndMin(2 * pair, scales), (s2, m2) = scaleAndMin(2 * pair + 1, scales)
                let d1 = d * Float(s1), min1 = dmin * Float(m1)
                let d2 = d * Float(s2), min2 = dmin * Float(m2)
                for l in 0..<32 { out[l] = d1 * Float(q.load(fromByteOffset: l, as: UInt8.self) & 0xF) - min1 }
                for l in 0..<32 { out[32 + l] = d2 * Float(q.load(fromByteOffset: l, as: UInt8.self) >> 4) - min2 }
                out += 64
                q += 32
            }
        }
    }
}
