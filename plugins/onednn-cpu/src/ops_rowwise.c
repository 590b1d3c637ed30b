/* Row-wise ops: embed, rmsnorm, layernorm, add/mul, SwiGLU, get_rows, argmax. */
#include <math.h>
#include <string.h>
#include "cpu_internal.h"

#define ROW_MIN_ELEMS 16384 /* per thread, below which one thread does it all */

static int64_t rows_per_thread(int64_t cols) { return ROW_MIN_ELEMS / cols + 1; }

/* -------------------------------------------------------------- embed -- */
typedef struct {
    const hive_device *dev;
    const hive_weight *table;
    const int32_t *ids;
    const hive_tensor *out;
    char *row_buf; /* packed table: room for each output row's GGML row (any task split) */
} embed_ctx;

static void embed_task(void *ctx, int64_t r0, int64_t r1) {
    const embed_ctx *c = ctx;
    const hive_weight *t = c->table;
    for (int64_t r = r0; r < r1; r++) {
        const char *src = (const char *)t->data + (size_t)c->ids[r] * t->row_bytes;
        if (t->packed) { /* the row back in GGML's layout first */
            char *row = c->row_buf + (size_t)r * t->row_bytes;
            cpu_unpack4_row(t->dtype, t->data, c->ids[r], t->cols, row);
            src = row;
        }
        c->dev->kern.dequant[t->dtype](src, cpu_row(c->out, r), t->cols);
    }
}

hive_status cpu_op_embed(hive_device *dev, const hive_weight *table, const int32_t *ids,
                         const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev || !table || (!ids && out && out->rows))
        return cpu_fail(err, HIVE_E_INVALID, "embed: device, table or ids is NULL");
    if ((st = cpu_check_tensor(out, "embed", "out", err)) != HIVE_OK) return st;
    if (out->cols != table->cols)
        return cpu_fail(err, HIVE_E_SHAPE, "embed: out has %lld cols, table %s is [%lld x %lld]",
                        (long long)out->cols, table->name, (long long)table->rows,
                        (long long)table->cols);
    for (int64_t r = 0; r < out->rows; r++)
        if (ids[r] < 0 || ids[r] >= table->rows)
            return cpu_fail(err, HIVE_E_INVALID, "embed: id %d (row %lld) outside table %s of %lld rows",
                            ids[r], (long long)r, table->name, (long long)table->rows);
    embed_ctx c = {dev, table, ids, out, NULL};
    size_t buf_bytes = (size_t)out->rows * table->row_bytes;
    if (table->packed && !(c.row_buf = cpu_scratch(dev, buf_bytes)))
        return cpu_fail(err, HIVE_E_NOMEM, "embed: cannot allocate %zu bytes", buf_bytes);
    cpu_parallel_for(dev, out->rows, rows_per_thread(out->cols), embed_task, &c);
    return HIVE_OK;
}

/* ------------------------------------------------------------ rmsnorm -- */
typedef struct {
    const hive_device *dev;
    const hive_tensor *x, *out;
    const float *gain;
    float eps;
} norm_ctx;

static void rmsnorm_task(void *ctx, int64_t r0, int64_t r1) {
    const norm_ctx *c = ctx;
    int64_t n = c->x->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = cpu_row(c->x, r);
        float *o = cpu_row(c->out, r);
        /* llama.cpp's order: squares summed in double, one by one; keeps the
         * Q8 activation rounding downstream on the same side as its */
        double ss = 0.0;
        for (int64_t i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
        float scale = 1.0f / sqrtf((float)(ss / (double)n) + c->eps);
        for (int64_t i = 0; i < n; i++) o[i] = x[i] * scale * c->gain[i];
    }
}

hive_status cpu_op_rmsnorm(hive_device *dev, const hive_tensor *x, const hive_weight *gain,
                           float eps, const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev || !gain) return cpu_fail(err, HIVE_E_INVALID, "rmsnorm: device or gain is NULL");
    if ((st = cpu_check_tensor(x, "rmsnorm", "x", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(out, "rmsnorm", "out", err)) != HIVE_OK) return st;
    if (gain->rows != 1 || gain->cols != x->cols || out->rows != x->rows || out->cols != x->cols)
        return cpu_fail(err, HIVE_E_SHAPE,
                        "rmsnorm: x [%lld x %lld], gain %s [%lld x %lld], out [%lld x %lld] "
                        "must agree (gain [1 x cols])",
                        (long long)x->rows, (long long)x->cols, gain->name, (long long)gain->rows,
                        (long long)gain->cols, (long long)out->rows, (long long)out->cols);
    norm_ctx c = {dev, x, out, gain->vec_f32, eps};
    cpu_parallel_for(dev, x->rows, rows_per_thread(x->cols), rmsnorm_task, &c);
    return HIVE_OK;
}

/* ---------------------------------------------------------- layernorm -- */
typedef struct {
    const hive_tensor *x, *out;
    const float *gain, *bias;
    float eps;
} layernorm_ctx;

static void layernorm_task(void *ctx, int64_t r0, int64_t r1) {
    const layernorm_ctx *c = ctx;
    int64_t n = c->x->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = cpu_row(c->x, r);
        float *o = cpu_row(c->out, r);
        /* two passes in double: the mean first, then the centred squares
         * (one pass of sum and sum of squares loses digits when |mean| >> std) */
        double sum = 0.0, ss = 0.0;
        for (int64_t i = 0; i < n; i++) sum += x[i];
        double mean = sum / (double)n;
        for (int64_t i = 0; i < n; i++) ss += ((double)x[i] - mean) * ((double)x[i] - mean);
        float scale = (float)(1.0 / sqrt(ss / (double)n + (double)c->eps)), m = (float)mean;
        for (int64_t i = 0; i < n; i++) o[i] = (x[i] - m) * scale * c->gain[i] + (c->bias ? c->bias[i] : 0.0f);
    }
}

hive_status cpu_op_layernorm(hive_device *dev, const hive_tensor *x, const hive_weight *gain,
                             const hive_weight *bias, float eps, const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev || !gain) return cpu_fail(err, HIVE_E_INVALID, "layernorm: device or gain is NULL");
    if ((st = cpu_check_tensor(x, "layernorm", "x", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(out, "layernorm", "out", err)) != HIVE_OK) return st;
    if (gain->rows != 1 || gain->cols != x->cols || (bias && (bias->rows != 1 || bias->cols != x->cols)) ||
        out->rows != x->rows || out->cols != x->cols)
        return cpu_fail(err, HIVE_E_SHAPE,
                        "layernorm: x [%lld x %lld], gain %s [%lld x %lld], bias %s, out [%lld x %lld] "
                        "must agree (gain and bias [1 x cols])",
                        (long long)x->rows, (long long)x->cols, gain->name, (long long)gain->rows,
                        (long long)gain->cols, bias ? bias->name : "(none)", (long long)out->rows,
                        (long long)out->cols);
    if (!(eps >= 0)) return cpu_fail(err, HIVE_E_INVALID, "layernorm: eps %g must be >= 0", eps);
    layernorm_ctx c = {x, out, gain->vec_f32, bias ? bias->vec_f32 : NULL, eps};
    cpu_parallel_for(dev, x->rows, rows_per_thread(x->cols), layernorm_task, &c);
    return HIVE_OK;
}

/* ------------------------------------------------------------- binary -- */
typedef struct {
    uint32_t op;
    const hive_tensor *a, *b, *out;
    const float *vec; /* broadcast row when b is a weight or one row */
} binary_ctx;

static void binary_task(void *ctx, int64_t r0, int64_t r1) {
    const binary_ctx *c = ctx;
    int64_t n = c->a->cols;
    for (int64_t r = r0; r < r1; r++) {
        const float *a = cpu_row(c->a, r);
        const float *b = c->vec ? c->vec : cpu_row(c->b, r);
        float *o = cpu_row(c->out, r);
        if (c->op == HIVE_BINARY_ADD)
            for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i];
        else
            for (int64_t i = 0; i < n; i++) o[i] = a[i] * b[i];
    }
}

static hive_status binary_check(uint32_t op, const hive_tensor *a, const hive_tensor *out,
                                const char *name, hive_error **err) {
    hive_status st;
    if (op != HIVE_BINARY_ADD && op != HIVE_BINARY_MUL)
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "%s: unknown op %u", name, op);
    if ((st = cpu_check_tensor(a, name, "a", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(out, name, "out", err)) != HIVE_OK) return st;
    if (out->rows != a->rows || out->cols != a->cols)
        return cpu_fail(err, HIVE_E_SHAPE, "%s: out [%lld x %lld] differs from a [%lld x %lld]",
                        name, (long long)out->rows, (long long)out->cols, (long long)a->rows,
                        (long long)a->cols);
    return HIVE_OK;
}

hive_status cpu_op_binary(hive_device *dev, uint32_t op, const hive_tensor *a,
                          const hive_tensor *b, const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev) return cpu_fail(err, HIVE_E_INVALID, "binary: device is NULL");
    if ((st = binary_check(op, a, out, "binary", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(b, "binary", "b", err)) != HIVE_OK) return st;
    if (b->cols != a->cols || (b->rows != a->rows && b->rows != 1))
        return cpu_fail(err, HIVE_E_SHAPE,
                        "binary: b [%lld x %lld] must match a [%lld x %lld] or be one row",
                        (long long)b->rows, (long long)b->cols, (long long)a->rows,
                        (long long)a->cols);
    binary_ctx c = {op, a, b, out, b->rows == 1 && a->rows != 1 ? cpu_row(b, 0) : NULL};
    cpu_parallel_for(dev, a->rows, rows_per_thread(a->cols), binary_task, &c);
    return HIVE_OK;
}

hive_status cpu_op_binary_weight(hive_device *dev, uint32_t op, const hive_tensor *a,
                                 const hive_weight *w, const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev || !w) return cpu_fail(err, HIVE_E_INVALID, "binary_weight: device or weight is NULL");
    if ((st = binary_check(op, a, out, "binary_weight", err)) != HIVE_OK) return st;
    if (w->rows != 1 || w->cols != a->cols)
        return cpu_fail(err, HIVE_E_SHAPE, "binary_weight: weight %s [%lld x %lld] must be [1 x %lld]",
                        w->name, (long long)w->rows, (long long)w->cols, (long long)a->cols);
    binary_ctx c = {op, a, NULL, out, w->vec_f32};
    cpu_parallel_for(dev, a->rows, rows_per_thread(a->cols), binary_task, &c);
    return HIVE_OK;
}

/* ------------------------------------------------------------- swiglu -- */
typedef struct {
    const hive_device *dev;
    const hive_tensor *gate, *up, *out;
} swiglu_ctx;

static void swiglu_task(void *ctx, int64_t r0, int64_t r1) {
    const swiglu_ctx *c = ctx;
    for (int64_t r = r0; r < r1; r++)
        c->dev->kern.silu_mul(cpu_row(c->gate, r), cpu_row(c->up, r), cpu_row(c->out, r),
                              c->gate->cols);
}

hive_status cpu_op_swiglu(hive_device *dev, const hive_tensor *gate, const hive_tensor *up,
                          const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev) return cpu_fail(err, HIVE_E_INVALID, "swiglu: device is NULL");
    if ((st = cpu_check_tensor(gate, "swiglu", "gate", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(up, "swiglu", "up", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(out, "swiglu", "out", err)) != HIVE_OK) return st;
    if (up->rows != gate->rows || up->cols != gate->cols || out->rows != gate->rows ||
        out->cols != gate->cols)
        return cpu_fail(err, HIVE_E_SHAPE, "swiglu: gate [%lld x %lld], up [%lld x %lld], out "
                        "[%lld x %lld] must have one shape",
                        (long long)gate->rows, (long long)gate->cols, (long long)up->rows,
                        (long long)up->cols, (long long)out->rows, (long long)out->cols);
    swiglu_ctx c = {dev, gate, up, out};
    cpu_parallel_for(dev, gate->rows, rows_per_thread(gate->cols), swiglu_task, &c);
    return HIVE_OK;
}

/* ------------------------------------ get_rows, add_rows_scaled, argmax -- */
hive_status cpu_op_get_rows(hive_device *dev, const hive_tensor *x, const int32_t *rows,
                            uint32_t n, const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev || (!rows && n)) return cpu_fail(err, HIVE_E_INVALID, "get_rows: device or rows is NULL");
    if ((st = cpu_check_tensor(x, "get_rows", "x", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(out, "get_rows", "out", err)) != HIVE_OK) return st;
    if (out->rows != (int64_t)n || out->cols != x->cols)
        return cpu_fail(err, HIVE_E_SHAPE, "get_rows: out [%lld x %lld], expected [%u x %lld]",
                        (long long)out->rows, (long long)out->cols, n, (long long)x->cols);
    for (uint32_t i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= x->rows)
            return cpu_fail(err, HIVE_E_INVALID, "get_rows: row %d outside x of %lld rows", rows[i],
                            (long long)x->rows);
    for (uint32_t i = 0; i < n; i++)
        memmove(cpu_row(out, i), cpu_row(x, rows[i]), (size_t)x->cols * sizeof(float));
    return HIVE_OK;
}

hive_status cpu_op_add_rows_scaled(hive_device *dev, const hive_tensor *x, const int32_t *rows, const float *scale,
                                   const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev || !rows || !scale) return cpu_fail(err, HIVE_E_INVALID, "add_rows_scaled: device, rows or scale is NULL");
    if ((st = cpu_check_tensor(x, "add_rows_scaled", "x", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(out, "add_rows_scaled", "out", err)) != HIVE_OK) return st;
    if (out->cols != x->cols)
        return cpu_fail(err, HIVE_E_SHAPE, "add_rows_scaled: x has %lld columns, out %lld", (long long)x->cols,
                        (long long)out->cols);
    for (int64_t i = 0; i < x->rows; i++)
        if (rows[i] < 0 || rows[i] >= out->rows)
            return cpu_fail(err, HIVE_E_INVALID, "add_rows_scaled: row %d outside out of %lld rows", rows[i],
                            (long long)out->rows);
    for (int64_t i = 0; i < x->rows; i++) {
        const float *src = cpu_row(x, i);
        float *dst = cpu_row(out, rows[i]), s = scale[i];
        for (int64_t c = 0; c < x->cols; c++) dst[c] += s * src[c];
    }
    return HIVE_OK;
}

hive_status cpu_op_argmax(hive_device *dev, const hive_tensor *x, int32_t *ids,
                          hive_error **err) {
    hive_status st;
    if (!dev || !ids) return cpu_fail(err, HIVE_E_INVALID, "argmax: device or ids is NULL");
    if ((st = cpu_check_tensor(x, "argmax", "x", err)) != HIVE_OK) return st;
    for (int64_t r = 0; r < x->rows; r++) {
        const float *v = cpu_row(x, r);
        int64_t best = 0;
        for (int64_t i = 1; i < x->cols; i++)
            if (v[i] > v[best]) best = i; /* first maximum wins */
        ids[r] = (int32_t)best;
    }
    return HIVE_OK;
}
