/* The ia3 plugin's adapter object, shared by its source files.
 * PEFT (tuners/ia3/layer.py, eval mode):
 *   ordinary targets:     y = (W x + b) * l,  l stored as ia3_l [out, 1]
 *   feedforward_modules:  y = W (x * l) + b,  l stored as ia3_l [1, in]
 * Hooks: OUTPUT_SCALE (y *= l) and LINEAR_INPUT (x *= l), one
 * op_binary_weight MUL each with l uploaded as a [1, n] f32 weight. */
#ifndef HIVE_ADAPTERS_IA3_H
#define HIVE_ADAPTERS_IA3_H

#include <stdint.h>
#include "hive_abi.h"

typedef struct ia3_module {
    uint32_t layer, module;
    uint32_t n;          /* in (feed-forward) or out (ordinary) features */
    int ff;              /* 1: feed-forward target (input scaling) */
    char path[160];      /* "model.layers.0.mlp.down_proj" */
    float *l;            /* host copy [n], for merge */
    hive_weight *w;      /* [1, n] f32 */
} ia3_module;

typedef struct ia3 {
    const hive_host_api *host;
    const hive_backend_api *be;
    hive_device *dev;
    hive_base_access base; /* copy; zeroed fields when the host gave none */
    uint32_t n_layers, max_rows;
    uint32_t module_in[HIVE_MODULE_COUNT], module_out[HIVE_MODULE_COUNT];
    int32_t *slot;         /* [n_layers * HIVE_MODULE_COUNT]: index into mods, or -1 */
    uint32_t *hooks_at;    /* [n_layers * HIVE_MODULE_COUNT] */
    uint32_t hooks;
    ia3_module *mods;
    uint32_t n_mods;
    uint64_t device_bytes;
    int merged;
} ia3;

hive_status ia3_load(const hive_host_api *host, const hive_adapter_load_args *args, ia3 **out, hive_error **err);
void ia3_destroy(ia3 *a);
hive_status ia3_merge(ia3 *a, hive_error **err);

#endif
