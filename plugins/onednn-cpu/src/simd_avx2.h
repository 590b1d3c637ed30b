/* Small AVX2 helpers shared by the AVX2 and AVX-512 kernel files (both are
 * compiled with at least -mavx2 -mfma -mf16c). */
#ifndef CPU_SIMD_AVX2_H
#define CPU_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#define CPU_INLINE static inline __attribute__((always_inline))

CPU_INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The eight hsum256(a[s]) as lanes s = 0..7 of one vector, each added in
 * hsum256's order (lanes l + l+4, then (0+2) + (1+3)): bit-identical. */
CPU_INLINE __m256 hsum256_x8(const __m256 *a) {
#define LOHI(x, y) _mm256_add_ps(_mm256_permute2f128_ps(x, y, 0x20), _mm256_permute2f128_ps(x, y, 0x31))
    __m256 b01 = LOHI(a[0], a[1]), b23 = LOHI(a[2], a[3]), b45 = LOHI(a[4], a[5]), b67 = LOHI(a[6], a[7]);
#undef LOHI
    /* [s0+s2, s1+s3] of a0, a2 | a1, a3 (and of a4, a6 | a5, a7) */
    __m256 e0 = _mm256_add_ps(_mm256_shuffle_ps(b01, b23, 0x44), _mm256_shuffle_ps(b01, b23, 0xee));
    __m256 e1 = _mm256_add_ps(_mm256_shuffle_ps(b45, b67, 0x44), _mm256_shuffle_ps(b45, b67, 0xee));
    /* results of a0, a2, a4, a6 | a1, a3, a5, a7 */
    __m256 r = _mm256_add_ps(_mm256_shuffle_ps(e0, e1, 0x88), _mm256_shuffle_ps(e0, e1, 0xdd));
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

CPU_INLINE int hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* 16 packed bytes -> 32 nibbles: low nibbles in lanes 0..15, high in 16..31. */
CPU_INLINE __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* unsigned u8 x signed s8, summed in groups of four -> 8 x int32 */
CPU_INLINE __m256i dot_us8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* e^x as ggml computes it (ggml_order.h, cpu_expf_ggml, lane for lane). */
CPU_INLINE __m256 exp256(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift), n = _mm256_sub_ps(z, shift);
    __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    __m256 u = _mm256_mul_ps(b, b);
    __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    __m256 fast = _mm256_fmadd_ps(j, k, k);
    __m256 an = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    __m256 big = _mm256_cmp_ps(an, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    if (!_mm256_movemask_ps(big)) return fast;
    __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                 _mm256_set1_epi32((int)0x82000000u));
    __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
    __m256 huge = _mm256_cmp_ps(an, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_blendv_ps(fast, scaled, big), _mm256_mul_ps(s1, s1), huge);
}

/* A 4-row record's scales (pack4.c) as f32: d of rows 0..3, and with mins
 * (Q4_1: d0 m0 d1 m1 ...) m of rows 0..3, else m = 0. */
CPU_INLINE void pack4_scales(const int with_min, const uint8_t *rec, __m128 *d, __m128 *m) {
    if (with_min) {
        const __m128i dm = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)rec),
                                            _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
        *d = _mm_cvtph_ps(dm);
        *m = _mm_cvtph_ps(_mm_unpackhi_epi64(dm, dm));
    } else {
        *d = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)rec));
        *m = _mm_setzero_ps();
    }
}

#endif
