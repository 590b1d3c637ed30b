/* The LoRA adapter core: claim, destroy, describe, the per-call checks and
 * the plain LoRA hook. */
#include "peft_lora.h"

#include <stdlib.h>
#include <string.h>

#include "adapter_entry.h"
#include "peft_util.h"

uint32_t peft_lora_claim(const char *config_json, int want_dora) {
    char type[32];
    int dora = 0;
    if (peft_config_peek(config_json, type, sizeof type, &dora) != 0) return 0;
    return (!strcmp(type, "LORA") && dora == (want_dora ? 1 : 0)) ? 100u : 0u;
}

void peft_lora_destroy(peft_lora *a) {
    if (!a) return;
    for (uint32_t i = 0; i < a->n_mods; i++) {
        peft_lora_module *m = &a->mods[i];
        peft_lowrank_free(a->be, a->dev, &m->lr);
        if (m->f_minus1) a->be->weight_free(a->dev, m->f_minus1);
        if (m->bias_fix) a->be->weight_free(a->dev, m->bias_fix);
        free(m->f);
    }
    if (a->scratch_t) a->be->buffer_free(a->dev, a->scratch_t);
    if (a->scratch_y) a->be->buffer_free(a->dev, a->scratch_y);
    free(a->mods);
    free(a->slot);
    free(a->hooks_at);
    free(a->dir);
    free(a);
}

hive_status peft_lora_describe(const peft_lora *a, hive_adapter_desc *out) {
    if (!a) return HIVE_E_INVALID;
    return adapter_entry_describe(out, a->merged ? 0 : a->hooks, 0, a->device_bytes, a->hooks_at, a->n_mod);
}

hive_status peft_lora_for_call(peft_lora *a, uint32_t layer, uint32_t module, const hive_tensor *x,
                               const hive_tensor *y, peft_lora_module **out, hive_error **err) {
    *out = NULL;
    if (!a) return HIVE_E_INVALID;
    if (a->merged) return peft_fail(a->host, err, HIVE_E_INVALID, "adapter hook called after merge");
    if (layer >= a->n_layers || module >= a->n_mod || a->slot[layer * a->n_mod + module] < 0)
        return peft_fail(a->host, err, HIVE_E_INVALID, "adapter has no hook at layer %u module %u", layer, module);
    peft_lora_module *m = &a->mods[a->slot[layer * a->n_mod + module]];
    if (!x || !y || x->rows != y->rows || x->rows < 0 || (uint64_t)x->rows > a->max_rows || x->cols != m->in ||
        y->cols != m->out)
        return peft_fail(a->host, err, HIVE_E_SHAPE,
                         "%s: hook called with x [%lld x %lld], y [%lld x %lld]; expected [n x %u], [n x %u] with "
                         "n <= %u",
                         m->path, x ? (long long)x->rows : -1LL, x ? (long long)x->cols : -1LL,
                         y ? (long long)y->rows : -1LL, y ? (long long)y->cols : -1LL, m->in, m->out, a->max_rows);
    *out = m;
    return HIVE_OK;
}

hive_status peft_lora_lowrank_at(const peft_lora *a, uint32_t layer, uint32_t module, const hive_weight **A,
                                 const hive_weight **B, uint32_t *rank) {
    if (!a || !A || !B || !rank) return HIVE_E_INVALID;
    if (a->merged || a->dora || layer >= a->n_layers || module >= a->n_mod ||
        a->slot[layer * a->n_mod + module] < 0)
        return HIVE_E_NOTFOUND;
    const peft_lora_module *m = &a->mods[a->slot[layer * a->n_mod + module]];
    *A = m->lr.A;
    *B = m->lr.B;
    *rank = m->lr.r;
    return HIVE_OK;
}

hive_status peft_lora_apply(peft_lora *a, uint32_t layer, uint32_t module, const hive_tensor *x,
                            const hive_tensor *y, hive_error **err) {
    peft_lora_module *m;
    hive_status st = peft_lora_for_call(a, layer, module, x, y, &m, err);
    if (st != HIVE_OK || x->rows == 0) return st;
    return peft_lowrank_apply(a->be, a->dev, &m->lr, x, a->scratch_t, y, err);
}
