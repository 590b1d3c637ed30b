/* Merging an IA3 adapter into the base weights, as PEFT's IA3 Linear.merge:
 * ordinary targets W'[o, :] = l[o] W[o, :] (and b' = l b), feed-forward
 * targets W'[:, i] = W[:, i] l[i] (bias untouched). The host can replace
 * weights but not biases, so an ordinary target with a bias refuses to merge
 * (before anything is changed). */
#include <stdlib.h>
#include <string.h>

#include "ia3.h"
#include "peft_util.h"

/* Every ordinary target must be bias-free. */
static hive_status check_biases(ia3 *a, hive_error **err) {
    const hive_base_access *b = &a->base;
    for (uint32_t i = 0; i < a->n_mods; i++) {
        const ia3_module *m = &a->mods[i];
        if (m->ff) continue;
        if (!HIVE_HAS_FIELD(hive_base_access, b->struct_size, bias_f32) || !b->bias_f32)
            return peft_fail(a->host, err, HIVE_E_UNSUPPORTED,
                             "merge: cannot tell whether %s has a bias (the host gives no bias access); IA3 on it "
                             "can only be served unmerged",
                             m->path);
        float *bias = NULL;
        hive_status st = b->bias_f32(b->ctx, m->layer, m->module, &bias, err);
        if (st != HIVE_OK) return st;
        if (bias) {
            a->host->free(a->host->ctx, bias);
            return peft_fail(a->host, err, HIVE_E_UNSUPPORTED,
                             "merge: %s has a bias, which PEFT's IA3 merge scales too (b' = b * ia3_l); the host "
                             "cannot replace biases, so this adapter can only be served unmerged",
                             m->path);
        }
    }
    return HIVE_OK;
}

static hive_status merge_module(ia3 *a, const ia3_module *m, uint32_t in, uint32_t out, hive_error **err) {
    float *W = NULL;
    hive_status st = a->base.weight_f32(a->base.ctx, m->layer, m->module, &W, err);
    if (st == HIVE_OK && !W) st = peft_fail(a->host, err, HIVE_E_INTERNAL, "%s: host gave no base weight", m->path);
    if (st != HIVE_OK) return st;
    for (uint32_t o = 0; o < out; o++) {
        float *w = W + (size_t)o * in;
        if (m->ff)
            for (uint32_t i = 0; i < in; i++) w[i] *= m->l[i];
        else
            for (uint32_t i = 0; i < in; i++) w[i] *= m->l[o];
    }
    st = a->base.replace_weight_f32(a->base.ctx, m->layer, m->module, W, err);
    a->host->free(a->host->ctx, W);
    return st;
}

hive_status ia3_merge(ia3 *a, hive_error **err) {
    if (!a) return HIVE_E_INVALID;
    if (a->merged) return HIVE_OK;
    const hive_base_access *b = &a->base;
    if (!HIVE_HAS_FIELD(hive_base_access, b->struct_size, replace_weight_f32) || !b->weight_f32 ||
        !b->replace_weight_f32)
        return peft_fail(a->host, err, HIVE_E_UNSUPPORTED, "merge: the host gives no base weight access");
    hive_status st = check_biases(a, err);
    if (st != HIVE_OK) return st;
    uint32_t done = 0;
    for (; st == HIVE_OK && done < a->n_mods; done++) {
        const ia3_module *m = &a->mods[done];
        st = merge_module(a, m, a->module_in[m->module], a->module_out[m->module], err);
    }
    if (st != HIVE_OK) {
        if (done > 1 && a->host->log)
            a->host->log(a->host->ctx, HIVE_LOG_ERROR,
                         "merge failed part way: some base weights already hold this adapter");
        return st;
    }
    /* the hooks are gone: release their device memory */
    for (uint32_t i = 0; i < a->n_mods; i++) {
        if (a->mods[i].w) a->be->weight_free(a->dev, a->mods[i].w);
        a->mods[i].w = NULL;
    }
    memset(a->hooks_at, 0, (size_t)a->n_layers * HIVE_MODULE_COUNT * sizeof *a->hooks_at);
    a->hooks = 0;
    a->device_bytes = 0;
    a->merged = 1;
    return HIVE_OK;
}
