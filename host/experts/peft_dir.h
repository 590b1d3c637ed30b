/* A plain PEFT adapter directory (adapter_config.json + adapter_model.safetensors,
 * as PEFT's save_pretrained writes them, no manifest.json) is an expert too.
 * Its manifest is synthesized in memory: name = the directory's basename,
 * version 0.0.0, one base model named by base_model_name_or_path, one adapter
 * of the type peft_type / use_dora say, path "." (the directory itself), no
 * decoding defaults, no grammar. The rest of loading is the manifest path. */
#ifndef HIVE_EXPERTS_PEFT_DIR_H
#define HIVE_EXPERTS_PEFT_DIR_H

#include <stddef.h>
#include "experts/manifest.h"

/* 1 when dir holds adapter_config.json and no manifest.json. */
int hive_peft_dir_is(const char *dir);

/* The base check for any expert (hive_manifest_match_base_named). A PEFT
 * directory's base_model_name_or_path is often a local training path, so for
 * one a mismatch (or no name at all) is a warning and *index = 0, unless
 * `strict` (experts.strict_base, --strict-base): then it is an error too.
 * Manifest packages are always strict. */
hive_status hive_expert_check_base(const hive_manifest *m, const char *model_name, const char *model_path, int strict,
                                   size_t *index, hive_error **err);

#endif
