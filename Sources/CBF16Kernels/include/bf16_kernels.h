#ifndef SWIFTLET_BF16_KERNELS_H
#define SWIFTLET_BF16_KERNELS_H

#include <stdint.h>

// bf16 kernels with AVX512-BF16 intrinsics (vdpbf16ps, vcvtne2ps2bf16). Swift SIMD has no bf16
// dot-product instruction, so these live in C. Each kernel is compiled for AVX512-BF16 by a
// per-function target attribute, so this file builds on any x86-64 (and elsewhere, as stubs):
// call a kernel only after swiftlet_bf16_available() said yes.
//
// A bf16 value is the top 16 bits of an fp32; a "pair" is two bf16 in one 32-bit word, the
// lower-index element in the low half (the operand layout of vdpbf16ps).

#ifdef __cplusplus
extern "C" {
#endif

// 1 when the CPU has AVX512-F/BW/VL and AVX512-BF16 and the OS saves the zmm state; else 0.
int swiftlet_bf16_available(void);

// dst[i] = bf16(src[i]), round to nearest even (vcvtne2ps2bf16: denormal inputs become zero).
void swiftlet_bf16_round(const float *src, uint16_t *dst, long count);

// Runs `iterations` rounds of 12 independent vdpbf16ps chains (12 · 16 · 4 flops a round) on
// the calling thread; returns a value derived from the result so the loop is kept.
float swiftlet_bf16_dot_loop(long iterations);

// The width in fp32 lanes of swiftlet_fp32_fma_loop on this CPU: 16 (AVX-512 zmm FMAs, where
// the CPU has AVX512-F and the OS saves the zmm state), 8 (AVX2 with FMA, ymm), or 1 (portable
// C, one float a chain). Chosen by CPUID at run time, so no unsupported instruction runs.
int swiftlet_fp32_fma_lanes(void);

// Runs `iterations` rounds of 12 independent fp32 FMA chains of swiftlet_fp32_fma_lanes() lanes
// (12 · lanes · 2 flops a round) on the calling thread, the fp32 twin of swiftlet_bf16_dot_loop;
// returns a value derived from the result so the loop is kept.
float swiftlet_fp32_fma_loop(long iterations);

// Causal attention forward for one (sequence, head), bf16 dot products with fp32 accumulation
// and an fp32 softmax. Query row r (r < queryCount) is at q + r·qStride and sees keys
// 0 ..< past + r + 1, key j at k + j·kStride and value j at v + j·kStride (headDim floats each).
// Writes out (rows like q), logSumExp[r · lseStride] and, when outBits is not null, out rounded
// to bf16 at outBits + r·qStride. headDim must be a multiple of 16.
void swiftlet_bf16_attention_forward(const float *q, long qStride, const float *k, const float *v, long kStride,
                                     float *out, uint16_t *outBits, float *logSumExp, long lseStride,
                                     long queryCount, long past, long headDim, float scale);

// Its backward for one (sequence, KV head) and the `group` query heads that share it (head g at
// q + g·headDim, logSumExp + g, …). Overwrites dq (rows like q) and dk, dv (rows like k, for the
// past + queryCount keys).
void swiftlet_bf16_attention_backward(const float *dout, const float *q, const float *out, float *dq, long qStride,
                                      const float *logSumExp, long lseStride,
                                      const float *k, const float *v, float *dk, float *dv, long kStride,
                                      long group, long queryCount, long past, long headDim, float scale);

// `count` floats of scratch owned by the calling thread, kept from call to call (grown when a
// call needs more, never shrunk): the fp32 attention kernels' tiles, so that a step allocates
// nothing. Valid until the same thread asks again.
float *swiftlet_thread_scratch_f32(long count);

#ifdef __cplusplus
}
#endif

#endif
