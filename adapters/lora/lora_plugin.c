/* lora.so: serves PEFT LoRA adapters (peft_type "LORA", use_dora false).
 * Hook at each targeted linear: y += s B (A x), as two backend matmuls. */
#include <string.h>

#include "adapter_entry.h"
#include "hive_abi.h"
#include "peft_lora.h"

static hive_host_api g_host;

static uint32_t lora_claim(const char *config_json) { return peft_lora_claim(config_json, 0); }

static hive_status lora_load(const hive_adapter_load_args *args, hive_adapter **out, hive_error **err) {
    return peft_lora_load(&g_host, args, 0, NULL, (peft_lora **)out, err);
}

static void lora_destroy(hive_adapter *a) { peft_lora_destroy((peft_lora *)a); }

static hive_status lora_describe(const hive_adapter *a, hive_adapter_desc *out) {
    return peft_lora_describe((const peft_lora *)a, out);
}

static hive_status lora_linear_output(hive_adapter *a, uint32_t layer, uint32_t module, const hive_tensor *x,
                                      const hive_tensor *base_y, const hive_tensor *y, hive_error **err) {
    (void)base_y;
    return peft_lora_apply((peft_lora *)a, layer, module, x, y, err);
}

static hive_status lora_merge(hive_adapter *a, hive_error **err) { return peft_lora_merge((peft_lora *)a, err); }

/* The host may batch every LoRA of a linear into one backend call (SGMV). */
static hive_status lora_lowrank_at(const hive_adapter *a, uint32_t layer, uint32_t module, const hive_weight **A,
                                   const hive_weight **B, uint32_t *rank) {
    return peft_lora_lowrank_at((const peft_lora *)a, layer, module, A, B, rank);
}

static const hive_adapter_ext_lowrank k_lowrank = {sizeof(hive_adapter_ext_lowrank), 1, lora_lowrank_at};

static const void *lora_get_extension(hive_adapter *a, uint32_t id, uint32_t min_version) {
    (void)a;
    return id == HIVE_ADAPTER_EXT_LOWRANK && min_version <= k_lowrank.version ? &k_lowrank : NULL;
}

static const hive_adapter_api k_api = {
    .struct_size = sizeof(hive_adapter_api),
    .claim = lora_claim,
    .load = lora_load,
    .destroy = lora_destroy,
    .describe = lora_describe,
    .linear_output = lora_linear_output,
    .merge = lora_merge,
    .get_extension = lora_get_extension,
};

HIVE_PLUGIN_EXPORT hive_status hive_plugin_query(hive_plugin_info *info) {
    return adapter_entry_query(info, "lora", "PEFT LoRA adapters (rsLoRA, rank/alpha patterns, regex targets, merge)");
}

HIVE_PLUGIN_EXPORT hive_status hive_plugin_init(const hive_host_api *host, const void **api, hive_error **err) {
    return adapter_entry_init(host, &g_host, &k_api, api, err);
}
