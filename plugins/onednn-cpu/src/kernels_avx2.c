/* AVX2 + FMA + F16C kernels (this file alone is compiled with those flags). The
 * quantized dots take 8-bit activation blocks and use maddubs/madd integer math;
 * up to four weight rows share each activation load. */
#include <math.h>
#include <string.h>
#include "ggml_order.h"
#include "kernels.h"
#include "simd_avx2.h"

/* ------------------------------------------------------------ activations -- */
static void quantize_act_avx2(const float *x, act_q8 *out, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / QK32; b++, x += QK32) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        __m256 vid = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vid));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vid));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vid));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vid));
        int s0 = hsum256_epi32(_mm256_add_epi32(i0, i1));
        int s1 = hsum256_epi32(_mm256_add_epi32(i2, i3));
        /* packs interleave 128-bit lanes; the permute restores element order */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)out[b].q, p);
        out[b].d = cpu_round_f16(d);
        out[b].sum16[0] = (int16_t)s0;
        out[b].sum16[1] = (int16_t)s1;
        out[b].s = cpu_round_f16(d * (float)(s0 + s1));
    }
}

/* --------------------------------------------------- quantized vec dots -- */
/* Q8_0 / Q4_0 / Q4_1: the shared 256-bit tiles, integer dots by maddubs+madd
 * (no saturation is reachable: |u| <= 128, |s| <= 127, pairs < 2^15). */
#define QD256(name) avx2_##name
#define QD256_DOT(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
#include "qdot256.h"

#define QP256(name) avx2_p4_##name
#define QP256_DOT(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
#include "qpack256.h"

#define ROW(T, r) ((const T *)((const char *)w + (size_t)(r) * row_bytes))

#define DISPATCH_NR(call_nr)                   \
    switch (nr) {                              \
    case 4: call_nr(4); break;                 \
    case 3: call_nr(3); break;                 \
    case 2: call_nr(2); break;                 \
    default:                                   \
        for (int r = 0; r < nr; r++) {         \
            call_nr(1);                        \
            w = (const char *)w + row_bytes;   \
            out++;                             \
        }                                      \
    }

static void vd_q4_k(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int r = 0; r < nr; r++) {
        const blk_q4_k *b = ROW(blk_q4_k, r);
        const act_q8 *a = x;
        __m256 acc = _mm256_setzero_ps();
        float mins = 0.0f;
        for (int64_t k = 0; k < n / QK256; k++, a += 8) {
            float d = _cvtsh_ss(b[k].d), dmin = _cvtsh_ss(b[k].dmin);
            for (int j = 0; j < 4; j++) {
                uint8_t sc0, m0, sc1, m1;
                cpu_q4k_scale_min(2 * j, b[k].scales, &sc0, &m0);
                cpu_q4k_scale_min(2 * j + 1, b[k].scales, &sc1, &m1);
                __m256i q = _mm256_loadu_si256((const __m256i *)(b[k].qs + 32 * j));
                __m256i lo = _mm256_and_si256(q, low);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
                __m256i p0 = dot_us8(lo, _mm256_loadu_si256((const __m256i *)a[2 * j].q));
                __m256i p1 = dot_us8(hi, _mm256_loadu_si256((const __m256i *)a[2 * j + 1].q));
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc0 * a[2 * j].d), _mm256_cvtepi32_ps(p0), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc1 * a[2 * j + 1].d), _mm256_cvtepi32_ps(p1), acc);
                mins += dmin * (m0 * a[2 * j].s + m1 * a[2 * j + 1].s);
            }
        }
        out[r] = hsum256(acc) - mins;
    }
}

/* Q6_K: 6-bit values 0..63 (offset 32 folded into a scalar via the activation
 * half sums); the 16-element group scales enter through madd. */
CPU_INLINE __m256i q6_group_scales(const int8_t *sc) {
    return _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
}

static void vd_q6_k(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    for (int r = 0; r < nr; r++) {
        const blk_q6_k *b = ROW(blk_q6_k, r);
        const act_q8 *a = x;
        __m256 acc = _mm256_setzero_ps();
        float offs = 0.0f;
        for (int64_t k = 0; k < n / QK256; k++, a += 8) {
            float d = _cvtsh_ss(b[k].d);
            for (int half = 0; half < 2; half++) {
                const uint8_t *ql = b[k].ql + 64 * half, *qh = b[k].qh + 32 * half;
                const int8_t *sc = b[k].scales + 8 * half;
                const act_q8 *ah = a + 4 * half;
                __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
                __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
                __m256i h = _mm256_loadu_si256((const __m256i *)qh);
                __m256i q[4];
                q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
                q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
                q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
                q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
                for (int g = 0; g < 4; g++) {
                    const int8_t *s = sc + 2 * g;
                    __m256i p16 = _mm256_maddubs_epi16(q[g], _mm256_loadu_si256((const __m256i *)ah[g].q));
                    __m256i p = _mm256_madd_epi16(p16, q6_group_scales(s));
                    float dd = d * ah[g].d;
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(p), acc);
                    offs += dd * 32.0f * (float)(s[0] * ah[g].sum16[0] + s[1] * ah[g].sum16[1]);
                }
            }
        }
        out[r] = hsum256(acc) - offs;
    }
}

/* ------------------------------------------------ float-weight vec dots -- */
CPU_INLINE __m256 load8_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
CPU_INLINE __m256 load8_bf16(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

#define FLOAT_ROWS(name, T, LOAD8, TO_F32)                                                     \
    CPU_INLINE void name##_rows(int64_t n, const void *w, size_t row_bytes, const int nr,      \
                                const float *x, float *out) {                                  \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),        \
                         _mm256_setzero_ps()};                                                 \
        int64_t i = 0;                                                                         \
        for (; i + 8 <= n; i += 8) {                                                           \
            __m256 xv = _mm256_loadu_ps(x + i);                                                \
            for (int r = 0; r < nr; r++) acc[r] = _mm256_fmadd_ps(LOAD8(ROW(T, r) + i), xv, acc[r]); \
        }                                                                                      \
        for (int r = 0; r < nr; r++) {                                                         \
            float s = hsum256(acc[r]);                                                         \
            for (int64_t j = i; j < n; j++) s += TO_F32(ROW(T, r)[j]) * x[j];                  \
            out[r] = s;                                                                        \
        }                                                                                      \
    }                                                                                          \
    static void vd_##name(int64_t n, const void *w, size_t row_bytes, int nr, const void *x,   \
                          float *out) {                                                        \
        DISPATCH_NR(name##_CALL)                                                               \
    }

#define f32_CALL(N) f32_rows(n, w, row_bytes, N, x, out)
#define f16_CALL(N) f16_rows(n, w, row_bytes, N, x, out)
#define bf16_CALL(N) bf16_rows(n, w, row_bytes, N, x, out)
#define F32_ID(v) (v)
FLOAT_ROWS(f32, float, _mm256_loadu_ps, F32_ID)
FLOAT_ROWS(f16, uint16_t, load8_f16, _cvtsh_ss)
FLOAT_ROWS(bf16, uint16_t, load8_bf16, cpu_bf16_to_f32)

/* ---------------------------------------------------------- dequantize -- */
static void dq_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_f16(s + i));
    for (; i < n; i++) dst[i] = _cvtsh_ss(s[i]);
}
static void dq_q8_0(const void *src, float *dst, int64_t n) {
    const blk_q8_0 *b = src;
    for (int64_t k = 0; k < n / QK32; k++, dst += QK32) {
        __m256 d = _mm256_set1_ps(_cvtsh_ss(b[k].d));
        for (int i = 0; i < 4; i++) {
            __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[k].qs + 8 * i)));
            _mm256_storeu_ps(dst + 8 * i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q)));
        }
    }
}

/* ------------------------------------------------------- vector helpers -- */
static float dot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float s = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
static void dot_slots_f32_avx2(const float *q, const float *k, size_t stride, int n, int64_t hd,
                               float *out) {
    for (int t = 0; t < n; t++) out[t] = dot_f32_avx2(q, k + (size_t)t * stride, hd);
}
#define SLOT_ROW(t) ((const uint16_t *)(base + slot_off[t]))

/* q.k for one head: eight slots at a time, each its own 8-lane accumulator
 * (llama.cpp's order), reduced together by hsum256_x8 */
static void dot_slots_f16_avx2(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                               float *out) {
    const int64_t body = hd & ~(int64_t)7;
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        cpu_prefetch_slot_rows(base, slot_off, t + 16, n, 2 * (size_t)hd);
        const uint16_t *k0 = SLOT_ROW(t), *k1 = SLOT_ROW(t + 1), *k2 = SLOT_ROW(t + 2), *k3 = SLOT_ROW(t + 3);
        const uint16_t *k4 = SLOT_ROW(t + 4), *k5 = SLOT_ROW(t + 5), *k6 = SLOT_ROW(t + 6), *k7 = SLOT_ROW(t + 7);
        __m256 a[8];
        for (int l = 0; l < 8; l++) a[l] = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 8) {
            __m256 qv = _mm256_loadu_ps(q + i);
            a[0] = _mm256_fmadd_ps(load8_f16(k0 + i), qv, a[0]);
            a[1] = _mm256_fmadd_ps(load8_f16(k1 + i), qv, a[1]);
            a[2] = _mm256_fmadd_ps(load8_f16(k2 + i), qv, a[2]);
            a[3] = _mm256_fmadd_ps(load8_f16(k3 + i), qv, a[3]);
            a[4] = _mm256_fmadd_ps(load8_f16(k4 + i), qv, a[4]);
            a[5] = _mm256_fmadd_ps(load8_f16(k5 + i), qv, a[5]);
            a[6] = _mm256_fmadd_ps(load8_f16(k6 + i), qv, a[6]);
            a[7] = _mm256_fmadd_ps(load8_f16(k7 + i), qv, a[7]);
        }
        _mm256_storeu_ps(out + t, hsum256_x8(a));
        for (int l = 0; l < 8 && body < hd; l++)
            for (int64_t i = body; i < hd; i++) out[t + l] += q[i] * _cvtsh_ss(SLOT_ROW(t + l)[i]);
    }
    for (; t < n; t++) {
        const uint16_t *kt = SLOT_ROW(t);
        __m256 a = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 8) a = _mm256_fmadd_ps(load8_f16(kt + i), _mm256_loadu_ps(q + i), a);
        float s = hsum256(a);
        for (int64_t i = body; i < hd; i++) s += q[i] * _cvtsh_ss(kt[i]);
        out[t] = s;
    }
}
/* dot_slots_f16_avx2 over f32 rows (a converted tile): the same lanes, sums
 * and tails */
static void dot_tile_f16_avx2(const float *q, const float *k, size_t stride, int n, int64_t hd, float *out) {
    const int64_t body = hd & ~(int64_t)7;
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        const float *k0 = k + (size_t)t * stride;
        __m256 a[8];
        for (int l = 0; l < 8; l++) a[l] = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 8) {
            __m256 qv = _mm256_loadu_ps(q + i);
            for (int l = 0; l < 8; l++) a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + l * stride + i), qv, a[l]);
        }
        _mm256_storeu_ps(out + t, hsum256_x8(a));
        for (int l = 0; l < 8 && body < hd; l++)
            for (int64_t i = body; i < hd; i++) out[t + l] += q[i] * k0[l * stride + i];
    }
    for (; t < n; t++) {
        const float *kt = k + (size_t)t * stride;
        __m256 a = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(kt + i), _mm256_loadu_ps(q + i), a);
        float s = hsum256(a);
        for (int64_t i = body; i < hd; i++) s += q[i] * kt[i];
        out[t] = s;
    }
}
/* pv_f16_acc_avx2 over f32 rows (a converted tile, in L1/L2) */
static void pv_tile_f16_acc_avx2(const float *p, const float *v, size_t stride, int n, int64_t hd, float *cls) {
    const int64_t body = hd & ~(int64_t)7;
    for (int64_t i = 0; i < body; i += 8) {
        __m256 c[8];
        for (int l = 0; l < 8; l++) c[l] = _mm256_loadu_ps(cls + (size_t)l * (size_t)hd + i);
        int t = 0;
        for (; t + 8 <= n; t += 8)
            for (int l = 0; l < 8; l++)
                c[l] = _mm256_fmadd_ps(_mm256_set1_ps(p[t + l]), _mm256_loadu_ps(v + (size_t)(t + l) * stride + i), c[l]);
        for (int l = 0; t + l < n; l++)
            c[l] = _mm256_fmadd_ps(_mm256_set1_ps(p[t + l]), _mm256_loadu_ps(v + (size_t)(t + l) * stride + i), c[l]);
        for (int l = 0; l < 8; l++) _mm256_storeu_ps(cls + (size_t)l * (size_t)hd + i, c[l]);
    }
    for (int64_t i = body; i < hd; i++)
        for (int t = 0; t < n; t++) {
            float *c = cls + (size_t)(t & 7) * (size_t)hd + i;
            *c = fmaf(p[t], v[(size_t)t * stride + i], *c);
        }
}
/* p.V for one head: per eight dims, the eight slot classes in registers over
 * a chunk of slots (its V rows stay in L1), then back to cls */
#define PV_CHUNK 64
static void pv_f16_acc_avx2(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                            float *cls) {
    const int64_t body = hd & ~(int64_t)7;
    for (int t0 = 0; t0 < n; t0 += PV_CHUNK) {
        const int t1 = n - t0 < PV_CHUNK ? n : t0 + PV_CHUNK;
        for (int64_t i = 0; i < body; i += 8) {
            __m256 c[8];
            for (int l = 0; l < 8; l++) c[l] = _mm256_loadu_ps(cls + (size_t)l * (size_t)hd + i);
            int t = t0;
            for (; t + 8 <= t1; t += 8) {
                if (i == 0) cpu_prefetch_slot_rows(base, slot_off, t + PV_CHUNK, n, 2 * (size_t)hd); /* the next chunk */
                for (int l = 0; l < 8; l++)
                    c[l] = _mm256_fmadd_ps(_mm256_set1_ps(p[t + l]), load8_f16(SLOT_ROW(t + l) + i), c[l]);
            }
            for (int l = 0; t + l < t1; l++) /* t is a multiple of 8: slot t + l is class l */
                c[l] = _mm256_fmadd_ps(_mm256_set1_ps(p[t + l]), load8_f16(SLOT_ROW(t + l) + i), c[l]);
            for (int l = 0; l < 8; l++) _mm256_storeu_ps(cls + (size_t)l * (size_t)hd + i, c[l]);
        }
        for (int64_t i = body; i < hd; i++)
            for (int t = t0; t < t1; t++) {
                float *c = cls + (size_t)(t & 7) * (size_t)hd + i;
                *c = fmaf(p[t], _cvtsh_ss(SLOT_ROW(t)[i]), *c);
            }
    }
}
static void pv_f16_sum_avx2(const float *cls, int64_t hd, float *out) {
    int64_t i = 0;
#define CL(l) _mm256_loadu_ps(cls + (size_t)(l) * (size_t)hd + i)
    for (; i + 8 <= hd; i += 8)
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(CL(0), CL(4)), _mm256_add_ps(CL(2), CL(6))),
                                                _mm256_add_ps(_mm256_add_ps(CL(1), CL(5)), _mm256_add_ps(CL(3), CL(7)))));
#undef CL
    for (; i < hd; i++) {
        float c8[8];
        for (int l = 0; l < 8; l++) c8[l] = cls[(size_t)l * (size_t)hd + i];
        out[i] = cpu_hsum8_ggml(c8);
    }
}
static void pv_f16_avx2(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out,
                        float *cls) {
    memset(cls, 0, 8 * (size_t)hd * sizeof *cls);
    pv_f16_acc_avx2(p, base, slot_off, n, hd, cls);
    pv_f16_sum_avx2(cls, hd, out);
}
/* q8_0 cache: the scalar kernels' order, eight lanes (or dims) at a time */
static inline __m256 load8_i8(const int8_t *x) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)x)));
}
static void dot_slots_q8_0_avx2(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                                float *out) {
    for (int t = 0; t < n; t++) {
        if ((t & 7) == 0) cpu_prefetch_slot_rows(base, slot_off, t + 16, n, (size_t)hd / 32 * sizeof(blk_q8_0));
        const blk_q8_0 *row = (const blk_q8_0 *)(base + slot_off[t]);
        float s = 0.0f;
        for (int64_t b = 0; b < hd / 32; b++) {
            __m256 a = _mm256_setzero_ps();
            for (int i = 0; i < 32; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + b * 32 + i), load8_i8(row[b].qs + i), a);
            s = fmaf(_cvtsh_ss(row[b].d), hsum256(a), s);
        }
        out[t] = s;
    }
}
static void pv_q8_0_acc_avx2(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                             float *out) {
    for (int64_t b = 0; b < hd / 32; b++) { /* one block of dims: four accumulators over every slot */
        __m256 a0 = _mm256_loadu_ps(out + b * 32), a1 = _mm256_loadu_ps(out + b * 32 + 8);
        __m256 a2 = _mm256_loadu_ps(out + b * 32 + 16), a3 = _mm256_loadu_ps(out + b * 32 + 24);
        for (int t = 0; t < n; t++) {
            const blk_q8_0 *blk = (const blk_q8_0 *)(base + slot_off[t]) + b;
            __m256 w = _mm256_set1_ps(p[t] * _cvtsh_ss(blk->d));
            a0 = _mm256_fmadd_ps(w, load8_i8(blk->qs), a0);
            a1 = _mm256_fmadd_ps(w, load8_i8(blk->qs + 8), a1);
            a2 = _mm256_fmadd_ps(w, load8_i8(blk->qs + 16), a2);
            a3 = _mm256_fmadd_ps(w, load8_i8(blk->qs + 24), a3);
        }
        _mm256_storeu_ps(out + b * 32, a0);
        _mm256_storeu_ps(out + b * 32 + 8, a1);
        _mm256_storeu_ps(out + b * 32 + 16, a2);
        _mm256_storeu_ps(out + b * 32 + 24, a3);
    }
}
static void pv_q8_0_avx2(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out) {
    memset(out, 0, (size_t)hd * sizeof *out);
    pv_q8_0_acc_avx2(p, base, slot_off, n, hd, out);
}
/* The same for up to four queries sharing each slot's blocks (GQA): the int8
 * -> f32 conversions once for all of them */
static inline __attribute__((always_inline)) void dot_slots_q8_0_mq4(const float *q, size_t q_stride, const int nq,
                                                                     const uint8_t *base, const size_t *slot_off,
                                                                     int n, int64_t hd, float *out, size_t out_stride) {
    int t = 0;
    /* eight slots at a time: each block's values converted once into kf,
     * each query's eight lane sums reduced together (hsum256_x8 gives
     * hsum256's bits), the block scales applied as eight lanes of fmaf */
    for (; t + 8 <= n; t += 8) {
        cpu_prefetch_slot_rows(base, slot_off, t + 16, n, (size_t)hd / 32 * sizeof(blk_q8_0));
        __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t b = 0; b < hd / 32; b++) {
            float kf[8][32] __attribute__((aligned(32))), dv[8];
            for (int l = 0; l < 8; l++) {
                const blk_q8_0 *blk = (const blk_q8_0 *)(base + slot_off[t + l]) + b;
                dv[l] = _cvtsh_ss(blk->d);
                for (int i = 0; i < 32; i += 8) _mm256_store_ps(kf[l] + i, load8_i8(blk->qs + i));
            }
            __m256 d = _mm256_loadu_ps(dv);
            for (int j = 0; j < nq; j++) {
                const float *qj = q + j * q_stride + b * 32;
                __m256 a[8];
                for (int l = 0; l < 8; l++) {
                    a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(qj), _mm256_load_ps(kf[l]), _mm256_setzero_ps());
                    a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(qj + 8), _mm256_load_ps(kf[l] + 8), a[l]);
                    a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(qj + 16), _mm256_load_ps(kf[l] + 16), a[l]);
                    a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(qj + 24), _mm256_load_ps(kf[l] + 24), a[l]);
                }
                s[j] = _mm256_fmadd_ps(d, hsum256_x8(a), s[j]);
            }
        }
        for (int j = 0; j < nq; j++) _mm256_storeu_ps(out + j * out_stride + t, s[j]);
    }
    for (; t < n; t++) {
        if ((t & 7) == 0) cpu_prefetch_slot_rows(base, slot_off, t + 16, n, (size_t)hd / 32 * sizeof(blk_q8_0));
        const blk_q8_0 *row = (const blk_q8_0 *)(base + slot_off[t]);
        float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t b = 0; b < hd / 32; b++) {
            __m256 k0 = load8_i8(row[b].qs), k1 = load8_i8(row[b].qs + 8), k2 = load8_i8(row[b].qs + 16);
            __m256 k3 = load8_i8(row[b].qs + 24);
            float d = _cvtsh_ss(row[b].d);
            for (int j = 0; j < nq; j++) {
                const float *qj = q + j * q_stride + b * 32;
                __m256 a = _mm256_fmadd_ps(_mm256_loadu_ps(qj), k0, _mm256_setzero_ps());
                a = _mm256_fmadd_ps(_mm256_loadu_ps(qj + 8), k1, a);
                a = _mm256_fmadd_ps(_mm256_loadu_ps(qj + 16), k2, a);
                a = _mm256_fmadd_ps(_mm256_loadu_ps(qj + 24), k3, a);
                s[j] = fmaf(d, hsum256(a), s[j]);
            }
        }
        for (int j = 0; j < nq; j++) out[j * out_stride + t] = s[j];
    }
}
void cpu_dot_slots_q8_0_mq_avx2(const float *q, size_t q_stride, int nq, const uint8_t *base, const size_t *slot_off,
                                int n, int64_t hd, float *out, size_t out_stride) {
    for (int j = 0; j < nq; j += 4) { /* the query count a constant: their sums stay in registers */
        const float *qj = q + j * q_stride;
        float *oj = out + j * out_stride;
        switch (nq - j < 4 ? nq - j : 4) {
        case 1: dot_slots_q8_0_mq4(qj, q_stride, 1, base, slot_off, n, hd, oj, out_stride); break;
        case 2: dot_slots_q8_0_mq4(qj, q_stride, 2, base, slot_off, n, hd, oj, out_stride); break;
        case 3: dot_slots_q8_0_mq4(qj, q_stride, 3, base, slot_off, n, hd, oj, out_stride); break;
        default: dot_slots_q8_0_mq4(qj, q_stride, 4, base, slot_off, n, hd, oj, out_stride); break;
        }
    }
}
/* pv_q8_0_acc_avx2 for up to four queries: half a block of dims at a time
 * (their accumulators in registers), each slot's weight p * d as there */
static void pv_q8_0_acc_mq4(const float *p, size_t p_stride, int nq, const uint8_t *base, const size_t *slot_off, int n,
                            int64_t hd, float *out, size_t out_stride) {
    for (int64_t i = 0; i < hd; i += 16) {
        __m256 a[4][2];
        for (int j = 0; j < nq; j++)
            a[j][0] = _mm256_loadu_ps(out + j * out_stride + i), a[j][1] = _mm256_loadu_ps(out + j * out_stride + i + 8);
        for (int t = 0; t < n; t++) {
            const blk_q8_0 *blk = (const blk_q8_0 *)(base + slot_off[t]) + i / 32;
            float d = _cvtsh_ss(blk->d);
            __m256 v0 = load8_i8(blk->qs + i % 32), v1 = load8_i8(blk->qs + i % 32 + 8);
            for (int j = 0; j < nq; j++) {
                __m256 w = _mm256_set1_ps(p[j * p_stride + t] * d);
                a[j][0] = _mm256_fmadd_ps(w, v0, a[j][0]);
                a[j][1] = _mm256_fmadd_ps(w, v1, a[j][1]);
            }
        }
        for (int j = 0; j < nq; j++)
            _mm256_storeu_ps(out + j * out_stride + i, a[j][0]), _mm256_storeu_ps(out + j * out_stride + i + 8, a[j][1]);
    }
}
static void pv_q8_0_acc_mq_avx2(const float *p, size_t p_stride, int nq, const uint8_t *base, const size_t *slot_off,
                                int n, int64_t hd, float *out, size_t out_stride) {
    for (int j = 0; j < nq; j += 4)
        pv_q8_0_acc_mq4(p + j * p_stride, p_stride, nq - j < 4 ? nq - j : 4, base, slot_off, n, hd,
                        out + j * out_stride, out_stride);
}
#undef SLOT_ROW
/* acc += sum_t p[t] * v_t (f32 cache), eight dims at a time so acc stays in a register */
static void axpy_slots_f32_avx2(const float *p, const float *v, size_t stride, int n, int64_t hd, float *acc) {
    int64_t i = 0;
    for (; i + 8 <= hd; i += 8) {
        __m256 a = _mm256_loadu_ps(acc + i);
        for (int t = 0; t < n; t++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(p[t]), _mm256_loadu_ps(v + (size_t)t * stride + i), a);
        _mm256_storeu_ps(acc + i, a);
    }
    for (; i < hd; i++)
        for (int t = 0; t < n; t++) acc[i] += p[t] * v[(size_t)t * stride + i];
}
static void scale_f32_avx2(float a, float *y, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] *= a;
}
static float scale_max_f32_avx2(float a, float *y, int64_t n) {
    __m256 va = _mm256_set1_ps(a), m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(va, _mm256_loadu_ps(y + i));
        _mm256_storeu_ps(y + i, v);
        m = _mm256_max_ps(v, m); /* NaN in v leaves m as it was, as the scalar loop does */
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    float mx = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
    for (; i < n; i++) {
        y[i] *= a;
        if (y[i] > mx) mx = y[i];
    }
    return mx;
}
static void f32_to_f16_avx2(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = cpu_f32_to_f16(x[i]);
}
static void silu_mul_avx2(const float *g, const float *u, float *o, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), gv));
        __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(o + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
static double exp_sum_avx2(const float *x, float max, float *y, int64_t n) {
    __m256 vm = _mm256_set1_ps(max);
    double s = 0.0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(y + i, e);
        s += (double)hsum256(e);
    }
    if (i < n) {
        float blk[8] = {0};
        for (int l = 0; i + l < n; l++) blk[l] = y[i + l] = cpu_expf_ggml(x[i + l] - max);
        s += (double)cpu_hsum8_ggml(blk);
    }
    return s;
}

void cpu_kernels_init_avx2(cpu_kernels *k) {
    k->isa = "avx2";
    k->vec_dot[HIVE_DTYPE_F32] = vd_f32;
    k->vec_dot[HIVE_DTYPE_F16] = vd_f16;
    k->vec_dot[HIVE_DTYPE_BF16] = vd_bf16;
    avx2_p4_install(k);
    k->vec_dot[HIVE_DTYPE_Q4_K] = vd_q4_k;
    k->vec_dot[HIVE_DTYPE_Q6_K] = vd_q6_k;
    k->dequant[HIVE_DTYPE_F16] = dq_f16;
    k->dequant[HIVE_DTYPE_Q8_0] = dq_q8_0;
    k->quantize_act = quantize_act_avx2;
    k->dot_f32 = dot_f32_avx2;
    k->dot_slots_f32 = dot_slots_f32_avx2;
    k->dot_slots_f16 = dot_slots_f16_avx2;
    k->axpy_slots_f32 = axpy_slots_f32_avx2;
    k->pv_f16 = pv_f16_avx2;
    k->scale_max_f32 = scale_max_f32_avx2;
    k->dot_slots_q8_0 = dot_slots_q8_0_avx2;
    k->pv_q8_0 = pv_q8_0_avx2;
    k->pv_f16_acc = pv_f16_acc_avx2;
    k->pv_f16_sum = pv_f16_sum_avx2;
    k->pv_q8_0_acc = pv_q8_0_acc_avx2;
    k->dot_tile_f16 = dot_tile_f16_avx2;
    k->pv_tile_f16_acc = pv_tile_f16_acc_avx2;
    k->dot_slots_q8_0_mq = cpu_dot_slots_q8_0_mq_avx2;
    k->pv_q8_0_acc_mq = pv_q8_0_acc_mq_avx2;
    k->scale_f32 = scale_f32_avx2;
    k->f32_to_f16 = f32_to_f16_avx2;
    k->silu_mul = silu_mul_avx2;
    k->exp_sum = exp_sum_avx2;
}

/* Q8_0 / Q4_0 / Q4_1 back on GGML's row-major layout (qdot256.h): what the
 * level dispatched before the packed layout, for the micro-benchmark and the
 * levels' row-major variants. */
void cpu_kernels_init_avx2_rowmajor(cpu_kernels *k) {
    k->packed[HIVE_DTYPE_Q8_0] = k->packed[HIVE_DTYPE_Q4_0] = k->packed[HIVE_DTYPE_Q4_1] = 0;
    k->vec_dot[HIVE_DTYPE_Q8_0] = k->decode_prefetch == CPU_PF_T0 ? avx2_vd_q8_0_t0 : avx2_vd_q8_0;
    k->vec_dot[HIVE_DTYPE_Q4_0] = k->decode_prefetch == CPU_PF_T0 ? avx2_vd_q4_0_t0 : avx2_vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = k->decode_prefetch == CPU_PF_T0 ? avx2_vd_q4_1_t0 : avx2_vd_q4_1;
    k->gemm[HIVE_DTYPE_Q8_0] = avx2_gemm_q8_0;
    k->gemm[HIVE_DTYPE_Q4_0] = avx2_gemm_q4_0;
    k->gemm[HIVE_DTYPE_Q4_1] = avx2_gemm_q4_1;
}
