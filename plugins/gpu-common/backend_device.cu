/* backend_device.cu — devices (probe, info, open/close), buffers, weights and
 * KV cache allocation. Functions throw gpu_exc; backend_api.cu guards them. */
#include <new>
#include <stdio.h>
#include <string.h>

#include "gpu_backend.h"
#include "gpu_impl.h"
#include "gpu_kernels.h"

#define GPU_SCORE 1000u
#define GPU_DEFAULT_MAX_ROWS 512u

/* Driver / runtime version as text; 0 (no driver) prints "none". */
static void fmt_version(char *buf, size_t n, int v) {
    if (v <= 0) {
        snprintf(buf, n, "none");
        return;
    }
#if GPU_IS_HIP
    /* HIP_VERSION encoding: major * 10^7 + minor * 10^5 + patch */
    if (v >= 10000000)
        snprintf(buf, n, "%d.%d.%d", v / 10000000, (v / 100000) % 100, v % 100000);
    else
        snprintf(buf, n, "%d", v);
#else
    snprintf(buf, n, "%d.%d", v / 1000, (v % 1000) / 10);
#endif
}

uint32_t gpu_impl_device_count(void) {
    int n = 0;
    if (gpuGetDeviceCount(&n) != gpuSuccess) {
        (void)gpuGetLastError();
        return 0;
    }
    return n > 0 ? (uint32_t)n : 0;
}

void gpu_impl_device_info(uint32_t index, hive_device_info *out) {
    hive_device_info info;
    memset(&info, 0, sizeof info);
    /* The reason names everything the probe found: device count, name,
     * compute capability, memory, driver and runtime versions, and the score. */
    int n = 0, drv = 0, rt = 0;
    char dv[32], rv[32];
    gpuError_t e = gpuGetDeviceCount(&n);
    if (e != gpuSuccess) n = 0;
    (void)gpuGetLastError();
    if (gpuDriverGetVersion(&drv) != gpuSuccess) drv = 0;
    if (gpuRuntimeGetVersion(&rt) != gpuSuccess) rt = 0;
    (void)gpuGetLastError();
    fmt_version(dv, sizeof dv, drv);
    fmt_version(rv, sizeof rv, rt);
    if (e != gpuSuccess || n <= 0) {
        snprintf(info.name, sizeof info.name, "%s device", GPU_VENDOR);
        snprintf(info.reason, sizeof info.reason, "unavailable: %s; 0 devices, driver %s, runtime %s, score 0",
                 e != gpuSuccess ? gpuGetErrorString(e) : "no device found", dv, rv);
    } else if ((int)index >= n) {
        gpu_throw(HIVE_E_NOTFOUND, "%s device %u does not exist (%d present)", GPU_VENDOR, index, n);
    } else {
        gpuDeviceProp p;
        GPU_CHECK(gpuGetDeviceProperties(&p, (int)index));
        size_t fr = 0, tot = 0;
        GPU_CHECK(gpuSetDevice((int)index));
        if (gpuMemGetInfo(&fr, &tot) != gpuSuccess) {
            (void)gpuGetLastError();
            fr = 0;
            tot = p.totalGlobalMem;
        }
        snprintf(info.name, sizeof info.name, "%.127s", p.name);
#if GPU_IS_HIP
        snprintf(info.reason, sizeof info.reason,
                 "HIP device %u of %d: %.64s (%.32s, cc %d.%d), %d CUs, %zu MiB (%zu free), driver %s, runtime %s, "
                 "score %u",
                 index, n, p.name, p.gcnArchName, p.major, p.minor, p.multiProcessorCount, tot >> 20, fr >> 20, dv,
                 rv, GPU_SCORE);
#else
        snprintf(info.reason, sizeof info.reason,
                 "CUDA device %u of %d: %.64s, cc %d.%d, %d SMs, %zu MiB (%zu free), driver %s, runtime %s, score %u",
                 index, n, p.name, p.major, p.minor, p.multiProcessorCount, tot >> 20, fr >> 20, dv, rv, GPU_SCORE);
#endif
        info.score = GPU_SCORE;
        info.memory_total = tot;
        info.memory_free = fr;
    }
    /* write only what the caller's struct has room for */
    uint32_t size = out->struct_size ? out->struct_size : (uint32_t)sizeof info;
    if (size > sizeof info) size = sizeof info;
    info.struct_size = size;
    memcpy(out, &info, size);
}

static void device_free_all(hive_device *d) {
    if (d->stream) (void)gpuStreamSynchronize(d->stream);
    gpu_retired_release(d); /* no graph is left (gpu_graph_close_all ran) */
    if (d->vendor && g_gpu_vendor && g_gpu_vendor->close) g_gpu_vendor->close(d);
    for (int i = 0; i < GPU_STAGE_SLOTS; i++) {
        if (d->stage_host[i]) (void)gpuFreeHost(d->stage_host[i]);
        if (d->stage_ev[i]) (void)gpuEventDestroy(d->stage_ev[i]);
    }
    if (d->stage_dev) (void)gpuFree(d->stage_dev);
    if (d->ids_host) (void)gpuFreeHost(d->ids_host);
    gpu_scratch_release(&d->ids_dev);
    gpu_scratch_release(&d->conv);
    gpu_scratch_release(&d->deq);
    gpu_scratch_release(&d->attn);
    gpu_scratch_release(&d->lora_t);
    if (d->stream) (void)gpuStreamDestroy(d->stream);
    delete d;
}

hive_device *gpu_impl_device_open(uint32_t index, const hive_device_options *opts) {
    const uint32_t n = gpu_impl_device_count();
    if (index >= n) gpu_throw(n ? HIVE_E_NOTFOUND : HIVE_E_NODEVICE, "%s device %u not available (%u present)",
                              GPU_VENDOR, index, n);
    hive_device *d = new hive_device();
    memset(d, 0, sizeof *d);
    d->index = (int)index;
    d->max_rows = GPU_DEFAULT_MAX_ROWS;
    if (opts && HIVE_HAS_FIELD(hive_device_options, opts->struct_size, max_rows) && opts->max_rows)
        d->max_rows = opts->max_rows;
    try {
        GPU_CHECK(gpuSetDevice(d->index));
        gpuDeviceProp p;
        GPU_CHECK(gpuGetDeviceProperties(&p, d->index));
        d->sm_count = p.multiProcessorCount > 0 ? p.multiProcessorCount : 1;
        GPU_CHECK(gpuStreamCreateWithFlags(&d->stream, gpuStreamNonBlocking));
        for (int i = 0; i < GPU_STAGE_SLOTS; i++)
            GPU_CHECK(gpuEventCreateWithFlags(&d->stage_ev[i], gpuEventDisableTiming));
        /* sized for a full batch: row_seq + row_pos + ids, plus room for block tables */
        size_t stage = (size_t)d->max_rows * 64 + ((size_t)1 << 20);
        for (int i = 0; i < GPU_STAGE_SLOTS; i++) GPU_CHECK(gpuHostAlloc((void **)&d->stage_host[i], stage));
        GPU_CHECK(gpuMalloc(&d->stage_dev, stage));
        d->stage_cap = stage;
        GPU_CHECK(gpuHostAlloc((void **)&d->ids_host, (size_t)d->max_rows * sizeof(int32_t)));
        gpu_scratch_ensure(d, &d->ids_dev, (size_t)d->max_rows * sizeof(int32_t));
        if (g_gpu_vendor && g_gpu_vendor->open) g_gpu_vendor->open(d);
    } catch (...) {
        device_free_all(d);
        throw;
    }
    return d;
}

void gpu_impl_device_close(hive_device *d) {
    if (!d) return;
    (void)gpuSetDevice(d->index);
    /* a capture in progress is ended and dropped, graphs left are freed: both
     * must happen before the stream is synchronized and destroyed */
    try {
        gpu_graph_close_all(d);
    } catch (...) {
        gpu_log(HIVE_LOG_WARN, "device_close: failure while dropping graphs");
    }
    device_free_all(d);
}

void gpu_impl_synchronize(hive_device *d) {
    GPU_CHECK(gpuSetDevice(d->index));
    GPU_CHECK(gpuStreamSynchronize(d->stream));
}

hive_buffer *gpu_impl_buffer_alloc(hive_device *d, uint64_t nbytes) {
    GPU_CHECK(gpuSetDevice(d->index));
    hive_buffer *b = new hive_buffer();
    b->size = nbytes;
    b->ptr = nullptr;
    gpuError_t e = gpuMalloc(&b->ptr, nbytes ? nbytes : 1);
    if (e != gpuSuccess) {
        delete b;
        gpu_throw_rt(e, "buffer_alloc");
    }
    return b;
}

void gpu_impl_buffer_free(hive_device *d, hive_buffer *b) {
    if (!b) return;
    (void)gpuSetDevice(d->index);
    (void)gpuStreamSynchronize(d->stream); /* queued kernels may still use it */
    (void)gpuFree(b->ptr);
    delete b;
}

static void check_range(const hive_buffer *b, uint64_t off, uint64_t n, const char *what) {
    if (!b || off > b->size || n > b->size - off)
        gpu_throw(HIVE_E_INVALID, "%s: range [%llu, +%llu) outside buffer of %llu bytes", what,
                  (unsigned long long)off, (unsigned long long)n, (unsigned long long)(b ? b->size : 0));
}

void gpu_impl_buffer_upload(hive_device *d, hive_buffer *b, uint64_t off, const void *src, uint64_t n) {
    check_range(b, off, n, "buffer_upload");
    if (!n) return;
    GPU_CHECK(gpuSetDevice(d->index));
    GPU_CHECK(gpuMemcpyAsync((char *)b->ptr + off, src, n, gpuMemcpyHostToDevice, d->stream));
    GPU_CHECK(gpuStreamSynchronize(d->stream)); /* src is borrowed for the call only */
}

void gpu_impl_buffer_download(hive_device *d, const hive_buffer *b, uint64_t off, void *dst, uint64_t n) {
    check_range(b, off, n, "buffer_download");
    if (!n) return;
    GPU_CHECK(gpuSetDevice(d->index));
    GPU_CHECK(gpuMemcpyAsync(dst, (const char *)b->ptr + off, n, gpuMemcpyDeviceToHost, d->stream));
    GPU_CHECK(gpuStreamSynchronize(d->stream));
}

uint32_t gpu_impl_weight_supported(uint32_t dtype) { return gpu_dtype_block_bytes(dtype) != 0; }

hive_weight *gpu_impl_weight_upload(hive_device *d, const hive_weight_desc *desc, const void *data) {
    if (!desc || !data) gpu_throw(HIVE_E_INVALID, "weight_upload: missing desc or data");
    const char *name = desc->name ? desc->name : "?";
    if (!gpu_impl_weight_supported(desc->dtype))
        gpu_throw(HIVE_E_UNSUPPORTED, "weight %s: dtype %u not supported", name, desc->dtype);
    const uint32_t be = gpu_dtype_block_elems(desc->dtype);
    if (desc->rows <= 0 || desc->cols <= 0 || desc->cols % be)
        gpu_throw(HIVE_E_SHAPE, "weight %s: shape %lldx%lld (blocks of %u)", name, (long long)desc->rows,
                  (long long)desc->cols, be);
    GPU_CHECK(gpuSetDevice(d->index));
    hive_weight *w = new hive_weight();
    memset(w, 0, sizeof *w);
    w->dtype = desc->dtype;
    w->rows = desc->rows;
    w->cols = desc->cols;
    w->row_bytes = (uint64_t)(desc->cols / be) * gpu_dtype_block_bytes(desc->dtype);
    try {
        const uint64_t bytes = w->row_bytes * (uint64_t)w->rows;
        GPU_CHECK(gpuMalloc(&w->data, bytes));
        GPU_CHECK(gpuMemcpyAsync(w->data, data, bytes, gpuMemcpyHostToDevice, d->stream));
        if (w->rows == 1) {
            GPU_CHECK(gpuMalloc((void **)&w->f32, (size_t)w->cols * sizeof(float)));
            gpu_dequant_rows_f32(d->stream, w->dtype, w->data, w->row_bytes, nullptr, 1, w->cols, w->f32, w->cols);
        }
        gpu_weight_prepare_scratch(d, w);
        GPU_CHECK(gpuStreamSynchronize(d->stream));
    } catch (...) {
        (void)gpuStreamSynchronize(d->stream);
        if (w->data) (void)gpuFree(w->data);
        if (w->f32) (void)gpuFree(w->f32);
        delete w;
        throw;
    }
    return w;
}

void gpu_impl_weight_free(hive_device *d, hive_weight *w) {
    if (!w) return;
    (void)gpuSetDevice(d->index);
    (void)gpuStreamSynchronize(d->stream);
    if (w->data) (void)gpuFree(w->data);
    if (w->f32) (void)gpuFree(w->f32);
    delete w;
}

hive_kv_cache *gpu_impl_kv_alloc(hive_device *d, const hive_kv_desc *in) {
    if (!in) gpu_throw(HIVE_E_INVALID, "kv_alloc: missing desc");
    hive_kv_desc desc_copy;
    memset(&desc_copy, 0, sizeof desc_copy);
    memcpy(&desc_copy, in, in->struct_size < sizeof desc_copy ? in->struct_size : sizeof desc_copy);
    const hive_kv_desc *desc = &desc_copy;
    if (desc->dtype != HIVE_DTYPE_F16 && desc->dtype != HIVE_DTYPE_F32)
        gpu_throw(HIVE_E_UNSUPPORTED, "kv cache dtype %u (f16 or f32 only)", desc->dtype);
    if (desc->has_v_dtype && desc->v_dtype != desc->dtype) /* ABI 1.6: K and V apart */
        gpu_throw(HIVE_E_UNSUPPORTED, "kv cache: K dtype %u with V dtype %u (one type, f16 or f32, for both)",
                  desc->dtype, desc->v_dtype);
    if (desc->n_store_blocks) /* ABI 1.9: two-tier KV (--kv-tail) is the CPU plugin's (no op_kv_migrate here) */
        gpu_throw(HIVE_E_UNSUPPORTED, "kv cache: %u store pages asked (--kv-tail): not supported on this backend",
                  desc->n_store_blocks);
    if (!desc->n_layers || !desc->n_blocks || !desc->block_size || !desc->n_kv_heads || !desc->head_dim)
        gpu_throw(HIVE_E_INVALID, "kv cache: zero dimension");
    if (desc->head_dim > GPU_MAX_HEAD_DIM)
        gpu_throw(HIVE_E_UNSUPPORTED, "kv cache: head_dim %u > %d", desc->head_dim, GPU_MAX_HEAD_DIM);
    GPU_CHECK(gpuSetDevice(d->index));
    hive_kv_cache *kv = new hive_kv_cache();
    memset(kv, 0, sizeof *kv);
    kv->desc = *desc;
    kv->desc.struct_size = sizeof kv->desc;
    kv->layer_elems = (uint64_t)desc->n_blocks * desc->block_size * desc->n_kv_heads * desc->head_dim;
    const uint64_t bytes = kv->layer_elems * desc->n_layers * (desc->dtype == HIVE_DTYPE_F16 ? 2 : 4);
    try {
        GPU_CHECK(gpuMalloc(&kv->k, bytes));
        GPU_CHECK(gpuMalloc(&kv->v, bytes));
        GPU_CHECK(gpuMemsetAsync(kv->k, 0, bytes, d->stream));
        GPU_CHECK(gpuMemsetAsync(kv->v, 0, bytes, d->stream));
        /* split-K partials: pairs * splits < 8 * (4 * SMs) (see gpu_impl_attention),
         * so attention never allocates in the token path */
        gpu_scratch_ensure(d, &d->attn, (size_t)32 * d->sm_count * (desc->head_dim + 2) * sizeof(float));
        GPU_CHECK(gpuStreamSynchronize(d->stream));
    } catch (...) {
        if (kv->k) (void)gpuFree(kv->k);
        if (kv->v) (void)gpuFree(kv->v);
        delete kv;
        throw;
    }
    return kv;
}

void gpu_impl_kv_free(hive_device *d, hive_kv_cache *kv) {
    if (!kv) return;
    (void)gpuSetDevice(d->index);
    (void)gpuStreamSynchronize(d->stream);
    (void)gpuFree(kv->k);
    (void)gpuFree(kv->v);
    delete kv;
}
