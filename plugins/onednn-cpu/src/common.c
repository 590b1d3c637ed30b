/* Errors, logging, memory, dtype facts, tensor checks and the parallel loop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>
#include "cpu_internal.h"

hive_status cpu_fail(hive_error **err, hive_status code, const char *fmt, ...) {
    if (err && cpu_host.error_new) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        *err = cpu_host.error_new(cpu_host.ctx, code, "%s", msg);
    }
    return code;
}

void cpu_log(int32_t level, const char *fmt, ...) {
    if (!cpu_host.log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cpu_host.log(cpu_host.ctx, level, msg);
}

void *cpu_aligned_alloc(size_t nbytes) {
    void *p = NULL;
    if (posix_memalign(&p, CPU_ALIGN, nbytes ? nbytes : CPU_ALIGN) != 0) return NULL;
    return p;
}

void cpu_aligned_free(void *p) { free(p); }

void *cpu_scratch(hive_device *dev, size_t nbytes) {
    if (nbytes <= dev->scratch_size) return dev->scratch;
    size_t size = nbytes + nbytes / 4 + 4096;
    void *p = cpu_aligned_alloc(size);
    if (!p) return NULL;
    cpu_aligned_free(dev->scratch);
    dev->scratch = p;
    dev->scratch_size = size;
    return p;
}

const char *cpu_dtype_name(uint32_t dtype) {
    switch (dtype) {
    case HIVE_DTYPE_F32: return "f32";
    case HIVE_DTYPE_F16: return "f16";
    case HIVE_DTYPE_BF16: return "bf16";
    case HIVE_DTYPE_I32: return "i32";
    case HIVE_DTYPE_I8: return "i8";
    case HIVE_DTYPE_Q8_0: return "q8_0";
    case HIVE_DTYPE_Q4_0: return "q4_0";
    case HIVE_DTYPE_Q4_1: return "q4_1";
    case HIVE_DTYPE_Q4_K: return "q4_k";
    case HIVE_DTYPE_Q6_K: return "q6_k";
    default: return "?";
    }
}

uint32_t cpu_dtype_block_elems(uint32_t dtype) {
    switch (dtype) {
    case HIVE_DTYPE_Q8_0: case HIVE_DTYPE_Q4_0: case HIVE_DTYPE_Q4_1: return QK32;
    case HIVE_DTYPE_Q4_K: case HIVE_DTYPE_Q6_K: return QK256;
    default: return 1;
    }
}

uint32_t cpu_dtype_block_bytes(uint32_t dtype) {
    switch (dtype) {
    case HIVE_DTYPE_F32: case HIVE_DTYPE_I32: return 4;
    case HIVE_DTYPE_F16: case HIVE_DTYPE_BF16: return 2;
    case HIVE_DTYPE_I8: return 1;
    case HIVE_DTYPE_Q8_0: return sizeof(blk_q8_0);
    case HIVE_DTYPE_Q4_0: return sizeof(blk_q4_0);
    case HIVE_DTYPE_Q4_1: return sizeof(blk_q4_1);
    case HIVE_DTYPE_Q4_K: return sizeof(blk_q4_k);
    case HIVE_DTYPE_Q6_K: return sizeof(blk_q6_k);
    default: return 0;
    }
}

int cpu_dtype_is_quantized(uint32_t dtype) { return cpu_dtype_block_elems(dtype) > 1; }

hive_status cpu_check_tensor(const hive_tensor *t, const char *op, const char *what,
                             hive_error **err) {
    if (!t || t->struct_size < sizeof(hive_tensor) || !t->buf)
        return cpu_fail(err, HIVE_E_INVALID, "%s: %s is missing or has no buffer", op, what);
    if (t->dtype != HIVE_DTYPE_F32)
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "%s: %s has dtype %s, only f32 activations",
                        op, what, cpu_dtype_name(t->dtype));
    if (t->rows < 0 || t->cols <= 0 || (t->rows > 1 && t->row_stride < t->cols))
        return cpu_fail(err, HIVE_E_SHAPE, "%s: %s has bad shape [%lld x %lld] (row_stride %lld)",
                        op, what, (long long)t->rows, (long long)t->cols,
                        (long long)t->row_stride);
    if (t->offset % sizeof(float))
        return cpu_fail(err, HIVE_E_INVALID, "%s: %s offset %llu is not 4-byte aligned", op,
                        what, (unsigned long long)t->offset);
    uint64_t elems = t->rows ? (uint64_t)(t->rows - 1) * (uint64_t)t->row_stride + (uint64_t)t->cols : 0;
    if (t->offset > t->buf->size || elems > (t->buf->size - t->offset) / sizeof(float))
        return cpu_fail(err, HIVE_E_SHAPE,
                        "%s: %s [%lld x %lld] (row_stride %lld, offset %llu) exceeds its buffer "
                        "of %llu bytes",
                        op, what, (long long)t->rows, (long long)t->cols,
                        (long long)t->row_stride, (unsigned long long)t->offset,
                        (unsigned long long)t->buf->size);
    return HIVE_OK;
}

void cpu_parallel_for(const hive_device *dev, int64_t n, int64_t min_per_thread, cpu_task_fn fn,
                      void *ctx) {
    if (n <= 0) return;
    int64_t nt = dev->threads;
    if (min_per_thread < 1) min_per_thread = 1;
    if (nt > n / min_per_thread) nt = n / min_per_thread;
    if (nt <= 1) {
        fn(ctx, 0, n);
        return;
    }
#pragma omp parallel num_threads((int)nt)
    {
        int64_t t = omp_get_thread_num(), cnt = omp_get_num_threads();
        int64_t begin = n * t / cnt, end = n * (t + 1) / cnt;
        if (begin < end) fn(ctx, begin, end);
    }
}
