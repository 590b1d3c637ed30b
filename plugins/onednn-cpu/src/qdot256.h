/* Q8_0 / Q4_0 / Q4_1 tiles in 256-bit registers: 4 weight rows x NX (1..2)
 * activation rows. A template: the including file defines
 *   QD256(name)      the prefix of the functions it gets (e.g. avx2_##name)
 *   QD256_DOT(u, s)  8 x int32, lane j = sum of u8*s8 over bytes 4j..4j+3
 * and is compiled with at least -mavx2 -mfma -mf16c.
 *
 * Every output is summed in llama.cpp's order (ggml_vec_dot_q4_1_q8_1 and
 * friends): eight float lanes, lane j += (d_w * d_x) * P_j block after block,
 * where P_j is the exact integer sum of elements 4j..4j+3; then the lanes are
 * added as hsum256 does; Q4_1 adds sum_k m_k * s_k, one fused multiply-add per
 * block in block order. Integer sums are exact whatever instruction forms them
 * (no int16 saturation is reachable), so each ISA path gives the same bits as
 * the others and as llama.cpp's own kernels. */
#include "simd_avx2.h"

#ifndef QD256_DOT
#error "define QD256_DOT before including qdot256.h"
#endif

/* 16 packed bytes -> 32 nibbles in element order (low nibbles first) */
CPU_INLINE __m256i QD256(nibbles)(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

/* The tile body, once per dtype: DT 0 = Q8_0, 1 = Q4_0, 2 = Q4_1. */
CPU_INLINE void QD256(tile)(const int DT, const int NX, int64_t nb, const void *w, size_t row_bytes,
                            const act_q8 *const *x, float *out, size_t out_stride, const int prefetch) {
    const size_t bsz = DT == 0 ? sizeof(blk_q8_0) : DT == 1 ? sizeof(blk_q4_0) : sizeof(blk_q4_1);
    const size_t qoff = DT == 0 ? offsetof(blk_q8_0, qs) : DT == 1 ? offsetof(blk_q4_0, qs) : offsetof(blk_q4_1, qs);
    __m256 acc[2][4];
    __m128 summs[2]; /* lane r: row r's sum of m * s */
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
        summs[c] = _mm_setzero_ps();
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) acc[c][r] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < nb; k++) {
        __m256i wq[4], ws[4];
        uint64_t d4 = 0, m4 = 0; /* the four rows' f16 scales (mins), gathered in a register */
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
            const uint8_t *b = (const uint8_t *)w + (size_t)r * row_bytes + (size_t)k * bsz;
            /* decode streams the weights from DRAM once: prefetch the same spot
             * some rows ahead (kernels.h CPU_PF_*: which pays depends on the CPU) */
            if (prefetch == CPU_PF_NTA) _mm_prefetch((const char *)b + 4 * row_bytes, _MM_HINT_NTA);
            else if (prefetch == CPU_PF_T0) _mm_prefetch((const char *)b + 8 * row_bytes, _MM_HINT_T0);
            uint16_t h[2];
            memcpy(h, b, sizeof h);
            d4 |= (uint64_t)h[0] << (16 * r);
            m4 |= (uint64_t)h[1] << (16 * r);
            if (DT == 0) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(b + qoff));
                wq[r] = _mm256_sign_epi8(q, q); /* |w|; the sign moves to x */
                ws[r] = q;
            } else {
                wq[r] = QD256(nibbles)(b + qoff);
                ws[r] = wq[r];
            }
        }
        const __m128 dw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)d4));
        const __m128 mw = DT == 2 ? _mm_cvtph_ps(_mm_cvtsi64_si128((long long)m4)) : _mm_setzero_ps();
        _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
            const act_q8 *a = x[c] + k;
            __m256i xq = _mm256_loadu_si256((const __m256i *)a->q);
            /* Q4_0: sum (q - 8) x = sum q x - 8 sum x, exactly, per 4-element lane */
            __m256i x8 = DT == 1 ? QD256_DOT(_mm256_set1_epi8(8), xq) : _mm256_setzero_si256();
            /* lane r: d_w(r) * d_x, the scale of row r's block */
            const __m256 dd = _mm256_castps128_ps256(_mm_mul_ps(dw, _mm_set1_ps(a->d)));
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
                __m256i p = DT == 0 ? QD256_DOT(wq[r], _mm256_sign_epi8(xq, ws[r])) : QD256_DOT(wq[r], xq);
                if (DT == 1) p = _mm256_sub_epi32(p, x8);
                __m256 scale = _mm256_permutevar8x32_ps(dd, _mm256_set1_epi32(r));
                acc[c][r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(p), acc[c][r]);
            }
            if (DT == 2) summs[c] = _mm_fmadd_ps(mw, _mm_set1_ps(a->s), summs[c]);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
        float s[4];
        _mm_storeu_ps(s, summs[c]);
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)
            out[(size_t)c * out_stride + r] = hsum256(acc[c][r]) + s[r];
    }
}

/* nr (1..4) weight rows x nx (any) activation rows; out[c * out_stride + r].
 * A group of fewer than four rows runs row by row in tiles whose four rows
 * alias one (row_bytes 0), keeping one code path. */
CPU_INLINE void QD256(gemm_dt)(const int DT, const int pf, int64_t n, const void *w, size_t row_bytes, int nr,
                               const void *x, size_t x_row_bytes, int nx, float *out, size_t out_stride) {
    const int64_t nb = n / QK32;
    const int step = nr == 4 ? 4 : 1;
    float tmp[2 * 4];
    for (int c0 = 0; c0 < nx; c0 += 2) {
        const int m = nx - c0 >= 2 ? 2 : 1;
        const act_q8 *xs[2] = {(const act_q8 *)((const char *)x + (size_t)c0 * x_row_bytes),
                               (const act_q8 *)((const char *)x + (size_t)(c0 + m - 1) * x_row_bytes)};
        for (int r0 = 0; r0 < nr; r0 += step) {
            const void *wr = (const char *)w + (size_t)r0 * row_bytes;
            const size_t rb = step == 4 ? row_bytes : 0;
            if (m == 2) QD256(tile)(DT, 2, nb, wr, rb, xs, tmp, 4, 0);
            else QD256(tile)(DT, 1, nb, wr, rb, xs, tmp, 4, nx == 1 && step == 4 ? pf : 0);
            for (int c = 0; c < m; c++)
                for (int i = 0; i < step; i++) out[(size_t)(c0 + c) * out_stride + r0 + i] = tmp[c * 4 + i];
        }
    }
}

#define QD(name) QD256(name)
#include "qdot_entries.h"
#undef QD
