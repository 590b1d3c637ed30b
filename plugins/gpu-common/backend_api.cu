/* backend_api.cu — the hive_backend_api table. Every entry is extern "C", runs
 * its body inside gpu_guard() (gpu_backend.h), which catches every exception
 * and reports it as a hive_status plus a host-made hive_error. Nothing throws
 * past this file. Ops run inside gpu_guard_op(), so that a failure during graph
 * capture poisons the capture. */
#include <new>
#include <stdio.h>
#include <string.h>

#include "gpu_backend.h"
#include "gpu_entry.h"
#include "gpu_impl.h"

hive_status gpu_edge_error(hive_device *op_dev, hive_error **err, hive_status code, const char *msg) {
    /* an op that failed while capturing may have recorded part of its work */
    if (op_dev && op_dev->capture) gpu_graph_note_failure(op_dev, code, msg);
    if (err && g_gpu_host && g_gpu_host->error_new)
        *err = g_gpu_host->error_new(g_gpu_host->ctx, code, "%s: %s", g_gpu_vendor ? g_gpu_vendor->name : "gpu", msg);
    return code;
}

#define CHECK_DEV(d) \
    if (!(d)) gpu_throw(HIVE_E_INVALID, "null device")
/* HIVE_EXT_GRAPH: calls that synchronize, read back, or allocate are refused
 * while the device captures (see backend_graph.cu). */
#define CHECK_NOT_CAPTURING(d, what) \
    if ((d)->capture) gpu_throw(HIVE_E_INVALID, "%s: not allowed during graph capture", what)

extern "C" {

static hive_status api_device_count(uint32_t *count, hive_error **err) {
    return gpu_guard(err, [&] {
        if (!count) gpu_throw(HIVE_E_INVALID, "device_count: null count");
        *count = gpu_impl_device_count();
    });
}
static hive_status api_device_info(uint32_t index, hive_device_info *out, hive_error **err) {
    return gpu_guard(err, [&] {
        if (!out) gpu_throw(HIVE_E_INVALID, "device_info: null out");
        gpu_impl_device_info(index, out);
    });
}
static hive_status api_device_open(uint32_t index, const hive_device_options *opts, hive_device **out,
                                   hive_error **err) {
    return gpu_guard(err, [&] {
        if (!out) gpu_throw(HIVE_E_INVALID, "device_open: null out");
        *out = gpu_impl_device_open(index, opts);
    });
}
static void api_device_close(hive_device *d) {
    gpu_guard_void([&] { gpu_impl_device_close(d); });
}
static hive_status api_synchronize(hive_device *d, hive_error **err) {
    return gpu_guard(err, [&] {
        CHECK_DEV(d);
        CHECK_NOT_CAPTURING(d, "synchronize");
        gpu_impl_synchronize(d);
    });
}
static hive_status api_buffer_alloc(hive_device *d, uint64_t n, hive_buffer **out, hive_error **err) {
    return gpu_guard(err, [&] {
        CHECK_DEV(d);
        if (!out) gpu_throw(HIVE_E_INVALID, "buffer_alloc: null out");
        CHECK_NOT_CAPTURING(d, "buffer_alloc");
        *out = gpu_impl_buffer_alloc(d, n);
    });
}
/* Frees during capture would synchronize the capturing stream: they run when
 * the capture ends. */
static void free_buffer_cb(hive_device *d, void *o) { gpu_impl_buffer_free(d, (hive_buffer *)o); }
static void free_weight_cb(hive_device *d, void *o) { gpu_impl_weight_free(d, (hive_weight *)o); }
static void free_kv_cb(hive_device *d, void *o) { gpu_impl_kv_free(d, (hive_kv_cache *)o); }
static void api_buffer_free(hive_device *d, hive_buffer *b) {
    gpu_guard_void([&] {
        if (!d || !b) return;
        if (d->capture)
            gpu_graph_defer(d, free_buffer_cb, b);
        else
            gpu_impl_buffer_free(d, b);
    });
}
static hive_status api_buffer_upload(hive_device *d, hive_buffer *b, uint64_t off, const void *src, uint64_t n,
                                     hive_error **err) {
    return gpu_guard(err, [&] {
        CHECK_DEV(d);
        if (n && !src) gpu_throw(HIVE_E_INVALID, "buffer_upload: null src");
        CHECK_NOT_CAPTURING(d, "buffer_upload");
        gpu_impl_buffer_upload(d, b, off, src, n);
    });
}
static hive_status api_buffer_download(hive_device *d, const hive_buffer *b, uint64_t off, void *dst,
                                       uint64_t n, hive_error **err) {
    return gpu_guard(err, [&] {
        CHECK_DEV(d);
        if (n && !dst) gpu_throw(HIVE_E_INVALID, "buffer_download: null dst");
        CHECK_NOT_CAPTURING(d, "buffer_download");
        gpu_impl_buffer_download(d, b, off, dst, n);
    });
}
static void *api_buffer_host_ptr(hive_device *, hive_buffer *) { return nullptr; }
static uint32_t api_weight_supported(hive_device *, uint32_t dtype) { return gpu_impl_weight_supported(dtype); }
static hive_status api_weight_upload(hive_device *d, const hive_weight_desc *desc, const void *data,
                                     hive_weight **out, hive_error **err) {
    return gpu_guard(err, [&] {
        CHECK_DEV(d);
        if (!out) gpu_throw(HIVE_E_INVALID, "weight_upload: null out");
        CHECK_NOT_CAPTURING(d, "weight_upload");
        *out = gpu_impl_weight_upload(d, desc, data);
    });
}
static void api_weight_free(hive_device *d, hive_weight *w) {
    gpu_guard_void([&] {
        if (!d || !w) return;
        if (d->capture)
            gpu_graph_defer(d, free_weight_cb, w);
        else
            gpu_impl_weight_free(d, w);
    });
}
static hive_status api_kv_alloc(hive_device *d, const hive_kv_desc *desc, hive_kv_cache **out, hive_error **err) {
    return gpu_guard(err, [&] {
        CHECK_DEV(d);
        if (!out) gpu_throw(HIVE_E_INVALID, "kv_alloc: null out");
        CHECK_NOT_CAPTURING(d, "kv_alloc");
        *out = gpu_impl_kv_alloc(d, desc);
    });
}
static void api_kv_free(hive_device *d, hive_kv_cache *kv) {
    gpu_guard_void([&] {
        if (!d || !kv) return;
        if (d->capture)
            gpu_graph_defer(d, free_kv_cb, kv);
        else
            gpu_impl_kv_free(d, kv);
    });
}
static hive_status api_op_embed(hive_device *d, const hive_weight *t, const int32_t *ids, const hive_tensor *out,
                                hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        gpu_impl_embed(d, t, ids, out);
    });
}
static hive_status api_op_rmsnorm(hive_device *d, const hive_tensor *x, const hive_weight *g, float eps,
                                  const hive_tensor *out, hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        gpu_impl_rmsnorm(d, x, g, eps, out);
    });
}
static hive_status api_op_matmul(hive_device *d, const hive_tensor *x, const hive_weight *w, const hive_weight *b,
                                 float alpha, float beta, const hive_tensor *out, hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        GPU_CHECK(gpuSetDevice(d->index));
        gpu_matmul(d, x, w, b, alpha, beta, out);
    });
}
static hive_status api_op_binary(hive_device *d, uint32_t op, const hive_tensor *a, const hive_tensor *b,
                                 const hive_tensor *out, hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        gpu_impl_binary(d, op, a, b, out);
    });
}
static hive_status api_op_binary_weight(hive_device *d, uint32_t op, const hive_tensor *a, const hive_weight *w,
                                        const hive_tensor *out, hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        gpu_impl_binary_weight(d, op, a, w, out);
    });
}
static hive_status api_op_swiglu(hive_device *d, const hive_tensor *g, const hive_tensor *u, const hive_tensor *out,
                                 hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        gpu_impl_swiglu(d, g, u, out);
    });
}
static hive_status api_op_rope(hive_device *d, const hive_tensor *x, const hive_rope_desc *r, const hive_batch *b,
                               hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        gpu_impl_rope(d, x, r, b);
    });
}
static hive_status api_op_kv_store(hive_device *d, hive_kv_cache *kv, uint32_t layer, const hive_tensor *k,
                                   const hive_tensor *v, const hive_batch *b, hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        gpu_impl_kv_store(d, kv, layer, k, v, b);
    });
}
static hive_status api_op_attention(hive_device *d, hive_kv_cache *kv, uint32_t layer, const hive_tensor *q,
                                    uint32_t n_heads, float scale, const hive_batch *b, const hive_tensor *out,
                                    hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        gpu_impl_attention(d, kv, layer, q, n_heads, scale, b, out);
    });
}
static hive_status api_op_get_rows(hive_device *d, const hive_tensor *x, const int32_t *rows, uint32_t n,
                                   const hive_tensor *out, hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        gpu_impl_get_rows(d, x, rows, n, out);
    });
}
static hive_status api_op_argmax(hive_device *d, const hive_tensor *x, int32_t *ids, hive_error **err) {
    return gpu_guard(err, [&] {
        CHECK_DEV(d);
        CHECK_NOT_CAPTURING(d, "op_argmax");
        gpu_impl_argmax(d, x, ids);
    });
}

static hive_status api_op_add_rows_scaled(hive_device *d, const hive_tensor *x, const int32_t *rows, const float *scale,
                                          const hive_tensor *out, hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        CHECK_NOT_CAPTURING(d, "op_add_rows_scaled");
        gpu_impl_add_rows_scaled(d, x, rows, scale, out);
    });
}

static hive_status api_op_ssm_conv(hive_device *d, const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                                   uint32_t kernel, const hive_batch *b, const int32_t *slots, const hive_tensor *state,
                                   const hive_tensor *out, hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        CHECK_NOT_CAPTURING(d, "op_ssm_conv");
        gpu_impl_ssm_conv(d, x, w, bias, kernel, b, slots, state, out);
    });
}
static hive_status api_op_ssm_scan(hive_device *d, const hive_tensor *x, const hive_tensor *dt, const hive_tensor *B,
                                   const hive_tensor *C, const hive_weight *A, const hive_weight *D,
                                   const hive_weight *dt_bias, const hive_ssm_desc *desc, const hive_batch *b,
                                   const int32_t *slots, const hive_tensor *state, const hive_tensor *y,
                                   hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        CHECK_NOT_CAPTURING(d, "op_ssm_scan");
        gpu_impl_ssm_scan(d, x, dt, B, C, A, D, dt_bias, desc, b, slots, state, y);
    });
}

static hive_status api_op_layernorm(hive_device *d, const hive_tensor *x, const hive_weight *g, const hive_weight *b,
                                    float eps, const hive_tensor *out, hive_error **err) {
    return gpu_guard_op(d, err, [&] {
        CHECK_DEV(d);
        CHECK_NOT_CAPTURING(d, "op_layernorm");
        gpu_impl_layernorm(d, x, g, b, eps, out);
    });
}

static const void *api_get_extension(hive_device *d, uint32_t id, uint32_t min_version) {
    const void *ext = nullptr;
    uint32_t version = 0;
    if (!d) return nullptr;
    if (id == HIVE_EXT_LORA_SEGMENTS && (ext = gpu_ext_lora_segments()))
        version = ((const hive_ext_lora_segments *)ext)->version;
    else if (id == HIVE_EXT_GRAPH && (ext = gpu_ext_graph()))
        version = ((const hive_ext_graph *)ext)->version;
    return ext && version >= min_version ? ext : nullptr;
}

static const hive_backend_api k_table = {
    sizeof(hive_backend_api), 0,
    HIVE_BACKEND_CAP_F16_KV | HIVE_BACKEND_CAP_BF16_MATMUL | HIVE_BACKEND_CAP_ARGMAX,
    api_device_count, api_device_info, api_device_open, api_device_close, api_synchronize,
    api_buffer_alloc, api_buffer_free, api_buffer_upload, api_buffer_download, api_buffer_host_ptr,
    api_weight_supported, api_weight_upload, api_weight_free,
    api_kv_alloc, api_kv_free,
    api_op_embed, api_op_rmsnorm, api_op_matmul, api_op_binary, api_op_binary_weight, api_op_swiglu,
    api_op_rope, api_op_kv_store, api_op_attention, api_op_get_rows,
    api_op_argmax, api_get_extension,
    api_op_add_rows_scaled,
    api_op_ssm_conv, api_op_ssm_scan,
    api_op_layernorm,
    nullptr, /* 1.9 op_kv_migrate: no two-tier KV here (kv_alloc refuses store pages) */
};

hive_status gpu_backend_init(const hive_host_api *host, const gpu_vendor_ops *vendor, const void **api,
                             hive_error **err) {
    if (!host || !api) return HIVE_E_INVALID;
    if (host->abi_major != HIVE_ABI_MAJOR) return HIVE_E_VERSION;
    g_gpu_host = host;
    g_gpu_vendor = vendor;
    (void)err;
    *api = &k_table;
    return HIVE_OK;
}

} /* extern "C" */
