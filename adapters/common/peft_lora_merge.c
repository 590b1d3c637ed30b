/* Merging a LoRA / DoRA adapter into the base weights, on the host:
 * W' = f * (W + s B A) per output row (f = 1 for LoRA, m / ||W + s B A|| for
 * DoRA, computed at load from the unmerged base). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peft_lora.h"
#include "peft_tensors.h"
#include "peft_util.h"

static hive_status merge_module(peft_lora *a, const peft_lora_module *m, peft_tensors *t, double *row,
                                hive_error **err) {
    char key[256];
    int64_t sa[2] = {m->r, m->in}, sb[2] = {m->out, m->r};
    const float *A = NULL, *B = NULL; /* in the mapped file, or in t's stage buffers 0 and 1 */
    float *W = NULL;
    snprintf(key, sizeof key, PEFT_KEY_PREFIX "%s.lora_A.weight", m->path);
    hive_status st = peft_tensors_view_f32(t, key, 2, sa, 0, &A, err);
    snprintf(key, sizeof key, PEFT_KEY_PREFIX "%s.lora_B.weight", m->path);
    if (st == HIVE_OK) st = peft_tensors_view_f32(t, key, 2, sb, 1, &B, err);
    if (st == HIVE_OK) st = a->base.weight_f32(a->base.ctx, m->layer, m->module, &W, err);
    if (st == HIVE_OK && !W) st = peft_fail(a->host, err, HIVE_E_INTERNAL, "%s: host gave no base weight", m->path);
    if (st == HIVE_OK) {
        for (uint32_t o = 0; o < m->out; o++) {
            float *w = W + (size_t)o * m->in;
            for (uint32_t i = 0; i < m->in; i++) row[i] = 0.0;
            for (uint32_t k = 0; k < m->r; k++) {
                double b = (double)B[(size_t)o * m->r + k];
                const float *ak = A + (size_t)k * m->in;
                for (uint32_t i = 0; i < m->in; i++) row[i] += b * ak[i];
            }
            double f = m->f ? (double)m->f[o] : 1.0, s = (double)m->scale;
            for (uint32_t i = 0; i < m->in; i++) w[i] = (float)(f * ((double)w[i] + s * row[i]));
        }
        st = a->base.replace_weight_f32(a->base.ctx, m->layer, m->module, W, err);
    }
    if (W) a->host->free(a->host->ctx, W);
    return st;
}

hive_status peft_lora_merge(peft_lora *a, hive_error **err) {
    if (!a) return HIVE_E_INVALID;
    if (a->merged) return HIVE_OK;
    const hive_base_access *b = &a->base;
    if (!HIVE_HAS_FIELD(hive_base_access, b->struct_size, replace_weight_f32) || !b->weight_f32 ||
        !b->replace_weight_f32)
        return peft_fail(a->host, err, HIVE_E_UNSUPPORTED, "merge: the host gives no base weight access");
    for (uint32_t i = 0; i < a->n_mods; i++) /* the host replaces only the seven's weights */
        if (a->mods[i].module >= HIVE_MODULE_COUNT)
            return peft_fail(a->host, err, HIVE_E_UNSUPPORTED,
                             "merge: %s is %s, which Hive cannot merge into; serve the adapter unmerged",
                             a->mods[i].path,
                             a->mods[i].expert ? "a routed experts' stacked parameter" : "one of this model's own linears");
    uint32_t max_in = 0;
    for (uint32_t i = 0; i < a->n_mods; i++)
        if (a->mods[i].in > max_in) max_in = a->mods[i].in;
    double *row = malloc((size_t)(max_in ? max_in : 1) * sizeof *row);
    if (!row) return peft_fail(a->host, err, HIVE_E_NOMEM, "merge: out of memory");
    peft_tensors t;
    hive_status st = peft_tensors_open(a->host, a->dir, &t, err);
    uint32_t done = 0;
    for (; st == HIVE_OK && done < a->n_mods; done++) st = merge_module(a, &a->mods[done], &t, row, err);
    peft_tensors_close(&t);
    free(row);
    if (st != HIVE_OK) {
        if (done > 1 && a->host->log)
            a->host->log(a->host->ctx, HIVE_LOG_ERROR,
                         "merge failed part way: some base weights already hold this adapter");
        return st;
    }
    /* the hooks are gone: release their device memory */
    for (uint32_t i = 0; i < a->n_mods; i++) {
        peft_lora_module *m = &a->mods[i];
        peft_lowrank_free(a->be, a->dev, &m->lr);
        if (m->f_minus1) a->be->weight_free(a->dev, m->f_minus1);
        if (m->bias_fix) a->be->weight_free(a->dev, m->bias_fix);
        m->f_minus1 = m->bias_fix = NULL;
    }
    if (a->scratch_t) a->be->buffer_free(a->dev, a->scratch_t);
    if (a->scratch_y) a->be->buffer_free(a->dev, a->scratch_y);
    a->scratch_t = a->scratch_y = NULL;
    memset(a->hooks_at, 0, (size_t)a->n_layers * a->n_mod * sizeof *a->hooks_at);
    a->hooks = 0;
    a->device_bytes = 0;
    a->merged = 1;
    return HIVE_OK;
}
