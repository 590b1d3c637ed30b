/* The experts a server can load, by name: packages given one by one
 * (--expert) and every package found in a directory (--expert-dir), with
 * their manifests' name, description and decoding defaults.
 *
 * Directories are discovered lazily: a scan reads only the directory's names
 * (and stats each subdirectory for manifest.json / adapter_config.json), so
 * starting with a thousand experts costs what listing the directory costs. An
 * entry's manifest is read on first use (hive_catalog_resolve); adapters load
 * later still, through the cache. A package named with --expert is read at
 * once (it was asked for explicitly, so a broken one is an error at start). */
#ifndef HIVE_EXPERTS_CATALOG_H
#define HIVE_EXPERTS_CATALOG_H

#include <stddef.h>
#include "experts/manifest.h"

typedef struct hive_catalog_entry {
    char *name;              /* --expert: the manifest's name; a scanned directory: the file name without .expert */
    char *path;              /* the package as given */
    /* Read from the manifest on first use: valid only after hive_catalog_resolve
     * returned HIVE_OK for this entry ("" and none before). */
    int resolved;
    char *description, *version;
    hive_manifest_setting *decoding; /* training.decoding as config keys */
    size_t n_decoding;
    hive_strv keywords;      /* routing.keywords (experts/router.h) */
} hive_catalog_entry;

typedef struct hive_catalog {
    hive_catalog_entry *v;
    size_t n, cap;
    struct hive_catalog_name *by_name; /* index (catalog.c); zero-initialize the catalog */
} hive_catalog;

/* One package, its manifest read now; an unreadable one is an error (it was
 * named explicitly). */
hive_status hive_catalog_add_path(hive_catalog *c, const char *path, hive_error **err);
/* Every `*.expert` archive, every directory holding manifest.json and every
 * plain PEFT adapter directory (adapter_config.json) in dir (not recursive),
 * sorted by name, named by their file names; nothing is opened or parsed (a
 * broken package fails on first use, naming itself). A name seen before keeps
 * its first package. An unreadable dir is an error. */
hive_status hive_catalog_scan_dir(hive_catalog *c, const char *dir, hive_error **err);
const hive_catalog_entry *hive_catalog_find(const hive_catalog *c, const char *name);
/* Reads entry i's manifest unless already read (thread-safe: the catalog's
 * lazily read fields are filled under a lock). A package that cannot be read
 * is an error naming the expert and why; it is tried again on the next call. */
hive_status hive_catalog_resolve(const hive_catalog *c, size_t i, hive_error **err);
/* Every entry, for what needs all manifests (routing, listings): the ones
 * that cannot be read are logged as warnings, named, and stay unresolved.
 * Returns how many were resolved. */
size_t hive_catalog_resolve_all(const hive_catalog *c);
void hive_catalog_free(hive_catalog *c);

#endif
