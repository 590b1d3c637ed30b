/* Attention kernels of the q4_0 and bf16 KV caches, scalar: the order every
 * ISA level keeps (kernels_kv_avx2.c gives the same bits). q4_0 reads its
 * blocks as q8_0's kernels do, with the values nibble - 8 (element i of a
 * block in the low nibble of byte i, element 16 + i in the high one). */
#include <math.h>
#include "ggml_order.h"
#include "kernels.h"

static inline int q4_0_value(const blk_q4_0 *b, int i) {
    return (i < 16 ? b->qs[i] & 0xF : b->qs[i - 16] >> 4) - 8;
}

static void dot_slots_q4_0_scalar(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                                  float *out) {
    for (int t = 0; t < n; t++) {
        const blk_q4_0 *row = (const blk_q4_0 *)(base + slot_off[t]);
        float s = 0.0f;
        for (int64_t b = 0; b < hd / 32; b++) {
            float lane[8] = {0};
            for (int i = 0; i < 32; i += 8)
                for (int l = 0; l < 8; l++) lane[l] = fmaf(q[b * 32 + i + l], (float)q4_0_value(&row[b], i + l), lane[l]);
            s = fmaf(cpu_f16_to_f32(row[b].d), cpu_hsum8_ggml(lane), s);
        }
        out[t] = s;
    }
}

static void pv_q4_0_scalar(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                           float *out) {
    for (int64_t i = 0; i < hd; i++) out[i] = 0.0f;
    for (int t = 0; t < n; t++) {
        const blk_q4_0 *row = (const blk_q4_0 *)(base + slot_off[t]);
        for (int64_t i = 0; i < hd; i++)
            out[i] = fmaf(p[t] * cpu_f16_to_f32(row[i / 32].d), (float)q4_0_value(&row[i / 32], (int)(i % 32)), out[i]);
    }
}

static void dot_slots_bf16_scalar(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                                  float *out) {
    int64_t body = hd & ~(int64_t)7;
    for (int t = 0; t < n; t++) {
        const uint16_t *k = (const uint16_t *)(base + slot_off[t]);
        float lane[8] = {0};
        for (int64_t i = 0; i < body; i += 8)
            for (int l = 0; l < 8; l++) lane[l] = fmaf(q[i + l], cpu_bf16_to_f32(k[i + l]), lane[l]);
        float s = cpu_hsum8_ggml(lane);
        for (int64_t i = body; i < hd; i++) s = fmaf(q[i], cpu_bf16_to_f32(k[i]), s);
        out[t] = s;
    }
}

static void pv_bf16_scalar(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                           float *out) {
    for (int64_t i = 0; i < hd; i++) out[i] = 0.0f;
    for (int t = 0; t < n; t++) {
        const uint16_t *v = (const uint16_t *)(base + slot_off[t]);
        for (int64_t i = 0; i < hd; i++) out[i] = fmaf(p[t], cpu_bf16_to_f32(v[i]), out[i]);
    }
}

void cpu_kernels_init_kv_scalar(cpu_kernels *k) {
    k->dot_slots_q4_0 = dot_slots_q4_0_scalar;
    k->pv_q4_0 = pv_q4_0_scalar;
    k->dot_slots_bf16 = dot_slots_bf16_scalar;
    k->pv_bf16 = pv_bf16_scalar;
}
