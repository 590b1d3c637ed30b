/* Weights in an expert set (`--expert PATH:0.5`, the server's
 * {"name": "sql", "weight": 0.5}): a weight w scales a LoRA adapter's delta,
 * y += w * s * B A x, as PEFT's add_weighted_adapter(combination_type="cat")
 * does. It is folded in when the adapter loads: the plugin is given
 * adapter_config.json with lora_alpha (and every alpha_pattern value)
 * multiplied by w, so s becomes w * s for every module and every path that
 * reads the adapter (per-segment hooks, op_lora_segments' B with the scale
 * folded in, --merge) honours it without an ABI change. A weighted expert is
 * its own entry in the expert cache (key: path + weight). DoRA, IA3 and soft
 * prompts take weight 1 only: for them w is not a scale of a delta. */
#ifndef HIVE_EXPERTS_WEIGHT_H
#define HIVE_EXPERTS_WEIGHT_H

#include <stddef.h>
#include "util/error.h"

#define HIVE_EXPERT_WEIGHT_MAX 100.0

/* A finite number in (0, HIVE_EXPERT_WEIGHT_MAX]; else an error naming `what`
 * (the expert or the spec). */
hive_status hive_expert_weight_check(double w, const char *what, hive_error **err);

/* Weight text: digits, '.', exponent ("0.5", "1.5", "2", "1e-1"); no "nan",
 * "inf", hex or spaces. Then hive_expert_weight_check. */
hive_status hive_expert_weight_parse(const char *text, const char *what, double *out, hive_error **err);

/* "PATH" or "PATH:W". The rule for paths that contain ':': a spec that names
 * an existing file or directory as written is a path (weight 1); otherwise,
 * when the text after its last ':' holds no '/', that text is the weight and
 * must be valid. So `a:b/c` is a path, and a file literally named `x:0.5` is
 * weighted as `x:0.5:0.5`. path gets the path part (cap bytes). */
hive_status hive_expert_spec_parse(const char *spec, char *path, size_t cap, double *weight, hive_error **err);

/* adapter_config.json text with lora_alpha (default 8, PEFT's) and every
 * alpha_pattern value multiplied by w (malloc'd; NULL and *err on failure). */
char *hive_lora_config_weighted(const char *config_json, double w, hive_error **err);

/* Whether an adapter type ("lora", "dora", ...) can carry a weight other than 1. */
int hive_adapter_type_weightable(const char *type);

#endif
