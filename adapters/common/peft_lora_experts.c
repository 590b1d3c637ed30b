/* LoRA on routed experts' stacked parameters (PEFT's target_parameters,
 * lora.ParamWrapper). PEFT keeps one lora_A [r * E, in] and one lora_B
 * [out, r * E] per parameter [E, out, in]; expert e's delta is s B_e A_e
 * with A_e the rows e*r .. e*r + r - 1 of lora_A and B_e the columns
 * k * E + e (k < r) of lora_B (ParamWrapper.get_delta_weight). Hive splits
 * them at load into one plain low-rank module per expert slice, which the
 * engine hooks on that expert's rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peft_lora.h"
#include "peft_tensors.h"
#include "peft_util.h"

/* "model.layers.0.mlp.experts.gate_up_proj" -> length of its module part */
static size_t module_len(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : strlen(path);
}

void peft_lora_expert_depths(peft_lora_module *mods, uint32_t n) {
    /* Each targeted parameter of a module gets its own ParamWrapper around
     * the previous one, in the order the module registers the parameters
     * (the host lists them so): the first is innermost, its keys behind one
     * ".base_layer" per later one. */
    for (uint32_t i = 0; i < n; i++) {
        peft_lora_module *m = &mods[i];
        if (!m->expert) continue;
        size_t len = module_len(m->path);
        m->depth = 0;
        for (uint32_t j = 0; j < n; j++) {
            const peft_lora_module *o = &mods[j];
            if (o->expert == m->expert && o->layer == m->layer && o->module > m->module && module_len(o->path) == len &&
                !strncmp(o->path, m->path, len))
                m->depth++;
        }
    }
}

void peft_lora_expert_key(char *dst, size_t cap, const peft_lora_module *m, const char *suffix) {
    int n = snprintf(dst, cap, PEFT_KEY_PREFIX "%.*s", (int)module_len(m->path), m->path);
    for (uint32_t d = 0; d < m->depth && n > 0 && (size_t)n < cap; d++) n += snprintf(dst + n, cap - (size_t)n, ".base_layer");
    if (n > 0 && (size_t)n < cap) snprintf(dst + n, cap - (size_t)n, "%s", suffix);
}

hive_status peft_lora_expert_group(peft_lora *a, uint32_t first, peft_tensors *t, hive_error **err) {
    const peft_lora_module *m = &a->mods[first];
    char key[256];
    const float *fa = NULL, *fb = NULL;
    uint32_t E = m->n_experts, r = m->r;
    int64_t sa[2] = {(int64_t)r * E, m->in}, sb[2] = {m->out, (int64_t)r * E};
    /* read (and, from F16 / BF16, convert) the stacked pair once for all its slices */
    peft_lora_expert_key(key, sizeof key, m, ".lora_A.weight");
    hive_status st = peft_tensors_view_f32(t, key, 2, sa, 0, &fa, err);
    peft_lora_expert_key(key, sizeof key, m, ".lora_B.weight");
    if (st == HIVE_OK) st = peft_tensors_view_f32(t, key, 2, sb, 1, &fb, err);
    float *B = st == HIVE_OK ? malloc((size_t)m->out * r * sizeof *B) : NULL;
    if (st == HIVE_OK && !B) st = peft_fail(a->host, err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i = first; st == HIVE_OK && i < a->n_mods; i++) {
        peft_lora_module *s = &a->mods[i]; /* a slice of the same parameter in the same layer */
        if (!s->expert || s->layer != m->layer || s->module < m->module || strcmp(s->path, m->path) != 0) continue;
        uint32_t e = s->expert - 1;
        for (uint32_t o = 0; o < m->out; o++)
            for (uint32_t k = 0; k < r; k++) B[(size_t)o * r + k] = fb[(size_t)o * r * E + (size_t)k * E + e] * m->scale;
        st = peft_lowrank_upload(a->be, a->dev, s->path, fa + (size_t)e * r * m->in, B, r, m->in, m->out, &s->lr, err);
        if (st == HIVE_OK) a->device_bytes += peft_lowrank_bytes(&s->lr);
    }
    free(B);
    return st;
}
