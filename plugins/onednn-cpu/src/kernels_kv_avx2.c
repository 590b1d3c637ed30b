/* Attention kernels of the q4_0 and bf16 KV caches, AVX2 + FMA + F16C: the
 * scalar kernels' order (kernels_kv.c), eight lanes or dims at a time. */
#include <math.h>
#include "kernels.h"
#include "simd_avx2.h"

/* Eight q4_0 values (nibble - 8) from the low (high = 0) or high nibbles of
 * eight bytes. */
CPU_INLINE __m256 q4_0_vals8(const uint8_t *qs, int high) {
    __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)qs));
    if (high) b = _mm256_srli_epi32(b, 4);
    b = _mm256_and_si256(b, _mm256_set1_epi32(0xF));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(b, _mm256_set1_epi32(8)));
}

CPU_INLINE __m256 bf16_vals8(const uint16_t *x) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)x));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

static void dot_slots_q4_0_avx2(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                                float *out) {
    for (int t = 0; t < n; t++) {
        if ((t & 7) == 0) cpu_prefetch_slot_rows(base, slot_off, t + 16, n, (size_t)hd / 32 * sizeof(blk_q4_0));
        const blk_q4_0 *row = (const blk_q4_0 *)(base + slot_off[t]);
        float s = 0.0f;
        for (int64_t b = 0; b < hd / 32; b++) {
            const float *qb = q + b * 32;
            __m256 a = _mm256_fmadd_ps(_mm256_loadu_ps(qb), q4_0_vals8(row[b].qs, 0), _mm256_setzero_ps());
            a = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 8), q4_0_vals8(row[b].qs + 8, 0), a);
            a = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 16), q4_0_vals8(row[b].qs, 1), a);
            a = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 24), q4_0_vals8(row[b].qs + 8, 1), a);
            s = fmaf(_cvtsh_ss(row[b].d), hsum256(a), s);
        }
        out[t] = s;
    }
}

static void pv_q4_0_avx2(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out) {
    for (int64_t b = 0; b < hd / 32; b++) { /* one block of dims: four accumulators over every slot */
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < n; t++) {
            const blk_q4_0 *blk = (const blk_q4_0 *)(base + slot_off[t]) + b;
            __m256 w = _mm256_set1_ps(p[t] * _cvtsh_ss(blk->d));
            a0 = _mm256_fmadd_ps(w, q4_0_vals8(blk->qs, 0), a0);
            a1 = _mm256_fmadd_ps(w, q4_0_vals8(blk->qs + 8, 0), a1);
            a2 = _mm256_fmadd_ps(w, q4_0_vals8(blk->qs, 1), a2);
            a3 = _mm256_fmadd_ps(w, q4_0_vals8(blk->qs + 8, 1), a3);
        }
        _mm256_storeu_ps(out + b * 32, a0);
        _mm256_storeu_ps(out + b * 32 + 8, a1);
        _mm256_storeu_ps(out + b * 32 + 16, a2);
        _mm256_storeu_ps(out + b * 32 + 24, a3);
    }
}

static void dot_slots_bf16_avx2(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                                float *out) {
    int64_t body = hd & ~(int64_t)7;
    for (int t = 0; t < n; t++) {
        if ((t & 7) == 0) cpu_prefetch_slot_rows(base, slot_off, t + 16, n, (size_t)hd * 2);
        const uint16_t *k = (const uint16_t *)(base + slot_off[t]);
        __m256 a = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), bf16_vals8(k + i), a);
        float s = hsum256(a);
        for (int64_t i = body; i < hd; i++) s = fmaf(q[i], cpu_bf16_to_f32(k[i]), s);
        out[t] = s;
    }
}

static void pv_bf16_avx2(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out) {
    int64_t i = 0;
    for (; i + 32 <= hd; i += 32) { /* 32 dims: four accumulators over every slot */
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < n; t++) {
            const uint16_t *v = (const uint16_t *)(base + slot_off[t]) + i;
            __m256 w = _mm256_set1_ps(p[t]);
            a0 = _mm256_fmadd_ps(w, bf16_vals8(v), a0);
            a1 = _mm256_fmadd_ps(w, bf16_vals8(v + 8), a1);
            a2 = _mm256_fmadd_ps(w, bf16_vals8(v + 16), a2);
            a3 = _mm256_fmadd_ps(w, bf16_vals8(v + 24), a3);
        }
        _mm256_storeu_ps(out + i, a0);
        _mm256_storeu_ps(out + i + 8, a1);
        _mm256_storeu_ps(out + i + 16, a2);
        _mm256_storeu_ps(out + i + 24, a3);
    }
    for (; i + 8 <= hd; i += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int t = 0; t < n; t++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(p[t]), bf16_vals8((const uint16_t *)(base + slot_off[t]) + i), a);
        _mm256_storeu_ps(out + i, a);
    }
    for (; i < hd; i++) {
        float a = 0.0f;
        for (int t = 0; t < n; t++) a = fmaf(p[t], cpu_bf16_to_f32(((const uint16_t *)(base + slot_off[t]))[i]), a);
        out[i] = a;
    }
}

void cpu_kernels_init_kv_avx2(cpu_kernels *k) {
    k->dot_slots_q4_0 = dot_slots_q4_0_avx2;
    k->pv_q4_0 = pv_q4_0_avx2;
    k->dot_slots_bf16 = dot_slots_bf16_avx2;
    k->pv_bf16 = pv_bf16_avx2;
}
