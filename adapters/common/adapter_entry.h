/* The two exported entry points, written once for every adapter plugin:
 *
 *   HIVE_PLUGIN_EXPORT hive_status hive_plugin_query(hive_plugin_info *info) {
 *       return adapter_entry_query(info, "lora", "what it serves");
 *   }
 *   HIVE_PLUGIN_EXPORT hive_status hive_plugin_init(const hive_host_api *host, const void **api,
 *                                                   hive_error **err) {
 *       return adapter_entry_init(host, &g_host, &k_api, api, err);
 *   }
 */
#ifndef HIVE_ADAPTER_ENTRY_H
#define HIVE_ADAPTER_ENTRY_H

#include "hive_abi.h"

/* Fills the host's info within the size it declared (this header's ABI, min
 * host minor 0). */
hive_status adapter_entry_query(hive_plugin_info *info, const char *name, const char *description);
/* Checks the host's ABI, keeps a copy of its services in *keep (up to its
 * struct_size) and returns the plugin's table. */
hive_status adapter_entry_init(const hive_host_api *host, hive_host_api *keep, const hive_adapter_api *table,
                               const void **api, hive_error **err);
/* describe(): these facts in the host's *out, within the size it declared;
 * hooks_stride: modules per layer in hooks_at (0 or HIVE_MODULE_COUNT: the seven). */
hive_status adapter_entry_describe(hive_adapter_desc *out, uint32_t hooks, uint32_t n_virtual_tokens,
                                   uint64_t device_bytes, const uint32_t *hooks_at, uint32_t hooks_stride);

#endif
