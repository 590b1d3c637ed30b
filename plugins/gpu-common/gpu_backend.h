/* gpu_backend.h — internal types of the shared GPU backend (C++ inside the plugin).
 * Nothing here crosses the ABI: the host only sees hive_abi.h. */
#ifndef HIVE_GPU_BACKEND_H
#define HIVE_GPU_BACKEND_H

#include <stddef.h>
#include <stdint.h>

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
    void *vendor;      /* e.g. the cuBLAS handle */
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

void gpu_scratch_ensure(hive_device *dev, gpu_scratch *s, size_t bytes);
void gpu_scratch_release(gpu_scratch *s);
/* Copy `n` host parts into device memory through the staging ring; returns the
 * device addresses of each part (8-byte aligned) in dptr. */
struct gpu_stage_part {
    const void *src;
    size_t bytes;
};
void gpu_stage(hive_device *dev, const gpu_stage_part *parts, int n, void **dptr);

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
