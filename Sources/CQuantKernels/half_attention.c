// llama.cpp's fp16 flash-attention arithmetic; see include/half_attention.h.
#include "half_attention.h"
#include "quant_kernels.h"
#include "half_float.h"

#include <math.h>
#include <string.h>

// Every fused multiply-add is written as fmaf, nothing else contracts: the portable variant
// computes what the vector one does.
#pragma clang fp contract(off)

// ---- portable ----------------------------------------------------------------------------------

static float round_half(float f) { return swiftlet_round_to_half(f); }

static void c_round(const float *x, float *y, long n) {
    for (long i = 0; i < n; i++) y[i] = round_half(x[i]);
}

static float c_dot(const float *a, const float *b, long n) {
    float acc[4][16] = {{0}};
    long whole = n - n % 64;
    for (long i = 0; i < whole; i++) acc[(i / 16) % 4][i % 16] = fmaf(a[i], b[i], acc[(i / 16) % 4][i % 16]);
    float lanes[16];
    for (int l = 0; l < 16; l++) lanes[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    for (int width = 8; width >= 1; width /= 2)
        for (int l = 0; l < width; l++) lanes[l] = lanes[l] + lanes[l + width];
    double sum = lanes[0];  // ggml_float: the leftovers are added in double
    for (long i = whole; i < n; i++) sum += (double)(a[i] * b[i]);
    return (float)sum;
}

static void c_scale(float *acc, float s, long n) {
    for (long i = 0; i < n; i++) acc[i] = round_half(acc[i] * s);
}

static void c_mad(float *acc, const float *v, float s, long n) {
    for (long i = 0; i < n; i++) acc[i] = round_half(fmaf(v[i], s, acc[i]));
}

// ---- F16C with AVX2 (x86-64) ---------------------------------------------------------------------

#if defined(__x86_64__)
#include <immintrin.h>
#define TARGET __attribute__((target("avx2,fma,f16c")))

TARGET static inline __m256 to_half(__m256 x) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

TARGET static void v_round(const float *x, float *y, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, to_half(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = round_half(x[i]);
}

// The 16 lanes of an AVX512 accumulator as two 8-lane halves: lo holds lanes 0–7, hi 8–15.
TARGET static float v_dot(const float *a, const float *b, long n) {
    __m256 lo[4], hi[4];
    for (int k = 0; k < 4; k++) lo[k] = hi[k] = _mm256_setzero_ps();
    long whole = n - n % 64;
    for (long i = 0; i < whole; i += 64)
        for (int k = 0; k < 4; k++) {
            lo[k] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16 * k), _mm256_loadu_ps(b + i + 16 * k), lo[k]);
            hi[k] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16 * k + 8), _mm256_loadu_ps(b + i + 16 * k + 8), hi[k]);
        }
    __m256 l = _mm256_add_ps(_mm256_add_ps(lo[0], lo[2]), _mm256_add_ps(lo[1], lo[3]));
    __m256 h = _mm256_add_ps(_mm256_add_ps(hi[0], hi[2]), _mm256_add_ps(hi[1], hi[3]));
    __m256 eight = _mm256_add_ps(l, h);  // lane l + lane l+8
    __m128 four = _mm_add_ps(_mm256_castps256_ps128(eight), _mm256_extractf128_ps(eight, 1));
    __m128 two = _mm_add_ps(four, _mm_movehl_ps(four, four));
    double sum = _mm_cvtss_f32(_mm_add_ss(two, _mm_shuffle_ps(two, two, 1)));
    for (long i = whole; i < n; i++) sum += (double)(a[i] * b[i]);
    return (float)sum;
}

TARGET static void v_scale(float *acc, float s, long n) {
    __m256 by = _mm256_set1_ps(s);
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(acc + i, to_half(_mm256_mul_ps(_mm256_loadu_ps(acc + i), by)));
    for (; i < n; i++) acc[i] = round_half(acc[i] * s);
}

TARGET static void v_mad(float *acc, const float *v, float s, long n) {
    __m256 by = _mm256_set1_ps(s);
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, to_half(_mm256_fmadd_ps(_mm256_loadu_ps(v + i), by, _mm256_loadu_ps(acc + i))));
    for (; i < n; i++) acc[i] = round_half(fmaf(v[i], s, acc[i]));
}
#undef TARGET
#define VECTOR (swiftlet_quant_isa() != SWIFTLET_ISA_C)
#else
#define VECTOR 0
#define v_round c_round
#define v_dot c_dot
#define v_scale c_scale
#define v_mad c_mad
#endif

void swiftlet_half_round(const float *x, float *y, long n) { VECTOR ? v_round(x, y, n) : c_round(x, y, n); }
float swiftlet_half_dot(const float *a, const float *b, long n) { return VECTOR ? v_dot(a, b, n) : c_dot(a, b, n); }
void swiftlet_half_scale(float *acc, float s, long n) { VECTOR ? v_scale(acc, s, n) : c_scale(acc, s, n); }
void swiftlet_half_mad(float *acc, const float *v, float s, long n) { VECTOR ? v_mad(acc, v, s, n) : c_mad(acc, v, s, n); }
