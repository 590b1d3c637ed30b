/* Q8_0 / Q4_0 / Q4_1 tiles over the 4-row interleaved layout (pack4.c) in
 * 512-bit registers: one group of 4 weight rows x NX (1..8) activation rows.
 * A template: the including file defines
 *   QP512(name)      the prefix of the functions it gets
 *   QP512_DOT(u, s)  16 x int32, lane j = sum of u8*s8 over bytes 4j..4j+3
 * and is compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq (+ -mfma -mf16c).
 *
 * Each output is qdot256.h's, bit for bit (llama.cpp's order): eight float
 * lanes per row, lane j += (d_w * d_x) * P_j block after block, P_j the exact
 * integer sum of elements 4j..4j+3, the lanes then added as hsum256 does.
 * Q4: one register holds block k's nibbles of all four rows; its low nibbles
 * (elements 0..15) against x[0..15] broadcast to every row give lanes
 * (row r, j = 0..3), the high ones against x[16..31] lanes (r, j = 4..7), so
 * hsum256's first step (lane j + lane j+4) is one add of the two
 * accumulators. Q8_0: two registers of two rows each, as qdot512.h. */
#include "simd_avx2.h"

#ifndef QP512_DOT
#error "define QP512_DOT before including qpack512.h"
#endif
#define QP512_PF_AHEAD 2048 /* decode prefetch distance (bytes) on CPUs that want it (kernels.h) */

/* lanes 4r..4r+3 of each of four rows' (a + b) -> out[r], in hsum256's order after its first step */
CPU_INLINE __m128 QP512(hsum4x4)(__m512 a, __m512 b) {
    const __m512 t = _mm512_add_ps(a, b);
    const __m512 u = _mm512_add_ps(t, _mm512_permute_ps(t, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 s = _mm512_add_ps(u, _mm512_permute_ps(u, _MM_SHUFFLE(1, 1, 1, 1)));
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s));
}

/* DT 1 = Q4_0, 2 = Q4_1; out[c * 4 + r] */
CPU_INLINE void QP512(tile_q4)(const int DT, const int NX, int64_t nb, const uint8_t *w, const act_q8 *const *x,
                               float *out, const int prefetch) {
    const size_t rec = DT == 1 ? 72 : 80, head = DT == 1 ? 8 : 16;
    const __m512i lanes = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512 alo[8], ahi[8];
    __m128 summs[8];
    _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) alo[c] = ahi[c] = _mm512_setzero_ps(), summs[c] = _mm_setzero_ps();
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b = w + (size_t)k * rec;
        if (prefetch) _mm_prefetch((const char *)b + QP512_PF_AHEAD, _MM_HINT_T0);
        const __m512i v = _mm512_loadu_si512(b + head);
        const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        __m128 dw, mw;
        pack4_scales(DT == 2, b, &dw, &mw);
        const __m512 dwl = _mm512_permutexvar_ps(lanes, _mm512_castps128_ps512(dw)); /* d_w(r) in row r's lanes */
        _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) {
            const act_q8 *a = x[c] + k;
            const __m512i xlo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a->q));
            const __m512i xhi = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(a->q + 16)));
            __m512i plo = QP512_DOT(lo, xlo), phi = QP512_DOT(hi, xhi);
            if (DT == 1) { /* sum (q - 8) x = sum q x - 8 sum x, exactly, per 4-element lane */
                plo = _mm512_sub_epi32(plo, QP512_DOT(_mm512_set1_epi8(8), xlo));
                phi = _mm512_sub_epi32(phi, QP512_DOT(_mm512_set1_epi8(8), xhi));
            }
            const __m512 sc = _mm512_mul_ps(dwl, _mm512_set1_ps(a->d));
            alo[c] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(plo), alo[c]);
            ahi[c] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(phi), ahi[c]);
            if (DT == 2) summs[c] = _mm_fmadd_ps(mw, _mm_set1_ps(a->s), summs[c]);
        }
    }
    _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++)
        _mm_storeu_ps(out + 4 * c, _mm_add_ps(QP512(hsum4x4)(alo[c], ahi[c]), summs[c]));
}

/* Q8_0; out[c * 4 + r] */
CPU_INLINE void QP512(tile_q8)(const int NX, int64_t nb, const uint8_t *w, const act_q8 *const *x, float *out,
                               const int prefetch) {
    const __m512i lo_pair = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i hi_pair = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    __m512 acc[8][2];
    _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) acc[c][0] = acc[c][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b = w + (size_t)k * 136;
        if (prefetch) _mm_prefetch((const char *)b + QP512_PF_AHEAD, _MM_HINT_T0);
        const __m512 dw = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)b)));
        const __m512 dwp[2] = {_mm512_permutexvar_ps(lo_pair, dw), _mm512_permutexvar_ps(hi_pair, dw)};
        __m512i wq[2];
        __mmask64 wneg[2];
        _Pragma("GCC unroll 2") for (int p = 0; p < 2; p++) {
            const __m512i q = _mm512_loadu_si512(b + 8 + 64 * p); /* rows 2p, 2p+1 */
            wneg[p] = _mm512_movepi8_mask(q);
            wq[p] = _mm512_abs_epi8(q); /* |w|; the sign moves to x */
        }
        _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) {
            const act_q8 *a = x[c] + k;
            const __m512i xq = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)a->q));
            const __m512 dx = _mm512_set1_ps(a->d);
            _Pragma("GCC unroll 2") for (int p = 0; p < 2; p++) {
                const __m512i q = QP512_DOT(wq[p], _mm512_mask_sub_epi8(xq, wneg[p], _mm512_setzero_si512(), xq));
                acc[c][p] = _mm512_fmadd_ps(_mm512_mul_ps(dwp[p], dx), _mm512_cvtepi32_ps(q), acc[c][p]);
            }
        }
    }
    _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++)
        _Pragma("GCC unroll 2") for (int p = 0; p < 2; p++) {
            out[4 * c + 2 * p] = hsum256(_mm512_castps512_ps256(acc[c][p]));
            out[4 * c + 2 * p + 1] = hsum256(_mm512_extractf32x8_ps(acc[c][p], 1));
        }
}

CPU_INLINE void QP512(tile)(const int DT, const int NX, int64_t nb, const uint8_t *w, const act_q8 *const *x,
                            float *out, const int prefetch) {
    if (DT == 0) QP512(tile_q8)(NX, nb, w, x, out, prefetch);
    else QP512(tile_q4)(DT, NX, nb, w, x, out, prefetch);
}

/* One packed group (its first row at w; nr of its rows wanted) x nx
 * activation rows, eight per tile; the cpu_gemm_fn contract otherwise. */
CPU_INLINE void QP512(gemm_dt)(const int DT, const int pf, int64_t n, const void *w, int nr, const void *x,
                               size_t x_row_bytes, int nx, float *out, size_t out_stride) {
    const int64_t nb = n / QK32;
    float tmp[8 * 4];
    for (int c0 = 0; c0 < nx; c0 += 8) {
        const int m = nx - c0 >= 8 ? 8 : nx - c0;
        const act_q8 *xs[8];
        for (int c = 0; c < 8; c++)
            xs[c] = (const act_q8 *)((const char *)x + (size_t)(c0 + (c < m ? c : m - 1)) * x_row_bytes);
        switch (m) {
        case 8: QP512(tile)(DT, 8, nb, w, xs, tmp, 0); break;
        case 7: QP512(tile)(DT, 7, nb, w, xs, tmp, 0); break; /* a verify pass of 7 rows pays for 7, not 8 */
        case 6: QP512(tile)(DT, 6, nb, w, xs, tmp, 0); break;
        case 5: QP512(tile)(DT, 5, nb, w, xs, tmp, 0); break;
        case 4: QP512(tile)(DT, 4, nb, w, xs, tmp, 0); break;
        case 3: QP512(tile)(DT, 3, nb, w, xs, tmp, 0); break;
        case 2: QP512(tile)(DT, 2, nb, w, xs, tmp, 0); break;
        default: QP512(tile)(DT, 1, nb, w, xs, tmp, nx == 1 ? pf : 0); break;
        }
        for (int c = 0; c < m; c++)
            for (int i = 0; i < nr; i++) out[(size_t)(c0 + c) * out_stride + i] = tmp[c * 4 + i];
    }
}

#define QP(name) QP512(name)
#include "qpack_entries.h"
#undef QP
