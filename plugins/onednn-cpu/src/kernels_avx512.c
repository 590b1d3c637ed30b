/* AVX-512 (F+BW+VL+DQ) kernels: only the decode-critical quantized dots
 * (Q8_0, Q4_0, Q4_1), two 32-element blocks per 512-bit register. The rest is
 * inherited from the AVX2 table. Not verified on hardware where the build
 * machine lacks AVX-512; the unit tests run this path wherever it exists. */
#include <immintrin.h>
#include <string.h>
#include "kernels.h"
#include "simd_avx2.h"

CPU_INLINE __m512i load2x32(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}
CPU_INLINE __m512 scale2(float lo, float hi) {
    return _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1);
}
CPU_INLINE __m512i dot2_us8(__m512i u, __m512i s) {
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
}
CPU_INLINE __m512i nibbles2(const uint8_t *q0, const uint8_t *q1) {
    __m256i a = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)q1), _mm_loadu_si128((const __m128i *)q0));
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(a), _mm256_srli_epi16(a, 4), 1);
    /* v = [q0 lo-src, q1 lo-src, q0 hi-src, q1 hi-src]; reorder to [q0 lo, q0 hi, q1 lo, q1 hi] */
    v = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7), v);
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

#define ROW(T, r) ((const T *)((const char *)w + (size_t)(r) * row_bytes))
/* As in the AVX2 kernels: prefetch the same position one row group ahead,
 * non-temporal, so DRAM streaming keeps up (see kernels_avx2.c). */
#define PF_NEXT_GROUP(p) _mm_prefetch((const char *)(p) + (size_t)nr * row_bytes, _MM_HINT_NTA)

static void vd_q8_0(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    const act_q8 *a = x;
    int64_t nb = n / QK32;
    for (int r = 0; r < nr; r++) {
        const blk_q8_0 *b = ROW(blk_q8_0, r);
        __m512 acc = _mm512_setzero_ps();
        int64_t k = 0;
        for (; k + 2 <= nb; k += 2) {
            PF_NEXT_GROUP(b + k);
            __m512i xq = load2x32(a[k].q, a[k + 1].q);
            __m512i wq = load2x32(b[k].qs, b[k + 1].qs);
            __m512i ax = _mm512_abs_epi8(wq);
            /* sign(x, w) without AVX-512 sign: negate x where w < 0 */
            __mmask64 neg = _mm512_movepi8_mask(wq);
            __m512i sx = _mm512_mask_sub_epi8(xq, neg, _mm512_setzero_si512(), xq);
            __m512i p = dot2_us8(ax, sx);
            acc = _mm512_fmadd_ps(scale2(_cvtsh_ss(b[k].d) * a[k].d, _cvtsh_ss(b[k + 1].d) * a[k + 1].d),
                                  _mm512_cvtepi32_ps(p), acc);
        }
        float s = _mm512_reduce_add_ps(acc);
        for (; k < nb; k++) {
            int t = 0;
            for (int i = 0; i < QK32; i++) t += b[k].qs[i] * a[k].q[i];
            s += _cvtsh_ss(b[k].d) * a[k].d * (float)t;
        }
        out[r] = s;
    }
}

CPU_INLINE void q4_rows512(int64_t n, const void *w, size_t row_bytes, int nr, const act_q8 *a,
                           float *out, const int has_min) {
    int64_t nb = n / QK32;
    const size_t bsz = has_min ? sizeof(blk_q4_1) : sizeof(blk_q4_0);
    const size_t qoff = has_min ? offsetof(blk_q4_1, qs) : offsetof(blk_q4_0, qs);
    for (int r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * row_bytes;
        __m512 acc = _mm512_setzero_ps();
        float off = 0.0f;
        for (int64_t k = 0; k < nb; k += 2) {
            const uint8_t *b0 = row + (size_t)k * bsz;
            PF_NEXT_GROUP(b0);
            const int two = k + 1 < nb;
            const uint8_t *b1 = two ? b0 + bsz : b0;
            uint16_t h[4]; /* d0 m0 d1 m1 (m only for Q4_1) */
            memcpy(h, b0, 4);
            memcpy(h + 2, b1, 4);
            float d0 = _cvtsh_ss(h[0]), d1 = _cvtsh_ss(h[2]);
            float xd1 = two ? a[k + 1].d : 0.0f, xs1 = two ? a[k + 1].s : 0.0f;
            if (has_min) {
                off += _cvtsh_ss(h[1]) * a[k].s + _cvtsh_ss(h[3]) * xs1;
            } else {
                off -= 8.0f * (d0 * a[k].s + d1 * xs1);
            }
            __m512i xq = load2x32(a[k].q, two ? a[k + 1].q : a[k].q);
            __m512i p = dot2_us8(nibbles2(b0 + qoff, b1 + qoff), xq);
            acc = _mm512_fmadd_ps(scale2(d0 * a[k].d, d1 * xd1), _mm512_cvtepi32_ps(p), acc);
        }
        out[r] = _mm512_reduce_add_ps(acc) + off;
    }
}

static void vd_q4_0(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    q4_rows512(n, w, row_bytes, nr, x, out, 0);
}
static void vd_q4_1(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    q4_rows512(n, w, row_bytes, nr, x, out, 1);
}

void cpu_kernels_init_avx512(cpu_kernels *k) {
    k->isa = "avx512";
    k->vec_dot[HIVE_DTYPE_Q8_0] = vd_q8_0;
    k->vec_dot[HIVE_DTYPE_Q4_0] = vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = vd_q4_1;
}
