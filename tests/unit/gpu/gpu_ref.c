/* gpu_ref.c — scalar references: f16/bf16, GGML block dequantization (written
 * after ggml-quants.c's reference loops), matmul, rope, paged-free attention. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu_ref.h"

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float ref_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) return (sign ? -1.0f : 1.0f) * ldexpf((float)man, -24);
    if (exp == 31) return from_bits(sign | 0x7f800000u | (man << 13));
    return from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t ref_f32_to_f16(float f) {
    /* round to nearest even via a search-free path good for |f| < 65504 */
    const uint32_t x = bits(f), sign = (x >> 16) & 0x8000;
    const float a = fabsf(f);
    if (a < ldexpf(1.0f, -14)) { /* subnormal or zero */
        const float q = nearbyintf(a * ldexpf(1.0f, 24));
        return (uint16_t)(sign | (uint32_t)q);
    }
    if (a >= 65520.0f) return (uint16_t)(sign | 0x7c00);
    int e;
    const float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    float q = nearbyintf(m * 2048.0f); /* 11 significant bits */
    if (q >= 2048.0f) {
        q /= 2.0f;
        e++;
    }
    return (uint16_t)(sign | (uint32_t)(e + 14) << 10 | ((uint32_t)q - 1024));
}

float ref_round_f16(float f) { return ref_f16_to_f32(ref_f32_to_f16(f)); }

float ref_rand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

void ref_fill(float *x, int64_t n, uint32_t *s, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = ref_rand(s) * scale;
}

static uint8_t rbyte(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (uint8_t)(*s >> 24);
}
static void put_f16(uint8_t *p, float f) {
    const uint16_t h = ref_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}
static float get_f16(const uint8_t *p) { return ref_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static void scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void dequant_block(uint32_t dtype, const uint8_t *b, float *y) {
    switch (dtype) {
    case HIVE_DTYPE_Q8_0:
        for (int i = 0; i < 32; i++) y[i] = get_f16(b) * (float)(int8_t)b[2 + i];
        break;
    case HIVE_DTYPE_Q4_0:
        for (int i = 0; i < 16; i++) {
            y[i] = get_f16(b) * (float)((b[2 + i] & 0xF) - 8);
            y[i + 16] = get_f16(b) * (float)((b[2 + i] >> 4) - 8);
        }
        break;
    case HIVE_DTYPE_Q4_1:
        for (int i = 0; i < 16; i++) {
            y[i] = get_f16(b) * (float)(b[4 + i] & 0xF) + get_f16(b + 2);
            y[i + 16] = get_f16(b) * (float)(b[4 + i] >> 4) + get_f16(b + 2);
        }
        break;
    case HIVE_DTYPE_Q4_K: {
        const float d = get_f16(b), dmin = get_f16(b + 2);
        const uint8_t *sc = b + 4, *q = b + 16;
        int is = 0;
        for (int j = 0; j < 256; j += 64) {
            int s, m;
            scale_min_k4(is, sc, &s, &m);
            const float d1 = d * (float)s, m1 = dmin * (float)m;
            scale_min_k4(is + 1, sc, &s, &m);
            const float d2 = d * (float)s, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
        break;
    }
    case HIVE_DTYPE_Q6_K: {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        const float d = get_f16(b + 208);
        for (int n = 0; n < 256; n += 128) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
        break;
    }
    default: break;
    }
}

static void block_info(uint32_t dtype, int *elems, int *bytes) {
    switch (dtype) {
    case HIVE_DTYPE_Q8_0: *elems = 32; *bytes = 34; break;
    case HIVE_DTYPE_Q4_0: *elems = 32; *bytes = 18; break;
    case HIVE_DTYPE_Q4_1: *elems = 32; *bytes = 20; break;
    case HIVE_DTYPE_Q4_K: *elems = 256; *bytes = 144; break;
    case HIVE_DTYPE_Q6_K: *elems = 256; *bytes = 210; break;
    case HIVE_DTYPE_F32: *elems = 1; *bytes = 4; break;
    default: *elems = 1; *bytes = 2; break;
    }
}

void ref_make_weight(uint32_t dtype, int64_t rows, int64_t cols, uint32_t *s, void **bytes_out, float **f32_out) {
    int be, bb;
    block_info(dtype, &be, &bb);
    const int64_t n = rows * cols, nb = n / be;
    uint8_t *raw = malloc((size_t)(nb * bb));
    float *f = malloc((size_t)n * sizeof(float));
    assert_non_null(raw);
    assert_non_null(f);
    if (dtype == HIVE_DTYPE_F32 || dtype == HIVE_DTYPE_F16 || dtype == HIVE_DTYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            const float v = ref_rand(s) * 0.5f;
            if (dtype == HIVE_DTYPE_F32) {
                memcpy(raw + 4 * i, &v, 4);
                f[i] = v;
            } else if (dtype == HIVE_DTYPE_F16) {
                const uint16_t h = ref_f32_to_f16(v);
                memcpy(raw + 2 * i, &h, 2);
                f[i] = ref_f16_to_f32(h);
            } else {
                const uint16_t h = (uint16_t)(bits(v) >> 16); /* truncation is a valid bf16 */
                memcpy(raw + 2 * i, &h, 2);
                f[i] = from_bits((uint32_t)h << 16);
            }
        }
    } else {
        for (int64_t i = 0; i < nb * bb; i++) raw[i] = rbyte(s);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *p = raw + b * bb;
            /* sane scales: small positive d (and dmin / m) */
            switch (dtype) {
            case HIVE_DTYPE_Q4_1: put_f16(p + 2, ref_rand(s) * 0.05f); /* fallthrough */
            case HIVE_DTYPE_Q8_0:
            case HIVE_DTYPE_Q4_0: put_f16(p, 0.01f + 0.01f * fabsf(ref_rand(s))); break;
            case HIVE_DTYPE_Q4_K:
                put_f16(p, 0.002f + 0.001f * fabsf(ref_rand(s)));
                put_f16(p + 2, 0.001f * fabsf(ref_rand(s)));
                break;
            case HIVE_DTYPE_Q6_K: put_f16(p + 208, 0.0005f + 0.0005f * fabsf(ref_rand(s))); break;
            default: break;
            }
            dequant_block(dtype, p, f + b * be);
        }
    }
    *bytes_out = raw;
    *f32_out = f;
}

void ref_matmul(const float *x, const float *w, const float *bias, float alpha, float beta, float *out,
                int64_t m, int64_t n, int64_t k) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (int64_t t = 0; t < k; t++) acc += (double)x[i * k + t] * w[j * k + t];
            const float y = alpha * (float)(acc + (bias ? bias[j] : 0.0f));
            out[i * n + j] = beta != 0.0f ? y + beta * out[i * n + j] : y;
        }
}

void ref_rope(float *x, int64_t rows, int64_t cols, const hive_rope_desc *r, const int32_t *pos) {
    const uint32_t half = r->rot_dims / 2;
    for (int64_t row = 0; row < rows; row++)
        for (uint32_t h = 0; h < r->n_heads; h++) {
            float *p = x + row * cols + (int64_t)h * r->head_dim;
            for (uint32_t i = 0; i < half; i++) {
                const double th = (double)pos[row] * r->inv_freq[i];
                const float c = (float)cos(th) * r->attn_factor, s = (float)sin(th) * r->attn_factor;
                const uint32_t i0 = r->mode == HIVE_ROPE_NEOX ? i : 2 * i;
                const uint32_t i1 = r->mode == HIVE_ROPE_NEOX ? i + half : 2 * i + 1;
                const float a = p[i0], b = p[i1];
                p[i0] = a * c - b * s;
                p[i1] = a * s + b * c;
            }
        }
}

void ref_attention(const float *q, const float *k, const float *v, int64_t ctx, const int32_t *row_seq,
                   const int32_t *row_pos, int64_t rows, uint32_t n_heads, uint32_t n_kv, uint32_t hd,
                   float scale, float *out) {
    const int64_t kw = (int64_t)n_kv * hd, qw = (int64_t)n_heads * hd;
    double *sc = malloc((size_t)ctx * sizeof(double));
    assert_non_null(sc);
    for (int64_t r = 0; r < rows; r++)
        for (uint32_t h = 0; h < n_heads; h++) {
            const uint32_t kh = h / (n_heads / n_kv);
            const float *qr = q + r * qw + (int64_t)h * hd;
            const float *ks = k + (int64_t)row_seq[r] * ctx * kw + (int64_t)kh * hd;
            const float *vs = v + (int64_t)row_seq[r] * ctx * kw + (int64_t)kh * hd;
            const int32_t p = row_pos[r];
            double mx = -INFINITY, sum = 0.0;
            for (int32_t t = 0; t <= p; t++) {
                double d = 0.0;
                for (uint32_t i = 0; i < hd; i++) d += (double)qr[i] * ks[t * kw + i];
                sc[t] = d * scale;
                if (sc[t] > mx) mx = sc[t];
            }
            for (int32_t t = 0; t <= p; t++) sum += (sc[t] = exp(sc[t] - mx));
            for (uint32_t i = 0; i < hd; i++) {
                double o = 0.0;
                for (int32_t t = 0; t <= p; t++) o += sc[t] * vs[t * kw + i];
                out[r * qw + (int64_t)h * hd + i] = (float)(o / sum);
            }
        }
    free(sc);
}
