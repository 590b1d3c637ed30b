/* oneDNN matmul for float weights with many rows (prefill). One primitive per
 * weight, built with run-time M and strides so every batch size reuses it. */
#include <stdio.h>
#include <stdlib.h>
#include "cpu_internal.h"

#ifdef HIVE_CPU_HAVE_ONEDNN
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

struct cpu_onednn {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
};

struct cpu_onednn_mm {
    int failed;               /* creation failed once: never retry */
    dnnl_primitive_t prim;
    dnnl_memory_desc_t wei_md;
    dnnl_data_type_t src_dt;
};

cpu_onednn *cpu_onednn_create(void) {
    if (getenv("HIVE_CPU_NO_ONEDNN")) return NULL;
    cpu_onednn *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    if (dnnl_engine_create(&d->engine, dnnl_cpu, 0) != dnnl_success) {
        free(d);
        return NULL;
    }
    if (dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(d->engine);
        free(d);
        return NULL;
    }
    return d;
}

void cpu_onednn_destroy(cpu_onednn *d) {
    if (!d) return;
    dnnl_stream_destroy(d->stream);
    dnnl_engine_destroy(d->engine);
    free(d);
}

void cpu_onednn_matmul_free(cpu_onednn_mm *m) {
    if (!m) return;
    if (m->prim) dnnl_primitive_destroy(m->prim);
    free(m);
}

const char *cpu_onednn_version(void) {
    static char buf[32];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf, "%d.%d.%d", v->major, v->minor, v->patch);
    return buf;
}

static cpu_onednn_mm *mm_build(cpu_onednn *d, const hive_weight *w) {
    cpu_onednn_mm *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->src_dt = w->dtype == HIVE_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t src_dims = {DNNL_RUNTIME_DIM_VAL, w->cols}, src_str = {DNNL_RUNTIME_DIM_VAL, 1};
    dnnl_dims_t wei_dims = {w->cols, w->rows}, wei_str = {1, w->cols}; /* [K,N] view of [N,K] */
    dnnl_dims_t dst_dims = {DNNL_RUNTIME_DIM_VAL, w->rows}, dst_str = {DNNL_RUNTIME_DIM_VAL, 1};
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_memory_desc_init_by_strides(&src_md, 2, src_dims, m->src_dt, src_str) ||
        dnnl_memory_desc_init_by_strides(&m->wei_md, 2, wei_dims, m->src_dt, wei_str) ||
        dnnl_memory_desc_init_by_strides(&dst_md, 2, dst_dims, dnnl_f32, dst_str) ||
        dnnl_matmul_desc_init(&desc, &src_md, &m->wei_md, NULL, &dst_md) ||
        dnnl_primitive_desc_create(&pd, &desc, NULL, d->engine, NULL) ||
        dnnl_primitive_create(&m->prim, pd)) {
        m->failed = 1;
        m->prim = NULL;
        cpu_log(HIVE_LOG_DEBUG, "onednn-cpu: no oneDNN matmul for %s (%s), using own kernels",
                w->name, cpu_dtype_name(w->dtype));
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    return m;
}

int cpu_onednn_matmul(hive_device *dev, hive_weight *w, const float *x, int64_t rows,
                      int64_t x_stride, float *dst, int64_t dst_stride) {
    cpu_onednn *d = dev->dnnl;
    if (!d) return 0;
    if (!w->dnnl_mm && !(w->dnnl_mm = mm_build(d, w))) return 0;
    cpu_onednn_mm *m = w->dnnl_mm;
    if (m->failed) return 0;
    const void *src = x;
    if (m->src_dt == dnnl_bf16) {
        /* bf16 x bf16 -> f32: convert the activations (own buffer: the device
         * scratch may already hold dst) */
        uint16_t *xb = cpu_aligned_alloc((size_t)rows * (size_t)w->cols * 2);
        if (!xb) return 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < w->cols; k++)
                xb[r * w->cols + k] = cpu_f32_to_bf16(x[r * x_stride + k]);
        src = xb;
        x_stride = w->cols;
    }
    dnnl_dims_t src_dims = {rows, w->cols}, src_str = {x_stride, 1};
    dnnl_dims_t dst_dims = {rows, w->rows}, dst_str = {dst_stride, 1};
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_memory_t src_mem = NULL, wei_mem = NULL, dst_mem = NULL;
    int ok = 0;
    if (!dnnl_memory_desc_init_by_strides(&src_md, 2, src_dims, m->src_dt, src_str) &&
        !dnnl_memory_desc_init_by_strides(&dst_md, 2, dst_dims, dnnl_f32, dst_str) &&
        !dnnl_memory_create(&src_mem, &src_md, d->engine, (void *)src) &&
        !dnnl_memory_create(&wei_mem, &m->wei_md, d->engine, w->data) &&
        !dnnl_memory_create(&dst_mem, &dst_md, d->engine, dst)) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, wei_mem},
                                   {DNNL_ARG_DST, dst_mem}};
        omp_set_num_threads(dev->threads);
        ok = !dnnl_primitive_execute(m->prim, d->stream, 3, args) && !dnnl_stream_wait(d->stream);
    }
    if (src_mem) dnnl_memory_destroy(src_mem);
    if (wei_mem) dnnl_memory_destroy(wei_mem);
    if (dst_mem) dnnl_memory_destroy(dst_mem);
    if (src != x) cpu_aligned_free((void *)src);
    return ok;
}

#else /* built without oneDNN: every call falls back to the own kernels */

cpu_onednn *cpu_onednn_create(void) { return NULL; }
void cpu_onednn_destroy(cpu_onednn *d) { (void)d; }
void cpu_onednn_matmul_free(cpu_onednn_mm *m) { (void)m; }
const char *cpu_onednn_version(void) { return "none"; }
int cpu_onednn_matmul(hive_device *dev, hive_weight *w, const float *x, int64_t rows,
                      int64_t x_stride, float *dst, int64_t dst_stride) {
    (void)dev; (void)w; (void)x; (void)rows; (void)x_stride; (void)dst; (void)dst_stride;
    return 0;
}
#endif
