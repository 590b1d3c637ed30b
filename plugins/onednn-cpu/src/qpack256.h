/* Q8_0 / Q4_0 / Q4_1 tiles over the 4-row interleaved layout (pack4.c) in
 * 256-bit registers: one group of 4 weight rows x NX (1..2) activation rows.
 * A template: the including file defines
 *   QP256(name)      the prefix of the functions it gets
 *   QP256_DOT(u, s)  8 x int32, lane j = sum of u8*s8 over bytes 4j..4j+3
 * and is compiled with at least -mavx2 -mfma -mf16c.
 *
 * Each output is qdot256.h's, bit for bit (llama.cpp's order; see
 * qpack512.h). Q4: one register holds block k's nibbles of two rows (16
 * bytes each); its low nibbles against x[0..15] in both halves give lanes
 * (row, j = 0..3), its high nibbles against x[16..31] lanes (row, j = 4..7).
 * Q8_0: one register per row, as qdot256.h. */
#include "simd_avx2.h"

#ifndef QP256_DOT
#error "define QP256_DOT before including qpack256.h"
#endif
#define QP256_PF_AHEAD 2048

/* out[0], out[1] = the two rows of a + b (lanes 0..3 and 4..7), in hsum256's order after its first step */
CPU_INLINE void QP256(hsum2x4)(__m256 a, __m256 b, float *out) {
    const __m256 t = _mm256_add_ps(a, b);
    const __m256 u = _mm256_add_ps(t, _mm256_permute_ps(t, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 s = _mm256_add_ps(u, _mm256_permute_ps(u, _MM_SHUFFLE(1, 1, 1, 1)));
    out[0] = _mm256_cvtss_f32(s);
    out[1] = _mm_cvtss_f32(_mm256_extractf128_ps(s, 1));
}

/* out[c * 4 + r] */
CPU_INLINE void QP256(tile)(const int DT, const int NX, int64_t nb, const uint8_t *w, const act_q8 *const *x,
                            float *out, const int prefetch) {
    const size_t rec = DT == 0 ? 136 : DT == 1 ? 72 : 80, head = DT == 2 ? 16 : 8;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    /* Q4: acc[c][0..1] rows 0,1 (lo, hi), acc[c][2..3] rows 2,3; Q8_0: acc[c][r] row r */
    __m256 acc[2][4];
    __m128 summs[2];
    _Pragma("GCC unroll 2") for (int c = 0; c < NX; c++) {
        summs[c] = _mm_setzero_ps();
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[c][r] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b = w + (size_t)k * rec;
        if (prefetch) _mm_prefetch((const char *)b + QP256_PF_AHEAD, _MM_HINT_T0);
        __m128 dw, mw;
        pack4_scales(DT == 2, b, &dw, &mw);
        if (DT == 0) {
            __m256i wq[4], ws[4];
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
                ws[r] = _mm256_loadu_si256((const __m256i *)(b + head + 32 * r));
                wq[r] = _mm256_sign_epi8(ws[r], ws[r]); /* |w|; the sign moves to x */
            }
            _Pragma("GCC unroll 2") for (int c = 0; c < NX; c++) {
                const act_q8 *a = x[c] + k;
                const __m256i xq = _mm256_loadu_si256((const __m256i *)a->q);
                const __m256 dd = _mm256_castps128_ps256(_mm_mul_ps(dw, _mm_set1_ps(a->d)));
                _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
                    const __m256i p = QP256_DOT(wq[r], _mm256_sign_epi8(xq, ws[r]));
                    acc[c][r] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(dd, _mm256_set1_epi32(r)), _mm256_cvtepi32_ps(p),
                                                acc[c][r]);
                }
            }
        } else {
            const __m256i v01 = _mm256_loadu_si256((const __m256i *)(b + head));
            const __m256i v23 = _mm256_loadu_si256((const __m256i *)(b + head + 32));
            const __m256i q[4] = {_mm256_and_si256(v01, low4), _mm256_and_si256(_mm256_srli_epi16(v01, 4), low4),
                                  _mm256_and_si256(v23, low4), _mm256_and_si256(_mm256_srli_epi16(v23, 4), low4)};
            const __m256 dw2 = _mm256_castps128_ps256(dw);
            /* d_w of rows 0,1 (2,3) in their halves' lanes */
            const __m256 dwl[2] = {_mm256_permutevar8x32_ps(dw2, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)),
                                   _mm256_permutevar8x32_ps(dw2, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3))};
            _Pragma("GCC unroll 2") for (int c = 0; c < NX; c++) {
                const act_q8 *a = x[c] + k;
                const __m256i xlo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)a->q));
                const __m256i xhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(a->q + 16)));
                const __m256 dx = _mm256_set1_ps(a->d);
                _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) { /* rows 0,1 lo, hi; rows 2,3 lo, hi */
                    const __m256i xs = i & 1 ? xhi : xlo;
                    __m256i p = QP256_DOT(q[i], xs);
                    if (DT == 1) p = _mm256_sub_epi32(p, QP256_DOT(_mm256_set1_epi8(8), xs));
                    acc[c][i] = _mm256_fmadd_ps(_mm256_mul_ps(dwl[i / 2], dx), _mm256_cvtepi32_ps(p), acc[c][i]);
                }
                if (DT == 2) summs[c] = _mm_fmadd_ps(mw, _mm_set1_ps(a->s), summs[c]);
            }
        }
    }
    _Pragma("GCC unroll 2") for (int c = 0; c < NX; c++) {
        float s[4], *o = out + 4 * c;
        _mm_storeu_ps(s, summs[c]);
        if (DT == 0) {
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) o[r] = hsum256(acc[c][r]);
        } else {
            QP256(hsum2x4)(acc[c][0], acc[c][1], o);
            QP256(hsum2x4)(acc[c][2], acc[c][3], o + 2);
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) o[r] += s[r];
        }
    }
}

/* One packed group (its first row at w; nr of its rows wanted) x nx
 * activation rows, two per tile; the cpu_gemm_fn contract otherwise. */
CPU_INLINE void QP256(gemm_dt)(const int DT, const int pf, int64_t n, const void *w, int nr, const void *x,
                               size_t x_row_bytes, int nx, float *out, size_t out_stride) {
    const int64_t nb = n / QK32;
    float tmp[2 * 4];
    for (int c0 = 0; c0 < nx; c0 += 2) {
        const int m = nx - c0 >= 2 ? 2 : 1;
        const act_q8 *xs[2] = {(const act_q8 *)((const char *)x + (size_t)c0 * x_row_bytes),
                               (const act_q8 *)((const char *)x + (size_t)(c0 + m - 1) * x_row_bytes)};
        if (m == 2) QP256(tile)(DT, 2, nb, w, xs, tmp, 0);
        else QP256(tile)(DT, 1, nb, w, xs, tmp, nx == 1 ? pf : 0);
        for (int c = 0; c < m; c++)
            for (int i = 0; i < nr; i++) out[(size_t)(c0 + c) * out_stride + i] = tmp[c * 4 + i];
    }
}

#define QP(name) QP256(name)
#include "qpack_entries.h"
#undef QP
