/* DoRA's load-time work. PEFT (0.21, eval mode) treats the weight norm as a
 * constant: f = m / ||W + s B A||, the L2 norm of each output row over the
 * input dimension, with W the dequantized base weight. It is computed once
 * here, ON THE HOST, in f32 data with f64 accumulation: "computed once at load
 * from the dequantized base" needs the base weight in host memory (the base
 * gives it as f32 through hive_base_access.weight_f32). The sums of squares
 * come from the vectorized kernels in dora_kernel.h, split over helper
 * threads kept for the whole load. The per-token work (dora_hook.c) runs as
 * backend ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dora.h"
#include "dora_kernel.h"
#include "peft_util.h"

/* Threads for the norms: plugins.dora.threads, else every online CPU (as the
 * CPU backend's default). */
static uint32_t dora_threads(const hive_host_api *h) {
    if (h->agreed_minor >= 1 && HIVE_HAS_FIELD(hive_host_api, h->struct_size, config_get) && h->config_get) {
        const char *v = h->config_get(h->ctx, "threads");
        long n = v ? strtol(v, NULL, 10) : 0;
        if (n > 0 && n <= 1024) return (uint32_t)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

/* The helper threads of the load in progress on this thread: started once
 * the load has done DORA_POOL_MIN_WORK multiply-adds on the loading thread
 * alone (dora_prepare), joined when the load ends (dora_load_end). A small
 * adapter (a few modules: about a millisecond of work) never starts them:
 * starting threads and handing them rows cost more than they save, and on a
 * busy machine a helper descheduled while it holds rows stalls the load
 * (a 2-module DoRA took up to 0.9 s at load average 10 with helpers, 14 ms
 * without). Large loads (the SQL expert: 180 modules) start them after the
 * first layer or so. */
#define DORA_POOL_MIN_WORK (16ull << 20)

static _Thread_local struct {
    int active, started;
    uint64_t work; /* multiply-adds of the norms so far in this load */
    dora_pool *pool;
    dora_norm_cache cache;
    const hive_host_api *host; /* of the first dora_prepare, to free the cached table */
} t_load;

void dora_load_begin(const hive_adapter_cache *cache) {
    memset(&t_load, 0, sizeof t_load);
    t_load.active = 1;
    t_load.cache.cache = cache;
}

void dora_load_end(const peft_lora *loaded) {
    dora_pool_free(t_load.pool);
    if (loaded) dora_cache_write(&t_load.cache, loaded);
    if (t_load.host) dora_cache_free(&t_load.cache, t_load.host);
    memset(&t_load, 0, sizeof t_load);
}

/* f[o] = m[o] / ||W[o] + s B[o] A|| for every output row; sumsq is scratch
 * of `out` doubles. */
static hive_status row_factors(const peft_lora *a, const peft_lora_module *m, const float *W, const float *A,
                               const float *B, const float *mag, double *sumsq, float *f, hive_error **err) {
    if (t_load.active && !t_load.started && t_load.work >= DORA_POOL_MIN_WORK) {
        t_load.started = 1;
        t_load.pool = dora_pool_new(dora_threads(a->host));
    }
    t_load.work += (uint64_t)m->out * m->in * ((uint64_t)m->r + 1);
    if (dora_row_sumsq(dora_kernel_best(), t_load.pool, W, A, B, m->out, m->in, m->r, (double)m->scale, sumsq) != 0)
        return peft_fail(a->host, err, HIVE_E_NOMEM, "%s: out of memory", m->path);
    for (uint32_t o = 0; o < m->out; o++) {
        double norm = sqrt(sumsq[o]);
        if (!(norm > 0.0) || !isfinite(norm))
            return peft_fail(a->host, err, HIVE_E_INVALID, "%s: DoRA weight norm of output row %u is %g", m->path, o,
                             norm);
        f[o] = (float)((double)mag[o] / norm);
    }
    return HIVE_OK;
}

static hive_status upload_vectors(peft_lora *a, peft_lora_module *m, const float *bias, float *tmp,
                                  hive_error **err) {
    char name[200];
    for (uint32_t o = 0; o < m->out; o++) tmp[o] = m->f[o] - 1.0f;
    snprintf(name, sizeof name, "%s.dora_scale_minus_1", m->path);
    hive_status st = peft_upload_vector(a->be, a->dev, name, tmp, m->out, &m->f_minus1, err);
    if (st != HIVE_OK) return st;
    a->device_bytes += (uint64_t)m->out * sizeof(float);
    if (!bias) return HIVE_OK;
    for (uint32_t o = 0; o < m->out; o++) tmp[o] = -(m->f[o] - 1.0f) * bias[o];
    snprintf(name, sizeof name, "%s.dora_bias_fix", m->path);
    st = peft_upload_vector(a->be, a->dev, name, tmp, m->out, &m->bias_fix, err);
    if (st == HIVE_OK) a->device_bytes += (uint64_t)m->out * sizeof(float);
    return st;
}

hive_status dora_prepare(peft_lora *a, peft_lora_module *m, const float *A, float *B, const float *mag,
                         hive_error **err) {
    const hive_host_api *h = a->host;
    float *W = NULL, *bias = NULL;
    double *sumsq = malloc((size_t)m->out * sizeof *sumsq);
    float *tmp = malloc((size_t)m->out * sizeof *tmp);
    m->f = malloc((size_t)m->out * sizeof *m->f);
    hive_status st = HIVE_OK;
    if (!sumsq || !tmp || !m->f || !mag) {
        st = peft_fail(h, err, HIVE_E_NOMEM, "%s: out of memory", m->path);
        goto done;
    }
    if (t_load.active && t_load.cache.state == 0) {
        t_load.host = h;
        dora_cache_read(&t_load.cache, a);
    }
    /* a cached table spares the dequantized base weight and the norms */
    if (!(t_load.active && dora_cache_factors(&t_load.cache, a, m, m->f))) {
        if ((st = a->base.weight_f32(a->base.ctx, m->layer, m->module, &W, err))) goto done;
        if (!W) {
            st = peft_fail(h, err, HIVE_E_INTERNAL, "%s: host gave no base weight", m->path);
            goto done;
        }
        if ((st = row_factors(a, m, W, A, B, mag, sumsq, m->f, err))) goto done;
    }
    if (HIVE_HAS_FIELD(hive_base_access, a->base.struct_size, bias_f32) && a->base.bias_f32 &&
        (st = a->base.bias_f32(a->base.ctx, m->layer, m->module, &bias, err)))
        goto done;
    for (uint32_t o = 0; o < m->out; o++) {
        float fs = m->f[o] * m->scale;
        for (uint32_t k = 0; k < m->r; k++) B[(size_t)o * m->r + k] *= fs;
    }
    st = upload_vectors(a, m, bias, tmp, err);
done:
    if (W) h->free(h->ctx, W);
    if (bias) h->free(h->ctx, bias);
    free(sumsq);
    free(tmp);
    return st; /* m->f, f_minus1, bias_fix are freed with the adapter */
}
