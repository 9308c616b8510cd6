// fp16 bits to fp32, exactly (ggml's blocks keep their scales in IEEE half precision), and fp32
// rounded to fp16. Shared by
// the quantized kernels' files; not part of the module's interface.
#ifndef SWIFTLET_HALF_FLOAT_H
#define SWIFTLET_HALF_FLOAT_H

#include <stdint.h>
#include <string.h>

static inline float swiftlet_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {  // subnormal: normalize
        int e = -1;
        do { e++; mantissa <<= 1; } while (!(mantissa & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mantissa & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// x rounded to the nearest fp16 value (ties to even; 65520 and up to infinity), as fp32: what
// F16C's vcvtps2ph and ggml's GGML_FP32_TO_FP16 give, widened back.
static inline float swiftlet_round_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = x & 0x80000000u, magnitude = x ^ sign;
    if (magnitude >= 0x7F800000u) return f;  // infinity, NaN
    float r;
    if (magnitude >= 0x477FF000u) {  // halfway above fp16's largest and up: infinity
        magnitude = 0x7F800000u;
        memcpy(&r, &magnitude, 4);
    } else if (magnitude < 0x38800000u) {  // below 2^-14: fp16's subnormals, multiples of 2^-24
        float a;
        memcpy(&a, &magnitude, 4);
        volatile float shifted = a + 0.5f;  // ulp(0.5) = 2^-24: the sum rounds to nearest even
        r = shifted - 0.5f;
    } else {  // 10 of the 23 mantissa bits, to nearest even (a carry steps the exponent)
        magnitude += 0xFFFu + ((magnitude >> 13) & 1);
        magnitude &= ~0x1FFFu;
        memcpy(&r, &magnitude, 4);
    }
    uint32_t bits;
    memcpy(&bits, &r, 4);
    bits |= sign;
    memcpy(&r, &bits, 4);
    return r;
}

#endif
