/* DoRA's load-time work. PEFT (0.21, eval mode) treats the weight norm as a
 * constant: f = m / ||W + s B A||, the L2 norm of each output row over the
 * input dimension, with W the dequantized base weight. It is computed once
 * here, ON THE HOST, in f32 data with f64 accumulation: "computed once at load
 * from the dequantized base" needs the base weight in host memory (the base
 * gives it as f32 through hive_base_access.weight_f32). The per-token work
 * (dora_hook.c) runs as backend ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dora.h"
#include "peft_util.h"

/* f[o] for every output row; row is scratch of `in` doubles. */
static hive_status row_factors(const peft_lora *a, const peft_lora_module *m, const float *W, const float *A,
                               const float *B, const float *mag, double *row, float *f, hive_error **err) {
    double s = (double)m->scale;
    for (uint32_t o = 0; o < m->out; o++) {
        const float *w = W + (size_t)o * m->in;
        for (uint32_t i = 0; i < m->in; i++) row[i] = 0.0;
        for (uint32_t k = 0; k < m->r; k++) {
            double b = (double)B[(size_t)o * m->r + k];
            const float *ak = A + (size_t)k * m->in;
            for (uint32_t i = 0; i < m->in; i++) row[i] += b * ak[i];
        }
        double sum = 0.0;
        for (uint32_t i = 0; i < m->in; i++) {
            double v = (double)w[i] + s * row[i];
            sum += v * v;
        }
        double norm = sqrt(sum);
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
    double *row = malloc((size_t)m->in * sizeof *row);
    float *tmp = malloc((size_t)m->out * sizeof *tmp);
    m->f = malloc((size_t)m->out * sizeof *m->f);
    hive_status st = HIVE_OK;
    if (!row || !tmp || !m->f || !mag) {
        st = peft_fail(h, err, HIVE_E_NOMEM, "%s: out of memory", m->path);
        goto done;
    }
    if ((st = a->base.weight_f32(a->base.ctx, m->layer, m->module, &W, err))) goto done;
    if (!W) {
        st = peft_fail(h, err, HIVE_E_INTERNAL, "%s: host gave no base weight", m->path);
        goto done;
    }
    if (HIVE_HAS_FIELD(hive_base_access, a->base.struct_size, bias_f32) && a->base.bias_f32 &&
        (st = a->base.bias_f32(a->base.ctx, m->layer, m->module, &bias, err)))
        goto done;
    if ((st = row_factors(a, m, W, A, B, mag, row, m->f, err))) goto done;
    for (uint32_t o = 0; o < m->out; o++) {
        float fs = m->f[o] * m->scale;
        for (uint32_t k = 0; k < m->r; k++) B[(size_t)o * m->r + k] *= fs;
    }
    st = upload_vectors(a, m, bias, tmp, err);
done:
    if (W) h->free(h->ctx, W);
    if (bias) h->free(h->ctx, bias);
    free(row);
    free(tmp);
    return st; /* m->f, f_minus1, bias_fix are freed with the adapter */
}
