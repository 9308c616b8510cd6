#ifndef SWIFTLET_QUANT_KERNELS_H
#define SWIFTLET_QUANT_KERNELS_H

#include <stdint.h>

// Row products over quantized weights with the CPU's integer dot products: AVX512-VNNI
// (vpdpbusd on 256-bit vectors through AVX512-VL), AVX-VNNI, an AVX2 fallback (vpmaddubsw) and
// portable C. Each variant is compiled by a per-function target attribute and chosen once by
// CPUID, so this file builds and runs on any x86-64 (and elsewhere, portable C only).
//
// Weights are ggml's formats repacked per row (swiftlet_quant_pack), values unchanged; the
// activation row is quantized per block of 32 as llama.cpp's quantize_row_q8_0 does (d =
// max|x| / 127 rounded to fp16, q = x · (127 / max|x|) rounded to nearest even), kept with its
// block sums (swiftlet_quant_activation).
// A block's integer dot product is exact; blocks are scaled and summed in fp32 in a fixed order,
// so a row's result depends only on that weight row and that activation row.
//
// Row layout: blocks of 32 values in groups of 8 (the last group holds the rest, s < 8). Within
// a group of s blocks the quantized values come as vectors of s 32-bit words, word j holding four
// consecutive values of block j, then the group's scales:
//   KIND_Q8   (Q8_0, Q5_0) 8 vectors: values 4v..4v+3 as q + 128 (bytes); s fp16 scales
//   KIND_Q6   (Q6_K)       8 vectors as KIND_Q8; s fp32 scales of values 0–15, s of 16–31
//   KIND_Q4   (Q4_0)       4 vectors of nibble bytes: low nibbles values 4v..4v+3, high
//                          16+4v..16+4v+3 (q in 0..15, x = d·(q − 8)); s fp16 scales
//   KIND_Q4M  (Q4_K)       4 vectors as KIND_Q4 (x = scale·q − min); s fp32 scales, s fp32 mins
//   KIND_Q5   (Q5_0)       4 vectors as KIND_Q4 of the low 4 bits, a vector of each block's 32
//                          high bits (bit i of word j: value i of block j), s fp16 scales;
//                          x = d·(q − 16), 22 bytes a block as in the file

#ifdef __cplusplus
extern "C" {
#endif

enum { SWIFTLET_KIND_Q8 = 0, SWIFTLET_KIND_Q4 = 1, SWIFTLET_KIND_Q4M = 2, SWIFTLET_KIND_Q6 = 3, SWIFTLET_KIND_Q5 = 4 };
enum { SWIFTLET_ISA_C = 0, SWIFTLET_ISA_AVX2 = 1, SWIFTLET_ISA_AVXVNNI = 2, SWIFTLET_ISA_AVX512VNNI = 3 };

// The best instruction set this CPU and OS offer, and the one in use (the best unless a test
// chose another with swiftlet_quant_use_isa, which takes at most the best).
int swiftlet_quant_best_isa(void);
int swiftlet_quant_isa(void);
void swiftlet_quant_use_isa(int isa);  // the best instead, if this one is not available
int swiftlet_quant_isa_available(int isa);

// Bytes of one packed row of `blocks` blocks of 32.
long swiftlet_quant_row_bytes(int kind, long blocks);

// Packs one row of a GGUF tensor: `blocks` blocks of 32 values (a multiple of 8 for Q4_K and
// Q6_K, whose super-blocks hold 256) in ggml type `ggmlType` (8 Q8_0, 6 Q5_0, 2 Q4_0, 12 Q4_K,
// 14 Q6_K) into `kind`'s layout. Returns 0, or -1 for a type it does not take.
int swiftlet_quant_pack(int ggmlType, const uint8_t *source, long blocks, uint8_t *destination);

// Quantizes x[blocks·32] for the weights of `kind` (with AVX2 unless the portable C variant
// is in use; the same bytes either way): q holds swiftlet_quant_activation_bytes,
// d, sumLow and sumHigh one entry per block rounded up to a multiple of 8 (padding zero):
// the scale, and the sums of the quantized values 0–15 and 16–31 of each block.
long swiftlet_quant_activation_bytes(long blocks);
long swiftlet_quant_activation_blocks(long blocks);
void swiftlet_quant_activation(int kind, const float *x, long blocks, int8_t *q, float *d, int32_t *sumLow, int32_t *sumHigh);

// y[i·ldy + r] (+)= Σ_k W[r][k] · X_i[k] for weight rows rowFrom ..< rowTo (packed rows of
// rowBytes at w) and `count` activation rows i, each quantized by swiftlet_quant_activation
// into q + i·qStride, d + i·blockStride, sumLow/sumHigh + i·blockStride. The weights must be
// readable for 4 bytes past the last row (a partial group's scales are loaded as whole words).
// One weight row at a time against every activation row (a single forward stream); with
// AVX512, Q8_0's and Q4_0's whole groups take 512-bit integer dot products (the same exact
// block sums, the same fp32 arithmetic after them: the same bits).
void swiftlet_quant_rows(int kind, const uint8_t *w, long rowBytes, long blocks, long rowFrom, long rowTo,
                         const int8_t *q, long qStride, const float *d, const int32_t *sumLow, const int32_t *sumHigh,
                         long blockStride, long count, float *y, long ldy, int accumulate);

// Prompt chunks over quantized weights (Q8_0 and Q4_0, SWIFTLET_KIND_Q8 and SWIFTLET_KIND_Q4):
// the products of swiftlet_quant_rows for many activation rows at once, with the weights in
// tiles of 16 rows so that one 512-bit integer dot product (vpdpbusd) serves 16 weight rows
// against four activation values broadcast to every lane: each lane does, for its (weight row,
// activation row), exactly what swiftlet_quant_rows does (the same exact integer block sums,
// then the same fp32 multiplies, fused multiply-adds into the accumulator of the block's place
// in its group of 8 and the same final reduction), so the results are its bits.
//
// Tile layout (16 rows; a last tile of fewer rows is padded with zero rows): per block of 32
// values, the weight vectors (Q8: 8, values 4k..4k+3 as q + 128; Q4: 4 of nibble bytes, low
// nibbles values 4k..4k+3, high 16+4k..16+4k+3), each 16 words, word r from row r; then the
// block's 16 fp16 scales. 544 bytes a block for Q8, 288 for Q4.
//
// The activation rows are swiftlet_quant_activation's (the same arguments as swiftlet_quant_rows).

// 1 when this CPU runs the tiled kernel (AVX512-VNNI and it is the variant in use), else 0.
int swiftlet_quant_tiles_available(void);

// Bytes of the tiles of a matrix of `rows` rows of `blocks` blocks (0 for a kind without tiles).
long swiftlet_quant_tile_bytes(int kind, long rows, long blocks);

// Repacks rows packed by swiftlet_quant_pack (rowBytes apart) into tiles (tile_bytes of them).
void swiftlet_quant_tile_pack(int kind, const uint8_t *w, long rowBytes, long blocks, long rows, uint8_t *tiles);

// y[i·ldy + r] (+)= Σ_k W[r][k] · X_i[k] for the weight rows of tiles tileFrom ..< tileTo (rows
// 16·tileFrom ..< min(16·tileTo, rows)) and `count` activation rows: the bits of
// swiftlet_quant_rows on the same operands. Call only when swiftlet_quant_tiles_available().
void swiftlet_quant_tile_rows(int kind, const uint8_t *tiles, long blocks, long rows, long tileFrom, long tileTo,
                              const int8_t *q, long qStride, const float *d, const int32_t *sumLow,
                              const int32_t *sumHigh, long blockStride, long count, float *y, long ldy,
                              int accumulate);

#ifdef __cplusplus
}
#endif

#endif
