/* A loaded expert: its package, manifest, and one loaded adapter per adapter
 * of the base_models[] entry that matches the loaded model (manifest order). */
#ifndef HIVE_EXPERTS_EXPERT_H
#define HIVE_EXPERTS_EXPERT_H

#include <stdint.h>
#include "engine/engine.h"
#include "experts/manifest.h"
#include "experts/package.h"
#include "plugin/registry.h"

/* Everything loading needs; hive_expert_target_init fills it from an engine.
 * Tests fill it by hand (fake shape, no backend). */
typedef struct hive_expert_target {
    const hive_registry *registry;    /* adapter plugins */
    hive_adapter_load_args args;      /* backend, device, model, base, max_rows (dir/config_json per adapter) */
    const char *model_name;           /* hive_hparams.name */
    const char *model_path;           /* the model file or directory */
    const hive_expert_pkg_limits *limits; /* NULL = defaults */
    hive_engine *engine;              /* told before the adapters are destroyed; NULL in tests */
    int strict_base;                  /* experts.strict_base: a PEFT directory's base mismatch is an error */
} hive_expert_target;

void hive_expert_target_init(hive_expert_target *t, const hive_registry *r, hive_engine *e,
                             const hive_model_files *m);

typedef struct hive_expert {
    hive_expert_pkg pkg;
    hive_manifest manifest;
    size_t base_index;               /* manifest.bases[] entry in use */
    hive_adapter_ref *refs;          /* n_refs, manifest order */
    const hive_plugin **plugins;     /* the plugin of each ref */
    uint32_t n_refs;
    uint64_t device_bytes;           /* sum of refs' desc.device_bytes */
    uint64_t identity;               /* hash of path, name, version, content stamp (and weight when not 1) */
    double weight;                   /* scales LoRA deltas (experts/weight.h); 1 = as trained */
    hive_engine *engine;             /* the engine that may run the adapters (target.engine) */
    uint32_t n_virtual_tokens;       /* soft prompt carried, 0 if none */
    /* owned by the cache (cache.c) */
    uint32_t refcount;
    struct hive_expert *prev, *next;
} hive_expert;

/* Open, check (manifest, base model), claim and load every adapter. On
 * failure, adapters already loaded are destroyed in reverse order. */
hive_status hive_expert_load(const char *path, const hive_expert_target *t, hive_expert **out, hive_error **err);
/* The same with a weight (experts/weight.h): a LoRA adapter loads with its
 * scale multiplied by `weight`; any other adapter type with a weight other
 * than 1 is an error naming the expert and the type. */
hive_status hive_expert_load_weighted(const char *path, double weight, const hive_expert_target *t, hive_expert **out,
                                      hive_error **err);
void hive_expert_free(hive_expert *x);

/* "lora, dora (adapters/dora.so)" for messages: the loaded adapter plugins. */
void hive_expert_list_adapter_plugins(const hive_registry *r, char *out, size_t cap);

#endif
