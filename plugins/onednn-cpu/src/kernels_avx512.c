/* AVX-512 (F+BW+VL+DQ) kernels without VNNI: Q8_0 / Q4_0 / Q4_1 on the 4-row
 * interleaved layout (pack4.c, qpack512.h), integer dots by maddubs+madd.
 * The row-major variants (AVX2's decode dots with 512-bit prefill tiles, and
 * 512-bit decode dots) stay for bench_levels.c's comparison. */
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "ggml_order.h"
#include "kernels.h"

#define QD512(name) avx512_##name
#define QD512_DOT(u, s) _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1))
#include "qdot512.h"

#define QP512(name) avx512_p4_##name
#define QP512_DOT(u, s) _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1))
#include "qpack512.h"

/* p.V for one head, sixteen dims per register: each dim's eight slot
 * classes summed in slot order and reduced as the AVX2 kernel does (so the
 * result is bit-identical), with half its conversions and FMAs. The f16 q.k
 * dots stay AVX2's (their eight-lane order does not widen to one slot); the
 * q8_0 ones put two slots in a register (dot_slots_q8_0_mq_m). */
#define PV_CHUNK 64
#define SLOT_ROW(t) ((const uint16_t *)(base + slot_off[t]))
static void pv_f16_acc_avx512(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                              float *cls) {
    const int64_t body = hd & ~(int64_t)15;
    for (int t0 = 0; t0 < n; t0 += PV_CHUNK) {
        const int t1 = n - t0 < PV_CHUNK ? n : t0 + PV_CHUNK;
        for (int64_t i = 0; i < body; i += 16) {
            __m512 c[8];
            for (int l = 0; l < 8; l++) c[l] = _mm512_loadu_ps(cls + (size_t)l * (size_t)hd + i);
            int t = t0;
            for (; t + 8 <= t1; t += 8) {
                if (i == 0) cpu_prefetch_slot_rows(base, slot_off, t + PV_CHUNK, n, 2 * (size_t)hd); /* the next chunk */
                for (int l = 0; l < 8; l++)
                    c[l] = _mm512_fmadd_ps(_mm512_set1_ps(p[t + l]),
                                           _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(SLOT_ROW(t + l) + i))),
                                           c[l]);
            }
            for (int l = 0; t + l < t1; l++) /* t is a multiple of 8: slot t + l is class l */
                c[l] = _mm512_fmadd_ps(_mm512_set1_ps(p[t + l]),
                                       _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(SLOT_ROW(t + l) + i))), c[l]);
            for (int l = 0; l < 8; l++) _mm512_storeu_ps(cls + (size_t)l * (size_t)hd + i, c[l]);
        }
        for (int64_t i = body; i < hd; i++)
            for (int t = t0; t < t1; t++) {
                float *c = cls + (size_t)(t & 7) * (size_t)hd + i;
                *c = fmaf(p[t], _cvtsh_ss(SLOT_ROW(t)[i]), *c);
            }
    }
}
/* pv_f16_acc_avx512 over f32 rows (a converted tile, in L1/L2) */
static void pv_tile_f16_acc_avx512(const float *p, const float *v, size_t stride, int n, int64_t hd, float *cls) {
    const int64_t body = hd & ~(int64_t)15;
    for (int64_t i = 0; i < body; i += 16) {
        __m512 c[8];
        for (int l = 0; l < 8; l++) c[l] = _mm512_loadu_ps(cls + (size_t)l * (size_t)hd + i);
        int t = 0;
        for (; t + 8 <= n; t += 8)
            for (int l = 0; l < 8; l++)
                c[l] = _mm512_fmadd_ps(_mm512_set1_ps(p[t + l]), _mm512_loadu_ps(v + (size_t)(t + l) * stride + i), c[l]);
        for (int l = 0; t + l < n; l++)
            c[l] = _mm512_fmadd_ps(_mm512_set1_ps(p[t + l]), _mm512_loadu_ps(v + (size_t)(t + l) * stride + i), c[l]);
        for (int l = 0; l < 8; l++) _mm512_storeu_ps(cls + (size_t)l * (size_t)hd + i, c[l]);
    }
    for (int64_t i = body; i < hd; i++)
        for (int t = 0; t < n; t++) {
            float *c = cls + (size_t)(t & 7) * (size_t)hd + i;
            *c = fmaf(p[t], v[(size_t)t * stride + i], *c);
        }
}
static void pv_f16_sum_avx512(const float *cls, int64_t hd, float *out) {
    int64_t i = 0;
#define CL(l) _mm512_loadu_ps(cls + (size_t)(l) * (size_t)hd + i)
    for (; i + 16 <= hd; i += 16)
        _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(CL(0), CL(4)), _mm512_add_ps(CL(2), CL(6))),
                                                _mm512_add_ps(_mm512_add_ps(CL(1), CL(5)), _mm512_add_ps(CL(3), CL(7)))));
#undef CL
    for (; i < hd; i++) {
        float c8[8];
        for (int l = 0; l < 8; l++) c8[l] = cls[(size_t)l * (size_t)hd + i];
        out[i] = cpu_hsum8_ggml(c8);
    }
}
static void pv_f16_avx512(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out,
                          float *cls) {
    memset(cls, 0, 8 * (size_t)hd * sizeof *cls);
    pv_f16_acc_avx512(p, base, slot_off, n, hd, cls);
    pv_f16_sum_avx512(cls, hd, out);
}

/* The f16 cache read once for the M query heads (1..3, a constant, so their
 * 8 M accumulators stay in registers) that share a KV head: each query's
 * scores are dot_slots_f16_avx2's and its p.V pv_f16_avx512's, bit for bit
 * (the same FMAs in the same order, the same reductions). hd % 16 == 0. */
static inline __attribute__((always_inline)) void qk_f16_mq_m(const float *q, size_t q_stride, const int M,
                                                              const uint8_t *base, const size_t *slot_off, int n,
                                                              int64_t hd, float *out, size_t out_stride) {
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        cpu_prefetch_slot_rows(base, slot_off, t + 16, n, 2 * (size_t)hd);
        const uint16_t *kr[8];
        for (int l = 0; l < 8; l++) kr[l] = SLOT_ROW(t + l);
        __m256 a[3][8];
        for (int j = 0; j < M; j++)
            for (int l = 0; l < 8; l++) a[j][l] = _mm256_setzero_ps();
        for (int64_t i = 0; i < hd; i += 8) {
            __m256 qv[3];
            for (int j = 0; j < M; j++) qv[j] = _mm256_loadu_ps(q + j * q_stride + i);
            for (int l = 0; l < 8; l++) {
                const __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kr[l] + i)));
                for (int j = 0; j < M; j++) a[j][l] = _mm256_fmadd_ps(kv, qv[j], a[j][l]);
            }
        }
        for (int j = 0; j < M; j++) _mm256_storeu_ps(out + j * out_stride + t, hsum256_x8(a[j]));
    }
    for (; t < n; t++) {
        const uint16_t *kt = SLOT_ROW(t);
        for (int j = 0; j < M; j++) {
            __m256 a = _mm256_setzero_ps();
            for (int64_t i = 0; i < hd; i += 8)
                a = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + i))),
                                    _mm256_loadu_ps(q + j * q_stride + i), a);
            out[j * out_stride + t] = hsum256(a);
        }
    }
}
static void dot_slots_f16_mq_avx512(const float *q, size_t q_stride, int nq, const uint8_t *base,
                                    const size_t *slot_off, int n, int64_t hd, float *out, size_t out_stride) {
    for (int j = 0; j < nq; j += 3) {
        const float *qj = q + j * q_stride;
        float *oj = out + j * out_stride;
        switch (nq - j) {
        case 1: qk_f16_mq_m(qj, q_stride, 1, base, slot_off, n, hd, oj, out_stride); break;
        case 2: qk_f16_mq_m(qj, q_stride, 2, base, slot_off, n, hd, oj, out_stride); break;
        default: qk_f16_mq_m(qj, q_stride, 3, base, slot_off, n, hd, oj, out_stride); break;
        }
    }
}

/* p.V: 16 dims of the M queries' eight slot classes in registers, over
 * chunks of PV_CHUNK slots (their rows stay in L1 for every block of dims) */
static inline __attribute__((always_inline)) void pv_f16_mq_m(const float *p, size_t p_stride, const int M,
                                                              const uint8_t *base, const size_t *slot_off, int n,
                                                              int64_t hd, float *out, size_t out_stride,
                                                              float *cls) {
    memset(cls, 0, (size_t)M * 8 * (size_t)hd * sizeof *cls);
    for (int t0 = 0; t0 < n; t0 += PV_CHUNK) {
        const int t1 = n - t0 < PV_CHUNK ? n : t0 + PV_CHUNK;
        for (int64_t i = 0; i < hd; i += 16) {
            __m512 c[3][8];
            for (int j = 0; j < M; j++)
                for (int l = 0; l < 8; l++) c[j][l] = _mm512_loadu_ps(cls + ((size_t)j * 8 + (size_t)l) * (size_t)hd + i);
            int t = t0; /* a multiple of 8: slot t + l is class l */
            for (; t + 8 <= t1; t += 8) {
                if (i == 0) cpu_prefetch_slot_rows(base, slot_off, t + PV_CHUNK, n, 2 * (size_t)hd);
                for (int l = 0; l < 8; l++) {
                    const __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(SLOT_ROW(t + l) + i)));
                    for (int j = 0; j < M; j++)
                        c[j][l] = _mm512_fmadd_ps(_mm512_set1_ps(p[j * p_stride + t + l]), v, c[j][l]);
                }
            }
            for (int l = 0; l < 8; l++) {
                if (t + l >= t1) break;
                const __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(SLOT_ROW(t + l) + i)));
                for (int j = 0; j < M; j++)
                    c[j][l] = _mm512_fmadd_ps(_mm512_set1_ps(p[j * p_stride + t + l]), v, c[j][l]);
            }
            for (int j = 0; j < M; j++)
                for (int l = 0; l < 8; l++) _mm512_storeu_ps(cls + ((size_t)j * 8 + (size_t)l) * (size_t)hd + i, c[j][l]);
        }
    }
    for (int j = 0; j < M; j++) pv_f16_sum_avx512(cls + (size_t)j * 8 * (size_t)hd, hd, out + j * out_stride);
}
static void pv_f16_mq_avx512(const float *p, size_t p_stride, int nq, const uint8_t *base, const size_t *slot_off,
                             int n, int64_t hd, float *out, size_t out_stride, float *cls) {
    for (int j = 0; j < nq; j += 3) {
        const float *pj = p + j * p_stride;
        float *oj = out + j * out_stride;
        switch (nq - j) {
        case 1: pv_f16_mq_m(pj, p_stride, 1, base, slot_off, n, hd, oj, out_stride, cls); break;
        case 2: pv_f16_mq_m(pj, p_stride, 2, base, slot_off, n, hd, oj, out_stride, cls); break;
        default: pv_f16_mq_m(pj, p_stride, 3, base, slot_off, n, hd, oj, out_stride, cls); break;
        }
    }
}
#undef SLOT_ROW

/* pv_q8_0_acc_mq with a block of 32 dims in two 512-bit registers a query
 * (M queries, a constant so they stay in registers): half the conversions
 * and FMAs of the AVX2 kernel, each dim's FMAs the same */
static inline __attribute__((always_inline)) void pv_q8_0_mq_m(const float *p, size_t p_stride, const int M,
                                                               const uint8_t *base, const size_t *slot_off, int n,
                                                               int64_t hd, float *out, size_t out_stride) {
    const size_t rb = (size_t)hd / 32 * sizeof(blk_q8_0);
    for (int64_t i = 0; i < hd; i += 32) {
        __m512 a[4][2];
        for (int j = 0; j < M; j++)
            a[j][0] = _mm512_loadu_ps(out + j * out_stride + i), a[j][1] = _mm512_loadu_ps(out + j * out_stride + i + 16);
        for (int t = 0; t < n; t++) {
            if (i == 0 && (t & 7) == 0) cpu_prefetch_slot_rows(base, slot_off, t + 16, n, rb);
            const blk_q8_0 *blk = (const blk_q8_0 *)(base + slot_off[t]) + i / 32;
            float d = _cvtsh_ss(blk->d);
            __m512 v0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)blk->qs)));
            __m512 v1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk->qs + 16))));
            for (int j = 0; j < M; j++) {
                __m512 w = _mm512_set1_ps(p[j * p_stride + t] * d);
                a[j][0] = _mm512_fmadd_ps(w, v0, a[j][0]);
                a[j][1] = _mm512_fmadd_ps(w, v1, a[j][1]);
            }
        }
        for (int j = 0; j < M; j++)
            _mm512_storeu_ps(out + j * out_stride + i, a[j][0]), _mm512_storeu_ps(out + j * out_stride + i + 16, a[j][1]);
    }
}
static void pv_q8_0_acc_mq_avx512(const float *p, size_t p_stride, int nq, const uint8_t *base,
                                  const size_t *slot_off, int n, int64_t hd, float *out, size_t out_stride) {
    for (int j = 0; j < nq; j += 4) {
        const float *pj = p + j * p_stride;
        float *oj = out + j * out_stride;
        switch (nq - j < 4 ? nq - j : 4) {
        case 1: pv_q8_0_mq_m(pj, p_stride, 1, base, slot_off, n, hd, oj, out_stride); break;
        case 2: pv_q8_0_mq_m(pj, p_stride, 2, base, slot_off, n, hd, oj, out_stride); break;
        case 3: pv_q8_0_mq_m(pj, p_stride, 3, base, slot_off, n, hd, oj, out_stride); break;
        default: pv_q8_0_mq_m(pj, p_stride, 4, base, slot_off, n, hd, oj, out_stride); break;
        }
    }
}

/* dot_slots_q8_0_mq (AVX2's) with two slots in each 512-bit register: the
 * low half holds slot l's eight lane sums, the high half slot l+1's, every
 * lane's FMAs those of the AVX2 kernel in its order, so hsum256_x8 over the
 * halves gives its bits; a block's int8 -> f32 conversions for eight slots
 * stay in registers for all M queries. Slots past the last eight: AVX2's. */
static inline __attribute__((always_inline)) void dot_slots_q8_0_mq_m(const float *q, size_t q_stride, const int M,
                                                                      const uint8_t *base, const size_t *slot_off,
                                                                      int n, int64_t hd, float *out,
                                                                      size_t out_stride) {
    const size_t rb = (size_t)hd / 32 * sizeof(blk_q8_0);
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        cpu_prefetch_slot_rows(base, slot_off, t + 16, n, rb);
        __m256 s[4];
        for (int j = 0; j < M; j++) s[j] = _mm256_setzero_ps();
        for (int64_t b = 0; b < hd / 32; b++) {
            const blk_q8_0 *blk[8];
            float dv[8];
            for (int l = 0; l < 8; l++) {
                blk[l] = (const blk_q8_0 *)(base + slot_off[t + l]) + b;
                dv[l] = _cvtsh_ss(blk[l]->d);
            }
            __m512 k2[4][4]; /* [slot pair][eight dims] */
            for (int m = 0; m < 4; m++)
                for (int c = 0; c < 4; c++) {
                    __m128i lo = _mm_loadl_epi64((const __m128i *)(blk[2 * m]->qs + 8 * c));
                    __m128i hi = _mm_loadl_epi64((const __m128i *)(blk[2 * m + 1]->qs + 8 * c));
                    k2[m][c] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_unpacklo_epi64(lo, hi)));
                }
            const __m256 d = _mm256_loadu_ps(dv);
            for (int j = 0; j < M; j++) {
                const float *qj = q + j * q_stride + b * 32;
                __m512 q2[4];
                for (int c = 0; c < 4; c++) q2[c] = _mm512_broadcast_f32x8(_mm256_loadu_ps(qj + 8 * c));
                __m256 a[8];
                for (int m = 0; m < 4; m++) {
                    __m512 acc = _mm512_fmadd_ps(q2[0], k2[m][0], _mm512_setzero_ps());
                    acc = _mm512_fmadd_ps(q2[1], k2[m][1], acc);
                    acc = _mm512_fmadd_ps(q2[2], k2[m][2], acc);
                    acc = _mm512_fmadd_ps(q2[3], k2[m][3], acc);
                    a[2 * m] = _mm512_castps512_ps256(acc);
                    a[2 * m + 1] = _mm512_extractf32x8_ps(acc, 1);
                }
                s[j] = _mm256_fmadd_ps(d, hsum256_x8(a), s[j]);
            }
        }
        for (int j = 0; j < M; j++) _mm256_storeu_ps(out + j * out_stride + t, s[j]);
    }
    if (t < n) cpu_dot_slots_q8_0_mq_avx2(q, q_stride, M, base, slot_off + t, n - t, hd, out + t, out_stride);
}
static void dot_slots_q8_0_mq_avx512(const float *q, size_t q_stride, int nq, const uint8_t *base,
                                     const size_t *slot_off, int n, int64_t hd, float *out, size_t out_stride) {
    for (int j = 0; j < nq; j += 4) {
        const float *qj = q + j * q_stride;
        float *oj = out + j * out_stride;
        switch (nq - j < 4 ? nq - j : 4) {
        case 1: dot_slots_q8_0_mq_m(qj, q_stride, 1, base, slot_off, n, hd, oj, out_stride); break;
        case 2: dot_slots_q8_0_mq_m(qj, q_stride, 2, base, slot_off, n, hd, oj, out_stride); break;
        case 3: dot_slots_q8_0_mq_m(qj, q_stride, 3, base, slot_off, n, hd, oj, out_stride); break;
        default: dot_slots_q8_0_mq_m(qj, q_stride, 4, base, slot_off, n, hd, oj, out_stride); break;
        }
    }
}

void cpu_kernels_attention_avx512(cpu_kernels *k) {
    k->dot_slots_q8_0_mq = dot_slots_q8_0_mq_avx512;
    k->dot_slots_f16_mq = dot_slots_f16_mq_avx512;
    k->pv_f16_mq = pv_f16_mq_avx512;
    k->pv_q8_0_acc_mq = pv_q8_0_acc_mq_avx512;
    k->pv_f16 = pv_f16_avx512;
    k->pv_f16_acc = pv_f16_acc_avx512;
    k->pv_f16_sum = pv_f16_sum_avx512;
    k->pv_tile_f16_acc = pv_tile_f16_acc_avx512;
}

void cpu_kernels_init_avx512(cpu_kernels *k) {
    k->isa = "avx512";
    avx512_p4_install(k);
}

void cpu_kernels_init_avx512_rowmajor(cpu_kernels *k) {
    cpu_kernels_init_level(k, CPU_ISA_AVX2);
    cpu_kernels_init_avx2_rowmajor(k);
    cpu_kernels_attention_avx512(k);
    k->isa = "avx512-rowmajor";
    k->gemm[HIVE_DTYPE_Q8_0] = avx512_gemm_q8_0;
    k->gemm[HIVE_DTYPE_Q4_0] = avx512_gemm_q4_0;
    k->gemm[HIVE_DTYPE_Q4_1] = avx512_gemm_q4_1;
}

/* Row-major with the 512-bit decode dots. */
void cpu_kernels_init_avx512_wide(cpu_kernels *k) {
    cpu_kernels_init_avx512_rowmajor(k);
    k->isa = "avx512-wide";
    k->vec_dot[HIVE_DTYPE_Q8_0] = k->decode_prefetch == CPU_PF_T0 ? avx512_vd_q8_0_t0 : avx512_vd_q8_0;
    k->vec_dot[HIVE_DTYPE_Q4_0] = k->decode_prefetch == CPU_PF_T0 ? avx512_vd_q4_0_t0 : avx512_vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = k->decode_prefetch == CPU_PF_T0 ? avx512_vd_q4_1_t0 : avx512_vd_q4_1;
}
