/* Does an expert target the loaded base model? A base_models[] entry matches
 * when its name matches the model's name (hive_hparams.name, or the model
 * path's basename without extension; case-insensitive; "Org/Name" counts as
 * "Name"; a model name that continues past the entry's name with a separator,
 * e.g. "SmolLM2-135M-Instruct-Q8_0" for "SmolLM2-135M-Instruct", matches), or
 * else when its sha256 equals the sha256 of the model file (hashed lazily,
 * only when no name matched; cached by path + size + mtime). */
#ifndef HIVE_EXPERTS_BASE_MATCH_H
#define HIVE_EXPERTS_BASE_MATCH_H

#include <stddef.h>
#include "experts/manifest.h"
#include "model/model.h"

/* 1 when `entry` (a manifest name) names `model` (a model name or basename). */
int hive_base_name_matches(const char *entry, const char *model);

/* The file whose sha256 identifies a model at `path` (a .gguf file, or a
 * Hugging Face directory's model.safetensors); "" when there is none (a
 * sharded directory, a missing path). */
void hive_base_model_file(const char *path, char *out, size_t cap);

/* model_name: hive_hparams.name (may be NULL or ""); model_path: the .gguf
 * file or Hugging Face directory (its model.safetensors is hashed). On a match
 * *index is the base_models[] entry. Mismatch: HIVE_E_INVALID, "expert 'sql'
 * targets base model(s) X (sha256 ...), but the loaded model is Y (sha256 ...)". */
hive_status hive_manifest_match_base_named(const hive_manifest *m, const char *model_name, const char *model_path,
                                           size_t *index, hive_error **err);
hive_status hive_manifest_match_base(const hive_manifest *m, const hive_model_files *model, size_t *index,
                                     hive_error **err);

#endif
