/* What an adapter's adapter_model.safetensors holds, read from its header
 * (host/model/tensor_file.h), and its tensor shapes checked against a base
 * model's module shapes (for `experts inspect` / `experts validate --model`). */
#ifndef HIVE_EXPERTS_ADAPTER_FILES_H
#define HIVE_EXPERTS_ADAPTER_FILES_H

#include <stdint.h>
#include "experts/manifest.h"
#include "experts/problems.h"
#include "model/model.h"

hive_status hive_adapter_weights_summary(const char *path, uint64_t *n_tensors, uint64_t *bytes, hive_error **err);

/* in/out features of each HIVE_MODULE_*, as the engine computes them. */
void hive_module_dims(const hive_hparams *hp, uint32_t in[HIVE_MODULE_COUNT], uint32_t out[HIVE_MODULE_COUNT]);

/* LoRA A [r, in], B [out, r] (same r per module), DoRA magnitude [out], IA3
 * [out, 1] or [1, in], prompt embeddings [n, hidden], layer < n_layers.
 * Tensors of other modules are left to the adapter plugin. `field` names the
 * adapter ("base_models[0].adapters[1]"). */
void hive_adapter_check_shapes(const hive_manifest *m, const char *field, const hive_manifest_adapter *a,
                               const hive_hparams *hp, hive_problems *p);

#endif
