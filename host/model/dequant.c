/* Scalar reference conversions between f32 and the GGML block formats. */
#include "model/dequant.h"

#include <math.h>
#include <string.h>

#include "util/dtype.h"

#define QK 32    /* elements per Q8_0 / Q4_0 / Q4_1 block */
#define QK_K 256 /* elements per K-quant super-block */

static float rd_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return hive_f16_to_f32(h);
}

static void wr_f16(uint8_t *p, float f) {
    uint16_t h = hive_f32_to_f16(f);
    memcpy(p, &h, 2);
}

static void dq_q8_0(const uint8_t *restrict b, float *restrict y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 34, y += QK) {
        float d = rd_f16(b);
        for (int j = 0; j < QK; j++) y[j] = d * (float)(int8_t)b[2 + j];
    }
}

static void dq_q4_0(const uint8_t *restrict b, float *restrict y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 18, y += QK) {
        float d = rd_f16(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * (float)((qs[j] & 0x0f) - 8);
            y[j + QK / 2] = d * (float)((qs[j] >> 4) - 8);
        }
    }
}

static void dq_q4_1(const uint8_t *restrict b, float *restrict y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 20, y += QK) {
        float d = rd_f16(b), m = rd_f16(b + 2);
        const uint8_t *qs = b + 4;
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * (float)(qs[j] & 0x0f) + m;
            y[j + QK / 2] = d * (float)(qs[j] >> 4) + m;
        }
    }
}

/* The 8 six-bit (scale, min) pairs of a Q4_K super-block, packed in 12 bytes:
 * pairs 0-3 in the low 6 bits of bytes 0-3 / 4-7; pairs 4-7 take their low
 * 4 bits from bytes 8-11 and their top 2 bits from the spare bits of 0-7. */
static void q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void dq_q4_k(const uint8_t *restrict b, float *restrict y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 144) {
        float d = rd_f16(b), dmin = rd_f16(b + 2);
        const uint8_t *scales = b + 4, *q = b + 16;
        /* 4 chunks of 64 elements: 32 low nibbles, then 32 high nibbles */
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t s0, m0, s1, m1;
            q4k_scale_min(2 * c, scales, &s0, &m0);
            q4k_scale_min(2 * c + 1, scales, &s1, &m1);
            float d0 = d * s0, mm0 = dmin * m0, d1 = d * s1, mm1 = dmin * m1;
            for (int l = 0; l < 32; l++) *y++ = d0 * (float)(q[l] & 0x0f) - mm0;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] >> 4) - mm1;
        }
    }
}

static void dq_q6_k(const uint8_t *restrict b, float *restrict y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 210) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        float d = rd_f16(b + 208);
        /* 2 halves of 128: four 32-element runs share ql (low/high nibble of
         * two 32-byte rows) and one 32-byte row of qh (2 bits each) */
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, y += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * (float)q1;
                y[l + 32] = d * sc[is + 2] * (float)q2;
                y[l + 64] = d * sc[is + 4] * (float)q3;
                y[l + 96] = d * sc[is + 6] * (float)q4;
            }
        }
    }
}

hive_status hive_dequantize(uint32_t dtype, const void *src, float *dst, int64_t n) {
    uint32_t blk = hive_dtype_block_elems(dtype);
    if (!blk) return HIVE_E_UNSUPPORTED;
    if (n < 0 || n % blk != 0 || (n > 0 && (!src || !dst))) return HIVE_E_INVALID;
    const uint8_t *s = src;
    int64_t nb = n / blk;
    switch (dtype) {
    case HIVE_DTYPE_F32: if (n) memmove(dst, src, (size_t)n * 4); return HIVE_OK;
    case HIVE_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = rd_f16(s + 2 * i);
        return HIVE_OK;
    case HIVE_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = hive_bf16_to_f32(h);
        }
        return HIVE_OK;
    case HIVE_DTYPE_Q8_0: dq_q8_0(s, dst, nb); return HIVE_OK;
    case HIVE_DTYPE_Q4_0: dq_q4_0(s, dst, nb); return HIVE_OK;
    case HIVE_DTYPE_Q4_1: dq_q4_1(s, dst, nb); return HIVE_OK;
    case HIVE_DTYPE_Q4_K: dq_q4_k(s, dst, nb); return HIVE_OK;
    case HIVE_DTYPE_Q6_K: dq_q6_k(s, dst, nb); return HIVE_OK;
    default: return HIVE_E_UNSUPPORTED;
    }
}

static void q_q8_0(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, b += 34) {
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        wr_f16(b, d);
        for (int j = 0; j < QK; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

static void q_q4_0(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, b += 18) {
        /* the signed value of largest magnitude maps to -8, so the full range is used */
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
        wr_f16(b, d);
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int)(int8_t)(x[j] * id + 8.5f), q1 = (int)(int8_t)(x[j + QK / 2] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            b[2 + j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void q_q4_1(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, b += 20) {
        float min = INFINITY, max = -INFINITY;
        for (int j = 0; j < QK; j++) {
            min = fminf(min, x[j]);
            max = fmaxf(max, x[j]);
        }
        float d = (max - min) / 15.0f, id = d != 0 ? 1.0f / d : 0.0f;
        wr_f16(b, d);
        wr_f16(b + 2, min);
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int)(int8_t)((x[j] - min) * id + 0.5f), q1 = (int)(int8_t)((x[j + QK / 2] - min) * id + 0.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            b[4 + j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

hive_status hive_quantize(uint32_t dtype, const float *src, void *dst, int64_t n) {
    uint32_t blk = hive_dtype_block_elems(dtype);
    if (!blk) return HIVE_E_UNSUPPORTED;
    if (n < 0 || n % blk != 0 || (n > 0 && (!src || !dst))) return HIVE_E_INVALID;
    uint8_t *d = dst;
    switch (dtype) {
    case HIVE_DTYPE_F32: if (n) memmove(dst, src, (size_t)n * 4); return HIVE_OK;
    case HIVE_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) wr_f16(d + 2 * i, src[i]);
        return HIVE_OK;
    case HIVE_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = hive_f32_to_bf16(src[i]);
            memcpy(d + 2 * i, &h, 2);
        }
        return HIVE_OK;
    case HIVE_DTYPE_Q8_0: q_q8_0(src, d, n / QK); return HIVE_OK;
    case HIVE_DTYPE_Q4_0: q_q4_0(src, d, n / QK); return HIVE_OK;
    case HIVE_DTYPE_Q4_1: q_q4_1(src, d, n / QK); return HIVE_OK;
    default: return HIVE_E_UNSUPPORTED;
    }
}
