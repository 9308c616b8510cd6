// One instruction-set variant of the row kernels, included by quant_kernels.c once per variant
// with these defined:
//   VARIANT(name)     the function name with the variant's suffix
//   TARGET            the target attribute
//   DOT_U4(a, u, x)   a + Σ of 4 products u8·s8 per 32-bit lane, for u ≤ 15
//   DOT_Q8(a, u, x)   the same for stored q + 128: the dot of q itself when Q8_CORRECTS is 0,
//                     of q + 128 (corrected by the block sums afterwards) when it is 1
// Arithmetic per block matches the portable C in quant_kernels.c operation for operation
// (exact integer sums, then the same fp32 multiplies, fused multiply-adds and reduction order),
// so every variant returns the same bits.

TARGET static inline __m256i VARIANT(load_words)(const void *p, long s) {
    if (s == 8) return _mm256_loadu_si256((const __m256i *)p);
    return _mm256_maskload_epi32((const int *)p, _mm256_loadu_si256((const __m256i *)(word_masks[s])));
}

// s fp16 values, lanes s.. zero. A partial group loads whole words (the half after an odd
// count is read — the packed storage is padded — and masked off after the conversion).
TARGET static inline __m256 VARIANT(load_halfs)(const uint8_t *p, long s) {
    if (s == 8) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    __m128i words = _mm_maskload_epi32((const int *)p, _mm_loadu_si128((const __m128i *)(word_masks[(s + 1) / 2])));
    return _mm256_and_ps(_mm256_cvtph_ps(words), _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(word_masks[s]))));
}

TARGET static inline __m256 VARIANT(load_floats)(const uint8_t *p, long s) {
    if (s == 8) return _mm256_loadu_ps((const float *)p);
    return _mm256_maskload_ps((const float *)p, _mm256_loadu_si256((const __m256i *)(word_masks[s])));
}

TARGET static inline float VARIANT(reduce)(__m256 acc) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));  // a_j + a_{j+4}
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                             // (0+4)+(2+6), (1+5)+(3+7)
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

#if WIDE_512
// The lanes of a 512-bit integer sum added pairwise (lane j + lane j + 8): exact.
TARGET static inline __m256i VARIANT(fold)(__m512i a) {
    return _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
}
#endif

// A last group of one block (the 15M shape's 288 columns: 8 blocks and 1) of Q8_0 or Q4_0
// weights. Its values are word 0 of each of the group's 8 activation vectors; they are gathered
// once per activation row for all the weight rows, in value order (the nibble kinds store
// vector 4p + c with values 4(2p + c) for c < 2, 16 + 4(2p + c − 2) else), with the integer
// sum's start: lane 0 the block's offset (−8·Σx for Q4_0, −128·Σx for stored q + 128), the
// other lanes 0. The block then takes one product where the group form takes eight.
typedef struct { __m256i x, start; } VARIANT(one_x);

TARGET static inline VARIANT(one_x) VARIANT(gather_one)(int kind, const int8_t *q, const int32_t *lo, const int32_t *hi, long blocks) {
    long g = blocks - 1;
    int nibbles = kind == SWIFTLET_KIND_Q4;
    __m256i at = nibbles ? _mm256_setr_epi32(0, 8, 32, 40, 16, 24, 48, 56) : _mm256_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56);
    int32_t offset = nibbles ? 8 * (lo[g] + hi[g]) : Q8_CORRECTS ? 128 * (lo[g] + hi[g]) : 0;
    VARIANT(one_x) t = {_mm256_i32gather_epi32((const int *)(q + g * 32), at, 4), _mm256_setr_epi32(-offset, 0, 0, 0, 0, 0, 0, 0)};
    return t;
}

// The one block's integer lanes summed exactly (into lane 0, the others 0), times its fp16 scale
// and the activation's, added to lane 0 of acc; lanes 1–7 add 0 · (0 · d) as the group form's
// masked lanes do.
TARGET static inline __m256 VARIANT(one_block)(__m256 acc, __m256i a, const uint8_t *half, const float *d) {
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    t = _mm_add_epi32(t, _mm_unpackhi_epi64(t, t));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 1));
    __m256i sum = _mm256_zextsi128_si256(_mm_blend_epi32(_mm_setzero_si128(), t, 1));
    uint16_t h;
    memcpy(&h, half, 2);
    __m256 scale = _mm256_mul_ps(_mm256_zextps128_ps256(_mm_cvtph_ps(_mm_cvtsi32_si128(h))), _mm256_loadu_ps(d));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc);
}

TARGET static float VARIANT(row_q8)(const uint8_t *w, const int8_t *q, const float *d, const int32_t *lo, const int32_t *hi, long blocks,
                                    const VARIANT(one_x) *one) {
    (void)lo, (void)hi;  // used only where the stored q + 128 needs correcting
    __m256 acc = _mm256_setzero_ps();
    long g = 0;
#if WIDE_512
    // Whole groups two vectors per instruction (vectors k and k + 1 are adjacent, as are the
    // activation's): half the instructions, the same exact integer sums per block.
    for (; g + 8 <= blocks; g += 8) {
        const uint8_t *v = w + g * 34;
        const int8_t *x = q + g * 32;
        __m512i a0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(v), _mm512_loadu_si512(x));
        __m512i a1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(v + 64), _mm512_loadu_si512(x + 64));
        a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(v + 128), _mm512_loadu_si512(x + 128));
        a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(v + 192), _mm512_loadu_si512(x + 192));
        __m256i sum = VARIANT(fold)(_mm512_add_epi32(a0, a1));
        __m256i sums = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(lo + g)), _mm256_loadu_si256((const __m256i *)(hi + g)));
        sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(sums, 7));
        __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 256))), _mm256_loadu_ps(d + g));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc);
    }
#endif
    for (; g < blocks; g += 8) {
        long s = blocks - g < 8 ? blocks - g : 8;
        const uint8_t *v = w + g * 34;
        const int8_t *x = q + g * 32;
        if (s == 1) {  // its 32 stored values in order
            __m256i a = DOT_Q8(one->start, _mm256_loadu_si256((const __m256i *)v), one->x);
            acc = VARIANT(one_block)(acc, a, v + 32, d + g);
            break;
        }
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
#define W(k) VARIANT(load_words)(v + (k) * 4 * s, s)
#define X(k) _mm256_loadu_si256((const __m256i *)(x + 32 * (k)))
        a0 = DOT_Q8(a0, W(0), X(0)); a1 = DOT_Q8(a1, W(1), X(1)); a2 = DOT_Q8(a2, W(2), X(2)); a3 = DOT_Q8(a3, W(3), X(3));
        a0 = DOT_Q8(a0, W(4), X(4)); a1 = DOT_Q8(a1, W(5), X(5)); a2 = DOT_Q8(a2, W(6), X(6)); a3 = DOT_Q8(a3, W(7), X(7));
        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
#if Q8_CORRECTS
        __m256i sums = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(lo + g)), _mm256_loadu_si256((const __m256i *)(hi + g)));
        sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(sums, 7));
#endif
        __m256 scale = _mm256_mul_ps(VARIANT(load_halfs)(v + 32 * s, s), _mm256_loadu_ps(d + g));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc);
    }
    return VARIANT(reduce)(acc);
}

TARGET static float VARIANT(row_q6)(const uint8_t *w, const int8_t *q, const float *d, const int32_t *lo, const int32_t *hi, long blocks) {
    (void)lo, (void)hi;  // used only where the stored q + 128 needs correcting
    __m256 acc = _mm256_setzero_ps();
    for (long g = 0; g < blocks; g += 8) {
        long s = blocks - g < 8 ? blocks - g : 8;
        const uint8_t *v = w + g * 40;
        const int8_t *x = q + g * 32;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        a0 = DOT_Q8(a0, W(0), X(0)); a1 = DOT_Q8(a1, W(1), X(1)); a2 = DOT_Q8(a2, W(4), X(4)); a3 = DOT_Q8(a3, W(5), X(5));
        a0 = DOT_Q8(a0, W(2), X(2)); a1 = DOT_Q8(a1, W(3), X(3)); a2 = DOT_Q8(a2, W(6), X(6)); a3 = DOT_Q8(a3, W(7), X(7));
        __m256i low = _mm256_add_epi32(a0, a1), high = _mm256_add_epi32(a2, a3);
#if Q8_CORRECTS
        low = _mm256_sub_epi32(low, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(lo + g)), 7));
        high = _mm256_sub_epi32(high, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(hi + g)), 7));
#endif
        __m256 scaleLow = VARIANT(load_floats)(v + 32 * s, s), scaleHigh = VARIANT(load_floats)(v + 36 * s, s);
        __m256 t = _mm256_fmadd_ps(scaleLow, _mm256_cvtepi32_ps(low), _mm256_mul_ps(scaleHigh, _mm256_cvtepi32_ps(high)));
        acc = _mm256_fmadd_ps(t, _mm256_loadu_ps(d + g), acc);
    }
    return VARIANT(reduce)(acc);
}

// The nibble vectors: weight vector k's low nibbles meet activation vector 4(k/2) + k%2, its
// high nibbles 4(k/2) + 2 + k%2.
#define NIBBLES(k, lowSum, highSum) do { \
        __m256i bytes = W(k); \
        lowSum = DOT_U4(lowSum, _mm256_and_si256(bytes, nibble), X(4 * ((k) / 2) + (k) % 2)); \
        highSum = DOT_U4(highSum, _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble), X(4 * ((k) / 2) + 2 + (k) % 2)); \
    } while (0)

TARGET static float VARIANT(row_q4)(const uint8_t *w, const int8_t *q, const float *d, const int32_t *lo, const int32_t *hi, long blocks,
                                    const VARIANT(one_x) *one) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    long g = 0;
#if WIDE_512
    // Whole groups two vectors per instruction: weight vectors 2p and 2p + 1 are adjacent, and
    // so are the activation vectors their low nibbles meet (4p, 4p + 1) and their high (4p + 2, 4p + 3).
    const __m512i nibbles = _mm512_set1_epi8(0x0F);
    for (; g + 8 <= blocks; g += 8) {
        const uint8_t *v = w + g * 18;
        const int8_t *x = q + g * 32;
        __m512i b0 = _mm512_loadu_si512(v), b1 = _mm512_loadu_si512(v + 64);
        __m512i a0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(b0, nibbles), _mm512_loadu_si512(x));
        __m512i a1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(b0, 4), nibbles), _mm512_loadu_si512(x + 64));
        a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(b1, nibbles), _mm512_loadu_si512(x + 128));
        a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(_mm512_srli_epi16(b1, 4), nibbles), _mm512_loadu_si512(x + 192));
        __m256i sum = VARIANT(fold)(_mm512_add_epi32(a0, a1));
        __m256i sums = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(lo + g)), _mm256_loadu_si256((const __m256i *)(hi + g)));
        sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(sums, 3));
        __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 128))), _mm256_loadu_ps(d + g));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc);
    }
#endif
    for (; g < blocks; g += 8) {
        long s = blocks - g < 8 ? blocks - g : 8;
        const uint8_t *v = w + g * 18;
        const int8_t *x = q + g * 32;
        if (s == 1) {  // byte i holds values i and 16 + i: the 16 bytes twice, shifted by 4 in the upper half
            __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)v));
            __m256i u = _mm256_and_si256(_mm256_srlv_epi32(bytes, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), nibble);
            acc = VARIANT(one_block)(acc, DOT_U4(one->start, u, one->x), v + 16, d + g);
            break;
        }
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        NIBBLES(0, a0, a1); NIBBLES(1, a2, a3); NIBBLES(2, a0, a1); NIBBLES(3, a2, a3);
        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        __m256i sums = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(lo + g)), _mm256_loadu_si256((const __m256i *)(hi + g)));
        sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(sums, 3));
        __m256 scale = _mm256_mul_ps(VARIANT(load_halfs)(v + 16 * s, s), _mm256_loadu_ps(d + g));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc);
    }
    return VARIANT(reduce)(acc);
}

// Q5_0: bits 4k..4k+3 (and 16+4k..) of a block's high word become bit 4 of the bytes of
// vector k's low (high) nibbles: ×0x00204081 puts bit t at bit 8t of the word (no carries).
#define HIGH_BITS(qh, shift) _mm256_slli_epi32(_mm256_and_si256(_mm256_mullo_epi32(_mm256_and_si256( \
        _mm256_srli_epi32(qh, shift), _mm256_set1_epi32(0xF)), _mm256_set1_epi32(0x00204081)), _mm256_set1_epi32(0x01010101)), 4)
#define FIVE_BITS(k, qh, lowSum, highSum) do { \
        __m256i bytes = W(k); \
        lowSum = DOT_U4(lowSum, _mm256_or_si256(_mm256_and_si256(bytes, nibble), HIGH_BITS(qh, 4 * (k))), X(4 * ((k) / 2) + (k) % 2)); \
        highSum = DOT_U4(highSum, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble), HIGH_BITS(qh, 16 + 4 * (k))), \
                         X(4 * ((k) / 2) + 2 + (k) % 2)); \
    } while (0)

TARGET static float VARIANT(row_q5)(const uint8_t *w, const int8_t *q, const float *d, const int32_t *lo, const int32_t *hi, long blocks) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    for (long g = 0; g < blocks; g += 8) {
        long s = blocks - g < 8 ? blocks - g : 8;
        const uint8_t *v = w + g * 22;
        const int8_t *x = q + g * 32;
        __m256i qh = VARIANT(load_words)(v + 16 * s, s);
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        FIVE_BITS(0, qh, a0, a1); FIVE_BITS(1, qh, a2, a3); FIVE_BITS(2, qh, a0, a1); FIVE_BITS(3, qh, a2, a3);
        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        __m256i sums = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(lo + g)), _mm256_loadu_si256((const __m256i *)(hi + g)));
        sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(sums, 4));
        __m256 scale = _mm256_mul_ps(VARIANT(load_halfs)(v + 20 * s, s), _mm256_loadu_ps(d + g));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc);
    }
    return VARIANT(reduce)(acc);
}
#undef FIVE_BITS
#undef HIGH_BITS

TARGET static float VARIANT(row_q4m)(const uint8_t *w, const int8_t *q, const float *d, const int32_t *lo, const int32_t *hi, long blocks) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    for (long g = 0; g < blocks; g += 8) {
        long s = blocks - g < 8 ? blocks - g : 8;
        const uint8_t *v = w + g * 24;
        const int8_t *x = q + g * 32;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        NIBBLES(0, a0, a1); NIBBLES(1, a2, a3); NIBBLES(2, a0, a1); NIBBLES(3, a2, a3);
        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        __m256i sums = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(lo + g)), _mm256_loadu_si256((const __m256i *)(hi + g)));
        __m256 scale = VARIANT(load_floats)(v + 16 * s, s), mins = VARIANT(load_floats)(v + 20 * s, s);
        __m256 t = _mm256_fmsub_ps(scale, _mm256_cvtepi32_ps(sum), _mm256_mul_ps(mins, _mm256_cvtepi32_ps(sums)));
        acc = _mm256_fmadd_ps(t, _mm256_loadu_ps(d + g), acc);
    }
    return VARIANT(reduce)(acc);
}
#undef W
#undef X
#undef NIBBLES

#if WIDE_512
// Four adjacent rows of Q8_0 or Q4_0 weights of whole groups and at most a one-block last group
// (the 15M shape's 288 columns), against one activation row, into out[0..3]. Per row the same
// operations as row_q8 / row_q4 (the same exact integer sums, fp32 multiplies, fused multiply-adds
// and reduction order, so the same bits), with what a row spends besides its dot products shared
// by four: the activation vectors loaded once, the one-block tails' exact lane sums of four rows
// in three horizontal adds, their fp16 scales converted together, and the four reductions
// interleaved (lanes j + 4, then the pairs, as reduce does) ending in one vector of the four
// results. On short rows that per-row work is a large part of the time (a 288-column row has
// only 9 blocks).
TARGET static inline void VARIANT(rows4)(int kind, const uint8_t *w, long rowBytes, long blocks, const int8_t *q, const float *d,
                                         const int32_t *lo, const int32_t *hi, const VARIANT(one_x) *one, float out[4]) {
    const __m512i nibbles = _mm512_set1_epi8(0x0F);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    int q4 = kind == SWIFTLET_KIND_Q4;
    long perBlock = q4 ? 18 : 34;
    __m256 acc[4];
    for (int r = 0; r < 4; r++) acc[r] = _mm256_setzero_ps();
    long g = 0;
    for (; g + 8 <= blocks; g += 8) {
        const int8_t *x = q + g * 32;
        __m512i x0 = _mm512_loadu_si512(x), x1 = _mm512_loadu_si512(x + 64), x2 = _mm512_loadu_si512(x + 128),
                x3 = _mm512_loadu_si512(x + 192);
        __m256i sums = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(lo + g)), _mm256_loadu_si256((const __m256i *)(hi + g)));
        sums = q4 ? _mm256_slli_epi32(sums, 3) : _mm256_slli_epi32(sums, 7);
        __m256 dx = _mm256_loadu_ps(d + g);
        for (int r = 0; r < 4; r++) {
            const uint8_t *v = w + r * rowBytes + g * perBlock;
            __m512i a0, a1;
            __m128i halfs;
            if (q4) {
                __m512i b0 = _mm512_loadu_si512(v), b1 = _mm512_loadu_si512(v + 64);
                a0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(b0, nibbles), x0);
                a1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(b0, 4), nibbles), x1);
                a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(b1, nibbles), x2);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(_mm512_srli_epi16(b1, 4), nibbles), x3);
                halfs = _mm_loadu_si128((const __m128i *)(v + 128));
            } else {
                a0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(v), x0);
                a1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(v + 64), x1);
                a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(v + 128), x2);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(v + 192), x3);
                halfs = _mm_loadu_si128((const __m128i *)(v + 256));
            }
            __m256i sum = _mm256_sub_epi32(VARIANT(fold)(_mm512_add_epi32(a0, a1)), sums);
            __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(halfs), dx);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc[r]);
        }
    }
    // Lanes 0..3 of rows 0 and 1 (2 and 3), and lanes 4..7: what reduce adds first.
    __m256 low01 = _mm256_permute2f128_ps(acc[0], acc[1], 0x20), high01 = _mm256_permute2f128_ps(acc[0], acc[1], 0x31);
    __m256 low23 = _mm256_permute2f128_ps(acc[2], acc[3], 0x20), high23 = _mm256_permute2f128_ps(acc[2], acc[3], 0x31);
    if (g < blocks) {  // the one-block tail, into lane 0 of each row (lanes 4 of low01, low23)
        __m256i t[4];
        uint16_t h[4];
        for (int r = 0; r < 4; r++) {
            const uint8_t *v = w + r * rowBytes + g * perBlock;
            __m256i u;
            if (q4) {
                __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)v));
                u = _mm256_and_si256(_mm256_srlv_epi32(bytes, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), nibble);
                memcpy(&h[r], v + 16, 2);
            } else {
                u = _mm256_loadu_si256((const __m256i *)v);
                memcpy(&h[r], v + 32, 2);
            }
            t[r] = _mm256_dpbusd_epi32(one->start, u, one->x);
        }
        // Exact: lanes 0..3 of the result hold rows 0..3's sums of lanes 0..3, lanes 4..7 of 4..7.
        __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(t[0], t[1]), _mm256_hadd_epi32(t[2], t[3]));
        __m256 sums = _mm256_castps128_ps256(
            _mm_cvtepi32_ps(_mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1))));
        __m128i halfs = _mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3], 0, 0, 0, 0);
        __m256 scales = _mm256_castps128_ps256(_mm_mul_ps(_mm_cvtph_ps(halfs), _mm_set1_ps(d[g])));
        // Row 0 (2) to lane 0, row 1 (3) to lane 4, the other lanes 0: they add 0 · 0, as
        // one_block's lanes 1..7 do.
        const __m256i at01 = _mm256_setr_epi32(0, 0, 0, 0, 1, 0, 0, 0), at23 = _mm256_setr_epi32(2, 0, 0, 0, 3, 0, 0, 0);
        low01 = _mm256_fmadd_ps(_mm256_maskz_permutexvar_ps(0x11, at01, sums), _mm256_maskz_permutexvar_ps(0x11, at01, scales), low01);
        low23 = _mm256_fmadd_ps(_mm256_maskz_permutexvar_ps(0x11, at23, sums), _mm256_maskz_permutexvar_ps(0x11, at23, scales), low23);
    }
    __m256 s01 = _mm256_add_ps(low01, high01), s23 = _mm256_add_ps(low23, high23);  // a_j + a_{j+4}
    // (0+4)+(2+6) and (1+5)+(3+7) of rows 0, 2 | 1, 3, then their sum.
    __m256 u = _mm256_add_ps(_mm256_shuffle_ps(s01, s23, 0x44), _mm256_shuffle_ps(s01, s23, 0xEE));
    __m256 v = _mm256_add_ps(_mm256_shuffle_ps(u, u, 0x88), _mm256_shuffle_ps(u, u, 0xDD));  // rows 0 2 0 2 | 1 3 1 3
    _mm_storeu_ps(out, _mm_unpacklo_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}
#endif

TARGET static void VARIANT(rows)(int kind, const uint8_t *w, long rowBytes, long blocks, long rowFrom, long rowTo,
                                 const int8_t *q, long qStride, const float *d, const int32_t *lo, const int32_t *hi,
                                 long blockStride, long count, float *y, long ldy, int accumulate) {
    // One weight row at a time, a single forward stream: measured here on the 110M shape's
    // matrices, four rows interleaved (each activation vector loaded once for four) streamed at
    // 17 GB/s with software prefetching of the next four, one row at a time at 35 GB/s. A row
    // is read from memory once and from L1 for every further activation row. The row about
    // 5 KB ahead is prefetched as each row starts: on Zen 5 (2 cores, 110M shape, 5 interleaved
    // rounds) Q4_0 decoding went from a median of 470 to 572 tokens/s and Q8_0 from 275 to 294
    // (0 and 8 KB ahead both slower); the hardware prefetcher alone lags a stream this fast.
    long r = rowFrom;
    const long ahead = (QUANT_PREFETCH_BYTES + rowBytes - 1) / rowBytes;
    // A last group of one block: its activation words gathered once for every row (for up to
    // 16 activation rows; beyond, once per row and activation row).
    enum { HELD = 16 };
    VARIANT(one_x) ones[HELD], own;
    int one = blocks % 8 == 1 && (kind == SWIFTLET_KIND_Q8 || kind == SWIFTLET_KIND_Q4);
    long held = one ? (count < HELD ? count : HELD) : 0;
    for (long i = 0; i < held; i++)
        ones[i] = VARIANT(gather_one)(kind, q + i * qStride, lo + i * blockStride, hi + i * blockStride, blocks);
#if WIDE_512
    if ((kind == SWIFTLET_KIND_Q8 || kind == SWIFTLET_KIND_Q4) && blocks % 8 <= 1 && blocks <= QUANT_ROWS4_BLOCKS)
        for (; r + 4 <= rowTo; r += 4) {
            for (long k = 0; k < 4; k++) {
                const uint8_t *row = w + (r + k) * rowBytes;
                if (r + k + ahead < rowTo)
                    for (long b = 0; b < rowBytes; b += 64) _mm_prefetch((const char *)(row + ahead * rowBytes + b), _MM_HINT_T0);
            }
            for (long i = 0; i < count; i++) {
                const VARIANT(one_x) *x1 = &ones[i < HELD ? i : 0];
                if (one && i >= held) {
                    own = VARIANT(gather_one)(kind, q + i * qStride, lo + i * blockStride, hi + i * blockStride, blocks);
                    x1 = &own;
                }
                float s[4];
                VARIANT(rows4)(kind, w + r * rowBytes, rowBytes, blocks, q + i * qStride, d + i * blockStride, lo + i * blockStride,
                               hi + i * blockStride, x1, s);
                float *out = y + i * ldy + r;
                for (int k = 0; k < 4; k++) out[k] = accumulate ? out[k] + s[k] : s[k];
            }
        }
#endif
    for (; r < rowTo; r++) {
        const uint8_t *row = w + r * rowBytes;
        if (r + ahead < rowTo)
            for (long b = 0; b < rowBytes; b += 64) _mm_prefetch((const char *)(row + ahead * rowBytes + b), _MM_HINT_T0);
        for (long i = 0; i < count; i++) {
            const int8_t *qi = q + i * qStride;
            const float *di = d + i * blockStride;
            const int32_t *li = lo + i * blockStride, *hi_ = hi + i * blockStride;
            const VARIANT(one_x) *x1 = &ones[i < HELD ? i : 0];
            if (one && i >= held) {
                own = VARIANT(gather_one)(kind, qi, li, hi_, blocks);
                x1 = &own;
            }
            float s;
            switch (kind) {
            case SWIFTLET_KIND_Q8: s = VARIANT(row_q8)(row, qi, di, li, hi_, blocks, x1); break;
            case SWIFTLET_KIND_Q6: s = VARIANT(row_q6)(row, qi, di, li, hi_, blocks); break;
            case SWIFTLET_KIND_Q4: s = VARIANT(row_q4)(row, qi, di, li, hi_, blocks, x1); break;
            case SWIFTLET_KIND_Q5: s = VARIANT(row_q5)(row, qi, di, li, hi_, blocks); break;
            default: s = VARIANT(row_q4m)(row, qi, di, li, hi_, blocks); break;
            }
            float *out = y + i * ldy + r;
            *out = accumulate ? *out + s : s;
        }
    }
}
