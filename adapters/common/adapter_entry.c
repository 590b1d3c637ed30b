#include "adapter_entry.h"

#include <string.h>

hive_status adapter_entry_query(hive_plugin_info *info, const char *name, const char *description) {
    if (!info || info->struct_size < offsetof(hive_plugin_info, name)) return HIVE_E_INVALID;
    hive_plugin_info mine = {
        .struct_size = sizeof(hive_plugin_info),
        .kind = HIVE_PLUGIN_ADAPTER,
        .abi_major = HIVE_ABI_MAJOR,
        .abi_minor = HIVE_ABI_MINOR,
        .min_host_minor = 0,
        .name = name,
        .version = "0.1.0",
        .build = "gcc " __VERSION__,
        .description = description,
    };
    uint32_t n = info->struct_size < sizeof mine ? info->struct_size : (uint32_t)sizeof mine;
    memcpy(info, &mine, n);
    info->struct_size = n;
    return HIVE_OK;
}

hive_status adapter_entry_init(const hive_host_api *host, hive_host_api *keep, const hive_adapter_api *table,
                               const void **api, hive_error **err) {
    (void)err; /* without a valid host there is no error_new to report with */
    if (!host || !api || host->struct_size < offsetof(hive_host_api, plugin_path) || host->abi_major != HIVE_ABI_MAJOR)
        return HIVE_E_VERSION;
    memset(keep, 0, sizeof *keep);
    size_t n = host->struct_size < sizeof *keep ? host->struct_size : sizeof *keep;
    memcpy(keep, host, n);
    keep->struct_size = (uint32_t)n;
    *api = table;
    return HIVE_OK;
}

hive_status adapter_entry_describe(hive_adapter_desc *out, uint32_t hooks, uint32_t n_virtual_tokens,
                                   uint64_t device_bytes, const uint32_t *hooks_at, uint32_t hooks_stride) {
    if (!out || out->struct_size < offsetof(hive_adapter_desc, device_bytes)) return HIVE_E_INVALID;
    hive_adapter_desc d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.hooks = hooks;
    d.n_virtual_tokens = n_virtual_tokens;
    d.device_bytes = device_bytes;
    d.hooks_at = hooks_at;
    d.hooks_stride = hooks_stride == HIVE_MODULE_COUNT ? 0 : hooks_stride;
    uint32_t n = out->struct_size < sizeof d ? out->struct_size : (uint32_t)sizeof d;
    memcpy(out, &d, n);
    out->struct_size = n;
    return HIVE_OK;
}
