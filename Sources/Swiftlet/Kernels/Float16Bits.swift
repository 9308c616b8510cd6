/// IEEE half precision (binary16) as UInt16 bit patterns, converted by hand so the results are
/// exact and the same on every CPU: widening is exact; narrowing rounds to nearest, ties to
/// even (what F16C's `vcvtps2ph` and ggml's `GGML_FP32_TO_FP16` do).
public enum Float16Bits {
    @inline(__always)
    public static func value(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F, mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa × 2⁻²⁴, exact in fp32.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }
        return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
    }

    @inline(__always)
    public static func round(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let sign = UInt16(truncatingIfNeeded: bits >> 16) & 0x8000
        let magnitude = bits & 0x7FFF_FFFF
        if magnitude >= 0x7F80_0000 {  // infinity, or NaN (kept quiet)
            return sign | 0x7C00
                | (magnitude > 0x7F80_0000 ? 0x200 | UInt16(truncatingIfNeeded: magnitude >> 13) & 0x3FF : 0)
        }
        if magnitude >= 0x477F_F000 { return sign | 0x7C00 }  // 65520 and up round to infinity
        if magnitude < 0x3880_0000 {
            // Below 2⁻¹⁴: a subnormal half, counted in units of 2⁻²⁴ (the scaling is exact).
            let units = (Float(bitPattern: magnitude) * 0x1p24).rounded(.toNearestOrEven)
            return sign | UInt16(units)
        }
        var half = (magnitude >> 23 - 112) << 10 | (magnitude & 0x7F_FFFF) >> 13
        let rest = magnitude & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }
}
