/* Q8_0 / Q4_0 / Q4_1 tiles in 512-bit registers: 4 weight rows x NX (1..8)
 * activation rows. A template: the including file defines
 *   QD512(name)      the prefix of the functions it gets
 *   QD512_DOT(u, s)  16 x int32, lane j = sum of u8*s8 over bytes 4j..4j+3
 * and is compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq (+ -mfma -mf16c).
 *
 * One register holds the same block of two weight rows (rows 2p and 2p+1 in
 * its low and high halves) against the activation block broadcast to both, so
 * each half is exactly the 8-lane accumulator qdot256.h keeps for its row:
 * the outputs are the same bits as the 256-bit kernels and llama.cpp's. */
#include "simd_avx2.h"

#ifndef QD512_DOT
#error "define QD512_DOT before including qdot512.h"
#endif
#ifndef QD512_TILE_X
#define QD512_TILE_X 8 /* activation rows per tile: 4 or 8 */
#endif

/* the nibbles of one block of two rows: [row a lo, row a hi, row b lo, row b hi] */
CPU_INLINE __m512i QD512(nibbles2)(const uint8_t *qa, const uint8_t *qb) {
    __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qa)),
                                        _mm_loadu_si128((const __m128i *)qb), 1);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1);
    v = _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

CPU_INLINE void QD512(tile)(const int DT, const int NX, int64_t nb, const void *w, size_t row_bytes,
                            const act_q8 *const *x, float *out, size_t out_stride, const int prefetch) {
    const size_t bsz = DT == 0 ? sizeof(blk_q8_0) : DT == 1 ? sizeof(blk_q4_0) : sizeof(blk_q4_1);
    const size_t qoff = DT == 0 ? offsetof(blk_q8_0, qs) : DT == 1 ? offsetof(blk_q4_0, qs) : offsetof(blk_q4_1, qs);
    const __m512i lo_pair = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i hi_pair = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    __m512 acc[8][2];
    __m128 summs[8];
    _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) acc[c][0] = acc[c][1] = _mm512_setzero_ps(), summs[c] = _mm_setzero_ps();
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b[4];
        uint64_t d4 = 0, m4 = 0; /* four f16 scales (mins), built in a register, not on the stack */
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
            b[r] = (const uint8_t *)w + (size_t)r * row_bytes + (size_t)k * bsz;
            /* decode: prefetch some rows ahead (see qdot256.h) */
            if (prefetch == CPU_PF_NTA) _mm_prefetch((const char *)b[r] + 4 * row_bytes, _MM_HINT_NTA);
            else if (prefetch == CPU_PF_T0) _mm_prefetch((const char *)b[r] + 8 * row_bytes, _MM_HINT_T0);
            uint16_t h[2];
            memcpy(h, b[r], sizeof h);
            d4 |= (uint64_t)h[0] << (16 * r);
            m4 |= (uint64_t)h[1] << (16 * r);
        }
        const __m512 dw = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)d4)));
        /* [d_{2p} x 8 | d_{2p+1} x 8]: times d_x this is the scale of pair p */
        const __m512 dwp[2] = {_mm512_permutexvar_ps(lo_pair, dw), _mm512_permutexvar_ps(hi_pair, dw)};
        const __m128 mw = DT == 2 ? _mm_cvtph_ps(_mm_cvtsi64_si128((long long)m4)) : _mm_setzero_ps();
        __m512i wq[2];
        __mmask64 wneg[2] = {0, 0};
        _Pragma("GCC unroll 4") for (int p = 0; p < 2; p++) {
            if (DT == 0) {
                __m512i q = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b[2 * p] + qoff))),
                    _mm256_loadu_si256((const __m256i *)(b[2 * p + 1] + qoff)), 1);
                wneg[p] = _mm512_movepi8_mask(q);
                wq[p] = _mm512_abs_epi8(q); /* |w|; the sign moves to x */
            } else {
                wq[p] = QD512(nibbles2)(b[2 * p] + qoff, b[2 * p + 1] + qoff);
            }
        }
        _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) {
            const act_q8 *a = x[c] + k;
            const __m512i xq = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)a->q));
            const __m512i x8 = DT == 1 ? QD512_DOT(_mm512_set1_epi8(8), xq) : _mm512_setzero_si512();
            const __m512 dx = _mm512_set1_ps(a->d);
            _Pragma("GCC unroll 4") for (int p = 0; p < 2; p++) {
                __m512i q = DT == 0 ? QD512_DOT(wq[p], _mm512_mask_sub_epi8(xq, wneg[p], _mm512_setzero_si512(), xq))
                                    : QD512_DOT(wq[p], xq);
                if (DT == 1) q = _mm512_sub_epi32(q, x8);
                acc[c][p] = _mm512_fmadd_ps(_mm512_mul_ps(dwp[p], dx), _mm512_cvtepi32_ps(q), acc[c][p]);
            }
            if (DT == 2) summs[c] = _mm_fmadd_ps(mw, _mm_set1_ps(a->s), summs[c]);
        }
    }
    _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) {
        float s[4];
        _mm_storeu_ps(s, summs[c]);
        _Pragma("GCC unroll 4") for (int p = 0; p < 2; p++) {
            out[(size_t)c * out_stride + 2 * p] = hsum256(_mm512_castps512_ps256(acc[c][p])) + s[2 * p];
            out[(size_t)c * out_stride + 2 * p + 1] = hsum256(_mm512_extractf32x8_ps(acc[c][p], 1)) + s[2 * p + 1];
        }
    }
}

/* As QD256(gemm_dt): nr (1..4) weight rows x nx activation rows, eight
 * activation rows per tile (the weight blocks' unpacking is paid once for
 * them all). */
CPU_INLINE void QD512(gemm_dt)(const int DT, const int pf, int64_t n, const void *w, size_t row_bytes, int nr,
                               const void *x, size_t x_row_bytes, int nx, float *out, size_t out_stride) {
    const int64_t nb = n / QK32;
    const int step = nr == 4 ? 4 : 1;
    float tmp[8 * 4];
    for (int c0 = 0; c0 < nx; c0 += QD512_TILE_X) {
        const int m = nx - c0 >= QD512_TILE_X ? QD512_TILE_X : nx - c0;
        const act_q8 *xs[8];
        for (int c = 0; c < 8; c++)
            xs[c] = (const act_q8 *)((const char *)x + (size_t)(c0 + (c < m ? c : m - 1)) * x_row_bytes);
        for (int r0 = 0; r0 < nr; r0 += step) {
            const void *wr = (const char *)w + (size_t)r0 * row_bytes;
            const size_t rb = step == 4 ? row_bytes : 0;
            switch (m) {
            case 8: QD512(tile)(DT, 8, nb, wr, rb, xs, tmp, 4, 0); break;
            case 7: case 6: case 5: QD512(tile)(DT, 8, nb, wr, rb, xs, tmp, 4, 0); break; /* rows past m repeat */
            case 4: QD512(tile)(DT, 4, nb, wr, rb, xs, tmp, 4, 0); break;
            case 3: QD512(tile)(DT, 3, nb, wr, rb, xs, tmp, 4, 0); break;
            case 2: QD512(tile)(DT, 2, nb, wr, rb, xs, tmp, 4, 0); break;
            default: QD512(tile)(DT, 1, nb, wr, rb, xs, tmp, 4, nx == 1 && step == 4 ? pf : 0); break;
            }
            for (int c = 0; c < m; c++)
                for (int i = 0; i < step; i++) out[(size_t)(c0 + c) * out_stride + r0 + i] = tmp[c * 4 + i];
        }
    }
}

#define QD(name) QD512(name)
#include "qdot_entries.h"
#undef QD
