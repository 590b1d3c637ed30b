/* gpu_backend.h — internal types of the shared GPU backend (C++ inside the plugin).
 * Nothing here crosses the ABI: the host only sees hive_abi.h. */
#ifndef HIVE_GPU_BACKEND_H
#define HIVE_GPU_BACKEND_H

#include <new>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gpu_port.h"
#include "hive_abi.h"

/* ---------------------------------------------------------------- errors -- */
/* Thrown inside the plugin, turned into hive_status + hive_error at the edge. */
struct gpu_exc {
    hive_status code;
    char msg[320];
};
[[noreturn]] void gpu_throw(hive_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
[[noreturn]] void gpu_throw_rt(gpuError_t e, const char *what);
#define GPU_CHECK(call)                                    \
    do {                                                   \
        gpuError_t e_ = (call);                            \
        if (e_ != gpuSuccess) gpu_throw_rt(e_, #call);     \
    } while (0)
/* After kernel launches. */
#define GPU_CHECK_LAUNCH(what) GPU_CHECK(gpuGetLastError())

void gpu_log(int32_t level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---------------------------------------------------------------- objects -- */
struct gpu_scratch {
    void *ptr;
    size_t cap;
};

/* A scratch allocation that was replaced (grown) while instantiated graphs
 * existed: graphs bake device addresses, so it stays allocated until the
 * device has no graph left (gpu_retired_release). */
struct gpu_retired {
    void *ptr;
    gpu_retired *next;
};

#define GPU_STAGE_SLOTS 4

struct hive_buffer {
    void *ptr;
    uint64_t size;
};

struct hive_weight {
    uint32_t dtype;
    int64_t rows, cols;
    uint64_t row_bytes;
    void *data;   /* device: rows * row_bytes */
    float *f32;   /* device f32 copy when rows == 1 (gains, biases), else NULL */
};

struct hive_kv_cache {
    hive_kv_desc desc;
    void *k, *v;          /* [layer][block][kv_head][slot][dim] */
    uint64_t layer_elems; /* elements per layer */
};

struct hive_device {
    int index;
    int sm_count;
    uint32_t max_rows;
    gpuStream_t stream;
    /* Host arrays reach the device through pinned staging: a ring of host slots,
     * each guarded by an event, copied into one stream-ordered device region. */
    uint8_t *stage_host[GPU_STAGE_SLOTS];
    gpuEvent_t stage_ev[GPU_STAGE_SLOTS];
    unsigned stage_next;
    size_t stage_cap;
    void *stage_dev;
    int32_t *ids_host; /* pinned, argmax results */
    gpu_scratch ids_dev;
    gpu_scratch conv;  /* activations converted to f16/bf16 */
    gpu_scratch deq;   /* dequantized weight rows (prefill) */
    gpu_scratch attn;  /* split-K partials */
    gpu_scratch lora_t; /* segmented LoRA: x A^T of every segment */
    void *vendor;      /* e.g. the cuBLAS handle */
    /* Graph capture (HIVE_EXT_GRAPH, backend_graph.cu). While `capture` is set,
     * dev->stream is capturing: ops are recorded into that graph, gpu_stage()
     * places host arrays in the graph's own arena, scratch may not grow, and
     * calls that would synchronize are refused or deferred. */
    hive_graph *capture;   /* graph being captured; NULL: ops run eagerly */
    hive_graph *graphs;    /* instantiated graphs of this device (linked list) */
    gpu_retired *retired;  /* scratch replaced while graphs still point at it */
};

/* ------------------------------------------------------------ vendor hooks -- */
struct gpu_gemm_args {
    uint32_t dtype;     /* F32, F16 or BF16: type of both w and x */
    const void *w;      /* [n, k] row-major */
    const void *x;      /* [m, k] row stride ldx elements */
    float *c;           /* [m, n] row stride ldc elements */
    int64_t m, n, k, ldx, ldc;
    float alpha, beta;  /* c = alpha * x w^T + beta * c */
};
struct gpu_vendor_ops {
    const char *name;
    /* Optional; may throw gpu_exc. */
    void (*open)(hive_device *dev);
    void (*close)(hive_device *dev);
    /* Optional vendor GEMM (cuBLAS). NULL: the shared tiled kernel runs. */
    void (*gemm)(hive_device *dev, const gpu_gemm_args *a);
};

/* ----------------------------------------------------- backend internals -- */
extern const hive_host_api *g_gpu_host;
extern const gpu_vendor_ops *g_gpu_vendor;

/* Grow-only scratch. While the device captures a graph, growing throws
 * HIVE_E_UNSUPPORTED (run the step once eagerly first); while graphs exist, the
 * old allocation is retired instead of freed (graphs hold its address). */
void gpu_scratch_ensure(hive_device *dev, gpu_scratch *s, size_t bytes);
void gpu_scratch_release(gpu_scratch *s);
/* Frees retired scratch; call only when no graph of dev is left. */
void gpu_retired_release(hive_device *dev);
/* Copy `n` host parts into device memory; returns the device address of each
 * part (8-byte aligned) in dptr. Eagerly: through the pinned staging ring into
 * one stream-ordered device region. During graph capture: into the graph's
 * arena (backend_graph.cu); parts with reread = 1 are copied again from the
 * same host address, with the same size, before every replay (the host arrays
 * HIVE_EXT_GRAPH lists: embed ids, get_rows rows, a batch's row_seq, row_pos
 * and block_table); reread = 0 parts are copied once, at capture. */
struct gpu_stage_part {
    const void *src;
    size_t bytes;
    int reread = 0; /* default member initializer: `{src, bytes}` still compiles */
};
void gpu_stage(hive_device *dev, const gpu_stage_part *parts, int n, void **dptr);

/* Host-array contents the ops validate. Ops run the check eagerly; during a
 * capture the check is also recorded and run again before every replay, since
 * the host may rewrite these arrays between replays. Throws HIVE_E_INVALID. */
#define GPU_HOST_CHECK_IDS 1   /* ids[0..n) in [0, limit) */
#define GPU_HOST_CHECK_BATCH 2 /* row_pos >= 0; with block_size, seqs and used blocks */
struct gpu_host_check {
    uint32_t kind;
    uint32_t n;                       /* ids: count; batch: rows */
    const int32_t *ids;               /* IDS */
    int64_t limit;                    /* IDS */
    const int32_t *row_seq, *row_pos, *block_table; /* BATCH */
    uint32_t n_seqs, max_blocks;      /* BATCH */
    uint32_t block_size, n_blocks;    /* BATCH; block_size 0 = positions only (rope) */
    const char *what;                 /* op name for messages (not part of identity) */
};
void gpu_host_check_run(const gpu_host_check *c);
/* Runs the check now and, when dev is capturing, records it for every replay. */
void gpu_host_check_apply(hive_device *dev, const gpu_host_check *c);

/* ------------------------------------------------------ graph internals -- */
/* backend_graph.cu. All are no-ops / not called unless dev->capture is set. */
void gpu_graph_stage(hive_device *dev, const gpu_stage_part *parts, int n, void **dptr);
void gpu_graph_add_check(hive_device *dev, const gpu_host_check *c);
/* An op failed during capture: the graph would miss (part of) it, so
 * capture_end fails with this message. */
void gpu_graph_note_failure(hive_device *dev, hive_status code, const char *msg);
/* Free calls made during capture run when the capture ends (freeing would
 * synchronize the capturing stream, which is illegal). */
void gpu_graph_defer(hive_device *dev, void (*fn)(hive_device *, void *), void *obj);
/* device_close: ends a capture in progress and frees every graph left. */
void gpu_graph_close_all(hive_device *dev);

/* ------------------------------------------------------------- ABI edge -- */
/* Every ABI entry runs its body inside gpu_guard(): exceptions become a
 * hive_status plus a host-made hive_error; nothing throws past the edge. With
 * op_dev set and capturing, a failure also poisons the capture (see above). */
hive_status gpu_edge_error(hive_device *op_dev, hive_error **err, hive_status code, const char *msg);
template <typename F>
static inline hive_status gpu_guard_impl(hive_device *op_dev, hive_error **err, F &&body) {
    hive_status code;
    char msg[sizeof(((gpu_exc *)0)->msg)]; /* copied: the exception dies with its catch block */
    try {
        body();
        return HIVE_OK;
    } catch (const gpu_exc &e) {
        code = e.code;
        memcpy(msg, e.msg, sizeof msg);
        msg[sizeof msg - 1] = 0;
    } catch (const std::bad_alloc &) {
        code = HIVE_E_NOMEM;
        snprintf(msg, sizeof msg, "out of host memory");
    } catch (...) {
        code = HIVE_E_INTERNAL;
        snprintf(msg, sizeof msg, "unexpected exception");
    }
    return gpu_edge_error(op_dev, err, code, msg);
}
/* Entries that are not ops (device, buffers, refusals). */
template <typename F>
static inline hive_status gpu_guard(hive_error **err, F &&body) {
    return gpu_guard_impl(nullptr, err, static_cast<F &&>(body));
}
/* Op entries: a failure during capture poisons the capture. */
template <typename F>
static inline hive_status gpu_guard_op(hive_device *dev, hive_error **err, F &&body) {
    return gpu_guard_impl(dev, err, static_cast<F &&>(body));
}
/* For entries without an error channel (free/close). */
template <typename F>
static inline void gpu_guard_void(F &&body) {
    try {
        body();
    } catch (...) {
        gpu_log(HIVE_LOG_WARN, "ignored failure in a free/close call");
    }
}

uint32_t gpu_dtype_block_elems(uint32_t dtype);
uint32_t gpu_dtype_block_bytes(uint32_t dtype);
int gpu_dtype_is_quant(uint32_t dtype);

/* Device pointer of an activation; validates dtype f32 and bounds. */
float *gpu_tensor_ptr(const hive_tensor *t, const char *what);

/* Weight upload side effects (grow scratch for later matmuls). */
void gpu_weight_prepare_scratch(hive_device *dev, const hive_weight *w);

/* Matmul dispatcher (gemv / vendor gemm / tiled gemm). */
void gpu_matmul(hive_device *dev, const hive_tensor *x, const hive_weight *w, const hive_weight *b,
                float alpha, float beta, const hive_tensor *out);

/* Max rows in a batch that take the GEMV path for quantized weights. */
#define GPU_GEMV_MAX_ROWS 8
/* Largest head_dim the attention kernels handle. */
#define GPU_MAX_HEAD_DIM 256
/* Bytes of dequantized weight processed per GEMM chunk (prefill). */
#define GPU_DEQ_CHUNK_BYTES ((size_t)64 << 20)

#endif
