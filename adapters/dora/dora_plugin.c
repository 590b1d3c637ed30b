/* dora.so: serves PEFT DoRA adapters (peft_type "LORA", use_dora true).
 * Hook: y += (f - 1)(base_y - b) + f s B (A x); f fixed at load (dora_norm.c). */
#include <string.h>

#include "adapter_entry.h"
#include "hive_abi.h"
#include "dora.h"

static hive_host_api g_host;

static uint32_t dora_claim(const char *config_json) { return peft_lora_claim(config_json, 1); }

static hive_status dora_load(const hive_adapter_load_args *args, hive_adapter **out, hive_error **err) {
    const hive_adapter_cache *cache =
        args && HIVE_HAS_FIELD(hive_adapter_load_args, args->struct_size, cache) ? args->cache : NULL;
    if (cache && !(HIVE_HAS_FIELD(hive_adapter_cache, cache->struct_size, put) && cache->get && cache->put)) cache = NULL;
    dora_load_begin(cache);
    hive_status st = peft_lora_load(&g_host, args, 1, dora_prepare, (peft_lora **)out, err);
    dora_load_end(st == HIVE_OK && out ? (const peft_lora *)*out : NULL);
    return st;
}

static void dora_destroy(hive_adapter *a) { peft_lora_destroy((peft_lora *)a); }

static hive_status dora_describe(const hive_adapter *a, hive_adapter_desc *out) {
    return peft_lora_describe((const peft_lora *)a, out);
}

static hive_status dora_linear_output(hive_adapter *a, uint32_t layer, uint32_t module, const hive_tensor *x,
                                      const hive_tensor *base_y, const hive_tensor *y, hive_error **err) {
    return dora_apply((peft_lora *)a, layer, module, x, base_y, y, err);
}

static hive_status dora_merge(hive_adapter *a, hive_error **err) { return peft_lora_merge((peft_lora *)a, err); }

static const hive_adapter_api k_api = {
    .struct_size = sizeof(hive_adapter_api),
    .claim = dora_claim,
    .load = dora_load,
    .destroy = dora_destroy,
    .describe = dora_describe,
    .linear_output = dora_linear_output,
    .merge = dora_merge,
};

HIVE_PLUGIN_EXPORT hive_status hive_plugin_query(hive_plugin_info *info) {
    return adapter_entry_query(info, "dora", "PEFT DoRA adapters (weight-decomposed LoRA; norms fixed at load; merge)");
}

HIVE_PLUGIN_EXPORT hive_status hive_plugin_init(const hive_host_api *host, const void **api, hive_error **err) {
    return adapter_entry_init(host, &g_host, &k_api, api, err);
}
