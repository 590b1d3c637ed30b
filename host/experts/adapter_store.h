/* The host's hive_adapter_cache (ABI 1.7): blobs an adapter plugin derives
 * from one adapter on one base model (DoRA: its weight norms), kept under
 *   <cache root>/adapter-data/<base sha256>/<adapter sha256>-<config sha256, 16 digits>/<name>
 * The base sha256 is of the model file (a HF directory's model.safetensors),
 * the adapter's of its adapter_model.safetensors, both through
 * hive_sha256_file_cached (hashed once per file, then remembered by real path
 * + size + mtime); the last 16 digits are of the adapter_config.json text the
 * plugin gets (an expert's weight is folded into it), the layout of the base
 * weights the host gives (q/k rows unpermuted or as stored) and the store's
 * version. The key is computed on the first get/put only, so adapters that
 * keep nothing never hash the base.
 *
 * A blob file: "HIVEBLB1", the payload size (u64, host byte order), the
 * payload's sha256 (32 bytes), the payload. A file whose size or checksum is
 * wrong is reported (warning), deleted and read as absent; writes go to a
 * temporary file renamed into place. */
#ifndef HIVE_EXPERTS_ADAPTER_STORE_H
#define HIVE_EXPERTS_ADAPTER_STORE_H

#include <limits.h>
#include <stdint.h>
#include "hive_abi.h"

typedef struct hive_adapter_store {
    hive_adapter_cache api; /* ctx points back here; pass &api to the plugin */
    char model_file[PATH_MAX];
    char weights[PATH_MAX];
    char config_hex[65];
    char dir[PATH_MAX];
    int state; /* 0: key not computed yet; 1: dir ready; -1: off */
} hive_adapter_store;

/* Process-wide counts, for tests and logs. */
typedef struct hive_adapter_store_stats {
    uint64_t hits, misses, damaged, writes, write_failures;
} hive_adapter_store_stats;

/* Fills s for one adapter load; no I/O. Off (every get misses, put skips)
 * when model_path, weights or config_json is NULL or empty, or when the
 * model path names no single file. layout: how hive_base_access lays out
 * the base weights (anything that changes them for the same file). */
void hive_adapter_store_init(hive_adapter_store *s, const char *model_path, const char *weights,
                             const char *config_json, const char *layout);
/* The key directory (created); NULL when the store is off or it cannot be
 * made (logged once per store). */
const char *hive_adapter_store_dir(hive_adapter_store *s);
void hive_adapter_store_get_stats(hive_adapter_store_stats *out);

#endif
