/* op_matmul: out = alpha * (x @ w^T + bias) + beta * out.
 * Quantized weights: x rows are quantized to 8-bit blocks once, then integer
 * dot kernels run over groups of four weight rows (split across threads), each
 * group against every x row while it is hot in L1. Float weights with many
 * rows (prefill) go to a cached oneDNN matmul primitive when it exists.
 * (Dequantized tiles + dnnl_sgemm were tried for quantized prefill: per-call
 * sgemm overhead on 32-row tiles made it 10x slower than the int8 path.) */
#include <string.h>
#include "cpu_internal.h"

#define CPU_ONEDNN_MIN_ROWS 16 /* below this our GEMV-style kernels win */
#define CPU_GROUP 4            /* weight rows per kernel call */
#define CPU_TILE_X 8           /* activation rows per gemm call (the kernel tiles them) */

typedef struct mm_ctx {
    const hive_device *dev;
    const hive_weight *w;
    const char *x;        /* act_q8 rows or f32 rows */
    size_t x_row_bytes;
    int64_t rows;
    const float *bias;
    float alpha, beta;
    const hive_tensor *out;
    const float *src;     /* precomputed x @ w^T (oneDNN path), else NULL */
    const float *raw;     /* f32 rows of x, for quantize tasks */
    int64_t raw_stride;
} mm_ctx;

static inline void mm_store(const mm_ctx *c, int64_t r, int64_t j0, int nr, const float *v) {
    float *o = cpu_row(c->out, r) + j0;
    for (int i = 0; i < nr; i++) {
        float y = v[i];
        if (c->bias) y += c->bias[j0 + i];
        y *= c->alpha;
        if (c->beta != 0.0f) y += c->beta * o[i];
        o[i] = y;
    }
}

static void mm_task(void *ctx, int64_t g0, int64_t g1) {
    const mm_ctx *c = ctx;
    const hive_weight *w = c->w;
    cpu_vec_dot_fn dot = c->dev->kern.vec_dot[w->dtype];
    /* several activation rows: tiles that unpack each weight block once */
    cpu_gemm_fn gemm = c->rows > 1 ? c->dev->kern.gemm[w->dtype] : NULL;
    float v[CPU_GROUP * CPU_TILE_X];
    for (int64_t g = g0; g < g1; g++) {
        int64_t j0 = g * CPU_GROUP;
        int nr = (int)(w->rows - j0 < CPU_GROUP ? w->rows - j0 : CPU_GROUP);
        const char *wp = (const char *)w->data + (size_t)j0 * w->row_bytes;
        for (int64_t r = 0; gemm && r < c->rows; r += CPU_TILE_X) {
            int nx = (int)(c->rows - r < CPU_TILE_X ? c->rows - r : CPU_TILE_X);
            gemm(w->cols, wp, w->row_bytes, nr, c->x + (size_t)r * c->x_row_bytes, c->x_row_bytes, nx, v,
                 CPU_GROUP);
            for (int i = 0; i < nx; i++) mm_store(c, r + i, j0, nr, v + i * CPU_GROUP);
        }
        for (int64_t r = 0; !gemm && r < c->rows; r++) {
            dot(w->cols, wp, w->row_bytes, nr, c->x + (size_t)r * c->x_row_bytes, v);
            mm_store(c, r, j0, nr, v);
        }
    }
}

static void mm_epilogue_task(void *ctx, int64_t r0, int64_t r1) {
    const mm_ctx *c = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *s = c->src + r * c->w->rows;
        for (int64_t j = 0; j < c->w->rows; j += CPU_GROUP) {
            int nr = (int)(c->w->rows - j < CPU_GROUP ? c->w->rows - j : CPU_GROUP);
            mm_store(c, r, j, nr, s + j);
        }
    }
}

static void mm_quantize_task(void *ctx, int64_t r0, int64_t r1) {
    const mm_ctx *c = ctx;
    for (int64_t r = r0; r < r1; r++)
        c->dev->kern.quantize_act(c->raw + r * c->raw_stride,
                                  (act_q8 *)(c->x + (size_t)r * c->x_row_bytes), c->w->cols);
}

static hive_status mm_check(const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                            const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!w) return cpu_fail(err, HIVE_E_INVALID, "matmul: weight is NULL");
    if ((st = cpu_check_tensor(x, "matmul", "x", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(out, "matmul", "out", err)) != HIVE_OK) return st;
    if (x->cols != w->cols)
        return cpu_fail(err, HIVE_E_SHAPE,
                        "matmul: x [%lld x %lld] does not match weight %s [%lld x %lld] "
                        "(x.cols must equal w.cols)",
                        (long long)x->rows, (long long)x->cols, w->name, (long long)w->rows,
                        (long long)w->cols);
    if (out->rows != x->rows || out->cols != w->rows)
        return cpu_fail(err, HIVE_E_SHAPE,
                        "matmul: out is [%lld x %lld], expected [%lld x %lld] for x [%lld x "
                        "%lld] @ %s^T [%lld x %lld]",
                        (long long)out->rows, (long long)out->cols, (long long)x->rows,
                        (long long)w->rows, (long long)x->rows, (long long)x->cols, w->name,
                        (long long)w->rows, (long long)w->cols);
    if (bias && (bias->rows != 1 || bias->cols != w->rows))
        return cpu_fail(err, HIVE_E_SHAPE, "matmul: bias %s is [%lld x %lld], expected [1 x %lld]",
                        bias->name, (long long)bias->rows, (long long)bias->cols,
                        (long long)w->rows);
    return HIVE_OK;
}

/* Many rows, f32/bf16 weight: the cached oneDNN matmul primitive. Returns 1 when
 * it ran; 0 (and nothing written) when oneDNN cannot do it. */
static int mm_onednn_primitive(hive_device *dev, mm_ctx *c, const hive_tensor *x, hive_status *st,
                               hive_error **err) {
    const hive_weight *w = c->w;
    const hive_tensor *out = c->out;
    int direct = !c->bias && c->alpha == 1.0f && c->beta == 0.0f;
    float *dst = direct ? cpu_row(out, 0) : NULL;
    int64_t dst_stride = direct ? out->row_stride : w->rows;
    size_t tmp_bytes = (size_t)x->rows * (size_t)w->rows * sizeof(float);
    if (!direct && !(dst = cpu_scratch(dev, tmp_bytes))) {
        *st = cpu_fail(err, HIVE_E_NOMEM, "matmul: cannot allocate %zu bytes", tmp_bytes);
        return 1;
    }
    if (!cpu_onednn_matmul(dev, (hive_weight *)w, cpu_row(x, 0), x->rows, x->row_stride, dst,
                           dst_stride))
        return 0;
    if (!direct) {
        c->src = dst;
        cpu_parallel_for(dev, x->rows, 4, mm_epilogue_task, c);
    }
    return 1;
}

hive_status cpu_op_matmul(hive_device *dev, const hive_tensor *x, const hive_weight *w,
                          const hive_weight *bias, float alpha, float beta,
                          const hive_tensor *out, hive_error **err) {
    if (!dev) return cpu_fail(err, HIVE_E_INVALID, "matmul: device is NULL");
    hive_status st = mm_check(x, w, bias, out, err);
    if (st != HIVE_OK) return st;
    if (x->rows == 0) return HIVE_OK;
    mm_ctx c = {.dev = dev, .w = w, .rows = x->rows, .bias = bias ? bias->vec_f32 : NULL,
                .alpha = alpha, .beta = beta, .out = out, .raw = cpu_row(x, 0),
                .raw_stride = x->row_stride};

    if (dev->dnnl && x->rows >= CPU_ONEDNN_MIN_ROWS &&
        (w->dtype == HIVE_DTYPE_F32 || w->dtype == HIVE_DTYPE_BF16) &&
        mm_onednn_primitive(dev, &c, x, &st, err))
        return st;

    int64_t groups = (w->rows + CPU_GROUP - 1) / CPU_GROUP;
    /* enough work per thread to pay for waking it: ~32k weight elements
     * (a 192 x 576 k/v projection still splits in two) */
    int64_t min_groups = (32768 / (w->cols * x->rows)) / CPU_GROUP + 1;
    if (!cpu_dtype_is_quantized(w->dtype)) {
        c.x = (const char *)cpu_row(x, 0);
        c.x_row_bytes = (size_t)x->row_stride * sizeof(float);
        cpu_parallel_for(dev, groups, min_groups, mm_task, &c);
        return HIVE_OK;
    }
    c.x_row_bytes = (size_t)(w->cols / QK32) * sizeof(act_q8);
    char *xq = cpu_scratch(dev, c.x_row_bytes * (size_t)x->rows);
    if (!xq) return cpu_fail(err, HIVE_E_NOMEM, "matmul: cannot allocate activation blocks");
    c.x = xq;
    cpu_parallel_for(dev, x->rows, 8, mm_quantize_task, &c);
    cpu_parallel_for(dev, groups, min_groups, mm_task, &c);
    return HIVE_OK;
}
