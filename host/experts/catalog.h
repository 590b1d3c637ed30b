/* The experts a server can load, by name: packages given one by one
 * (--expert) and every package found in a directory (--expert-dir), with
 * their manifests' name, description and decoding defaults. Only manifests are
 * read here; adapters load on first use through the cache. */
#ifndef HIVE_EXPERTS_CATALOG_H
#define HIVE_EXPERTS_CATALOG_H

#include <stddef.h>
#include "experts/manifest.h"

typedef struct hive_catalog_entry {
    char *name;              /* manifest name (else the file name) */
    char *path;              /* the package as given */
    char *description, *version;
    hive_manifest_setting *decoding; /* training.decoding as config keys */
    size_t n_decoding;
    hive_strv keywords;      /* routing.keywords (experts/router.h) */
} hive_catalog_entry;

typedef struct hive_catalog {
    hive_catalog_entry *v;
    size_t n;
} hive_catalog;

/* One package; an unreadable one is an error (it was named explicitly). */
hive_status hive_catalog_add_path(hive_catalog *c, const char *path, hive_error **err);
/* Every `*.expert` archive, every directory holding manifest.json and every
 * plain PEFT adapter directory (adapter_config.json) in dir
 * (not recursive); packages that cannot be read are skipped with a warning.
 * A name seen before keeps its first package. */
hive_status hive_catalog_scan_dir(hive_catalog *c, const char *dir, hive_error **err);
const hive_catalog_entry *hive_catalog_find(const hive_catalog *c, const char *name);
void hive_catalog_free(hive_catalog *c);

#endif
