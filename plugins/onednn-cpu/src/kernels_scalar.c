/* Portable kernels: the fallback without AVX2 and the base every ISA table
 * starts from. Q8_0 / Q4_0 / Q4_1 dots, e^x, softmax, SwiGLU and the f16
 * attention steps give the vector kernels' bits (llama.cpp's order); the
 * K-quants and float dots sum in plain order. */
#include <math.h>
#include <string.h>
#include "ggml_order.h"
#include "kernels.h"

static void quantize_act_scalar(const float *x, act_q8 *out, int64_t n) {
    for (int64_t b = 0; b < n / QK32; b++, x += QK32) {
        float amax = 0.0f;
        for (int i = 0; i < QK32; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        int s0 = 0, s1 = 0;
        for (int i = 0; i < QK32; i++) {
            int q = (int)lrintf(x[i] * id);
            out[b].q[i] = (int8_t)q;
            if (i < 16) s0 += q; else s1 += q;
        }
        out[b].d = cpu_round_f16(d);
        out[b].sum16[0] = (int16_t)s0;
        out[b].sum16[1] = (int16_t)s1;
        out[b].s = cpu_round_f16(d * (float)(s0 + s1));
    }
}

/* --- dequantization of one row --- */
static void dq_f32(const void *src, float *dst, int64_t n) {
    const float *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = s[i];
}
static void dq_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = cpu_f16_to_f32(s[i]);
}
static void dq_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = cpu_bf16_to_f32(s[i]);
}
static void dq_q8_0(const void *src, float *dst, int64_t n) {
    const blk_q8_0 *b = src;
    for (int64_t k = 0; k < n / QK32; k++, dst += QK32) {
        float d = cpu_f16_to_f32(b[k].d);
        for (int i = 0; i < QK32; i++) dst[i] = d * b[k].qs[i];
    }
}
static void dq_q4_0(const void *src, float *dst, int64_t n) {
    const blk_q4_0 *b = src;
    for (int64_t k = 0; k < n / QK32; k++, dst += QK32) {
        float d = cpu_f16_to_f32(b[k].d);
        for (int i = 0; i < 16; i++) {
            dst[i] = d * ((b[k].qs[i] & 0xF) - 8);
            dst[i + 16] = d * ((b[k].qs[i] >> 4) - 8);
        }
    }
}
static void dq_q4_1(const void *src, float *dst, int64_t n) {
    const blk_q4_1 *b = src;
    for (int64_t k = 0; k < n / QK32; k++, dst += QK32) {
        float d = cpu_f16_to_f32(b[k].d), m = cpu_f16_to_f32(b[k].m);
        for (int i = 0; i < 16; i++) {
            dst[i] = d * (b[k].qs[i] & 0xF) + m;
            dst[i + 16] = d * (b[k].qs[i] >> 4) + m;
        }
    }
}
static void dq_q4_k(const void *src, float *dst, int64_t n) {
    const blk_q4_k *b = src;
    for (int64_t k = 0; k < n / QK256; k++) {
        float d = cpu_f16_to_f32(b[k].d), dmin = cpu_f16_to_f32(b[k].dmin);
        for (int j = 0; j < 4; j++) {
            uint8_t sc0, m0, sc1, m1;
            cpu_q4k_scale_min(2 * j, b[k].scales, &sc0, &m0);
            cpu_q4k_scale_min(2 * j + 1, b[k].scales, &sc1, &m1);
            const uint8_t *q = b[k].qs + 32 * j;
            for (int i = 0; i < 32; i++) {
                *(dst + i) = d * sc0 * (q[i] & 0xF) - dmin * m0;
                *(dst + 32 + i) = d * sc1 * (q[i] >> 4) - dmin * m1;
            }
            dst += 64;
        }
    }
}
/* Q6_K element e of a super-block: 6-bit value minus 32, times its 16-group scale. */
static inline int q6k_value(const blk_q6_k *b, int e) {
    int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
    const uint8_t *ql = b->ql + 64 * half, *qh = b->qh + 32 * half;
    int lo = quarter & 1 ? ql[l + 32] : ql[l];
    lo = quarter >= 2 ? lo >> 4 : lo & 0xF;
    int hi = (qh[l] >> (2 * quarter)) & 3;
    return (lo | hi << 4) - 32;
}
static inline int q6k_scale(const blk_q6_k *b, int e) {
    int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
    return b->scales[8 * half + l / 16 + 2 * quarter];
}
static void dq_q6_k(const void *src, float *dst, int64_t n) {
    const blk_q6_k *b = src;
    for (int64_t k = 0; k < n / QK256; k++, dst += QK256) {
        float d = cpu_f16_to_f32(b[k].d);
        for (int e = 0; e < QK256; e++) dst[e] = d * q6k_scale(&b[k], e) * q6k_value(&b[k], e);
    }
}

/* --- dot products of nr weight rows with one activation row --- */
#define FOR_ROWS(...)                                                        \
    for (int r = 0; r < nr; r++) {                                           \
        const void *wrow = (const char *)w + (size_t)r * row_bytes;          \
        __VA_ARGS__                                                          \
    }

/* f32 / f16 / bf16: one float sum per row, element by element */
static float f32_elem(const void *row, int64_t i) { return ((const float *)row)[i]; }
static float f16_elem(const void *row, int64_t i) { return cpu_f16_to_f32(((const uint16_t *)row)[i]); }
static float bf16_elem(const void *row, int64_t i) { return cpu_bf16_to_f32(((const uint16_t *)row)[i]); }
static void vd_float(int64_t n, const void *w, size_t row_bytes, int nr, const float *xv, float *out,
                     float (*elem)(const void *row, int64_t i)) {
    FOR_ROWS({
        float acc = 0.0f;
        for (int64_t i = 0; i < n; i++) acc += elem(wrow, i) * xv[i];
        out[r] = acc;
    })
}
static void vd_f32(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    vd_float(n, w, row_bytes, nr, x, out, f32_elem);
}
static void vd_f16(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    vd_float(n, w, row_bytes, nr, x, out, f16_elem);
}
static void vd_bf16(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    vd_float(n, w, row_bytes, nr, x, out, bf16_elem);
}
/* Q8_0 / Q4_0 / Q4_1 in llama.cpp's order (qdot256.h): eight float lanes,
 * lane j += (d_w * d_x) * P_j with P_j the exact integer sum of elements
 * 4j..4j+3, block after block; the lanes added as the AVX2 reduction does;
 * Q4_1 adds sum m * s with one fused multiply-add per block. The same bits
 * as every vector level. */
static float lanes_out(const float lane[8], float summs) { return cpu_hsum8_ggml(lane) + summs; }
static int nib(const uint8_t *qs, int e) { return e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4; }

static void vd_q8_0(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    const act_q8 *a = x;
    FOR_ROWS({
        const blk_q8_0 *b = wrow;
        float lane[8] = {0};
        for (int64_t k = 0; k < n / QK32; k++) {
            float scale = cpu_f16_to_f32(b[k].d) * a[k].d;
            for (int j = 0; j < 8; j++) {
                int p = 0;
                for (int e = 4 * j; e < 4 * j + 4; e++) p += b[k].qs[e] * a[k].q[e];
                lane[j] = fmaf(scale, (float)p, lane[j]);
            }
        }
        out[r] = lanes_out(lane, 0.0f);
    })
}
static void vd_q4_0(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    const act_q8 *a = x;
    FOR_ROWS({
        const blk_q4_0 *b = wrow;
        float lane[8] = {0};
        for (int64_t k = 0; k < n / QK32; k++) {
            float scale = cpu_f16_to_f32(b[k].d) * a[k].d;
            for (int j = 0; j < 8; j++) {
                int p = 0;
                for (int e = 4 * j; e < 4 * j + 4; e++) p += (nib(b[k].qs, e) - 8) * a[k].q[e];
                lane[j] = fmaf(scale, (float)p, lane[j]);
            }
        }
        out[r] = lanes_out(lane, 0.0f);
    })
}
static void vd_q4_1(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    const act_q8 *a = x;
    FOR_ROWS({
        const blk_q4_1 *b = wrow;
        float lane[8] = {0}, summs = 0.0f;
        for (int64_t k = 0; k < n / QK32; k++) {
            float scale = cpu_f16_to_f32(b[k].d) * a[k].d;
            for (int j = 0; j < 8; j++) {
                int p = 0;
                for (int e = 4 * j; e < 4 * j + 4; e++) p += nib(b[k].qs, e) * a[k].q[e];
                lane[j] = fmaf(scale, (float)p, lane[j]);
            }
            summs = fmaf(cpu_f16_to_f32(b[k].m), a[k].s, summs);
        }
        out[r] = lanes_out(lane, summs);
    })
}
static void vd_q4_k(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    FOR_ROWS({
        const blk_q4_k *b = wrow;
        const act_q8 *a = x;
        float acc = 0.0f;
        for (int64_t k = 0; k < n / QK256; k++, a += 8) {
            float d = cpu_f16_to_f32(b[k].d), dmin = cpu_f16_to_f32(b[k].dmin);
            for (int j = 0; j < 4; j++) {
                uint8_t sc0, m0, sc1, m1;
                cpu_q4k_scale_min(2 * j, b[k].scales, &sc0, &m0);
                cpu_q4k_scale_min(2 * j + 1, b[k].scales, &sc1, &m1);
                const uint8_t *q = b[k].qs + 32 * j;
                int s0 = 0, s1 = 0;
                for (int i = 0; i < 32; i++) {
                    s0 += (q[i] & 0xF) * a[2 * j].q[i];
                    s1 += (q[i] >> 4) * a[2 * j + 1].q[i];
                }
                acc += d * (sc0 * a[2 * j].d * (float)s0 + sc1 * a[2 * j + 1].d * (float)s1);
                acc -= dmin * (m0 * a[2 * j].s + m1 * a[2 * j + 1].s);
            }
        }
        out[r] = acc;
    })
}
static void vd_q6_k(int64_t n, const void *w, size_t row_bytes, int nr, const void *x, float *out) {
    FOR_ROWS({
        const blk_q6_k *b = wrow;
        const act_q8 *a = x;
        float acc = 0.0f;
        for (int64_t k = 0; k < n / QK256; k++, a += 8) {
            float d = cpu_f16_to_f32(b[k].d);
            for (int blk = 0; blk < 8; blk++) {
                int s = 0;
                for (int half = 0; half < 2; half++) {
                    int e0 = 32 * blk + 16 * half, si = 0;
                    for (int i = 0; i < 16; i++) si += q6k_value(&b[k], e0 + i) * a[blk].q[16 * half + i];
                    s += q6k_scale(&b[k], e0) * si;
                }
                acc += d * a[blk].d * (float)s;
            }
        }
        out[r] = acc;
    })
}

/* --- vector helpers --- */
static float dot_f32_scalar(const float *a, const float *b, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}
static void dot_slots_f32_scalar(const float *q, const float *k, size_t stride, int n, int64_t hd,
                                 float *out) {
    for (int t = 0; t < n; t++) out[t] = dot_f32_scalar(q, k + (size_t)t * stride, hd);
}
static void dot_slots_f16_scalar(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                                 float *out) {
    int64_t body = hd & ~(int64_t)7;
    for (int t = 0; t < n; t++) {
        const uint16_t *k = (const uint16_t *)(base + slot_off[t]);
        float lane[8] = {0};
        for (int64_t i = 0; i < body; i += 8)
            for (int l = 0; l < 8; l++) lane[l] = fmaf(q[i + l], cpu_f16_to_f32(k[i + l]), lane[l]);
        float s = cpu_hsum8_ggml(lane);
        for (int64_t i = body; i < hd; i++) s += q[i] * cpu_f16_to_f32(k[i]);
        out[t] = s;
    }
}
static void axpy_slots_f32_scalar(const float *p, const float *v, size_t stride, int n, int64_t hd,
                                  float *acc) {
    for (int t = 0; t < n; t++)
        for (int64_t i = 0; i < hd; i++) acc[i] += p[t] * v[(size_t)t * stride + i];
}
static void dot_slots_q8_0_scalar(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                                  float *out) {
    for (int t = 0; t < n; t++) {
        const blk_q8_0 *row = (const blk_q8_0 *)(base + slot_off[t]);
        float s = 0.0f;
        for (int64_t b = 0; b < hd / 32; b++) {
            float lane[8] = {0};
            for (int i = 0; i < 32; i += 8)
                for (int l = 0; l < 8; l++) lane[l] = fmaf(q[b * 32 + i + l], (float)row[b].qs[i + l], lane[l]);
            s = fmaf(cpu_f16_to_f32(row[b].d), cpu_hsum8_ggml(lane), s);
        }
        out[t] = s;
    }
}
static void pv_q8_0_acc_scalar(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                               float *out) {
    for (int t = 0; t < n; t++) {
        const blk_q8_0 *row = (const blk_q8_0 *)(base + slot_off[t]);
        for (int64_t i = 0; i < hd; i++)
            out[i] = fmaf(p[t] * cpu_f16_to_f32(row[i / 32].d), (float)row[i / 32].qs[i % 32], out[i]);
    }
}
static void pv_q8_0_scalar(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                           float *out) {
    for (int64_t i = 0; i < hd; i++) out[i] = 0.0f;
    pv_q8_0_acc_scalar(p, base, slot_off, n, hd, out);
}
/* cls[c * hd + i]: dim i's sum over the slots of class c (t % 8), in slot order */
static void pv_f16_acc_scalar(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                              float *cls) {
    for (int t = 0; t < n; t++) {
        const uint16_t *v = (const uint16_t *)(base + slot_off[t]);
        float *c = cls + (size_t)(t & 7) * (size_t)hd;
        for (int64_t i = 0; i < hd; i++) c[i] = fmaf(p[t], cpu_f16_to_f32(v[i]), c[i]);
    }
}
static void dot_tile_f16_scalar(const float *q, const float *k, size_t stride, int n, int64_t hd, float *out) {
    int64_t body = hd & ~(int64_t)7;
    for (int t = 0; t < n; t++, k += stride) {
        float lane[8] = {0};
        for (int64_t i = 0; i < body; i += 8)
            for (int l = 0; l < 8; l++) lane[l] = fmaf(q[i + l], k[i + l], lane[l]);
        float s = cpu_hsum8_ggml(lane);
        for (int64_t i = body; i < hd; i++) s += q[i] * k[i];
        out[t] = s;
    }
}
static void pv_tile_f16_acc_scalar(const float *p, const float *v, size_t stride, int n, int64_t hd, float *cls) {
    for (int t = 0; t < n; t++, v += stride) {
        float *c = cls + (size_t)(t & 7) * (size_t)hd;
        for (int64_t i = 0; i < hd; i++) c[i] = fmaf(p[t], v[i], c[i]);
    }
}
static void dot_slots_q8_0_mq_scalar(const float *q, size_t q_stride, int nq, const uint8_t *base,
                                     const size_t *slot_off, int n, int64_t hd, float *out, size_t out_stride) {
    for (int j = 0; j < nq; j++) dot_slots_q8_0_scalar(q + j * q_stride, base, slot_off, n, hd, out + j * out_stride);
}
static void pv_q8_0_acc_mq_scalar(const float *p, size_t p_stride, int nq, const uint8_t *base, const size_t *slot_off,
                                  int n, int64_t hd, float *out, size_t out_stride) {
    for (int j = 0; j < nq; j++) pv_q8_0_acc_scalar(p + j * p_stride, base, slot_off, n, hd, out + j * out_stride);
}
static void pv_f16_sum_scalar(const float *cls, int64_t hd, float *out) {
    for (int64_t i = 0; i < hd; i++) {
        float c8[8];
        for (int l = 0; l < 8; l++) c8[l] = cls[(size_t)l * (size_t)hd + i];
        out[i] = cpu_hsum8_ggml(c8);
    }
}
static void pv_f16_scalar(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                          float *out, float *cls) {
    memset(cls, 0, 8 * (size_t)hd * sizeof *cls);
    pv_f16_acc_scalar(p, base, slot_off, n, hd, cls);
    pv_f16_sum_scalar(cls, hd, out);
}
static void scale_f32_scalar(float a, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= a;
}
static float scale_max_f32_scalar(float a, float *y, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        y[i] *= a;
        if (y[i] > m) m = y[i];
    }
    return m;
}
static void f32_to_f16_scalar(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = cpu_f32_to_f16(x[i]);
}
static void silu_mul_scalar(const float *g, const float *u, float *o, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) o[i + l] = g[i + l] / (1.0f + cpu_expf_ggml(0.0f - g[i + l])) * u[i + l];
    for (; i < n; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
static double exp_sum_scalar(const float *x, float max, float *y, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i += 8) {
        float blk[8] = {0};
        for (int l = 0; l < 8 && i + l < n; l++) blk[l] = y[i + l] = cpu_expf_ggml(x[i + l] - max);
        s += (double)cpu_hsum8_ggml(blk);
    }
    return s;
}

void cpu_kernels_init_scalar(cpu_kernels *k) {
    *k = (cpu_kernels){0};
    k->isa = "scalar";
    k->vec_dot[HIVE_DTYPE_F32] = vd_f32;
    k->vec_dot[HIVE_DTYPE_F16] = vd_f16;
    k->vec_dot[HIVE_DTYPE_BF16] = vd_bf16;
    k->vec_dot[HIVE_DTYPE_Q8_0] = vd_q8_0;
    k->vec_dot[HIVE_DTYPE_Q4_0] = vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = vd_q4_1;
    k->vec_dot[HIVE_DTYPE_Q4_K] = vd_q4_k;
    k->vec_dot[HIVE_DTYPE_Q6_K] = vd_q6_k;
    k->dequant[HIVE_DTYPE_F32] = dq_f32;
    k->dequant[HIVE_DTYPE_F16] = dq_f16;
    k->dequant[HIVE_DTYPE_BF16] = dq_bf16;
    k->dequant[HIVE_DTYPE_Q8_0] = dq_q8_0;
    k->dequant[HIVE_DTYPE_Q4_0] = dq_q4_0;
    k->dequant[HIVE_DTYPE_Q4_1] = dq_q4_1;
    k->dequant[HIVE_DTYPE_Q4_K] = dq_q4_k;
    k->dequant[HIVE_DTYPE_Q6_K] = dq_q6_k;
    k->quantize_act = quantize_act_scalar;
    k->dot_f32 = dot_f32_scalar;
    k->dot_slots_f32 = dot_slots_f32_scalar;
    k->dot_slots_f16 = dot_slots_f16_scalar;
    k->axpy_slots_f32 = axpy_slots_f32_scalar;
    k->pv_f16 = pv_f16_scalar;
    k->scale_max_f32 = scale_max_f32_scalar;
    k->dot_slots_q8_0 = dot_slots_q8_0_scalar;
    k->pv_q8_0 = pv_q8_0_scalar;
    k->pv_f16_acc = pv_f16_acc_scalar;
    k->pv_f16_sum = pv_f16_sum_scalar;
    k->pv_q8_0_acc = pv_q8_0_acc_scalar;
    k->dot_tile_f16 = dot_tile_f16_scalar;
    k->pv_tile_f16_acc = pv_tile_f16_acc_scalar;
    k->dot_slots_q8_0_mq = dot_slots_q8_0_mq_scalar;
    k->pv_q8_0_acc_mq = pv_q8_0_acc_mq_scalar;
    k->scale_f32 = scale_f32_scalar;
    k->f32_to_f16 = f32_to_f16_scalar;
    k->silu_mul = silu_mul_scalar;
    k->exp_sum = exp_sum_scalar;
}
