/* Which modules of the model a PEFT config targets, following PEFT's
 * check_target_module_exists and get_pattern_key. Module names are the full
 * paths PEFT sees ("model.layers.0.self_attn.q_proj"). */
#ifndef HIVE_ADAPTERS_PEFT_MATCH_H
#define HIVE_ADAPTERS_PEFT_MATCH_H

#include <stddef.h>
#include <stdint.h>
#include "hive_abi.h"
#include "peft_config.h"

/* Does `spec` (target_modules or feedforward_modules) select `name`?
 * Applies exclude_modules, modules_to_save and, for list specs,
 * layers_to_transform / layers_pattern. 1 / 0, or -1 with msg on a bad regex. */
int peft_match_module(const peft_config *cfg, const peft_module_spec *spec, const char *name, char *msg, size_t cap);

/* Does `spec` alone name `name`: equal or a suffix at a "." boundary (list),
 * re.fullmatch (regex), any hookable linear (all-linear)? 1 / 0 / -1. */
int peft_spec_names(const peft_module_spec *spec, const char *name);

/* rank_pattern / alpha_pattern lookup: the value of the first key that
 * matches, else dflt. 0, or -1 with msg on a bad key. */
int peft_pattern_value(const peft_pattern *p, const char *name, double dflt, double *out, char *msg, size_t cap);

/* Resolves spec over the model: targeted[layer * HIVE_MODULE_COUNT + module]
 * = 1 or 0. Fails naming the offender when a list entry names no hookable
 * module (e.g. "lm_head", "embed_tokens"), when a regex also selects lm_head or
 * embed_tokens, or when nothing at all is targeted. `key` is the config key,
 * for messages. */
hive_status peft_resolve_targets(const hive_host_api *host, const peft_config *cfg, const peft_module_spec *spec,
                                 const char *key, const hive_model_shape *model, uint8_t *targeted,
                                 hive_error **err);

#endif
