/* gpu_entry.c — the two exported entry points of a GPU backend plugin (C11).
 * The plugin's CMakeLists defines HIVE_GPU_PLUGIN_NAME, HIVE_GPU_PLUGIN_DESC and
 * HIVE_GPU_BUILD. hive_plugin_query touches no driver. */
#include <string.h>

#include "gpu_entry.h"
#include "hive_abi.h"

#ifndef HIVE_GPU_PLUGIN_NAME
#error "HIVE_GPU_PLUGIN_NAME must be defined"
#endif
#ifndef HIVE_GPU_PLUGIN_DESC
#define HIVE_GPU_PLUGIN_DESC "GPU backend"
#endif
#ifndef HIVE_GPU_BUILD
#define HIVE_GPU_BUILD "unknown"
#endif
#ifndef HIVE_GPU_VERSION
#define HIVE_GPU_VERSION "0.1.0"
#endif

HIVE_PLUGIN_EXPORT hive_status hive_plugin_query(hive_plugin_info *info) {
    if (!info) return HIVE_E_INVALID;
    hive_plugin_info mine;
    memset(&mine, 0, sizeof mine);
    mine.struct_size = (uint32_t)sizeof mine;
    mine.kind = HIVE_PLUGIN_BACKEND;
    mine.abi_major = HIVE_ABI_MAJOR;
    mine.abi_minor = HIVE_ABI_MINOR;
    mine.min_host_minor = 0;
    mine.name = HIVE_GPU_PLUGIN_NAME;
    mine.version = HIVE_GPU_VERSION;
    mine.build = HIVE_GPU_BUILD;
    mine.description = HIVE_GPU_PLUGIN_DESC;
    uint32_t n = info->struct_size;
    if (n == 0 || n > sizeof mine) n = (uint32_t)sizeof mine;
    if (n < sizeof(uint32_t)) return HIVE_E_INVALID;
    memcpy(info, &mine, n);
    info->struct_size = (uint32_t)sizeof mine;
    return HIVE_OK;
}

HIVE_PLUGIN_EXPORT hive_status hive_plugin_init(const hive_host_api *host, const void **api, hive_error **err) {
    return gpu_backend_init(host, gpu_vendor_get(), api, err);
}
