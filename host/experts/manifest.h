/* manifest.json of an expert package (HiveLLM schema 2.0; 1.0 is read too:
 * base_model + top-level adapters become base_models[0]). Parsing goes on past
 * problems so all of them can be listed; each names the file and the field. */
#ifndef HIVE_EXPERTS_MANIFEST_H
#define HIVE_EXPERTS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include "experts/problems.h"
#include "experts/sha256.h"
#include "hive_abi.h"

typedef struct hive_strv {
    char **v;
    size_t n;
} hive_strv;

typedef struct hive_manifest_adapter {
    char type[16];          /* "lora" | "dora" | "ia3" | "soft-prompt" ("" when invalid) */
    char *path;             /* as written (relative to the package) */
    char *dir;              /* the PEFT directory (absolute); NULL when missing */
    char *weights;          /* adapter_model.safetensors (absolute); NULL when missing */
    char *config_json;      /* adapter_config.json text; NULL when missing */
    int64_t r;              /* manifest's, -1 when absent */
    double alpha;           /* manifest's, -1 when absent */
    hive_strv targets;      /* manifest's target_modules (may be empty) */
    int64_t size_bytes;     /* -1 when absent */
    char sha256[HIVE_SHA256_HEX]; /* of the weights file; "" when absent */
    /* from adapter_config.json */
    char peft_type[32];
    int use_dora;
    int64_t cfg_r;          /* -1 when absent */
    double cfg_alpha;       /* -1 when absent */
    hive_strv cfg_targets;  /* list form; empty when absent or a regex */
    char *cfg_targets_regex;/* string form ("all-linear" or a regex), else NULL */
    hive_strv cfg_target_params; /* target_parameters (routed experts' stacked parameters) */
    int64_t num_virtual_tokens; /* prompt tuning, -1 when absent */
} hive_manifest_adapter;

typedef struct hive_manifest_base {
    char *name;
    char sha256[HIVE_SHA256_HEX]; /* lowercase; "" when absent */
    hive_manifest_adapter *adapters;
    size_t n_adapters;
} hive_manifest_base;

/* A decoding default as a configuration key and its text value. */
typedef struct hive_manifest_setting {
    const char *key;  /* "sampling.temperature" (static) */
    char *value;      /* "0.1" */
    const char *field;/* "training.decoding.temperature" (static) */
} hive_manifest_setting;

typedef struct hive_manifest {
    char *file;                  /* manifest.json path */
    char *dir;                   /* package directory */
    char *name, *version, *description, *schema_version;
    hive_manifest_base *bases;
    size_t n_bases;
    hive_manifest_setting *decoding;
    size_t n_decoding;
    hive_strv keywords;          /* routing.keywords (shown, not used) */
    hive_strv incompatible_with; /* constraints */
    hive_strv requires;
    int64_t max_chain;           /* 0 = no limit */
    hive_strv ignored;           /* "field: why it is ignored" */
    int peft_dir;                /* synthesized from a plain PEFT directory (file = its adapter_config.json) */
} hive_manifest;

/* Reads dir/manifest.json (`file`) and the adapter_config.json of every
 * adapter; when `file` is dir/adapter_config.json (a plain PEFT directory, see
 * peft_dir.h) the manifest is synthesized from it. Returns an error only when
 * the manifest cannot be read as a JSON object (or a PEFT directory's type is
 * not served); everything else is added to probs (m is usable for display). */
hive_status hive_manifest_load(const char *dir, const char *file, hive_manifest *m, hive_problems *probs,
                               hive_error **err);
void hive_manifest_free(hive_manifest *m);

/* "lora", "LoRA" -> "lora"; "soft_prompt", "prompt-tuning" -> "soft-prompt"; NULL if unknown. */
const char *hive_adapter_type_canonical(const char *t);
/* What an adapter_config.json (peft_type, use_dora) makes of an adapter: "lora",
 * "dora", "ia3", "soft-prompt", or NULL for other PEFT types. */
const char *hive_adapter_type_of_config(const char *peft_type, int use_dora);

#endif
