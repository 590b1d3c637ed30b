/* Effective configuration: every key has a type, a built-in default, and a
 * source. Layers, lowest to highest: default < config file < expert manifest <
 * command line. The schema (schema.c) is the single list of keys; the CLI
 * flags, --print-config and docs/CONFIG.md all come from it. */
#ifndef HIVE_CONFIG_CONFIG_H
#define HIVE_CONFIG_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include "hive_abi.h"

typedef enum { HIVE_CFG_INT, HIVE_CFG_FLOAT, HIVE_CFG_STRING, HIVE_CFG_BOOL, HIVE_CFG_STRLIST } hive_cfg_type;
typedef enum { HIVE_SRC_DEFAULT, HIVE_SRC_FILE, HIVE_SRC_MANIFEST, HIVE_SRC_CLI } hive_cfg_source;

typedef struct hive_cfg_key {
    const char *key;       /* "sampling.temperature" */
    hive_cfg_type type;
    const char *def;       /* default, as text ("" for empty string/list) */
    const char *flag;      /* CLI long flag without "--", or NULL */
    const char *arg;       /* metavar for --help ("N", "PATH"), NULL for bool flags */
    const char *help;
    double min, max;       /* numeric range (min > max: unchecked) */
} hive_cfg_key;

extern const hive_cfg_key hive_cfg_schema[];
extern const size_t hive_cfg_schema_len;
const hive_cfg_key *hive_cfg_find_key(const char *key);
const hive_cfg_key *hive_cfg_find_flag(const char *flag);

typedef struct hive_config hive_config;

hive_config *hive_config_new(void); /* all defaults; NULL on OOM */
void hive_config_free(hive_config *c);
/* Unknown keys and wrong types are errors naming file:line and the key. */
hive_status hive_config_load_file(hive_config *c, const char *path, hive_error **err);
/* Set from text (CLI value or manifest). A string list takes comma-separated
 * text and, from the CLI, repeated flags append. origin is shown by --print-config. */
hive_status hive_config_set(hive_config *c, const char *key, const char *text, hive_cfg_source src,
                            const char *origin, hive_error **err);
/* Only if the current value's source is lower than src (manifest defaults). */
hive_status hive_config_set_if_lower(hive_config *c, const char *key, const char *text, hive_cfg_source src,
                                     const char *origin, hive_error **err);

int64_t hive_config_int(const hive_config *c, const char *key);
double hive_config_float(const hive_config *c, const char *key);
const char *hive_config_str(const hive_config *c, const char *key); /* never NULL */
int hive_config_bool(const hive_config *c, const char *key);
/* String list: count and items. */
size_t hive_config_list_len(const hive_config *c, const char *key);
const char *hive_config_list_item(const hive_config *c, const char *key, size_t i);
hive_cfg_source hive_config_source(const hive_config *c, const char *key);
const char *hive_config_origin(const hive_config *c, const char *key);

/* Plugin-scoped values (plugins.<plugin>.<key>), any scalar, kept as text. */
const char *hive_config_plugin_value(const hive_config *c, const char *plugin, const char *key);

/* Every key = value  # source (origin). */
void hive_config_print(const hive_config *c, FILE *out);
const char *hive_cfg_source_name(hive_cfg_source s);

#endif
