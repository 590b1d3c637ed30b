/* lora.so: serves PEFT LoRA adapters (peft_type "LORA", use_dora false).
 * Hook at each targeted linear: y += s B (A x), as two backend matmuls. */
#include <string.h>

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

static const hive_adapter_api k_api = {
    .struct_size = sizeof(hive_adapter_api),
    .claim = lora_claim,
    .load = lora_load,
    .destroy = lora_destroy,
    .describe = lora_describe,
    .linear_output = lora_linear_output,
    .merge = lora_merge,
};

HIVE_PLUGIN_EXPORT hive_status hive_plugin_query(hive_plugin_info *info) {
    if (!info || info->struct_size < offsetof(hive_plugin_info, name)) return HIVE_E_INVALID;
    hive_plugin_info mine = {
        .struct_size = sizeof(hive_plugin_info),
        .kind = HIVE_PLUGIN_ADAPTER,
        .abi_major = HIVE_ABI_MAJOR,
        .abi_minor = HIVE_ABI_MINOR,
        .min_host_minor = 0,
        .name = "lora",
        .version = "0.1.0",
        .build = "gcc " __VERSION__,
        .description = "PEFT LoRA adapters (rsLoRA, rank/alpha patterns, regex targets, merge)",
    };
    uint32_t n = info->struct_size < sizeof mine ? info->struct_size : (uint32_t)sizeof mine;
    memcpy(info, &mine, n);
    info->struct_size = n;
    return HIVE_OK;
}

HIVE_PLUGIN_EXPORT hive_status hive_plugin_init(const hive_host_api *host, const void **api, hive_error **err) {
    (void)err;
    if (!host || !api || host->struct_size < offsetof(hive_host_api, plugin_path) || host->abi_major != HIVE_ABI_MAJOR)
        return HIVE_E_VERSION;
    memset(&g_host, 0, sizeof g_host);
    size_t n = host->struct_size < sizeof g_host ? host->struct_size : sizeof g_host;
    memcpy(&g_host, host, n);
    g_host.struct_size = (uint32_t)n;
    *api = &k_api;
    return HIVE_OK;
}
