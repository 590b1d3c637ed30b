/* gpu_entry.h — the C bridge between a GPU plugin's C entry file and the shared
 * C++ backend. Includable from C11 and C++. */
#ifndef HIVE_GPU_ENTRY_H
#define HIVE_GPU_ENTRY_H

#include "hive_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gpu_vendor_ops;

/* Installs host services and the vendor hooks; returns the backend table.
 * Never throws. */
hive_status gpu_backend_init(const hive_host_api *host, const struct gpu_vendor_ops *vendor,
                             const void **api, hive_error **err);

/* Vendor hooks of this plugin (defined in the plugin's vendor file). */
const struct gpu_vendor_ops *gpu_vendor_get(void);

#ifdef __cplusplus
}
#endif
#endif
