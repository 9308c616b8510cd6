// k-quant row products with Q8_K activations; see include/kquant_kernels.h for the layouts and
// the arithmetic (llama.cpp's, operation for operation).
#include "kquant_kernels.h"
#include "quant_kernels.h"
#include "half_float.h"

#include <math.h>
#include <string.h>

// Every fused multiply-add is written as fmaf: no other contraction, so the portable variant
// computes exactly what the vector one does.
#pragma clang fp contract(off)

enum { Q4K = 12, Q6K = 14, Q4K_PACKED = 148, Q6K_BYTES = 210, Q8K_BYTES = 292 };

static float fp16_to_fp32(const uint8_t *p) { return swiftlet_half_to_float((uint16_t)(p[0] | p[1] << 8)); }

long swiftlet_kquant_row_bytes(int ggmlType, long superBlocks) {
    return ggmlType == Q4K ? superBlocks * Q4K_PACKED : ggmlType == Q6K ? superBlocks * Q6K_BYTES : 0;
}

int swiftlet_kquant_pack(int ggmlType, const uint8_t *source, long superBlocks, uint8_t *out) {
    if (ggmlType == Q6K) {
        memcpy(out, source, (size_t)superBlocks * Q6K_BYTES);
        return 0;
    }
    if (ggmlType != Q4K) return -1;
    for (long b = 0; b < superBlocks; b++) {
        const uint8_t *block = source + b * 144, *s = block + 4;  // d, dmin, 12 bytes of scales, 128 of nibbles
        uint8_t *o = out + b * Q4K_PACKED;
        memcpy(o, block + 16, 128);
        for (int j = 0; j < 8; j++) {  // ggml's 6-bit packing: j < 4 in the low bits, the rest split
            o[128 + j] = j < 4 ? (s[j] & 63) : (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
            o[136 + j] = j < 4 ? (s[j + 4] & 63) : (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
        }
        memcpy(o + 144, block, 4);
    }
    return 0;
}

long swiftlet_q8k_row_bytes(long superBlocks) { return superBlocks * Q8K_BYTES; }

// ggml's quantize_row_q8_K_ref (which every x86 build uses): one scalar loop, no variants.
void swiftlet_q8k_quantize(const float *x, long superBlocks, uint8_t *out) {
    for (long b = 0; b < superBlocks; b++, x += 256, out += Q8K_BYTES) {
        float max = 0, amax = 0;
        for (int i = 0; i < 256; i++) {
            float a = fabsf(x[i]);
            if (a > amax) { amax = a; max = x[i]; }
        }
        int8_t *q = (int8_t *)(out + 4);
        int16_t sums[16];
        float d = 0;
        if (amax == 0) {
            memset(q, 0, 256);
        } else {
            float iscale = -127.f / max;
            for (int i = 0; i < 256; i++) {
                float v = nearbyintf(iscale * x[i]);
                q[i] = (int8_t)(v > 127 ? 127 : v);
            }
            d = 1 / iscale;
        }
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += q[16 * j + i];
            sums[j] = (int16_t)s;
        }
        memcpy(out, &d, 4);
        memcpy(out + 260, sums, 32);
    }
}

// ---- the portable variant ----------------------------------------------------------------------

static float c_row_q4k(const uint8_t *w, const uint8_t *a, long superBlocks) {
    float acc = 0, mins = 0;
    for (long b = 0; b < superBlocks; b++, w += Q4K_PACKED, a += Q8K_BYTES) {
        const int8_t *q8 = (const int8_t *)(a + 4);
        int16_t sums[16];
        memcpy(sums, a + 260, 32);
        float d8;
        memcpy(&d8, a, 4);
        int32_t sum = 0, minSum = 0;
        for (int s = 0; s < 8; s++) {
            int32_t dot = 0;
            for (int i = 0; i < 32; i++) {
                uint8_t byte = w[32 * (s / 2) + i];
                dot += (s % 2 ? byte >> 4 : byte & 0xF) * q8[32 * s + i];
            }
            sum += w[128 + s] * dot;
            minSum += w[136 + s] * (sums[2 * s] + sums[2 * s + 1]);
        }
        acc = fmaf((float)sum, fp16_to_fp32(w + 144) * d8, acc);
        mins = fmaf((float)minSum, fp16_to_fp32(w + 146) * d8, mins);
    }
    return acc - mins;
}

static float sum_lanes(const float a[8]) {
    float r0 = a[0] + a[4], r1 = a[1] + a[5], r2 = a[2] + a[6], r3 = a[3] + a[7];
    return (r0 + r2) + (r1 + r3);
}

static float c_row_q6k(const uint8_t *w, const uint8_t *a, long superBlocks) {
    float acc[8] = {0};
    for (long b = 0; b < superBlocks; b++, w += Q6K_BYTES, a += Q8K_BYTES) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *scales = (const int8_t *)(w + 192), *q8 = (const int8_t *)(a + 4);
        int16_t sums[16];
        memcpy(sums, a + 260, 32);
        float d8;
        memcpy(&d8, a, 4);
        int32_t lanes[8] = {0};
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 4; c++)  // value 128n + 32c + l: nibble c / 2 of ql, bits 2c of qh
                for (int l = 0; l < 32; l++) {
                    uint8_t low = ql[64 * n + 32 * (c % 2) + l], high = qh[32 * n + l];
                    int v = (c < 2 ? low & 0xF : low >> 4) | ((high >> (2 * c)) & 3) << 4;
                    lanes[l / 4] += scales[8 * n + 2 * c + l / 16] * (v * q8[128 * n + 32 * c + l]);
                }
        float d = d8 * fp16_to_fp32(w + 208);
        for (int l = 0; l < 8; l++) {
            lanes[l] -= 32 * (sums[2 * l] * scales[2 * l] + sums[2 * l + 1] * scales[2 * l + 1]);
            acc[l] = fmaf(d, (float)lanes[l], acc[l]);
        }
    }
    return sum_lanes(acc);
}

typedef float (*row_fn)(const uint8_t *, const uint8_t *, long);

// ---- AVX512-VNNI (x86-64) ------------------------------------------------------------------------

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

TARGET static inline float half_at(const uint8_t *p) {
    unsigned short h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// Four bytes of `p` widened to 16 int32 lanes, each repeated four times.
TARGET static inline __m512i scale_lanes(const int8_t *p) {
    int32_t word;
    memcpy(&word, p, 4);
    __m128i repeated = _mm_shuffle_epi8(_mm_cvtsi32_si128(word), _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
    return _mm512_cvtepi8_epi32(repeated);
}

TARGET static float avx512_row_q4k(const uint8_t *w, const uint8_t *a, long superBlocks) {
    const __m512i nibble = _mm512_set1_epi8(0x0F), zero = _mm512_setzero_si512();
    float acc = 0, mins = 0;
    for (long b = 0; b < superBlocks; b++, w += Q4K_PACKED, a += Q8K_BYTES) {
        __m512i sum = zero;
        for (int j = 0; j < 4; j++) {  // sub-blocks 2j (low nibbles) and 2j + 1 (high) in one vector
            __m256i raw = _mm256_loadu_si256((const __m256i *)(w + 32 * j));
            __m512i values = _mm512_and_si512(
                _mm512_inserti64x4(_mm512_castsi256_si512(raw), _mm256_srli_epi16(raw, 4), 1), nibble);
            __m512i dot = _mm512_dpbusd_epi32(zero, values, _mm512_loadu_si512((const void *)(a + 4 + 64 * j)));
            __m512i scale = _mm512_inserti64x4(_mm512_set1_epi32(w[128 + 2 * j]), _mm256_set1_epi32(w[129 + 2 * j]), 1);
            sum = _mm512_add_epi32(sum, _mm512_mullo_epi32(dot, scale));
        }
        // Σ min_s · (bsum 2s + bsum 2s+1): the pairs by vpmaddwd against each min repeated twice.
        __m256i sums = _mm256_loadu_si256((const __m256i *)(a + 260));
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(
            _mm_loadl_epi64((const __m128i *)(w + 136)), _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)));
        __m256i minProducts = _mm256_madd_epi16(sums, mins16);
        __m128i m4 = _mm_add_epi32(_mm256_castsi256_si128(minProducts), _mm256_extracti128_si256(minProducts, 1));
        m4 = _mm_add_epi32(m4, _mm_unpackhi_epi64(m4, m4));
        int32_t minSum = _mm_cvtsi128_si32(_mm_add_epi32(m4, _mm_shuffle_epi32(m4, 1)));
        float d8;
        memcpy(&d8, a, 4);
        acc = fmaf((float)_mm512_reduce_add_epi32(sum), half_at(w + 144) * d8, acc);
        mins = fmaf((float)minSum, half_at(w + 146) * d8, mins);
    }
    return acc - mins;
}

TARGET static float avx512_row_q6k(const uint8_t *w, const uint8_t *a, long superBlocks) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), low2 = _mm512_set1_epi8(0x03), zero = _mm512_setzero_si512();
    // Per 16-bit lane: the high bits of groups c and c + 1 of a 64-value half (2c and 2c + 2).
    const __m512i shift01 = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    const __m512i shift23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
    __m256 acc = _mm256_setzero_ps();
    for (long b = 0; b < superBlocks; b++, w += Q6K_BYTES, a += Q8K_BYTES) {
        const int8_t *scales = (const int8_t *)(w + 192);
        __m512i lanes = zero;
        for (int n = 0; n < 2; n++) {
            __m512i ql = _mm512_loadu_si512((const void *)(w + 64 * n));
            __m256i h = _mm256_loadu_si256((const __m256i *)(w + 128 + 32 * n));
            __m512i qh = _mm512_inserti64x4(_mm512_castsi256_si512(h), h, 1);
            __m512i v01 = _mm512_or_si512(_mm512_and_si512(ql, low4),
                                          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift01), low2), 4));
            __m512i v23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                                          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift23), low2), 4));
            const int8_t *q8 = (const int8_t *)(a + 4 + 128 * n);
            __m512i d01 = _mm512_dpbusd_epi32(zero, v01, _mm512_loadu_si512((const void *)q8));
            __m512i d23 = _mm512_dpbusd_epi32(zero, v23, _mm512_loadu_si512((const void *)(q8 + 64)));
            lanes = _mm512_add_epi32(lanes, _mm512_mullo_epi32(d01, scale_lanes(scales + 8 * n)));
            lanes = _mm512_add_epi32(lanes, _mm512_mullo_epi32(d23, scale_lanes(scales + 8 * n + 4)));
        }
        __m256i eight = _mm256_add_epi32(_mm512_castsi512_si256(lanes), _mm512_extracti64x4_epi64(lanes, 1));
        __m256i correction = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(a + 260)),
                                               _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scales)));
        eight = _mm256_sub_epi32(eight, _mm256_slli_epi32(correction, 5));
        float d8;
        memcpy(&d8, a, 4);
        float d = d8 * half_at(w + 208);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(eight), acc);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    return sum_lanes(lanes);
}
#undef TARGET
#endif

void swiftlet_kquant_rows(int ggmlType, const uint8_t *w, long rowBytes, long superBlocks, long rowFrom, long rowTo,
                          const uint8_t *q, long qStride, long count, float *y, long ldy, int accumulate) {
    row_fn row = ggmlType == Q4K ? c_row_q4k : c_row_q6k;
#if defined(__x86_64__)
    if (swiftlet_quant_isa() == SWIFTLET_ISA_AVX512VNNI) row = ggmlType == Q4K ? avx512_row_q4k : avx512_row_q6k;
#endif
    for (long r = rowFrom; r < rowTo; r++)
        for (long i = 0; i < count; i++) {
            float s = row(w + r * rowBytes, q + i * qStride, superBlocks);
            float *out = y + i * ldy + r;
            *out = accumulate ? *out + s : s;
        }
}
