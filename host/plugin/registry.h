/* Plugin discovery, loading, negotiation, probing and backend selection.
 * Every file seen is kept with its outcome so `hive-host plugins` can list it. */
#ifndef HIVE_PLUGIN_REGISTRY_H
#define HIVE_PLUGIN_REGISTRY_H

#include <stdint.h>
#include <stdio.h>
#include <uthash.h>

#include "config/config.h"
#include "hive_abi.h"

typedef enum { HIVE_PLUGIN_LOADED, HIVE_PLUGIN_REJECTED, HIVE_PLUGIN_DUPLICATE } hive_plugin_status;

/* Where a plugin directory came from; explicit sources make failures fatal. */
typedef enum { HIVE_DIR_CLI, HIVE_DIR_ENV, HIVE_DIR_CONFIG, HIVE_DIR_DEFAULT } hive_dir_source;

typedef struct hive_plugin {
    char *file;                   /* path as found */
    char *realpath;               /* NULL if it could not be resolved */
    hive_dir_source dir_source;
    hive_plugin_status status;
    char *reason;                 /* why rejected / duplicate; "" when loaded */
    int queried;                  /* info below is valid */
    hive_plugin_info info;        /* host-size copy; strings point to the copies below */
    char *name, *version, *build, *description;
    uint32_t agreed_minor;
    void *dl;
    hive_host_api host_api;       /* what this plugin was given */
    /* Host-size copies of the plugin's table: fields beyond the plugin's
     * struct_size are zero, so optional entries read as NULL. */
    hive_backend_api backend;
    hive_adapter_api adapter;
    hive_device_info *devices;
    uint32_t n_devices;
    const hive_config *config;    /* for config_get */
    struct hive_plugin *next;     /* in discovery order */
    UT_hash_handle hh;            /* by name, loaded plugins only */
} hive_plugin;

typedef struct hive_registry {
    hive_plugin *all;             /* every candidate in order */
    hive_plugin *by_name;         /* loaded, first wins */
    char **dirs;                  /* scanned directories, in order */
    hive_dir_source *dir_sources;
    size_t n_dirs;
    const hive_config *config;
} hive_registry;

/* Directories: --plugin-dir (config plugin_dirs from the CLI), HIVE_PLUGIN_PATH,
 * config-file plugin_dirs, then <exe>/../lib/hive/plugins (unless
 * default_plugins is false). Never fails for a bad plugin: outcomes are recorded. */
hive_status hive_registry_scan(hive_registry *r, const hive_config *cfg, hive_error **err);
void hive_registry_free(hive_registry *r);

hive_plugin *hive_registry_find(const hive_registry *r, const char *name); /* loaded only */
/* One warning per plugin file that was rejected (found by scan: not fatal). */
void hive_registry_warn_rejected(const hive_registry *r);

typedef struct hive_backend_choice {
    hive_plugin *plugin;
    uint32_t device;
} hive_backend_choice;

/* Explicit --backend NAME[:DEV] / --cpu, else backend.prefer order, else the
 * highest probe score. An explicit request that cannot be met is an error with
 * the reason, never a fallback. */
hive_status hive_registry_select_backend(const hive_registry *r, const hive_config *cfg, hive_backend_choice *out,
                                         hive_error **err);

/* Loaded adapter plugins, best claim for an adapter_config.json text. */
hive_plugin *hive_registry_claim_adapter(const hive_registry *r, const char *config_json, uint32_t *score);

void hive_registry_print(const hive_registry *r, const hive_backend_choice *sel, FILE *out);
void hive_registry_print_json(const hive_registry *r, const hive_backend_choice *sel, FILE *out);

const char *hive_dir_source_name(hive_dir_source s);

/* internal, shared by the files of this directory */
void hive_plugin_load(hive_plugin *p);
void hive_plugin_reject(hive_plugin *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hive_plugin_init_host_api(hive_plugin *p);
int hive_candidate_check(hive_plugin *p); /* 0 = ok to dlopen; else rejected with reason */

#endif
