/* adapter_config.json as PEFT writes it (LoRA, DoRA, IA3, prompt tuning):
 * every key an adapter plugin may need, with PEFT's defaults. Plugins reject
 * what they do not support; the parsed document stays available in `json`. */
#ifndef HIVE_ADAPTERS_PEFT_CONFIG_H
#define HIVE_ADAPTERS_PEFT_CONFIG_H

#include <stdint.h>
#include "hive_abi.h"
#include "peft_regex.h"

typedef struct cJSON cJSON;

typedef struct peft_strlist {
    char **v;
    uint32_t n;
} peft_strlist;

/* target_modules, exclude_modules, feedforward_modules: a list of names
 * (suffix match at a "." boundary) or a regex string (re.fullmatch). */
#define PEFT_SPEC_NONE 0       /* absent or null */
#define PEFT_SPEC_LIST 1
#define PEFT_SPEC_REGEX 2
#define PEFT_SPEC_ALL_LINEAR 3 /* the string "all-linear" */
typedef struct peft_module_spec {
    int kind;
    peft_strlist list;
    char *regex;
    peft_regex *re; /* compiled regex (fullmatch) */
} peft_module_spec;

/* rank_pattern / alpha_pattern: ordered {regex key, value} pairs. */
typedef struct peft_pattern_entry {
    char *key;
    double value;
} peft_pattern_entry;
typedef struct peft_pattern {
    peft_pattern_entry *v;
    uint32_t n;
} peft_pattern;

typedef struct peft_config {
    cJSON *json;              /* the whole document */
    char *peft_type;          /* "LORA", "IA3", "PROMPT_TUNING", ... ("" if absent) */
    char *task_type;          /* NULL if absent */
    char *base_model_name_or_path;
    int inference_mode;
    /* LoRA / DoRA */
    int64_t r;                /* default 8 */
    double lora_alpha;        /* default 8 */
    double lora_dropout;
    int use_rslora, use_dora, fan_in_fan_out, lora_bias;
    char *bias;               /* "none" by default */
    peft_pattern rank_pattern, alpha_pattern;
    /* targeting */
    peft_module_spec target_modules, exclude_modules, feedforward_modules;
    peft_strlist target_parameters; /* LoRA on parameters (routed experts' stacks) */
    int has_layers_to_transform;
    int64_t *layers_to_transform;
    uint32_t n_layers_to_transform;
    peft_strlist layers_pattern;
    int has_modules_to_save;  /* non-null and non-empty */
    peft_strlist modules_to_save;
    /* prompt tuning */
    int64_t num_virtual_tokens, token_dim, num_transformer_submodules;
} peft_config;

/* Parses text into *cfg (zeroed first). On error: a message naming the key. */
hive_status peft_config_parse(const hive_host_api *host, const char *text, peft_config *cfg, hive_error **err);
void peft_config_free(peft_config *cfg);

/* True when the key is present and not null / false / 0 / "" / [] / {}. */
int peft_config_is_set(const peft_config *cfg, const char *key);

/* For claim(): peft_type (copied into type, "" if absent) and use_dora of the
 * text, without a full parse. Returns 0, or -1 when the text is not a JSON object. */
int peft_config_peek(const char *text, char *type, uint32_t cap, int *use_dora);

#endif
