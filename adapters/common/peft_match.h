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

/* The same over the first n_mod modules (peft_model_modules): targeted[layer
 * * n_mod + module]; modules absent from a layer are never targeted. An entry
 * that names only a module past n_mod is refused as not adaptable by this
 * adapter type. */
hive_status peft_resolve_targets_n(const hive_host_api *host, const peft_config *cfg, const peft_module_spec *spec,
                                   const char *key, const hive_model_shape *model, uint32_t n_mod, uint8_t *targeted,
                                   hive_error **err);

/* Modules a plugin addresses: HIVE_MODULE_COUNT, or with extras (LoRA) every
 * module of a 1.10 model shape (hive_model_shape.n_modules). */
uint32_t peft_model_modules(const hive_model_shape *m, int extras);
/* A module's PEFT path format and features, any id below peft_model_modules. */
const char *peft_module_fmt(const hive_model_shape *m, uint32_t module);
uint32_t peft_module_in(const hive_model_shape *m, uint32_t module);
uint32_t peft_module_out(const hive_model_shape *m, uint32_t module);
/* k + 1 when the module is routed expert k's slice of a stacked parameter
 * (1.11; PEFT's target_parameters), else 0. Such modules are never matched
 * by target_modules. */
uint32_t peft_module_expert(const hive_model_shape *m, uint32_t module);

/* target_parameters over the first n_mod modules: sets targeted[layer * n_mod
 * + module] for every expert slice of a parameter whose path an entry names
 * (equal or a suffix at a "." boundary, as PEFT matches). Fails naming an
 * entry that names nothing. */
hive_status peft_resolve_parameters(const hive_host_api *host, const peft_config *cfg, const hive_model_shape *model,
                                    uint32_t n_mod, uint8_t *targeted, hive_error **err);

/* 1 when the layer has the module (always, before 1.10). */
int peft_module_present(const hive_model_shape *m, uint32_t layer, uint32_t module);

#endif
