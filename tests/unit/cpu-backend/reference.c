#include "reference.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

uint16_t ref_f16_bits(float f) {
    _Float16 h = (_Float16)f;
    uint16_t b;
    memcpy(&b, &h, 2);
    return b;
}
static float f16_bits_value(uint16_t b) {
    _Float16 h;
    memcpy(&h, &b, 2);
    return (float)h;
}
float ref_f16_value(float f) { return (float)(_Float16)f; }

float ref_bf16_value(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t lo = u & 0xffffu, hi = u >> 16;
    if (lo > 0x8000u || (lo == 0x8000u && (hi & 1))) hi++;
    u = hi << 16;
    memcpy(&f, &u, 4);
    return f;
}

void ref_q8_0_values(const float *x, float *y, int n) {
    for (int b = 0; b < n / 32; b++) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[b * 32 + i]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32; i++) y[b * 32 + i] = ref_f16_value(d) * roundf(x[b * 32 + i] * id);
    }
}

void ref_q4_0_values(const float *x, float *y, int n) {
    for (int b = 0; b < n / 32; b++) {
        float amax = 0, vmax = 0;
        for (int i = 0; i < 32; i++)
            if (fabsf(x[b * 32 + i]) > amax) amax = fabsf(x[b * 32 + i]), vmax = x[b * 32 + i];
        float d = vmax / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32; i++) {
            int qv = (int8_t)(x[b * 32 + i] * id + 8.5f);
            y[b * 32 + i] = (float)((qv < 15 ? qv : 15) - 8) * ref_f16_value(d);
        }
    }
}

/* y = R x in float, as the plugin computes it so that the quantizer sees the
 * same bits: signs, then the butterflies (a + b, a - b) of pairs len apart
 * for len = 1, 2, 4, ..., then each value times 1 / sqrtf(B) */
static void ref_kv_rotate(const float *x, float *y, int n) {
    int B = n & -n;
    for (int b = 0; b < n; b += B) {
        float *v = y + b;
        for (int i = 0; i < B; i++) v[i] = 0x9E3779B97F4A7C15ull >> (i % 64) & 1 ? -x[b + i] : x[b + i];
        for (int len = 1; len < B; len *= 2)
            for (int i = 0; i < B; i++)
                if (!(i & len)) {
                    float lo = v[i], hi = v[i + len];
                    v[i] = lo + hi, v[i + len] = lo - hi;
                }
        for (int i = 0; i < B; i++) v[i] *= 1.0f / sqrtf((float)B);
    }
}

/* y = R^T x from the matrix, in double: R^T[i][j] = D[i] H[j][i] / sqrt(B) */
static void ref_kv_unrotate(const float *x, float *y, int n) {
    int B = n & -n;
    for (int b = 0; b < n; b += B)
        for (int i = 0; i < B; i++) {
            double acc = 0;
            for (int j = 0; j < B; j++)
                acc += __builtin_popcount((unsigned)(i & j)) & 1 ? -(double)x[b + j] : (double)x[b + j];
            y[b + i] = (float)((0x9E3779B97F4A7C15ull >> (i % 64) & 1 ? -acc : acc) / sqrt((double)B));
        }
}

void ref_kv_values(uint32_t dtype, const float *x, float *y, int n) {
    float r[1024];
    switch (dtype) {
    case HIVE_DTYPE_F16:
        for (int i = 0; i < n; i++) y[i] = ref_f16_value(x[i]);
        return;
    case HIVE_DTYPE_BF16:
        for (int i = 0; i < n; i++) y[i] = ref_bf16_value(x[i]);
        return;
    case HIVE_DTYPE_Q8_0:
    case HIVE_DTYPE_Q4_0:
        ref_kv_rotate(x, y, n);
        (dtype == HIVE_DTYPE_Q8_0 ? ref_q8_0_values : ref_q4_0_values)(y, r, n);
        ref_kv_unrotate(r, y, n);
        return;
    default: memcpy(y, x, (size_t)n * sizeof *y);
    }
}

void ref_attention_exact(const float *q, size_t q_stride, int rows, const int32_t *qpos, int nh, int nkv, int hd,
                         float scale, const float *kq, const float *vq, const uint8_t *q_f16, const uint8_t *p_f16,
                         double *exact) {
    const size_t kv_row = (size_t)nkv * hd;
    int slots = 0;
    for (int r = 0; r < rows; r++) slots = qpos[r] + 1 > slots ? qpos[r] + 1 : slots;
    double *w = malloc((size_t)(slots ? slots : 1) * sizeof *w);
    if (!w) { /* no memory: NaNs, which no comparison passes */
        for (size_t i = 0; i < (size_t)rows * nh * hd; i++) exact[i] = NAN;
        return;
    }
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < nh; h++) {
            const float *qh = q + (size_t)r * q_stride + (size_t)h * hd;
            const size_t kvo = (size_t)(h / (nh / nkv)) * hd;
            double mx = -1e300, sum = 0;
            for (int t = 0; t <= qpos[r]; t++) {
                double d = 0;
                for (int i = 0; i < hd; i++)
                    d += (double)(q_f16 && q_f16[t] ? ref_f16_value(qh[i]) : qh[i]) * kq[t * kv_row + kvo + i];
                w[t] = d * scale;
                if (w[t] > mx) mx = w[t];
            }
            for (int t = 0; t <= qpos[r]; t++) sum += (w[t] = exp(w[t] - mx));
            for (int i = 0; i < hd; i++) {
                double o = 0;
                for (int t = 0; t <= qpos[r]; t++) {
                    double p = w[t] / sum;
                    o += (p_f16 && p_f16[t] ? (double)ref_f16_value((float)p) : p) * vq[t * kv_row + kvo + i];
                }
                exact[((size_t)r * nh + h) * hd + i] = o;
            }
        }
    free(w);
}

const char *ref_dtype_name(uint32_t dtype) {
    static const char *names[] = {"f32", "f16", "bf16", "i32", "i8", "", "", "", "", "",
                                  "q8_0", "q4_0", "q4_1", "q4_k", "q6_k"};
    return dtype < 15 ? names[dtype] : "?";
}

uint32_t ref_block_elems(uint32_t dtype) {
    return dtype >= HIVE_DTYPE_Q4_K ? 256 : dtype >= HIVE_DTYPE_Q8_0 ? 32 : 1;
}

static size_t row_bytes(uint32_t dtype, int64_t cols) {
    switch (dtype) {
    case HIVE_DTYPE_F32: return (size_t)cols * 4;
    case HIVE_DTYPE_F16: case HIVE_DTYPE_BF16: return (size_t)cols * 2;
    case HIVE_DTYPE_Q8_0: return (size_t)cols / 32 * 34;
    case HIVE_DTYPE_Q4_0: return (size_t)cols / 32 * 18;
    case HIVE_DTYPE_Q4_1: return (size_t)cols / 32 * 20;
    case HIVE_DTYPE_Q4_K: return (size_t)cols / 256 * 144;
    case HIVE_DTYPE_Q6_K: return (size_t)cols / 256 * 210;
    default: return 0;
    }
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* One block of `dtype` at p: fill with random content, write its values to y. */
static void make_block(uint32_t dtype, uint8_t *p, float *y) {
    switch (dtype) {
    case HIVE_DTYPE_Q8_0: {
        uint16_t d = ref_f16_bits(rnd_uniform(0.002f, 0.02f));
        put16(p, d);
        for (int i = 0; i < 32; i++) {
            int8_t q = (int8_t)((int)(rnd_u32() % 255) - 127);
            p[2 + i] = (uint8_t)q;
            y[i] = f16_bits_value(d) * (float)q;
        }
        break;
    }
    case HIVE_DTYPE_Q4_0:
    case HIVE_DTYPE_Q4_1: {
        int has_m = dtype == HIVE_DTYPE_Q4_1;
        uint16_t d = ref_f16_bits(rnd_uniform(0.01f, 0.1f));
        uint16_t m = ref_f16_bits(rnd_uniform(-0.8f, 0.1f));
        put16(p, d);
        if (has_m) put16(p + 2, m);
        uint8_t *qs = p + (has_m ? 4 : 2);
        for (int i = 0; i < 16; i++) {
            qs[i] = (uint8_t)rnd_u32();
            float lo = (float)(qs[i] & 15), hi = (float)(qs[i] >> 4);
            if (has_m) {
                y[i] = f16_bits_value(d) * lo + f16_bits_value(m);
                y[i + 16] = f16_bits_value(d) * hi + f16_bits_value(m);
            } else {
                y[i] = f16_bits_value(d) * (lo - 8.0f);
                y[i + 16] = f16_bits_value(d) * (hi - 8.0f);
            }
        }
        break;
    }
    case HIVE_DTYPE_Q4_K: {
        /* d, dmin, 12 scale bytes, 128 quant bytes */
        float d = f16_bits_value(ref_f16_bits(rnd_uniform(0.0005f, 0.003f)));
        float dmin = f16_bits_value(ref_f16_bits(rnd_uniform(0.0005f, 0.003f)));
        put16(p, ref_f16_bits(d));
        put16(p + 2, ref_f16_bits(dmin));
        uint8_t *s = p + 4, *qs = p + 16;
        for (int i = 0; i < 12; i++) s[i] = (uint8_t)rnd_u32();
        for (int i = 0; i < 128; i++) qs[i] = (uint8_t)rnd_u32();
        int sc[8], mn[8];
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                sc[j] = s[j] & 63;
                mn[j] = s[j + 4] & 63;
            } else {
                sc[j] = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
                mn[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
            }
        }
        for (int e = 0; e < 256; e++) {
            int sub = e / 32, chunk = e / 64, l = e % 32;
            int q = sub % 2 ? qs[32 * chunk + l] >> 4 : qs[32 * chunk + l] & 15;
            y[e] = d * (float)sc[sub] * (float)q - dmin * (float)mn[sub];
        }
        break;
    }
    case HIVE_DTYPE_Q6_K: {
        uint8_t *ql = p, *qh = p + 128;
        int8_t *sc = (int8_t *)(p + 192);
        for (int i = 0; i < 128; i++) ql[i] = (uint8_t)rnd_u32();
        for (int i = 0; i < 64; i++) qh[i] = (uint8_t)rnd_u32();
        for (int i = 0; i < 16; i++) sc[i] = (int8_t)((int)(rnd_u32() % 128) - 64);
        float d = f16_bits_value(ref_f16_bits(rnd_uniform(0.0002f, 0.001f)));
        put16(p + 208, ref_f16_bits(d));
        for (int n = 0; n < 2; n++) {
            const uint8_t *L = ql + 64 * n, *H = qh + 32 * n;
            const int8_t *S = sc + 8 * n;
            float *Y = y + 128 * n;
            for (int l = 0; l < 32; l++) {
                int g = l / 16;
                int q1 = ((L[l] & 15) | (((H[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32;
                Y[l] = d * S[g] * q1;
                Y[l + 32] = d * S[g + 2] * q2;
                Y[l + 64] = d * S[g + 4] * q3;
                Y[l + 96] = d * S[g + 6] * q4;
            }
        }
        break;
    }
    default:
        break;
    }
}

size_t ref_make_weight(uint32_t dtype, int64_t rows, int64_t cols, void **data, float **deq) {
    size_t rb = row_bytes(dtype, cols), total = rb * (size_t)rows;
    uint8_t *raw = malloc(total);
    float *y = malloc((size_t)rows * (size_t)cols * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = raw + (size_t)r * rb;
        float *yr = y + r * cols;
        if (dtype == HIVE_DTYPE_F32) {
            for (int64_t i = 0; i < cols; i++) yr[i] = rnd_uniform(-0.5f, 0.5f);
            memcpy(row, yr, rb);
        } else if (dtype == HIVE_DTYPE_F16) {
            for (int64_t i = 0; i < cols; i++) {
                uint16_t b = ref_f16_bits(rnd_uniform(-0.5f, 0.5f));
                put16(row + 2 * i, b);
                yr[i] = f16_bits_value(b);
            }
        } else if (dtype == HIVE_DTYPE_BF16) {
            for (int64_t i = 0; i < cols; i++) {
                float f = rnd_uniform(-0.5f, 0.5f);
                uint32_t bits;
                memcpy(&bits, &f, 4);
                bits &= 0xffff0000u; /* truncation makes an exact bf16 value */
                memcpy(&yr[i], &bits, 4);
                put16(row + 2 * i, (uint16_t)(bits >> 16));
            }
        } else {
            uint32_t be = ref_block_elems(dtype);
            size_t bb = rb / (size_t)(cols / be);
            for (int64_t b = 0; b < cols / be; b++) make_block(dtype, row + b * bb, yr + b * be);
        }
    }
    *data = raw;
    *deq = y;
    return total;
}

double ref_worst_rel(const float *got, size_t got_stride, const double *exact, int rows, int cols) {
    double worst = 0;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            double o = exact[(size_t)r * cols + j], err = fabs(got[(size_t)r * got_stride + j] - o) / (1.0 + fabs(o));
            if (isnan(err) || err > worst) worst = err; /* a NaN stays */
        }
    return worst;
}
