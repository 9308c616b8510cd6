// Quantized row products; see include/quant_kernels.h for the layouts and contracts.
#include "quant_kernels.h"
#include "half_float.h"

#include <math.h>
#include <string.h>

// The portable variant states every fused multiply-add as fmaf: no other contraction, so it
// computes exactly what the vector variants do.
#pragma clang fp contract(off)

// ---- ggml's blocks ---------------------------------------------------------------------------

static uint16_t load16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

// The 32 values of block b of a row as small integers, with their scale (and min): x = scale·v
// (Q8_0, Q5_0, Q6_K's two halves), x = scale·v − min (Q4_K), x = d·(v − 8) (Q4_0, kept as
// nibbles).
static void q8_0_block(const uint8_t *row, long b, int8_t v[32], uint16_t *scale) {
    const uint8_t *block = row + b * 34;
    *scale = load16(block);
    memcpy(v, block + 2, 32);
}

static void q5_0_block(const uint8_t *row, long b, int8_t v[32], uint16_t *scale) {
    const uint8_t *block = row + b * 22;
    *scale = load16(block);
    uint32_t qh = (uint32_t)block[2] | (uint32_t)block[3] << 8 | (uint32_t)block[4] << 16 | (uint32_t)block[5] << 24;
    for (int j = 0; j < 16; j++) {
        uint8_t q = block[6 + j];
        v[j] = (int8_t)(((q & 0xF) | ((qh >> j) & 1) << 4) - 16);
        v[j + 16] = (int8_t)(((q >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16);
    }
}

// Q4_K's j-th 6-bit scale and min (ggml's get_scale_min_k4).
static void scale_min_k4(int j, const uint8_t *s, uint8_t *scale, uint8_t *min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Q4_K sub-block b: nibbles repacked as Q4_0's (byte i = v[i] | v[i+16] << 4).
static void q4_k_block(const uint8_t *row, long b, uint8_t nibbles[16], float *scale, float *min) {
    const uint8_t *block = row + (b / 8) * 144;
    int sub = (int)(b % 8);
    float d = swiftlet_half_to_float(load16(block)), dmin = swiftlet_half_to_float(load16(block + 2));
    uint8_t sc, m;
    scale_min_k4(sub, block + 4, &sc, &m);
    *scale = d * (float)sc;
    *min = dmin * (float)m;
    const uint8_t *q = block + 16 + 32 * (sub / 2);
    int shift = (sub % 2) * 4;
    for (int i = 0; i < 16; i++) {
        nibbles[i] = (uint8_t)(((q[i] >> shift) & 0xF) | ((q[i + 16] >> shift) & 0xF) << 4);
    }
}

// Q6_K sub-block b (values 32b ..< 32b + 32 of its super-block): value e of the super-block has
// the low nibble of ql[64·half + l (+32 for quarters 1, 3)] (high nibble for quarters 2, 3) and
// bits 2·quarter of qh[32·half + l], where e = 128·half + 32·quarter + l; scale e / 16.
static void q6_k_block(const uint8_t *row, long b, int8_t v[32], float *scaleLow, float *scaleHigh) {
    const uint8_t *block = row + (b / 8) * 210;
    int sub = (int)(b % 8), half = sub / 4, quarter = sub % 4;
    float d = swiftlet_half_to_float(load16(block + 208));
    const uint8_t *ql = block + 64 * half + (quarter % 2) * 32, *qh = block + 128 + 32 * half;
    const int8_t *scales = (const int8_t *)(block + 192);
    for (int l = 0; l < 32; l++) {
        int low = quarter < 2 ? (ql[l] & 0xF) : (ql[l] >> 4);
        v[l] = (int8_t)((low | ((qh[l] >> (2 * quarter)) & 3) << 4) - 32);
    }
    *scaleLow = d * (float)scales[2 * sub];
    *scaleHigh = d * (float)scales[2 * sub + 1];
}

long swiftlet_quant_row_bytes(int kind, long blocks) {
    switch (kind) {
    case SWIFTLET_KIND_Q8: return blocks * 34;
    case SWIFTLET_KIND_Q6: return blocks * 40;
    case SWIFTLET_KIND_Q4: return blocks * 18;
    case SWIFTLET_KIND_Q5: return blocks * 22;
    default: return blocks * 24;
    }
}

int swiftlet_quant_pack(int ggmlType, const uint8_t *source, long blocks, uint8_t *out) {
    if ((ggmlType == 12 || ggmlType == 14) && blocks % 8 != 0) return -1;
    if (ggmlType != 8 && ggmlType != 6 && ggmlType != 2 && ggmlType != 12 && ggmlType != 14) return -1;
    for (long g = 0; g < blocks; g += 8) {
        long s = blocks - g < 8 ? blocks - g : 8;
        for (long j = 0; j < s; j++) {
            long b = g + j;
            int8_t v[32];
            uint8_t nibbles[16];
            uint16_t half;
            float scale, other;
            switch (ggmlType) {
            case 6: {  // Q5_0: 4 vectors of low nibbles, the high bits, s fp16 scales
                const uint8_t *block = source + b * 22;
                half = load16(block);
                for (int k = 0; k < 4; k++)
                    for (int t = 0; t < 4; t++) out[(k * s + j) * 4 + t] = block[6 + 4 * k + t];
                memcpy(out + 16 * s + 4 * j, block + 2, 4);
                memcpy(out + 20 * s + 2 * j, &half, 2);
                break;
            }
            case 8:  // Q8_0: 8 vectors of q + 128, s fp16 scales
                q8_0_block(source, b, v, &half);
                for (int k = 0; k < 8; k++)
                    for (int t = 0; t < 4; t++) out[(k * s + j) * 4 + t] = (uint8_t)(v[4 * k + t] + 128);
                memcpy(out + 32 * s + 2 * j, &half, 2);
                break;
            case 14:  // Q6_K: as Q8, then s fp32 scales of values 0–15 and s of 16–31
                q6_k_block(source, b, v, &scale, &other);
                for (int k = 0; k < 8; k++)
                    for (int t = 0; t < 4; t++) out[(k * s + j) * 4 + t] = (uint8_t)(v[4 * k + t] + 128);
                memcpy(out + 32 * s + 4 * j, &scale, 4);
                memcpy(out + 36 * s + 4 * j, &other, 4);
                break;
            case 2: {  // Q4_0: 4 vectors of nibbles, s fp16 scales
                const uint8_t *block = source + b * 18;
                half = load16(block);
                for (int k = 0; k < 4; k++)
                    for (int t = 0; t < 4; t++) out[(k * s + j) * 4 + t] = block[2 + 4 * k + t];
                memcpy(out + 16 * s + 2 * j, &half, 2);
                break;
            }
            default:  // Q4_K: 4 vectors of nibbles, s fp32 scales, s fp32 mins
                q4_k_block(source, b, nibbles, &scale, &other);
                for (int k = 0; k < 4; k++)
                    for (int t = 0; t < 4; t++) out[(k * s + j) * 4 + t] = nibbles[4 * k + t];
                memcpy(out + 16 * s + 4 * j, &scale, 4);
                memcpy(out + 20 * s + 4 * j, &other, 4);
                break;
            }
        }
        out += s * (ggmlType == 8 ? 34 : ggmlType == 6 ? 22 : ggmlType == 14 ? 40 : ggmlType == 2 ? 18 : 24);
    }
    return 0;
}

// ---- activations -------------------------------------------------------------------------------

long swiftlet_quant_activation_blocks(long blocks) { return (blocks + 7) / 8 * 8; }
long swiftlet_quant_activation_bytes(long blocks) { return swiftlet_quant_activation_blocks(blocks) * 32; }

static void c_activation(int kind, const float *x, long blocks, int8_t *q, float *d, int32_t *sumLow, int32_t *sumHigh) {
    long padded = swiftlet_quant_activation_blocks(blocks);
    memset(q, 0, (size_t)padded * 32);
    int nibbleOrder = kind == SWIFTLET_KIND_Q4 || kind == SWIFTLET_KIND_Q4M || kind == SWIFTLET_KIND_Q5;
    for (long b = 0; b < padded; b++) {
        if (b >= blocks) {
            d[b] = 0;
            sumLow[b] = sumHigh[b] = 0;
            continue;
        }
        const float *xb = x + 32 * b;
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
        // llama.cpp's quantize_row_q8_0: d = amax / 127 stored in fp16, q = x · (127 / amax).
        float scale = swiftlet_round_to_half(amax / 127), inverse = amax != 0 ? 127 / amax : 0;
        int8_t v[32];
        int32_t low = 0, high = 0;
        for (int i = 0; i < 32; i++) {
            float r = nearbyintf(xb[i] * inverse);
            v[i] = (int8_t)fminf(fmaxf(r, -127), 127);
            if (i < 16) low += v[i]; else high += v[i];
        }
        d[b] = scale;
        sumLow[b] = low;
        sumHigh[b] = high;
        // Vector k, word j of this block's group: values 4k..4k+3 (Q8 order) or, for the
        // nibble kinds, vector k = 4p + c: values 4(2p + c) … for c < 2, 16 + 4(2p + c − 2) … else.
        long g = b / 8, j = b % 8;
        for (int k = 0; k < 8; k++) {
            int first = nibbleOrder ? (k % 4 < 2 ? 4 * (2 * (k / 4) + k % 4) : 16 + 4 * (2 * (k / 4) + k % 4 - 2)) : 4 * k;
            memcpy(q + g * 256 + k * 32 + j * 4, v + first, 4);
        }
    }
}

// ---- the portable variant -------------------------------------------------------------------------

static float reduce8(const float a[8]) {
    float r0 = a[0] + a[4], r1 = a[1] + a[5], r2 = a[2] + a[6], r3 = a[3] + a[7];
    return (r0 + r2) + (r1 + r3);
}

// Block j of a group: the exact integer dot of its stored values (of 4s-byte vectors) with the
// activation, `vectors` weight vectors (8 for bytes, 4 for nibbles).
static int32_t c_dot_bytes(const uint8_t *v, const int8_t *x, long s, long j, int32_t *low, int32_t *high) {
    int32_t sums[2] = {0, 0};
    for (int k = 0; k < 8; k++)
        for (int t = 0; t < 4; t++) sums[k / 4] += ((int32_t)v[(k * s + j) * 4 + t] - 128) * x[32 * k + 4 * j + t];
    *low = sums[0];
    *high = sums[1];
    return sums[0] + sums[1];
}

static int32_t c_dot_nibbles(const uint8_t *v, const int8_t *x, long s, long j) {
    int32_t sum = 0;
    for (int k = 0; k < 4; k++)
        for (int t = 0; t < 4; t++) {
            uint8_t byte = v[(k * s + j) * 4 + t];
            sum += (byte & 0xF) * x[32 * (4 * (k / 2) + k % 2) + 4 * j + t];
            sum += (byte >> 4) * x[32 * (4 * (k / 2) + 2 + k % 2) + 4 * j + t];
        }
    return sum;
}

// Q5_0's block j: the nibbles with their high bits from the block's word after the vectors.
static int32_t c_dot_q5(const uint8_t *v, const int8_t *x, long s, long j) {
    uint32_t qh;
    memcpy(&qh, v + 16 * s + 4 * j, 4);
    int32_t sum = 0;
    for (int k = 0; k < 4; k++)
        for (int t = 0; t < 4; t++) {
            uint8_t byte = v[(k * s + j) * 4 + t];
            int low = (byte & 0xF) | ((qh >> (4 * k + t)) & 1) << 4, high = (byte >> 4) | ((qh >> (16 + 4 * k + t)) & 1) << 4;
            sum += low * x[32 * (4 * (k / 2) + k % 2) + 4 * j + t];
            sum += high * x[32 * (4 * (k / 2) + 2 + k % 2) + 4 * j + t];
        }
    return sum;
}

static float c_row(int kind, const uint8_t *w, const int8_t *q, const float *d, const int32_t *lo, const int32_t *hi, long blocks) {
    float acc[8] = {0};
    long perBlock = swiftlet_quant_row_bytes(kind, 1);
    for (long g = 0; g < blocks; g += 8) {
        long s = blocks - g < 8 ? blocks - g : 8;
        const uint8_t *v = w + g * perBlock;
        const int8_t *x = q + g * 32;
        for (long j = 0; j < 8; j++) {
            float dx = d[g + j];
            if (j >= s) {  // padding: what the vector code adds for a masked-off lane
                acc[j] = fmaf(0.0f, 0.0f * dx, acc[j]);
                continue;
            }
            int32_t low, high, sum;
            float scale, other;
            uint16_t half;
            switch (kind) {
            case SWIFTLET_KIND_Q8:
                sum = c_dot_bytes(v, x, s, j, &low, &high);
                memcpy(&half, v + 32 * s + 2 * j, 2);
                acc[j] = fmaf((float)sum, swiftlet_half_to_float(half) * dx, acc[j]);
                break;
            case SWIFTLET_KIND_Q6:
                c_dot_bytes(v, x, s, j, &low, &high);
                memcpy(&scale, v + 32 * s + 4 * j, 4);
                memcpy(&other, v + 36 * s + 4 * j, 4);
                acc[j] = fmaf(fmaf(scale, (float)low, other * (float)high), dx, acc[j]);
                break;
            case SWIFTLET_KIND_Q5:
                sum = c_dot_q5(v, x, s, j) - 16 * (lo[g + j] + hi[g + j]);
                memcpy(&half, v + 20 * s + 2 * j, 2);
                acc[j] = fmaf((float)sum, swiftlet_half_to_float(half) * dx, acc[j]);
                break;
            case SWIFTLET_KIND_Q4:
                sum = c_dot_nibbles(v, x, s, j) - 8 * (lo[g + j] + hi[g + j]);
                memcpy(&half, v + 16 * s + 2 * j, 2);
                acc[j] = fmaf((float)sum, swiftlet_half_to_float(half) * dx, acc[j]);
                break;
            default:
                sum = c_dot_nibbles(v, x, s, j);
                memcpy(&scale, v + 16 * s + 4 * j, 4);
                memcpy(&other, v + 20 * s + 4 * j, 4);
                acc[j] = fmaf(fmaf(scale, (float)sum, -(other * (float)(lo[g + j] + hi[g + j]))), dx, acc[j]);
                break;
            }
        }
    }
    return reduce8(acc);
}

static void c_rows(int kind, const uint8_t *w, long rowBytes, long blocks, long rowFrom, long rowTo,
                   const int8_t *q, long qStride, const float *d, const int32_t *lo, const int32_t *hi,
                   long blockStride, long count, float *y, long ldy, int accumulate) {
    for (long r = rowFrom; r < rowTo; r++)
        for (long i = 0; i < count; i++) {
            float s = c_row(kind, w + r * rowBytes, q + i * qStride, d + i * blockStride, lo + i * blockStride, hi + i * blockStride, blocks);
            float *out = y + i * ldy + r;
            *out = accumulate ? *out + s : s;
        }
}

typedef void (*rows_fn)(int, const uint8_t *, long, long, long, long, const int8_t *, long, const float *, const int32_t *,
                        const int32_t *, long, long, float *, long, int);

// ---- the vector variants (x86-64) -------------------------------------------------------------

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
// How far ahead of the row being summed the decode rows prefetch (quant_variant.h).
#define QUANT_PREFETCH_BYTES 5120
// The longest rows (in blocks) the AVX512 variant takes four at a time (quant_variant.h's rows4).
#ifndef QUANT_ROWS4_BLOCKS
#define QUANT_ROWS4_BLOCKS 16
#endif

static const int32_t word_masks[9][8] = {
    {0}, {-1}, {-1, -1}, {-1, -1, -1}, {-1, -1, -1, -1}, {-1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
};

// AVX2: vpmaddubsw saturates at 2·255·127, so bytes stored as q + 128 go back to signed q and
// take the sign trick (|q| · x·sign(q)); nibbles (≤ 15) multiply directly.
#define VARIANT(name) name##_avx2
#define TARGET __attribute__((target("avx2,fma,f16c")))
#define Q8_CORRECTS 0
#define WIDE_512 0
#define DOT_U4(a, u, x) _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)))
#define DOT_Q8(a, u, x) dot_q8_avx2(a, u, x)
TARGET static inline __m256i dot_q8_avx2(__m256i a, __m256i u, __m256i x) {
    __m256i q = _mm256_xor_si256(u, _mm256_set1_epi8((char)0x80));
    __m256i products = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(x, q));
    return _mm256_add_epi32(a, _mm256_madd_epi16(products, _mm256_set1_epi16(1)));
}
#include "quant_variant.h"
#undef VARIANT
#undef TARGET
#undef Q8_CORRECTS
#undef DOT_U4
#undef DOT_Q8

#define VARIANT(name) name##_avxvnni
#define TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define Q8_CORRECTS 1
#define DOT_U4(a, u, x) _mm256_dpbusd_avx_epi32(a, u, x)
#define DOT_Q8(a, u, x) _mm256_dpbusd_avx_epi32(a, u, x)
#include "quant_variant.h"
#undef VARIANT
#undef TARGET
#undef DOT_U4
#undef DOT_Q8

#undef WIDE_512
#define VARIANT(name) name##_avx512vnni
#define TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define WIDE_512 1
#define DOT_U4(a, u, x) _mm256_dpbusd_epi32(a, u, x)
#define DOT_Q8(a, u, x) _mm256_dpbusd_epi32(a, u, x)
#include "quant_variant.h"
#undef VARIANT
#undef TARGET
#undef Q8_CORRECTS
#undef WIDE_512
#undef DOT_U4
#undef DOT_Q8

// Whether the OS and CPU offer AVX-VNNI (VEX-encoded; Zen 4 has only the AVX512 form).
static int has_avxvnni(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (a < 1) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (a >> 4) & 1;
}

static int detect(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, 0) < 7) return SWIFTLET_ISA_C;
    __cpuid(1, a, b, c, d);
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, f16c = (c >> 29) & 1;
    if (!fma || !osxsave || !f16c) return SWIFTLET_ISA_C;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return SWIFTLET_ISA_C;  // the OS saves xmm and ymm
    __cpuid_count(7, 0, a, b, c, d);
    unsigned subleaves = a;
    if (!((b >> 5) & 1)) return SWIFTLET_ISA_C;  // AVX2
    int avx512 = ((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1) && ((c >> 11) & 1) && (lo & 0xE6) == 0xE6;
    if (avx512) return SWIFTLET_ISA_AVX512VNNI;  // F, BW, VL, VNNI, zmm state saved
    if (subleaves >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        if ((a >> 4) & 1) return SWIFTLET_ISA_AVXVNNI;
    }
    return SWIFTLET_ISA_AVX2;
}

// The activation rows with AVX2, c_activation's operations lane by lane (the same maximum —
// a NaN skipped as fmaxf skips it —, divides, fp16 scale, multiply, rounding to nearest even and clamp), so
// the same bytes, sums and scales: the quantizer ran on one core between the products and
// took about 5 % of a 110M-shape Q4_0 token in its scalar form.
__attribute__((target("avx2,fma,f16c"))) static void activation_avx2(int kind, const float *x, long blocks, int8_t *q,
                                                                     float *d, int32_t *sumLow, int32_t *sumHigh) {
    long padded = swiftlet_quant_activation_blocks(blocks);
    int nibbleOrder = kind == SWIFTLET_KIND_Q4 || kind == SWIFTLET_KIND_Q4M || kind == SWIFTLET_KIND_Q5;
    // After the two saturating packs, 32-bit word p holds values 4w..4w+3 for w = 0 2 4 6 1 3 5 7;
    // vector k of the group takes word k (Q8 order) or word 0 1 4 5 2 3 6 7 (nibble order).
    const __m256i order = nibbleOrder ? _mm256_setr_epi32(0, 4, 2, 6, 1, 5, 3, 7) : _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256 signless = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256 lowest = _mm256_set1_ps(-127), highest = _mm256_set1_ps(127);
    for (long b = 0; b < padded; b++) {
        long g = b / 8, j = b % 8;
        if (b >= blocks) {
            d[b] = 0;
            sumLow[b] = sumHigh[b] = 0;
            for (int k = 0; k < 8; k++) memset(q + g * 256 + k * 32 + j * 4, 0, 4);
            continue;
        }
        const float *xb = x + 32 * b;
        __m256 v[4], amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            amax = _mm256_max_ps(_mm256_and_ps(v[i], signless), amax);  // the second operand where NaN
        }
        amax = _mm256_max_ps(amax, _mm256_permute2f128_ps(amax, amax, 1));
        amax = _mm256_max_ps(amax, _mm256_shuffle_ps(amax, amax, 0x4E));
        amax = _mm256_max_ps(amax, _mm256_shuffle_ps(amax, amax, 0xB1));
        float top = _mm256_cvtss_f32(amax), inverse = top != 0 ? 127 / top : 0;
        float scale = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(top / 127), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
        __m256 by = _mm256_set1_ps(inverse);
        __m256i n[4];
        for (int i = 0; i < 4; i++) {
            __m256 r = _mm256_round_ps(_mm256_mul_ps(v[i], by), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            n[i] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lowest), highest));
        }
        __m256i low = _mm256_add_epi32(n[0], n[1]), high = _mm256_add_epi32(n[2], n[3]);
        __m256i halves = _mm256_hadd_epi32(low, high);  // low 0+1 2+3 high 0+1 2+3 | the same of 4..7
        halves = _mm256_hadd_epi32(halves, halves);     // low, high (of 0..3) twice | of 4..7
        __m128i total = _mm_add_epi32(_mm256_castsi256_si128(halves), _mm256_extracti128_si256(halves, 1));
        __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(n[0], n[1]), _mm256_packs_epi32(n[2], n[3]));
        bytes = _mm256_permutevar8x32_epi32(bytes, order);
        int32_t words[8];
        _mm256_storeu_si256((__m256i *)words, bytes);
        for (int k = 0; k < 8; k++) memcpy(q + g * 256 + k * 32 + j * 4, &words[k], 4);
        d[b] = scale;
        sumLow[b] = _mm_cvtsi128_si32(total);
        sumHigh[b] = _mm_extract_epi32(total, 1);
    }
}
#else
static int detect(void) { return SWIFTLET_ISA_C; }
static int has_avxvnni(void) { return 0; }
#endif

int swiftlet_quant_isa_available(int isa) {
    if (isa < 0 || isa > swiftlet_quant_best_isa()) return 0;
    return isa != SWIFTLET_ISA_AVXVNNI || has_avxvnni();
}

static int best = -1, chosen = -1;  // benign races: every thread computes the same values

int swiftlet_quant_best_isa(void) {
    if (best < 0) best = detect();
    return best;
}

int swiftlet_quant_isa(void) {
    if (chosen < 0) chosen = swiftlet_quant_best_isa();
    return chosen;
}

void swiftlet_quant_use_isa(int isa) {
    chosen = swiftlet_quant_isa_available(isa) ? isa : swiftlet_quant_best_isa();
}

void swiftlet_quant_rows(int kind, const uint8_t *w, long rowBytes, long blocks, long rowFrom, long rowTo,
                         const int8_t *q, long qStride, const float *d, const int32_t *lo, const int32_t *hi,
                         long blockStride, long count, float *y, long ldy, int accumulate) {
    rows_fn f = c_rows;
#if defined(__x86_64__)
    switch (swiftlet_quant_isa()) {
    case SWIFTLET_ISA_AVX512VNNI: f = rows_avx512vnni; break;
    case SWIFTLET_ISA_AVXVNNI: f = rows_avxvnni; break;
    case SWIFTLET_ISA_AVX2: f = rows_avx2; break;
    default: break;
    }
#endif
    f(kind, w, rowBytes, blocks, rowFrom, rowTo, q, qStride, d, lo, hi, blockStride, count, y, ldy, accumulate);
}

void swiftlet_quant_activation(int kind, const float *x, long blocks, int8_t *q, float *d, int32_t *sumLow, int32_t *sumHigh) {
#if defined(__x86_64__)
    if (swiftlet_quant_isa() != SWIFTLET_ISA_C) {
        activation_avx2(kind, x, blocks, q, d, sumLow, sumHigh);
        return;
    }
#endif
    c_activation(kind, x, blocks, q, d, sumLow, sumHigh);
}
