/* backend_ops.cu — validation and launch of the row ops: embed, rmsnorm, binary,
 * swiglu, get_rows, argmax. Host arrays travel through gpu_stage(). */
#include <stdint.h>
#include <string.h>

#include "gpu_backend.h"
#include "gpu_impl.h"
#include "gpu_kernels.h"

static void same_shape(const hive_tensor *a, const hive_tensor *b, const char *what) {
    if (a->rows != b->rows || a->cols != b->cols)
        gpu_throw(HIVE_E_SHAPE, "%s: %lldx%lld vs %lldx%lld", what, (long long)a->rows, (long long)a->cols,
                  (long long)b->rows, (long long)b->cols);
}

static const float *vector_of(const hive_weight *w, int64_t cols, const char *what) {
    if (!w || w->rows != 1 || w->cols != cols || !w->f32)
        gpu_throw(HIVE_E_SHAPE, "%s: weight must be [1, %lld]", what, (long long)cols);
    return w->f32;
}

void gpu_impl_embed(hive_device *d, const hive_weight *table, const int32_t *ids, const hive_tensor *out) {
    float *op = gpu_tensor_ptr(out, "embed out");
    if (!table || table->cols != out->cols)
        gpu_throw(HIVE_E_SHAPE, "embed: table cols %lld, out cols %lld", table ? (long long)table->cols : -1LL,
                  (long long)out->cols);
    const int64_t n = out->rows;
    if (n == 0) return;
    if (!ids) gpu_throw(HIVE_E_INVALID, "embed: missing ids");
    if (n > INT32_MAX) gpu_throw(HIVE_E_SHAPE, "embed: %lld rows", (long long)n);
    gpu_host_check c;
    memset(&c, 0, sizeof c);
    c.kind = GPU_HOST_CHECK_IDS;
    c.what = "embed ids";
    c.n = (uint32_t)n;
    c.ids = ids;
    c.limit = table->rows;
    gpu_host_check_apply(d, &c);
    GPU_CHECK(gpuSetDevice(d->index));
    /* ids: re-read at every graph replay */
    gpu_stage_part p = {ids, (size_t)n * sizeof(int32_t), 1};
    void *dev_ids;
    gpu_stage(d, &p, 1, &dev_ids);
    gpu_dequant_rows_f32(d->stream, table->dtype, table->data, table->row_bytes, (const int32_t *)dev_ids, n,
                         table->cols, op, out->row_stride);
}

void gpu_impl_rmsnorm(hive_device *d, const hive_tensor *x, const hive_weight *gain, float eps,
                      const hive_tensor *out) {
    const float *xp = gpu_tensor_ptr(x, "rmsnorm x");
    float *op = gpu_tensor_ptr(out, "rmsnorm out");
    same_shape(x, out, "rmsnorm");
    const float *g = vector_of(gain, x->cols, "rmsnorm gain");
    GPU_CHECK(gpuSetDevice(d->index));
    gpu_rmsnorm(d->stream, xp, x->row_stride, g, eps, op, out->row_stride, x->rows, x->cols);
}

void gpu_impl_layernorm(hive_device *d, const hive_tensor *x, const hive_weight *gain, const hive_weight *bias,
                        float eps, const hive_tensor *out) {
    const float *xp = gpu_tensor_ptr(x, "layernorm x");
    float *op = gpu_tensor_ptr(out, "layernorm out");
    same_shape(x, out, "layernorm");
    const float *g = vector_of(gain, x->cols, "layernorm gain");
    const float *b = bias ? vector_of(bias, x->cols, "layernorm bias") : nullptr;
    GPU_CHECK(gpuSetDevice(d->index));
    gpu_layernorm(d->stream, xp, x->row_stride, g, b, eps, op, out->row_stride, x->rows, x->cols);
}

void gpu_impl_binary(hive_device *d, uint32_t op, const hive_tensor *a, const hive_tensor *b,
                     const hive_tensor *out) {
    if (op != HIVE_BINARY_ADD && op != HIVE_BINARY_MUL) gpu_throw(HIVE_E_UNSUPPORTED, "binary op %u", op);
    const float *ap = gpu_tensor_ptr(a, "binary a");
    const float *bp = gpu_tensor_ptr(b, "binary b");
    float *o = gpu_tensor_ptr(out, "binary out");
    same_shape(a, out, "binary out");
    if (b->cols != a->cols || (b->rows != a->rows && b->rows != 1))
        gpu_throw(HIVE_E_SHAPE, "binary: b %lldx%lld for a %lldx%lld", (long long)b->rows, (long long)b->cols,
                  (long long)a->rows, (long long)a->cols);
    const int64_t sb = b->rows == a->rows ? b->row_stride : 0;
    GPU_CHECK(gpuSetDevice(d->index));
    gpu_binary(d->stream, op, ap, a->row_stride, bp, b->rows == 1 ? 0 : sb, o, out->row_stride, a->rows, a->cols);
}

void gpu_impl_binary_weight(hive_device *d, uint32_t op, const hive_tensor *a, const hive_weight *w,
                            const hive_tensor *out) {
    if (op != HIVE_BINARY_ADD && op != HIVE_BINARY_MUL) gpu_throw(HIVE_E_UNSUPPORTED, "binary op %u", op);
    const float *ap = gpu_tensor_ptr(a, "binary_weight a");
    float *o = gpu_tensor_ptr(out, "binary_weight out");
    same_shape(a, out, "binary_weight out");
    const float *wp = vector_of(w, a->cols, "binary_weight w");
    GPU_CHECK(gpuSetDevice(d->index));
    gpu_binary(d->stream, op, ap, a->row_stride, wp, 0, o, out->row_stride, a->rows, a->cols);
}

void gpu_impl_swiglu(hive_device *d, const hive_tensor *g, const hive_tensor *u, const hive_tensor *out) {
    const float *gp = gpu_tensor_ptr(g, "swiglu gate");
    const float *up = gpu_tensor_ptr(u, "swiglu up");
    float *o = gpu_tensor_ptr(out, "swiglu out");
    same_shape(g, u, "swiglu up");
    same_shape(g, out, "swiglu out");
    GPU_CHECK(gpuSetDevice(d->index));
    gpu_swiglu(d->stream, gp, g->row_stride, up, u->row_stride, o, out->row_stride, g->rows, g->cols);
}

void gpu_impl_get_rows(hive_device *d, const hive_tensor *x, const int32_t *rows, uint32_t n,
                       const hive_tensor *out) {
    const float *xp = gpu_tensor_ptr(x, "get_rows x");
    float *o = gpu_tensor_ptr(out, "get_rows out");
    if (out->cols != x->cols || out->rows < (int64_t)n)
        gpu_throw(HIVE_E_SHAPE, "get_rows: out %lldx%lld for %u rows of %lld cols", (long long)out->rows,
                  (long long)out->cols, n, (long long)x->cols);
    if (n == 0) return;
    if (!rows) gpu_throw(HIVE_E_INVALID, "get_rows: missing rows");
    gpu_host_check c;
    memset(&c, 0, sizeof c);
    c.kind = GPU_HOST_CHECK_IDS;
    c.what = "get_rows rows";
    c.n = n;
    c.ids = rows;
    c.limit = x->rows;
    gpu_host_check_apply(d, &c);
    GPU_CHECK(gpuSetDevice(d->index));
    /* rows: re-read at every graph replay */
    gpu_stage_part p = {rows, (size_t)n * sizeof(int32_t), 1};
    void *dr;
    gpu_stage(d, &p, 1, &dr);
    gpu_get_rows(d->stream, xp, x->row_stride, (const int32_t *)dr, o, out->row_stride, n, x->cols);
}

/* Not capturable (HIVE_EXT_GRAPH v1 does not list its arrays): backend_api.cu
 * refuses it during capture. */
void gpu_impl_add_rows_scaled(hive_device *d, const hive_tensor *x, const int32_t *rows, const float *scale,
                              const hive_tensor *out) {
    const float *xp = gpu_tensor_ptr(x, "add_rows_scaled x");
    float *o = gpu_tensor_ptr(out, "add_rows_scaled out");
    if (out->cols != x->cols)
        gpu_throw(HIVE_E_SHAPE, "add_rows_scaled: x has %lld columns, out %lld", (long long)x->cols,
                  (long long)out->cols);
    if (x->rows == 0) return;
    if (!rows || !scale) gpu_throw(HIVE_E_INVALID, "add_rows_scaled: missing rows or scale");
    gpu_host_check c;
    memset(&c, 0, sizeof c);
    c.kind = GPU_HOST_CHECK_IDS;
    c.what = "add_rows_scaled rows";
    c.n = (uint32_t)x->rows;
    c.ids = rows;
    c.limit = out->rows;
    gpu_host_check_apply(d, &c);
    GPU_CHECK(gpuSetDevice(d->index));
    gpu_stage_part p[2] = {{rows, (size_t)x->rows * sizeof(int32_t), 1}, {scale, (size_t)x->rows * sizeof(float), 1}};
    void *dp[2];
    gpu_stage(d, p, 2, dp);
    gpu_add_rows_scaled(d->stream, xp, x->row_stride, (const int32_t *)dp[0], (const float *)dp[1], o,
                        out->row_stride, x->rows, x->cols);
}

/* Not capturable (it reads results back to the host): backend_api.cu refuses
 * it during capture. */
void gpu_impl_argmax(hive_device *d, const hive_tensor *x, int32_t *ids) {
    const float *xp = gpu_tensor_ptr(x, "argmax x");
    if (!ids && x->rows) gpu_throw(HIVE_E_INVALID, "argmax: missing ids");
    if (x->rows && x->cols <= 0) gpu_throw(HIVE_E_SHAPE, "argmax: no columns");
    GPU_CHECK(gpuSetDevice(d->index));
    for (int64_t r0 = 0; r0 < x->rows; r0 += d->max_rows) {
        const int64_t n = x->rows - r0 < (int64_t)d->max_rows ? x->rows - r0 : (int64_t)d->max_rows;
        gpu_argmax(d->stream, xp + r0 * x->row_stride, x->row_stride, n, x->cols, (int32_t *)d->ids_dev.ptr);
        GPU_CHECK(gpuMemcpyAsync(d->ids_host, d->ids_dev.ptr, (size_t)n * sizeof(int32_t), gpuMemcpyDeviceToHost,
                                 d->stream));
        GPU_CHECK(gpuStreamSynchronize(d->stream));
        memcpy(ids + r0, d->ids_host, (size_t)n * sizeof(int32_t));
    }
}
