#ifndef SWIFTLET_HALF_ATTENTION_H
#define SWIFTLET_HALF_ATTENTION_H

// The arithmetic of llama.cpp's CPU flash attention over an fp16 KV cache (its default), for
// `--kv-cache f16`: keys, values and the scaled query rounded to fp16; each score the fp32 dot
// of two fp16 rows summed as ggml_vec_dot_f16 sums them with AVX512 (element i in lane i % 16
// of accumulator (i / 16) % 4, by fused multiply-adds; then accumulators 0+2, 1+3, 0+1 and the
// 16 lanes halved pairwise: l + l+8, l + l+4, l + l+2, 0 + 1); the output accumulated in fp16,
// rounded after every key (ggml_vec_mad_f16: fp32 fused multiply-add, then to fp16, to
// nearest even) and rescaled in fp16 when the running maximum grows (ggml_vec_scale_f16).
// Values are kept as fp32 numbers that fp16 represents exactly. Every function has an F16C
// variant (with AVX2) and a portable one, chosen by swiftlet_quant_isa(), giving the same bits.

#ifdef __cplusplus
extern "C" {
#endif

// y[i] = x[i] rounded to the nearest fp16 value (ties to even; overflow to ±infinity), as fp32.
void swiftlet_half_round(const float *x, float *y, long n);

// Σ a[i]·b[i] in ggml_vec_dot_f16's order (n a multiple of 64; a shorter tail is summed last,
// in order and in double, as its leftovers are).
float swiftlet_half_dot(const float *a, const float *b, long n);

// acc[i] = fp16(acc[i] · s).
void swiftlet_half_scale(float *acc, float s, long n);

// acc[i] = fp16(fma(v[i], s, acc[i])).
void swiftlet_half_mad(float *acc, const float *v, float s, long n);

#ifdef __cplusplus
}
#endif

#endif
