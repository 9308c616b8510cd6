#ifndef SWIFTLET_KQUANT_KERNELS_H
#define SWIFTLET_KQUANT_KERNELS_H

#include <stdint.h>

// Row products over ggml's k-quant weights (Q4_K, Q6_K: super-blocks of 256 values) with the
// activation quantized per 256 to Q8_K, computing what llama.cpp's CPU backend computes on an
// x86-64 with AVX2 or better: the same integers and the same fp32 operations in the same order,
// so the same bits.
//
// Q8_K (ggml's block_q8_K, 292 bytes a super-block): fp32 d at byte 0, 256 int8 values from
// byte 4, 16 int16 sums of each 16 values from byte 260. x's element of largest magnitude (the
// first of equals) is m, iscale = −127 / m, q = iscale · x rounded to nearest even, d = 1 / iscale.
//
// Q4_K rows are repacked per super-block (148 bytes; values unchanged): the 128 bytes of
// nibbles as stored (byte i of 32j..32j+31: low nibble value 64j + i, high 64j + 32 + i), the 8
// 6-bit scales and 8 mins unpacked to bytes, then fp16 d and dmin. A row's product is that of
// llama.cpp's repacked Q4_K kernel (ggml_gemv_q4_K_8x8_q8_K): per super-block the exact integer
// sums Σ sc·(q4·q8) and Σ min·bsum, each multiplied by d·d8 (resp. dmin·d8) into its own fp32
// accumulator by fused multiply-adds, the second subtracted at the end.
// Q6_K rows are the file's 210-byte blocks as stored. A row's product is that of
// ggml_vec_dot_q6_K_q8_K: eight int32 lanes per super-block (lane l: values 4l..4l+3 of every
// 32, scaled, less 32·Σ scale·bsum of sums 2l and 2l+1), each accumulated as d8·d times the lane
// by a fused multiply-add, the eight lanes summed ((0+4)+(2+6)) + ((1+5)+(3+7)).
//
// Variants: AVX512-VNNI (vpdpbusd) and portable C, chosen by swiftlet_quant_isa(): the C one
// for every other choice, so the tests compare the two bit for bit.

#ifdef __cplusplus
extern "C" {
#endif

// Bytes of one packed row of `superBlocks` super-blocks of ggml type 12 (Q4_K) or 14 (Q6_K);
// 0 for another type.
long swiftlet_kquant_row_bytes(int ggmlType, long superBlocks);

// Packs one row of GGUF blocks of that type. Returns 0, or -1 for another type.
int swiftlet_kquant_pack(int ggmlType, const uint8_t *source, long superBlocks, uint8_t *destination);

// Bytes of one activation row quantized to Q8_K, and the quantization of x[superBlocks·256].
long swiftlet_q8k_row_bytes(long superBlocks);
void swiftlet_q8k_quantize(const float *x, long superBlocks, uint8_t *out);

// y[i·ldy + r] (+)= Σ_k W[r][k] · X_i[k] for weight rows rowFrom ..< rowTo (packed rows of
// rowBytes at w) and `count` activation rows i quantized by swiftlet_q8k_quantize at q + i·qStride.
void swiftlet_kquant_rows(int ggmlType, const uint8_t *w, long rowBytes, long superBlocks, long rowFrom, long rowTo,
                          const uint8_t *q, long qStride, long count, float *y, long ldy, int accumulate);

#ifdef __cplusplus
}
#endif

#endif
