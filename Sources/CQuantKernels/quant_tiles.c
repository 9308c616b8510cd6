// Prompt chunks over Q8_0 and Q4_0 weights in tiles of 16 rows; see include/quant_kernels.h.
#include "quant_kernels.h"

#include <string.h>

// Every fused multiply-add is written as one: no other contraction (the row kernels' operations, one for one).
#pragma clang fp contract(off)

// Values per block, weight vectors per block and bytes per block: of a packed row, of a tile.
static long row_block_bytes(int kind) { return kind == SWIFTLET_KIND_Q8 ? 34 : 18; }
static long vectors(int kind) { return kind == SWIFTLET_KIND_Q8 ? 8 : 4; }
static long tile_block_bytes(int kind) { return vectors(kind) * 64 + 32; }
static int has_tiles(int kind) { return kind == SWIFTLET_KIND_Q8 || kind == SWIFTLET_KIND_Q4; }

long swiftlet_quant_tile_bytes(int kind, long rows, long blocks) {
    if (!has_tiles(kind)) return 0;
    return (rows + 15) / 16 * blocks * tile_block_bytes(kind);
}

void swiftlet_quant_tile_pack(int kind, const uint8_t *w, long rowBytes, long blocks, long rows, uint8_t *tiles) {
    if (!has_tiles(kind)) return;
    long tiles_ = (rows + 15) / 16, perRow = row_block_bytes(kind), perTile = tile_block_bytes(kind), n = vectors(kind);
    memset(tiles, 0, (size_t)swiftlet_quant_tile_bytes(kind, rows, blocks));
    for (long t = 0; t < tiles_; t++)
        for (long rr = 0; rr < 16 && 16 * t + rr < rows; rr++) {
            const uint8_t *row = w + (16 * t + rr) * rowBytes;
            for (long b = 0; b < blocks; b++) {
                long g = b / 8, j = b % 8, s = blocks - 8 * g < 8 ? blocks - 8 * g : 8;
                const uint8_t *group = row + 8 * g * perRow;
                uint8_t *block = tiles + (t * blocks + b) * perTile;
                for (long k = 0; k < n; k++) memcpy(block + 64 * k + 4 * rr, group + (k * s + j) * 4, 4);
                memcpy(block + 64 * n + 2 * rr, group + 4 * n * s + 2 * j, 2);
            }
        }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define TILE_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

int swiftlet_quant_tiles_available(void) { return swiftlet_quant_isa() == SWIFTLET_ISA_AVX512VNNI; }

TILE_TARGET static inline __m512i broadcast_word(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// The 16 lanes' sums of one activation row, reduced as swiftlet_quant_rows reduces its 8
// block places ((0+4)+(2+6))+((1+5)+(3+7)), stored (or added) to y under the row mask.
TILE_TARGET static inline void store_lanes(const __m512 a[8], float *y, __mmask16 mask, int accumulate) {
    __m512 r = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[4]), _mm512_add_ps(a[2], a[6])),
                             _mm512_add_ps(_mm512_add_ps(a[1], a[5]), _mm512_add_ps(a[3], a[7])));
    if (accumulate) r = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), r);
    _mm512_mask_storeu_ps(y, mask, r);
}

// Block b (place j of its group) of a tile against activation rows A and B: the exact integer
// sums (Q8: Σ (q + 128)·x − 128·Σx; Q4: Σ nibble·x − 8·Σx), then acc += sum · (dw · dx).
#define BLOCK(J)                                                                                                  \
    if ((J) < s) {                                                                                                \
        long b = g + (J);                                                                                         \
        const uint8_t *t = tile + b * perTile;                                                                    \
        const int8_t *xa = qa + 32 * g + 4 * (J), *xb = qb + 32 * g + 4 * (J);                                    \
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, b0 = a0, b1 = a0;                                           \
        if (kind == SWIFTLET_KIND_Q8) {                                                                           \
            for (int k = 0; k < 8; k += 2) {                                                                      \
                __m512i w0 = _mm512_loadu_si512(t + 64 * k), w1 = _mm512_loadu_si512(t + 64 * k + 64);            \
                a0 = _mm512_dpbusd_epi32(a0, w0, broadcast_word(xa + 32 * k));                                    \
                b0 = _mm512_dpbusd_epi32(b0, w0, broadcast_word(xb + 32 * k));                                    \
                a1 = _mm512_dpbusd_epi32(a1, w1, broadcast_word(xa + 32 * k + 32));                               \
                b1 = _mm512_dpbusd_epi32(b1, w1, broadcast_word(xb + 32 * k + 32));                               \
            }                                                                                                     \
        } else {                                                                                                  \
            for (int k = 0; k < 4; k++) {                                                                         \
                __m512i bytes = _mm512_loadu_si512(t + 64 * k);                                                   \
                __m512i low = _mm512_and_si512(bytes, nibble);                                                    \
                __m512i high = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), nibble);                             \
                int lv = 4 * (k / 2) + k % 2;                                                                     \
                a0 = _mm512_dpbusd_epi32(a0, low, broadcast_word(xa + 32 * lv));                                  \
                b0 = _mm512_dpbusd_epi32(b0, low, broadcast_word(xb + 32 * lv));                                  \
                a1 = _mm512_dpbusd_epi32(a1, high, broadcast_word(xa + 32 * lv + 64));                            \
                b1 = _mm512_dpbusd_epi32(b1, high, broadcast_word(xb + 32 * lv + 64));                            \
            }                                                                                                     \
        }                                                                                                         \
        __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(t + 64 * n)));                           \
        __m512i sa = _mm512_sub_epi32(_mm512_add_epi32(a0, a1), _mm512_set1_epi32((la[b] + ha[b]) * shift));      \
        __m512i sb = _mm512_sub_epi32(_mm512_add_epi32(b0, b1), _mm512_set1_epi32((lb[b] + hb[b]) * shift));      \
        accA[J] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sa), _mm512_mul_ps(ws, _mm512_set1_ps(da[b])), accA[J]);     \
        accB[J] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb), _mm512_mul_ps(ws, _mm512_set1_ps(db[b])), accB[J]);     \
    }

TILE_TARGET static void tile_rows(int kind, const uint8_t *tiles, long blocks, long rows, long tileFrom, long tileTo,
                                  const int8_t *q, long qStride, const float *d, const int32_t *lo, const int32_t *hi,
                                  long blockStride, long count, float *y, long ldy, int accumulate) {
    const long perTile = tile_block_bytes(kind), n = vectors(kind);
    const int32_t shift = kind == SWIFTLET_KIND_Q8 ? 128 : 8;
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    for (long tt = tileFrom; tt < tileTo; tt++) {
        const uint8_t *tile = tiles + tt * blocks * perTile;
        long valid = rows - 16 * tt < 16 ? rows - 16 * tt : 16;
        __mmask16 mask = (__mmask16)((1u << valid) - 1);
        // Two activation rows at a time (an odd last one paired with itself).
        for (long i = 0; i < count; i += 2) {
            long i2 = i + 1 < count ? i + 1 : i;
            const int8_t *qa = q + i * qStride, *qb = q + i2 * qStride;
            const float *da = d + i * blockStride, *db = d + i2 * blockStride;
            const int32_t *la = lo + i * blockStride, *ha = hi + i * blockStride;
            const int32_t *lb = lo + i2 * blockStride, *hb = hi + i2 * blockStride;
            __m512 accA[8], accB[8];
            for (int j = 0; j < 8; j++) accA[j] = accB[j] = _mm512_setzero_ps();
            for (long g = 0; g < blocks; g += 8) {
                long s = blocks - g < 8 ? blocks - g : 8;
                BLOCK(0) BLOCK(1) BLOCK(2) BLOCK(3) BLOCK(4) BLOCK(5) BLOCK(6) BLOCK(7)
            }
            store_lanes(accA, y + i * ldy + 16 * tt, mask, accumulate);
            if (i2 != i) store_lanes(accB, y + i2 * ldy + 16 * tt, mask, accumulate);
        }
    }
}
#undef BLOCK

void swiftlet_quant_tile_rows(int kind, const uint8_t *tiles, long blocks, long rows, long tileFrom, long tileTo,
                              const int8_t *q, long qStride, const float *d, const int32_t *sumLow,
                              const int32_t *sumHigh, long blockStride, long count, float *y, long ldy,
                              int accumulate) {
    if (!has_tiles(kind) || !swiftlet_quant_tiles_available()) return;
    tile_rows(kind, tiles, blocks, rows, tileFrom, tileTo, q, qStride, d, sumLow, sumHigh, blockStride, count, y, ldy,
              accumulate);
}
#else
int swiftlet_quant_tiles_available(void) { return 0; }
void swiftlet_quant_tile_rows(int kind, const uint8_t *tiles, long blocks, long rows, long tileFrom, long tileTo,
                              const int8_t *q, long qStride, const float *d, const int32_t *sumLow,
                              const int32_t *sumHigh, long blockStride, long count, float *y, long ldy,
                              int accumulate) {
    (void)kind, (void)tiles, (void)blocks, (void)rows, (void)tileFrom, (void)tileTo, (void)q, (void)qStride, (void)d;
    (void)sumLow, (void)sumHigh, (void)blockStride, (void)count, (void)y, (void)ldy, (void)accumulate;
}
#endif
