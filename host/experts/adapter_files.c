/* Adapter weight files: summary and shape checks (see adapter_files.h). */
#include "experts/adapter_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tensor_file.h"
#include "util/error.h"

static const char *const k_mod_names[HIVE_MODULE_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                          "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                          "mlp.down_proj"};

hive_status hive_adapter_weights_summary(const char *path, uint64_t *n_tensors, uint64_t *bytes, hive_error **err) {
    hive_tensor_file *f = NULL;
    hive_status st = hive_tf_open(path, &f, err);
    if (st != HIVE_OK) return st;
    *n_tensors = hive_tf_count(f);
    *bytes = 0;
    for (uint64_t i = 0; i < *n_tensors; i++) {
        hive_tensor_view v = {.struct_size = sizeof v};
        if (hive_tf_get(f, i, &v) == HIVE_OK) *bytes += v.nbytes;
    }
    hive_tf_close(f);
    return HIVE_OK;
}

void hive_module_dims(const hive_hparams *hp, uint32_t in[HIVE_MODULE_COUNT], uint32_t out[HIVE_MODULE_COUNT]) {
    uint32_t qd = hp->n_heads * hp->head_dim, kvd = hp->n_kv_heads * hp->head_dim;
    uint32_t i[HIVE_MODULE_COUNT] = {hp->hidden, hp->hidden, hp->hidden, qd, hp->hidden, hp->hidden, hp->ffn};
    uint32_t o[HIVE_MODULE_COUNT] = {qd, kvd, kvd, hp->hidden, hp->ffn, hp->ffn, hp->hidden};
    memcpy(in, i, sizeof i);
    memcpy(out, o, sizeof o);
}

static void shape_str(const hive_tensor_view *v, char *out, size_t cap) {
    size_t o = (size_t)snprintf(out, cap, "[");
    for (uint32_t d = 0; d < v->n_dims && o < cap; d++)
        o += (size_t)snprintf(out + o, cap - o, "%s%lld", d ? ", " : "", (long long)v->shape[d]);
    if (o < cap) snprintf(out + o, cap - o, "]");
}

/* "…layers.3.self_attn.q_proj.lora_A.weight" -> layer 3, module Q, suffix "lora_A.weight". */
static int parse_name(const char *name, uint32_t *layer, uint32_t *module, const char **suffix) {
    const char *l = strstr(name, "layers.");
    if (!l) return -1;
    char *end;
    unsigned long n = strtoul(l + 7, &end, 10);
    if (end == l + 7 || *end != '.') return -1;
    for (uint32_t m = 0; m < HIVE_MODULE_COUNT; m++) {
        size_t ml = strlen(k_mod_names[m]);
        if (!strncmp(end + 1, k_mod_names[m], ml) && end[1 + ml] == '.') {
            *layer = (uint32_t)n;
            *module = m;
            *suffix = end + 2 + ml;
            if (!strncmp(*suffix, "default.", 8)) *suffix += 8;
            return 0;
        }
    }
    return -1;
}

static int dims_are(const hive_tensor_view *v, uint32_t n, int64_t d0, int64_t d1) {
    if (v->n_dims != n) return 0;
    if (d0 >= 0 && v->shape[0] != d0) return 0;
    return n < 2 || d1 < 0 || v->shape[1] == d1;
}

void hive_adapter_check_shapes(const hive_manifest *m, const char *field, const hive_manifest_adapter *a,
                               const hive_hparams *hp, hive_problems *p) {
    if (!a->weights) return;
    hive_tensor_file *f = NULL;
    hive_error *e = NULL;
    if (hive_tf_open(a->weights, &f, &e) != HIVE_OK) {
        hive_problems_add(p, "%s: %s: %s", m->file, field, hive_error_message(e));
        hive_error_free(e);
        return;
    }
    uint32_t in[HIVE_MODULE_COUNT], out[HIVE_MODULE_COUNT];
    hive_module_dims(hp, in, out);
    size_t slots = (size_t)hp->n_layers * HIVE_MODULE_COUNT;
    int64_t *ra = calloc(slots ? slots : 1, sizeof *ra), *rb = calloc(slots ? slots : 1, sizeof *rb);
    if (!ra || !rb) p->oom = 1;
    uint64_t n = hive_tf_count(f);
    for (uint64_t i = 0; ra && rb && i < n; i++) {
        hive_tensor_view v = {.struct_size = sizeof v};
        if (hive_tf_get(f, i, &v) != HIVE_OK || !v.name) continue;
        char got[96], want[96] = "";
        shape_str(&v, got, sizeof got);
        const char *dot = strrchr(v.name, '.');
        if (!strcmp(dot ? dot + 1 : v.name, "prompt_embeddings")) {
            if (!dims_are(&v, 2, -1, hp->hidden)) snprintf(want, sizeof want, "[num_virtual_tokens, %u] (hidden size)", hp->hidden);
        } else {
            uint32_t layer, mod;
            const char *suf;
            if (parse_name(v.name, &layer, &mod, &suf)) continue; /* other modules: the plugin decides */
            const char *mn = strchr(k_mod_names[mod], '.') + 1;
            if (layer >= hp->n_layers) {
                hive_problems_add(p, "%s: %s: %s: tensor '%s' is for layer %u, but the model has %u layers", m->file, field,
                                  a->weights, v.name, layer, hp->n_layers);
                continue;
            }
            size_t slot = (size_t)layer * HIVE_MODULE_COUNT + mod;
            if (!strcmp(suf, "lora_A.weight")) {
                if (!dims_are(&v, 2, -1, in[mod])) snprintf(want, sizeof want, "[r, %u] (%s input features)", in[mod], mn);
                else ra[slot] = v.shape[0];
            } else if (!strcmp(suf, "lora_B.weight")) {
                if (!dims_are(&v, 2, out[mod], -1)) snprintf(want, sizeof want, "[%u, r] (%s output features)", out[mod], mn);
                else rb[slot] = v.shape[1];
            } else if (!strcmp(suf, "lora_magnitude_vector") || !strcmp(suf, "lora_magnitude_vector.weight") ||
                       !strcmp(suf, "lora_B.bias")) {
                if (!dims_are(&v, 1, out[mod], -1)) snprintf(want, sizeof want, "[%u] (%s output features)", out[mod], mn);
            } else if (!strcmp(suf, "ia3_l") || !strcmp(suf, "ia3_l.weight")) {
                if (!dims_are(&v, 2, out[mod], 1) && !dims_are(&v, 2, 1, in[mod]))
                    snprintf(want, sizeof want, "[%u, 1] or [1, %u] (%s)", out[mod], in[mod], mn);
            }
        }
        if (*want)
            hive_problems_add(p, "%s: %s: %s: tensor '%s' is %s, expected %s for base model %s", m->file, field, a->weights,
                              v.name, got, want, hp->name);
    }
    for (size_t s = 0; ra && rb && s < slots; s++)
        if (ra[s] && rb[s] && ra[s] != rb[s])
            hive_problems_add(p, "%s: %s: %s: layer %zu %s: lora_A has rank %lld but lora_B has rank %lld", m->file, field,
                              a->weights, s / HIVE_MODULE_COUNT, k_mod_names[s % HIVE_MODULE_COUNT], (long long)ra[s],
                              (long long)rb[s]);
    free(ra);
    free(rb);
    hive_tf_close(f);
}
