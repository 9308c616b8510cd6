// fp16 bits to fp32, exactly (ggml's blocks keep their scales in IEEE half precision). Shared by
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

#endif
