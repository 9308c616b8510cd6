/// ggml's tensor element types as GGUF files number them. Each stores a row in blocks of
/// `blockElements` values taking `blockBytes` bytes; the quantized ones hold small integers and
/// a per-block scale. Only some have a codec here; the rest are named in the refusal.
public struct GGMLType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGMLType(rawValue: 0)
    public static let f16 = GGMLType(rawValue: 1)
    public static let q4_0 = GGMLType(rawValue: 2)
    public static let q5_0 = GGMLType(rawValue: 6)
    public static let q8_0 = GGMLType(rawValue: 8)
    public static let q4_K = GGMLType(rawValue: 12)
    public static let q6_K = GGMLType(rawValue: 14)
    public static let bf16 = GGMLType(rawValue: 30)

    static let names: [UInt32: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
        11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
        19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32",
        27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
    ]

    public var description: String { Self.names[rawValue] ?? "type \(rawValue)" }

    /// The codec that turns this type into fp32, if Swiftlet has one. A new format (Q5_K,
    /// IQ4_NL, …) is one more `GGMLBlockCodec` and one line here.
    public var codec: (any GGMLBlockCodec.Type)? {
        switch self {
        case .f32: F32Codec.self
        case .f16: F16Codec.self
        case .bf16: BF16Codec.self
        case .q8_0: Q8_0Codec.self
        case .q4_0: Q4_0Codec.self
        case .q4_K: Q4_KCodec.self
        case .q5_0: Q5_0Codec.self
        case .q6_K: Q6_KCodec.self
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
    public static func decode(_ source: UnsafeRawPointer, elements: Int, into destination: UnsafeMutablePointer<Float>)
    {
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
        for i in 0..<blocks {
            destination.storeBytes(of: Float16Bits.round(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
    }
}

public enum BF16Codec: GGMLBlockEncoder {
    public static let blockElements = 1, blockBytes = 2
    public static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<blocks {
            destination[i] = BFloat16.value(
                UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
    }
    public static func encode(_ source: UnsafePointer<Float>, blocks: Int, into destination: UnsafeMutableRawPointer) {
        for i in 0..<blocks {
            destination.storeBytes(of: BFloat16.round(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
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
            for j in 0..<32 {
                block.storeBytes(of: Int8((x[j] * inverse).rounded()), toByteOffset: 2 + j, as: Int8.self)
            }
        }
    }
}

/// The signed value of largest magnitude in a block (the first of equals), which the 4- and
/// 5-bit legacy quantizers divide by −8 or −16 so that it maps to the end of the range.
@inline(__always)
private func signedMaxMagnitude(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var amax: Float = 0, max: Float = 0
    for j in 0..<count where abs(x[j]) > amax {
        amax = abs(x[j])
        max = x[j]
    }
    return max
}

/// C's `(int8_t)v` for a v the quantizers keep within [0, limit + 1.5): truncation toward zero,
/// then at most `limit`. (NaN, which finite weights never give, becomes 0 rather than a trap.)
@inline(__always)
private func truncatedLevel(_ v: Float, limit: Int) -> Int {
    v >= 0 ? Int(Swift.min(v, Float(limit))) : 0
}

/// Q4_0: blocks of 32 as an fp16 scale d and 16 bytes of 4-bit q (low nibbles are elements
/// 0–15, high nibbles 16–31); x = d·(q − 8).
public enum Q4_0Codec: GGMLBlockEncoder {
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

    /// ggml's `quantize_row_q4_0_ref`: d = max / −8 for the signed value of largest magnitude,
    /// q = min(15, trunc(x / d + 8.5)).
    public static func encode(_ source: UnsafePointer<Float>, blocks: Int, into destination: UnsafeMutableRawPointer) {
        for b in 0..<blocks {
            let x = source + b * 32, block = destination + b * blockBytes
            let d = signedMaxMagnitude(x, 32) / -8
            let inverse: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: Float16Bits.round(d).littleEndian, as: UInt16.self)
            for j in 0..<16 {
                let low = truncatedLevel(x[j] * inverse + 8.5, limit: 15),
                    high = truncatedLevel(x[j + 16] * inverse + 8.5, limit: 15)
                block.storeBytes(of: UInt8(low | high << 4), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }
}

/// Q5_0: blocks of 32 as an fp16 scale d, 32 high bits qh (bit j belongs to element j) and 16
/// bytes of low nibbles laid out as Q4_0's; x = d·(q − 16) for the 5-bit q.
public enum Q5_0Codec: GGMLBlockEncoder {
    public static let blockElements = 32, blockBytes = 22
    public static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = source + b * blockBytes, out = destination + b * 32
            let d = loadHalf(block, 0)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0..<16 {
                let q = block.load(fromByteOffset: 6 + j, as: UInt8.self)
                let low = Int(q & 0xF) | Int((qh >> UInt32(j)) & 1) << 4
                let high = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = Float(low - 16) * d
                out[j + 16] = Float(high - 16) * d
            }
        }
    }

    /// ggml's `quantize_row_q5_0_ref`: d = max / −16, q = min(31, trunc(x / d + 16.5)).
    public static func encode(_ source: UnsafePointer<Float>, blocks: Int, into destination: UnsafeMutableRawPointer) {
        for b in 0..<blocks {
            let x = source + b * 32, block = destination + b * blockBytes
            let d = signedMaxMagnitude(x, 32) / -16
            let inverse: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: Float16Bits.round(d).littleEndian, as: UInt16.self)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let low = truncatedLevel(x[j] * inverse + 16.5, limit: 31),
                    high = truncatedLevel(x[j + 16] * inverse + 16.5, limit: 31)
                block.storeBytes(of: UInt8((low & 0xF) | (high & 0xF) << 4), toByteOffset: 6 + j, as: UInt8.self)
                qh |= UInt32(low >> 4) << UInt32(j) | UInt32(high >> 4) << UInt32(j + 16)
            }
            block.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
        }
    }
}

/// Q6_K: super-blocks of 256 as 128 bytes of low nibbles ql, 64 bytes of 2-bit high parts qh,
/// sixteen int8 scales (one per 16 values) and an fp16 d at the end; x = d·scale·(q − 32) for
/// the 6-bit q. Each half of 128 values takes 64 bytes of ql and 32 of qh: value l (of 32) of
/// its four quarters is ql[l] low, ql[l+32] low, ql[l] high and ql[l+32] high nibble, with
/// bits 0–1, 2–3, 4–5 and 6–7 of qh[l] above them.
public enum Q6_KCodec: GGMLBlockCodec {
    public static let blockElements = 256, blockBytes = 210

    public static func decode(_ source: UnsafeRawPointer, blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let block = source + b * blockBytes
            let d = loadHalf(block, 208)
            for half in 0..<2 {
                let ql = block + 64 * half, qh = block + 128 + 32 * half, scales = block + 192 + 8 * half
                let out = destination + b * 256 + 128 * half
                for l in 0..<32 {
                    let low0 = ql.load(fromByteOffset: l, as: UInt8.self),
                        low1 = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                    let high = qh.load(fromByteOffset: l, as: UInt8.self)
                    func put(_ quarter: Int, _ q: Int) {
                        let scale = Float(scales.load(fromByteOffset: l / 16 + 2 * quarter, as: Int8.self))
                        out[32 * quarter + l] = d * scale * Float(q - 32)
                    }
                    put(0, Int(low0 & 0xF) | Int(high & 3) << 4)
                    put(1, Int(low1 & 0xF) | Int((high >> 2) & 3) << 4)
                    put(2, Int(low0 >> 4) | Int((high >> 4) & 3) << 4)
                    put(3, Int(low1 >> 4) | Int((high >> 6) & 3) << 4)
                }
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
