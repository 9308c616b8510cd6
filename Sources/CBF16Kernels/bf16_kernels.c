// bf16 attention and conversion kernels; see include/bf16_kernels.h for the contracts.
//
// Layout of the attention kernels. Every product is one microkernel (`product` below): eight
// output rows times up to 48 columns, C[r][c] = Σ_k A(r,k) · B(k,c), where A(r,k) is a bf16
// pair broadcast from a[r·ars + k·acs] and B(k, ·) a row of 16-lane pair vectors — so one
// vdpbf16ps does 16 columns × 2 terms of the sum. The attention's operands are laid out once
// per (sequence, head) to fit it:
//   pairs over d   [headDim/2][ld]: word (d2, j) = (x_j[2·d2], x_j[2·d2+1])   keys for Q·Kᵀ, values for dO·Vᵀ
//   pairs over j   [ld/2][headDim]: word (j2, c) = (x_{2·j2}[c], x_{2·j2+1}[c]) values for P·V, keys for dS·K
//   query rows in bf16, row-major (pairs over d): the broadcast side of Q·Kᵀ and dO·Vᵀ
//   probabilities and dS in bf16, row-major (pairs over j) for P·V and dS·K, and interleaved by
//   query-row pairs for the sums over rows, dV += Pᵀ·dO and dK += dSᵀ·Q.
// Softmax, log-sum-exp, the row dot products of the backward and every accumulator stay fp32.

#include "bf16_kernels.h"

// Twelve independent multiply-add chains, the body of the peak loops. Their operands go through
// OPAQUE so the compiler cannot fold the chains (from 0.1, a·0.999999 + 1e-7 is a fixed point,
// and clang removed the whole loop).
#define OPAQUE(x) __asm__ volatile("" : "+x"(x))
#define FMA_CHAINS(fma)                                                                            \
    a0 = fma(a0, b, c); a1 = fma(a1, b, c); a2 = fma(a2, b, c); a3 = fma(a3, b, c);                  \
    a4 = fma(a4, b, c); a5 = fma(a5, b, c); a6 = fma(a6, b, c); a7 = fma(a7, b, c);                  \
    a8 = fma(a8, b, c); a9 = fma(a9, b, c); a10 = fma(a10, b, c); a11 = fma(a11, b, c)

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define INLINE static inline __attribute__((always_inline))

static int detect(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid(1, a, b, c, d);
    if (!(c & (1u << 27))) return 0;  // OSXSAVE: xgetbv is usable
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6) != 0xE6) return 0;  // the OS saves xmm, ymm, opmask and both zmm halves
    __cpuid_count(7, 0, a, b, c, d);
    unsigned subleaves = a;
    if (!((b >> 16) & 1) || !((b >> 30) & 1) || !((b >> 31) & 1)) return 0;  // AVX512 F, BW, VL
    if (subleaves < 1) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (a >> 5) & 1;  // AVX512_BF16
}

int swiftlet_bf16_available(void) {
    static int cached = -1;  // a benign race: every thread computes the same value
    if (cached < 0) cached = detect();
    return cached;
}

BF16 void swiftlet_bf16_round(const float *src, uint16_t *dst, long count) {
    long i = 0;
    for (; i + 32 <= count; i += 32) {
        __m512bh r = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512(dst + i, (__m512i)r);
    }
    for (; i < count; i += 16) {
        long left = count - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m256bh r = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
        _mm256_mask_storeu_epi16(dst + i, m, (__m256i)r);
    }
}

BF16 float swiftlet_bf16_dot_loop(long iterations) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m512 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3F803F80);  // (1, 1)
    __m512bh y = (__m512bh)_mm512_set1_epi32(0x33D633D6);  // (1e-7, 1e-7) roughly
    for (long i = 0; i < iterations; i++) {
        a0 = _mm512_dpbf16_ps(a0, x, y); a1 = _mm512_dpbf16_ps(a1, x, y); a2 = _mm512_dpbf16_ps(a2, x, y);
        a3 = _mm512_dpbf16_ps(a3, x, y); a4 = _mm512_dpbf16_ps(a4, x, y); a5 = _mm512_dpbf16_ps(a5, x, y);
        a6 = _mm512_dpbf16_ps(a6, x, y); a7 = _mm512_dpbf16_ps(a7, x, y); a8 = _mm512_dpbf16_ps(a8, x, y);
        a9 = _mm512_dpbf16_ps(a9, x, y); a10 = _mm512_dpbf16_ps(a10, x, y); a11 = _mm512_dpbf16_ps(a11, x, y);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

// The fp32 FMA peak loops, one per vector width, each compiled by its own target attribute (the
// file has no -march) and chosen by CPUID: the fp32 peak is measured like the bf16 one above.
// (Written in C because Swift 6.3.1 compiled the same 12 SIMD16<Float> chains to 128-bit FMAs
// with stack spills.)

static int detect_fma_lanes(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, 0) < 7) return 1;
    __cpuid(1, a, b, c, d);
    if (!(c & (1u << 27)) || !(c & (1u << 28)) || !(c & (1u << 12))) return 1;  // OSXSAVE, AVX, FMA
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6) return 1;  // the OS saves xmm and ymm
    __cpuid_count(7, 0, a, b, c, d);
    if ((lo & 0xE6) == 0xE6 && ((b >> 16) & 1)) return 16;  // AVX512-F, opmask and zmm state saved
    return ((b >> 5) & 1) ? 8 : 1;                           // AVX2
}

int swiftlet_fp32_fma_lanes(void) {
    static int cached = 0;  // a benign race: every thread computes the same value
    if (cached == 0) cached = detect_fma_lanes();
    return cached;
}

__attribute__((target("avx512f"))) static float fma_loop_512(long iterations) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m512 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    OPAQUE(b); OPAQUE(c);
    for (long i = 0; i < iterations; i++) { FMA_CHAINS(_mm512_fmadd_ps); }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_256(long iterations) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    OPAQUE(b); OPAQUE(c);
    for (long i = 0; i < iterations; i++) { FMA_CHAINS(_mm256_fmadd_ps); }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static float fma_loop_scalar(long iterations);

float swiftlet_fp32_fma_loop(long iterations) {
    switch (swiftlet_fp32_fma_lanes()) {
    case 16: return fma_loop_512(iterations);
    case 8: return fma_loop_256(iterations);
    default: return fma_loop_scalar(iterations);
    }
}

// ---- building blocks ----------------------------------------------------------------------

#define ROWS 8  // output rows of the microkernel, and query rows per tile

INLINE BF16 __mmask16 lanes(long count) {
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
}

// exp(x) to ~2 ulp on [-87, 88] (the Swift kernels' fastExp): 2^n · p(f), n = round(x·log2 e).
INLINE BF16 __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.f)), _mm512_set1_ps(88.f));
    const __m512 magic = _mm512_set1_ps(12582912.f);  // 1.5 · 2²³
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504f));
    __m512 shifted = _mm512_add_ps(t, magic);
    __m512 n = _mm512_sub_ps(shifted, magic);
    __m512 f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_set1_ps(1.5403530e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
    __m512i bits = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(p, scale);
}

// Two rows of 16 floats as 16 pairs (a[i], b[i]).
INLINE BF16 __m512i interleave16(__m512 a, __m512 b) {
    const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                           23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

// The microkernel for CV column vectors (16 columns each), C = (accumulate ? C : 0) + scale · A·B.
INLINE BF16 void product_cv(int cv, const uint32_t *a, long ars, long acs, const uint32_t *b, long ldb, long depth,
                            float *c, long ldc, int accumulate, float scale) {
    __m512 acc[ROWS][3];
#pragma clang loop unroll(full)
    for (int r = 0; r < ROWS; r++)
#pragma clang loop unroll(full)
        for (int v = 0; v < 3; v++) acc[r][v] = _mm512_setzero_ps();
    for (long k = 0; k < depth; k++) {
        __m512bh bv[3];
#pragma clang loop unroll(full)
        for (int v = 0; v < 3; v++)
            if (v < cv) bv[v] = (__m512bh)_mm512_loadu_si512(b + k * ldb + 16 * v);
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r * ars + k * acs]);
#pragma clang loop unroll(full)
            for (int v = 0; v < 3; v++)
                if (v < cv) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
        }
    }
    const __m512 sv = _mm512_set1_ps(scale);
#pragma clang loop unroll(full)
    for (int r = 0; r < ROWS; r++)
#pragma clang loop unroll(full)
        for (int v = 0; v < 3; v++) {
            if (v >= cv) continue;
            float *out = c + r * ldc + 16 * v;
            __m512 x = accumulate ? _mm512_fmadd_ps(acc[r][v], sv, _mm512_loadu_ps(out)) : _mm512_mul_ps(acc[r][v], sv);
            _mm512_storeu_ps(out, x);
        }
}

static BF16 void product1(const uint32_t *a, long ars, long acs, const uint32_t *b, long ldb, long depth,
                          float *c, long ldc, int accumulate, float scale) {
    product_cv(1, a, ars, acs, b, ldb, depth, c, ldc, accumulate, scale);
}
static BF16 void product2(const uint32_t *a, long ars, long acs, const uint32_t *b, long ldb, long depth,
                          float *c, long ldc, int accumulate, float scale) {
    product_cv(2, a, ars, acs, b, ldb, depth, c, ldc, accumulate, scale);
}
static BF16 void product3(const uint32_t *a, long ars, long acs, const uint32_t *b, long ldb, long depth,
                          float *c, long ldc, int accumulate, float scale) {
    product_cv(3, a, ars, acs, b, ldb, depth, c, ldc, accumulate, scale);
}

// C[8 × columns] (columns a multiple of 16): column blocks of 48, or of 32 when that divides evenly.
static BF16 void product(const uint32_t *a, long ars, long acs, const uint32_t *b, long ldb, long depth,
                         float *c, long ldc, long columns, int accumulate, float scale) {
    long c0 = 0;
    if (columns % 48 != 0 && columns % 32 == 0) {
        for (; c0 < columns; c0 += 32) product2(a, ars, acs, b + c0, ldb, depth, c + c0, ldc, accumulate, scale);
        return;
    }
    for (; c0 + 48 <= columns; c0 += 48) product3(a, ars, acs, b + c0, ldb, depth, c + c0, ldc, accumulate, scale);
    if (columns - c0 == 32) product2(a, ars, acs, b + c0, ldb, depth, c + c0, ldc, accumulate, scale);
    else if (columns - c0 == 16) product1(a, ars, acs, b + c0, ldb, depth, c + c0, ldc, accumulate, scale);
}

// One row of headDim floats as headDim/2 pairs.
INLINE BF16 void row_to_pairs(const float *x, long headDim, uint32_t *dst) {
    for (long d = 0; d < headDim; d += 32) {
        if (d + 32 <= headDim) {
            _mm512_storeu_si512(dst + d / 2, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + d + 16), _mm512_loadu_ps(x + d)));
        } else {
            _mm256_storeu_si256((__m256i *)(dst + d / 2), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + d)));
        }
    }
}

// Rows j < count of x (at stride) as pairs over d: dst[d2 · ld + j]; keys count ..< ld are zero.
static BF16 void pairs_over_d(const float *x, long stride, long count, long headDim, uint32_t *dst, long ld) {
    uint32_t row[256];
    for (long j = 0; j < count; j++) {
        row_to_pairs(x + j * stride, headDim, row);
        for (long d2 = 0; d2 < headDim / 2; d2++) dst[d2 * ld + j] = row[d2];
    }
    for (long d2 = 0; d2 < headDim / 2; d2++) memset(dst + d2 * ld + count, 0, (size_t)(ld - count) * 4);
}

// Rows of x (at stride) paired: dst[j2 · headDim + c] = (x_{2·j2}[c], x_{2·j2+1}[c]) for j2 < ld/2;
// rows count ..< ld are zero.
static BF16 void pairs_over_rows(const float *x, long stride, long count, long headDim, uint32_t *dst, long ld) {
    for (long j2 = 0; j2 < ld / 2; j2++) {
        long j = 2 * j2;
        for (long c = 0; c < headDim; c += 16) {
            __m512 lo = j < count ? _mm512_loadu_ps(x + j * stride + c) : _mm512_setzero_ps();
            __m512 hi = j + 1 < count ? _mm512_loadu_ps(x + (j + 1) * stride + c) : _mm512_setzero_ps();
            _mm512_storeu_si512(dst + j2 * headDim + c, interleave16(lo, hi));
        }
    }
}

// `rows` (≤ ROWS) rows of x as ROWS rows of pairs over d (dst[r · headDim/2 + d2]); missing rows are zero.
static BF16 void tile_rows(const float *x, long stride, long rows, long headDim, uint32_t *dst) {
    for (long r = 0; r < ROWS; r++) {
        if (r < rows) row_to_pairs(x + r * stride, headDim, dst + r * (headDim / 2));
        else memset(dst + r * (headDim / 2), 0, (size_t)headDim * 2);
    }
}

INLINE BF16 long round_up(long x, long m) { return (x + m - 1) / m * m; }

// Scratch kept per thread from call to call: a fresh allocation of this size each time is a
// fresh mapping whose pages fault in and are zeroed on every call.
static uint32_t *thread_scratch(size_t words) {
    static __thread uint32_t *cached;
    static __thread size_t capacity;
    if (words > capacity) {
        free(cached);
        capacity = (words + 1023) & ~(size_t)1023;
        cached = aligned_alloc(64, capacity * 4);
    }
    return cached;
}

// ---- forward ------------------------------------------------------------------------------

BF16 void swiftlet_bf16_attention_forward(const float *q, long qStride, const float *k, const float *v, long kStride,
                                          float *out, uint16_t *outBits, float *logSumExp, long lseStride,
                                          long queryCount, long past, long headDim, float scale) {
    const long keyRows = past + queryCount;
    const long ld = round_up(keyRows, 16);
    const long half = headDim / 2;
    // kPairs [half][ld], vPairs [ld/2][headDim], queries [ROWS][half] (pairs), scores [ROWS][ld]
    // (fp32), probabilities [ROWS][ld/2] (pairs), tile [ROWS][headDim] (fp32).
    size_t words = (size_t)(half * ld + ld / 2 * headDim + ROWS * half + ROWS * ld + ROWS * ld / 2 + ROWS * headDim);
    uint32_t *scratch = thread_scratch(words);
    uint32_t *kPairs = scratch, *vPairs = kPairs + half * ld, *queries = vPairs + ld / 2 * headDim;
    float *scores = (float *)(queries + ROWS * half);
    uint32_t *probabilities = (uint32_t *)(scores + ROWS * ld);
    float *tile = (float *)(probabilities + ROWS * ld / 2);
    pairs_over_d(k, kStride, keyRows, headDim, kPairs, ld);
    pairs_over_rows(v, kStride, keyRows, headDim, vPairs, ld);

    for (long r0 = 0; r0 < queryCount; r0 += ROWS) {
        const long n = queryCount - r0 < ROWS ? queryCount - r0 : ROWS;
        const long width = round_up(past + r0 + n, 16);  // keys any row of the tile sees, padded
        tile_rows(q + r0 * qStride, qStride, n, headDim, queries);
        product(queries, half, 1, kPairs, ld, half, scores, ld, width, 0, scale);
        for (long r = 0; r < ROWS; r++) {
            float *s = scores + r * ld;
            uint32_t *p = probabilities + r * (ld / 2);
            if (r >= n) {
                memset(p, 0, (size_t)width * 2);
                continue;
            }
            const long valid = past + r0 + r + 1;
            __m512 m = _mm512_set1_ps(-3.0e38f);
            for (long j = 0; j < valid; j += 16) m = _mm512_mask_max_ps(m, lanes(valid - j), m, _mm512_loadu_ps(s + j));
            const float maxScore = _mm512_reduce_max_ps(m);
            __m512 sum = _mm512_setzero_ps();
            for (long j = 0; j < width; j += 16) {
                __m512 e = _mm512_maskz_mov_ps(lanes(valid - j), exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), _mm512_set1_ps(maxScore))));
                _mm512_storeu_ps(s + j, e);
                sum = _mm512_add_ps(sum, e);
            }
            const float total = _mm512_reduce_add_ps(sum);
            logSumExp[(r0 + r) * lseStride] = maxScore + __builtin_logf(total);
            const __m512 inverse = _mm512_set1_ps(1.f / total);
            for (long j = 0; j < width; j += 32) {
                __m512 lo = _mm512_mul_ps(_mm512_loadu_ps(s + j), inverse);
                if (j + 32 <= width) {
                    __m512 hi = _mm512_mul_ps(_mm512_loadu_ps(s + j + 16), inverse);
                    _mm512_storeu_si512(p + j / 2, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                } else {
                    _mm256_storeu_si256((__m256i *)(p + j / 2), (__m256i)_mm512_cvtneps_pbh(lo));
                }
            }
        }
        product(probabilities, ld / 2, 1, vPairs, headDim, width / 2, tile, headDim, headDim, 0, 1);
        for (long r = 0; r < n; r++) {
            memcpy(out + (r0 + r) * qStride, tile + r * headDim, (size_t)headDim * 4);
            if (outBits) {
                for (long d = 0; d < headDim; d += 16)
                    _mm256_storeu_si256((__m256i *)(outBits + (r0 + r) * qStride + d),
                                        (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(tile + r * headDim + d)));
            }
        }
    }
}

// ---- backward -----------------------------------------------------------------------------

BF16 void swiftlet_bf16_attention_backward(const float *dout, const float *q, const float *out, float *dq, long qStride,
                                           const float *logSumExp, long lseStride,
                                           const float *k, const float *v, float *dk, float *dv, long kStride,
                                           long group, long queryCount, long past, long headDim, float scale) {
    const long keyRows = past + queryCount;
    const long ld = round_up(keyRows, 16);
    const long half = headDim / 2;
    // kPairs, vPairs [half][ld] (pairs over d); kRows [ld/2][headDim] (pairs over keys);
    // dkSum, dvSum [ld][headDim] fp32; per tile: queries, gradients [ROWS][half]; queryPairs,
    // gradientPairs [ROWS/2][headDim]; probabilities, dScores [ROWS][ld] fp32; dScoreRows
    // [ROWS][ld/2]; probabilityPairs, dScorePairs [ROWS/2][ld]; tile [ROWS][headDim] fp32.
    size_t words = (size_t)(2 * half * ld + ld / 2 * headDim + 2 * ld * headDim + 2 * ROWS * half + ROWS * headDim +
                            2 * ROWS * ld + ROWS * ld / 2 + ROWS * ld + ROWS * headDim);
    uint32_t *scratch = thread_scratch(words);
    uint32_t *kPairs = scratch, *vPairs = kPairs + half * ld, *kRows = vPairs + half * ld;
    float *dkSum = (float *)(kRows + ld / 2 * headDim), *dvSum = dkSum + ld * headDim;
    uint32_t *queries = (uint32_t *)(dvSum + ld * headDim), *gradients = queries + ROWS * half;
    uint32_t *queryPairs = gradients + ROWS * half, *gradientPairs = queryPairs + ROWS / 2 * headDim;
    float *probabilities = (float *)(gradientPairs + ROWS / 2 * headDim), *dScores = probabilities + ROWS * ld;
    uint32_t *dScoreRows = (uint32_t *)(dScores + ROWS * ld);
    uint32_t *probabilityPairs = dScoreRows + ROWS * ld / 2, *dScorePairs = probabilityPairs + ROWS / 2 * ld;
    float *tile = (float *)(dScorePairs + ROWS / 2 * ld);
    pairs_over_d(k, kStride, keyRows, headDim, kPairs, ld);
    pairs_over_d(v, kStride, keyRows, headDim, vPairs, ld);
    pairs_over_rows(k, kStride, keyRows, headDim, kRows, ld);
    memset(dkSum, 0, (size_t)(2 * ld * headDim) * 4);

    for (long g = 0; g < group; g++) {
        const float *qg = q + g * headDim, *dog = dout + g * headDim, *og = out + g * headDim;
        float *dqg = dq + g * headDim;
        const float *lse = logSumExp + g;
        for (long r0 = 0; r0 < queryCount; r0 += ROWS) {
            const long n = queryCount - r0 < ROWS ? queryCount - r0 : ROWS;
            const long width = round_up(past + r0 + n, 16);
            tile_rows(qg + r0 * qStride, qStride, n, headDim, queries);
            tile_rows(dog + r0 * qStride, qStride, n, headDim, gradients);
            pairs_over_rows(qg + r0 * qStride, qStride, n, headDim, queryPairs, ROWS);
            pairs_over_rows(dog + r0 * qStride, qStride, n, headDim, gradientPairs, ROWS);
            product(queries, half, 1, kPairs, ld, half, probabilities, ld, width, 0, scale);  // S = Q·Kᵀ·scale
            product(gradients, half, 1, vPairs, ld, half, dScores, ld, width, 0, 1);          // dP = dO·Vᵀ
            for (long r = 0; r < ROWS; r++) {
                float *p = probabilities + r * ld, *ds = dScores + r * ld;
                if (r >= n) {
                    memset(p, 0, (size_t)width * 4);
                    memset(ds, 0, (size_t)width * 4);
                    continue;
                }
                const long row = r0 + r, valid = past + row + 1;
                const float *gr = dog + row * qStride, *orow = og + row * qStride;
                __m512 dotv = _mm512_setzero_ps();
                for (long d = 0; d < headDim; d += 16) dotv = _mm512_fmadd_ps(_mm512_loadu_ps(gr + d), _mm512_loadu_ps(orow + d), dotv);
                const __m512 rowDot = _mm512_set1_ps(_mm512_reduce_add_ps(dotv));
                const __m512 shift = _mm512_set1_ps(lse[row * lseStride]), sv = _mm512_set1_ps(scale);
                for (long j = 0; j < width; j += 16) {
                    // P = exp(S − lse); dS = P ⊙ (dP − rowsum(dO ⊙ O)) · scale
                    __m512 e = _mm512_maskz_mov_ps(lanes(valid - j), exp16(_mm512_sub_ps(_mm512_loadu_ps(p + j), shift)));
                    _mm512_storeu_ps(p + j, e);
                    _mm512_storeu_ps(ds + j, _mm512_mul_ps(_mm512_mul_ps(e, _mm512_sub_ps(_mm512_loadu_ps(ds + j), rowDot)), sv));
                }
            }
            // dS rows in bf16 (pairs over keys), and P and dS interleaved by row pairs.
            for (long r = 0; r < ROWS; r++) {
                const float *ds = dScores + r * ld;
                uint32_t *dst = dScoreRows + r * (ld / 2);
                for (long j = 0; j < width; j += 32) {
                    if (j + 32 <= width) _mm512_storeu_si512(dst + j / 2, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(ds + j + 16), _mm512_loadu_ps(ds + j)));
                    else _mm256_storeu_si256((__m256i *)(dst + j / 2), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(ds + j)));
                }
            }
            for (long i2 = 0; i2 < ROWS / 2; i2++) {
                const float *p0 = probabilities + 2 * i2 * ld, *p1 = p0 + ld;
                const float *d0 = dScores + 2 * i2 * ld, *d1 = d0 + ld;
                for (long j = 0; j < width; j += 16) {
                    _mm512_storeu_si512(probabilityPairs + i2 * ld + j, interleave16(_mm512_loadu_ps(p0 + j), _mm512_loadu_ps(p1 + j)));
                    _mm512_storeu_si512(dScorePairs + i2 * ld + j, interleave16(_mm512_loadu_ps(d0 + j), _mm512_loadu_ps(d1 + j)));
                }
            }
            // dQ = dS·K, complete for these rows.
            product(dScoreRows, ld / 2, 1, kRows, headDim, width / 2, tile, headDim, headDim, 0, 1);
            for (long r = 0; r < n; r++) memcpy(dqg + (r0 + r) * qStride, tile + r * headDim, (size_t)headDim * 4);
            // dV += Pᵀ·dO and dK += dSᵀ·Q over these rows, eight keys at a time.
            for (long j0 = 0; j0 < width; j0 += ROWS) {
                product(probabilityPairs + j0, 1, ld, gradientPairs, headDim, ROWS / 2, dvSum + j0 * headDim, headDim, headDim, 1, 1);
                product(dScorePairs + j0, 1, ld, queryPairs, headDim, ROWS / 2, dkSum + j0 * headDim, headDim, headDim, 1, 1);
            }
        }
    }
    for (long j = 0; j < keyRows; j++) {
        memcpy(dk + j * kStride, dkSum + j * headDim, (size_t)headDim * 4);
        memcpy(dv + j * kStride, dvSum + j * headDim, (size_t)headDim * 4);
    }
}

#else  // not x86-64: no AVX512-BF16; the Swift side never calls these.

int swiftlet_bf16_available(void) { return 0; }
void swiftlet_bf16_round(const float *src, uint16_t *dst, long count) { (void)src; (void)dst; (void)count; __builtin_trap(); }
float swiftlet_bf16_dot_loop(long iterations) { (void)iterations; __builtin_trap(); }
int swiftlet_fp32_fma_lanes(void) { return 1; }
static float fma_loop_scalar(long iterations);
float swiftlet_fp32_fma_loop(long iterations) { return fma_loop_scalar(iterations); }
void swiftlet_bf16_attention_forward(const float *q, long qStride, const float *k, const float *v, long kStride,
                                     float *out, uint16_t *outBits, float *logSumExp, long lseStride,
                                     long queryCount, long past, long headDim, float scale) {
    __builtin_trap();
}
void swiftlet_bf16_attention_backward(const float *dout, const float *q, const float *out, float *dq, long qStride,
                                      const float *logSumExp, long lseStride,
                                      const float *k, const float *v, float *dk, float *dv, long kStride,
                                      long group, long queryCount, long past, long headDim, float scale) {
    __builtin_trap();
}

#endif

// The portable fp32 loop: 12 scalar chains of a·b + c (2 flops each, fused or not).
static float fma_loop_scalar(long iterations) {
    float a0 = 0, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
    float a10 = a0, a11 = a0;
    float b = 0.999999f, c = 1e-7f;
    OPAQUE(b); OPAQUE(c);
#define SCALAR_FMA(x, y, z) ((x) * (y) + (z))
    for (long i = 0; i < iterations; i++) { FMA_CHAINS(SCALAR_FMA); }
#undef SCALAR_FMA
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
}

// Not bf16, but C for the thread-local storage Swift lacks.
#include <stdlib.h>

float *swiftlet_thread_scratch_f32(long count) {
    static __thread float *cached;
    static __thread long capacity;
    if (count > capacity) {
        free(cached);
        capacity = (count + 1023) & ~1023L;
        cached = aligned_alloc(64, (size_t)capacity * 4);
    }
    return cached;
}
