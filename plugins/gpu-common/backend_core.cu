/* backend_core.cu — errors, logging, dtype facts, grow-only scratch and the
 * pinned staging ring that carries host arrays (positions, block tables, ids)
 * to the device without any allocation in the per-token path. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gpu_backend.h"

const hive_host_api *g_gpu_host = nullptr;
const gpu_vendor_ops *g_gpu_vendor = nullptr;

void gpu_throw(hive_status code, const char *fmt, ...) {
    gpu_exc e;
    e.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    throw e;
}

void gpu_throw_rt(gpuError_t err, const char *what) {
    (void)gpuGetLastError(); /* clear a sticky launch error so later calls work */
    gpu_throw(err == gpuErrorMemoryAllocation ? HIVE_E_NOMEM : HIVE_E_DEVICE, "%s: %s (%s)",
              GPU_VENDOR, gpuGetErrorString(err), what);
}

void gpu_log(int32_t level, const char *fmt, ...) {
    if (!g_gpu_host || !g_gpu_host->log) return;
    char buf[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_gpu_host->log(g_gpu_host->ctx, level, buf);
}

uint32_t gpu_dtype_block_elems(uint32_t d) {
    switch (d) {
    case HIVE_DTYPE_Q8_0: case HIVE_DTYPE_Q4_0: case HIVE_DTYPE_Q4_1: return 32;
    case HIVE_DTYPE_Q4_K: case HIVE_DTYPE_Q6_K: return 256;
    default: return 1;
    }
}

uint32_t gpu_dtype_block_bytes(uint32_t d) {
    switch (d) {
    case HIVE_DTYPE_F32: return 4;
    case HIVE_DTYPE_F16: case HIVE_DTYPE_BF16: return 2;
    case HIVE_DTYPE_Q8_0: return 34;
    case HIVE_DTYPE_Q4_0: return 18;
    case HIVE_DTYPE_Q4_1: return 20;
    case HIVE_DTYPE_Q4_K: return 144;
    case HIVE_DTYPE_Q6_K: return 210;
    default: return 0; /* not a weight format here */
    }
}

int gpu_dtype_is_quant(uint32_t d) { return gpu_dtype_block_elems(d) > 1; }

float *gpu_tensor_ptr(const hive_tensor *t, const char *what) {
    if (!t || !t->buf) gpu_throw(HIVE_E_INVALID, "%s: missing tensor", what);
    if (t->dtype != HIVE_DTYPE_F32) gpu_throw(HIVE_E_UNSUPPORTED, "%s: activations must be f32 (dtype %u)", what, t->dtype);
    if (t->rows < 0 || t->cols < 0 || (t->rows > 1 && t->row_stride < t->cols) || (t->offset % 4) != 0)
        gpu_throw(HIVE_E_SHAPE, "%s: bad view %lldx%lld stride %lld", what, (long long)t->rows,
                  (long long)t->cols, (long long)t->row_stride);
    if (t->rows > 0 && t->cols > 0) {
        const uint64_t last = (uint64_t)(t->rows - 1) * (uint64_t)t->row_stride + (uint64_t)t->cols;
        if (t->offset + last * 4 > t->buf->size)
            gpu_throw(HIVE_E_SHAPE, "%s: view past end of buffer (%llu > %llu bytes)", what,
                      (unsigned long long)(t->offset + last * 4), (unsigned long long)t->buf->size);
    }
    return (float *)((char *)t->buf->ptr + t->offset);
}

/* Readable name of a device scratch, for the capture error. */
static const char *scratch_user(const hive_device *dev, const gpu_scratch *s) {
    if (s == &dev->conv) return "matmul (activation conversion)";
    if (s == &dev->deq) return "matmul (weight dequantization)";
    if (s == &dev->attn) return "attention (split-K partials)";
    if (s == &dev->lora_t) return "lora segments";
    if (s == &dev->ids_dev) return "argmax";
    return "an op";
}

void gpu_scratch_ensure(hive_device *dev, gpu_scratch *s, size_t bytes) {
    if (bytes <= s->cap) return;
    /* During capture the captured kernels already hold s->ptr, and freeing it
     * would synchronize the capturing stream: refuse. Scratch is sized by
     * device_open / weight_upload / kv_alloc, and an eager run of the same step
     * grows it to what the step needs. */
    if (dev->capture)
        gpu_throw(HIVE_E_UNSUPPORTED,
                  "%s needs more scratch during capture (%zu > %zu bytes); run the step once eagerly first",
                  scratch_user(dev, s), bytes, s->cap);
    bytes = (bytes + 255) & ~(size_t)255;
    if (s->ptr) {
        if (dev->graphs) {
            /* instantiated graphs bake s->ptr into their kernels: keep it alive
             * until the last graph is freed (no synchronization needed here) */
            gpu_retired *r = new gpu_retired;
            r->ptr = s->ptr;
            r->next = dev->retired;
            dev->retired = r;
        } else {
            GPU_CHECK(gpuStreamSynchronize(dev->stream));
            GPU_CHECK(gpuFree(s->ptr));
        }
        s->ptr = nullptr;
        s->cap = 0;
    }
    GPU_CHECK(gpuMalloc(&s->ptr, bytes));
    s->cap = bytes;
    gpu_log(HIVE_LOG_DEBUG, "scratch grown to %zu bytes", bytes);
}

void gpu_retired_release(hive_device *dev) {
    if (!dev->retired) return;
    (void)gpuStreamSynchronize(dev->stream); /* queued eager work may still read them */
    while (dev->retired) {
        gpu_retired *r = dev->retired;
        dev->retired = r->next;
        (void)gpuFree(r->ptr);
        delete r;
    }
}

void gpu_scratch_release(gpu_scratch *s) {
    if (s->ptr) (void)gpuFree(s->ptr);
    s->ptr = nullptr;
    s->cap = 0;
}

static void stage_grow(hive_device *dev, size_t bytes) {
    GPU_CHECK(gpuStreamSynchronize(dev->stream));
    for (int i = 0; i < GPU_STAGE_SLOTS; i++) {
        if (dev->stage_host[i]) (void)gpuFreeHost(dev->stage_host[i]);
        dev->stage_host[i] = nullptr;
    }
    if (dev->stage_dev) (void)gpuFree(dev->stage_dev);
    dev->stage_dev = nullptr;
    dev->stage_cap = 0;
    for (int i = 0; i < GPU_STAGE_SLOTS; i++) GPU_CHECK(gpuHostAlloc((void **)&dev->stage_host[i], bytes));
    GPU_CHECK(gpuMalloc(&dev->stage_dev, bytes));
    dev->stage_cap = bytes;
}

void gpu_stage(hive_device *dev, const gpu_stage_part *parts, int n, void **dptr) {
    /* Under capture the ring cannot be used: its slots are reused by later ops
     * and the slot wait (gpuEventSynchronize) is illegal while capturing. */
    if (dev->capture) {
        gpu_graph_stage(dev, parts, n, dptr);
        return;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (parts[i].bytes + 7) & ~(size_t)7;
    if (total == 0) {
        for (int i = 0; i < n; i++) dptr[i] = dev->stage_dev;
        return;
    }
    if (total > dev->stage_cap) {
        size_t cap = dev->stage_cap ? dev->stage_cap : 4096;
        while (cap < total) cap *= 2;
        gpu_log(HIVE_LOG_DEBUG, "staging grown to %zu bytes", cap);
        stage_grow(dev, cap);
    }
    const unsigned slot = dev->stage_next;
    dev->stage_next = (slot + 1) % GPU_STAGE_SLOTS;
    /* the copy that last read this host slot must have finished */
    GPU_CHECK(gpuEventSynchronize(dev->stage_ev[slot]));
    uint8_t *h = dev->stage_host[slot];
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (parts[i].bytes) memcpy(h + off, parts[i].src, parts[i].bytes);
        dptr[i] = (uint8_t *)dev->stage_dev + off;
        off += (parts[i].bytes + 7) & ~(size_t)7;
    }
    /* stream order: this copy lands after every kernel that read the previous contents */
    GPU_CHECK(gpuMemcpyAsync(dev->stage_dev, h, total, gpuMemcpyHostToDevice, dev->stream));
    GPU_CHECK(gpuEventRecord(dev->stage_ev[slot], dev->stream));
}

/* ------------------------------------------------------ host-array checks -- */
void gpu_host_check_run(const gpu_host_check *c) {
    const char *what = c->what ? c->what : "op";
    if (c->kind == GPU_HOST_CHECK_IDS) {
        for (uint32_t i = 0; i < c->n; i++)
            if (c->ids[i] < 0 || c->ids[i] >= c->limit)
                gpu_throw(HIVE_E_INVALID, "%s: index %d at %u outside [0, %lld)", what, c->ids[i], i,
                          (long long)c->limit);
        return;
    }
    for (uint32_t r = 0; r < c->n; r++)
        if (c->row_pos[r] < 0) gpu_throw(HIVE_E_INVALID, "%s: row %u has position %d", what, r, c->row_pos[r]);
    if (!c->block_size) return;
    const uint32_t bs = c->block_size;
    for (uint32_t r = 0; r < c->n; r++) {
        const int32_t s = c->row_seq[r], p = c->row_pos[r];
        if (s < 0 || (uint32_t)s >= c->n_seqs)
            gpu_throw(HIVE_E_INVALID, "%s: row %u sequence %d outside %u", what, r, s, c->n_seqs);
        if ((uint32_t)p / bs >= c->max_blocks)
            gpu_throw(HIVE_E_INVALID, "%s: position %d beyond %u blocks of %u", what, p, c->max_blocks, bs);
        /* every block this row touches (attention reads 0..p) */
        for (uint32_t i = 0; i <= (uint32_t)p / bs; i++) {
            const int32_t blk = c->block_table[(size_t)s * c->max_blocks + i];
            if (blk < 0 || (uint32_t)blk >= c->n_blocks)
                gpu_throw(HIVE_E_INVALID, "%s: sequence %d block %u is %d (cache has %u)", what, s, i, blk,
                          c->n_blocks);
        }
    }
}

void gpu_host_check_apply(hive_device *dev, const gpu_host_check *c) {
    gpu_host_check_run(c);
    if (dev->capture) gpu_graph_add_check(dev, c);
}
