/* The LoRA adapter core shared by the lora and dora plugins: config checks,
 * per-module rank and scaling, tensor loading, device weights, hooks table,
 * describe and merge. DoRA adds its per-module preparation and hook. */
#ifndef HIVE_ADAPTERS_PEFT_LORA_H
#define HIVE_ADAPTERS_PEFT_LORA_H

#include <stdint.h>
#include "hive_abi.h"
#include "peft_config.h"
#include "peft_lowrank.h"

typedef struct peft_lora_module {
    uint32_t layer, module, r, in, out;
    float scale;           /* s = alpha / r, or alpha / sqrt(r) with use_rslora */
    char path[160];        /* "model.layers.0.self_attn.q_proj" */
    /* routed experts (target_parameters): k + 1 for expert k's slice of the
     * stacked parameter `path` names, of n_experts; its keys sit under the
     * parameter's module behind `depth` ".base_layer" (PEFT nests one
     * ParamWrapper per targeted parameter of a module) */
    uint32_t expert, n_experts, depth;
    peft_lowrank lr;       /* A and B; B rows pre-scaled by s (LoRA) or f*s (DoRA) */
    /* DoRA only */
    float *f;              /* host [out]: m / ||W + s B A||_row, for merge */
    hive_weight *f_minus1; /* [1, out]: f - 1 */
    hive_weight *bias_fix; /* [1, out]: -(f - 1) * b; NULL when the module has no bias */
} peft_lora_module;

typedef struct peft_lora peft_lora;

/* Routed experts' LoRA (peft_lora_experts.c). The tensor key of m's
 * lora_A / lora_B ("base_model.model.<module>[.base_layer...].lora_A.weight"). */
void peft_lora_expert_key(char *dst, size_t cap, const peft_lora_module *m, const char *suffix);
/* Uploads every slice of the stacked parameter of a->mods[first] (same layer
 * and path, from `first` on): expert e's A [r, in] (rows of lora_A [r * E,
 * in]) and B [out, r] (columns k * E + e of lora_B [out, r * E], times s),
 * reading the pair from the file once. */
typedef struct peft_tensors peft_tensors;
hive_status peft_lora_expert_group(peft_lora *a, uint32_t first, peft_tensors *t, hive_error **err);
/* PEFT's nesting depth of each targeted expert slice in mods[0..n). */
void peft_lora_expert_depths(peft_lora_module *mods, uint32_t n);

/* Called once per targeted module during load with the module's A [r, in],
 * B [out, r] (unscaled, to be scaled in place) and, for DoRA, the magnitude
 * vector m [out]. Without a callback, B is scaled by s. */
typedef hive_status (*peft_lora_prepare_fn)(peft_lora *a, peft_lora_module *m, const float *A, float *B,
                                            const float *mag, hive_error **err);

struct peft_lora {
    const hive_host_api *host;
    const hive_backend_api *be;
    hive_device *dev;
    hive_base_access base;   /* copy; zeroed fields when the host gave none */
    int dora;
    char *dir;
    uint32_t n_layers, max_rows, max_r, max_out;
    uint32_t n_mod;          /* modules per layer: the seven, or the model's own too (peft_model_modules) */
    int32_t *slot;           /* [n_layers * n_mod]: index into mods, or -1 */
    uint32_t *hooks_at;      /* [n_layers * n_mod] */
    uint32_t hooks;
    peft_lora_module *mods;
    uint32_t n_mods;
    hive_buffer *scratch_t;  /* [max_rows, max_r] f32 */
    hive_buffer *scratch_y;  /* DoRA: [max_rows, max_out] f32 */
    uint64_t device_bytes;
    int merged;
};

/* claim() for both plugins: 100 when peft_type is "LORA" and use_dora equals
 * want_dora, else 0. */
uint32_t peft_lora_claim(const char *config_json, int want_dora);

hive_status peft_lora_load(const hive_host_api *host, const hive_adapter_load_args *args, int dora,
                           peft_lora_prepare_fn prepare, peft_lora **out, hive_error **err);
void peft_lora_destroy(peft_lora *a);
hive_status peft_lora_describe(const peft_lora *a, hive_adapter_desc *out);

/* The module hooked at (layer, module) into *out, after checking the call's
 * shapes (rows <= max_rows, x cols == in, y cols == out). */
hive_status peft_lora_for_call(peft_lora *a, uint32_t layer, uint32_t module, const hive_tensor *x,
                               const hive_tensor *y, peft_lora_module **out, hive_error **err);

/* Plain LoRA hook: y += s B (A x). */
hive_status peft_lora_apply(peft_lora *a, uint32_t layer, uint32_t module, const hive_tensor *x,
                            const hive_tensor *y, hive_error **err);

/* HIVE_ADAPTER_EXT_LOWRANK for plain LoRA: the module's A and B (scale folded
 * into B). HIVE_E_NOTFOUND when (layer, module) has no hook or after merge. */
hive_status peft_lora_lowrank_at(const peft_lora *a, uint32_t layer, uint32_t module, const hive_weight **A,
                                 const hive_weight **B, uint32_t *rank);

/* Folds every module into the base: W' = f (W + s B A) per output row, f = 1
 * for LoRA. Re-reads A and B from the adapter file. Afterwards no hooks. */
hive_status peft_lora_merge(peft_lora *a, hive_error **err);

#endif
