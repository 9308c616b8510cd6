/// A growable block of bf16 values (stored as UInt16 bit patterns).
final class BFloat16Buffer {
    private(set) var pointer: UnsafeMutablePointer<UInt16>
    private(set) var capacity: Int

    init(count: Int) {
        capacity = max(count, 16)
        pointer = LargeAllocation.allocate(byteCount: capacity * 2, alignment: 64).bindMemory(
            to: UInt16.self, capacity: capacity)
    }

    deinit { pointer.deallocate() }

    /// Grows (never shrinks) to hold `count` values; contents are not kept.
    func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        capacity = count
        pointer = LargeAllocation.allocate(byteCount: capacity * 2, alignment: 64).bindMemory(
            to: UInt16.self, capacity: capacity)
    }
}

import CBF16Kernels

public enum BFloat16 {
    /// Rounds fp32 to bf16 (round to nearest, ties to even): the top 16 bits after adding
    /// 0x7FFF plus the lowest kept bit.
    /// With AVX512-BF16 this is vcvtne2ps2bf16 (same rounding; denormal inputs become zero).
    public static func convert(
        _ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>, count: Int
    ) {
        let chunks = count >= 1 << 18 ? 2 : 1
        let s = SendablePointer(UnsafeMutablePointer(mutating: source)), d = SendablePointer(destination)
        parallelFor(chunks) { chunk in
            var i = (count * chunk / chunks) & ~15
            let end = chunk == chunks - 1 ? count : (count * (chunk + 1) / chunks) & ~15
            if BF16Kernels.available {
                swiftlet_bf16_round(s.pointer + i, d.pointer + i, end - i)
                return
            }
            while i + 16 <= end {
                let bits = unsafeBitCast(load(s.pointer + i), to: SIMD16<UInt32>.self)
                let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
                UnsafeMutableRawPointer(d.pointer + i).storeBytes(
                    of: SIMD16<UInt16>(truncatingIfNeeded: rounded), as: SIMD16<UInt16>.self)
                i += 16
            }
            while i < end {
                d.pointer[i] = round(s.pointer[i])
                i += 1
            }
        }
    }

    /// `convert` on the calling thread only (for a row inside a kernel's own parallel loop).
    @inline(__always)
    static func convertSerially(
        _ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>, count: Int
    ) {
        if BF16Kernels.available { return swiftlet_bf16_round(source, destination, count) }
        for i in 0..<count { destination[i] = round(source[i]) }
    }

    @inline(__always)
    public static func round(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    @inline(__always)
    public static func value(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
}
