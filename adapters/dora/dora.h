/* dora.so internals: the load-time preparation and the hook. */
#ifndef HIVE_ADAPTERS_DORA_H
#define HIVE_ADAPTERS_DORA_H

#include "hive_abi.h"
#include "peft_lora.h"

/* f = m / ||W + s B A|| per output row, from the dequantized base W; scales B
 * rows by f * s and uploads f - 1 and -(f - 1) * bias. */
hive_status dora_prepare(peft_lora *a, peft_lora_module *m, const float *A, float *B, const float *mag,
                         hive_error **err);

/* Around peft_lora_load on one thread: the norms' helper threads (started by
 * the first dora_prepare, plugins.dora.threads or every CPU) live until
 * dora_load_end. */
void dora_load_begin(void);
void dora_load_end(void);

/* y += (f - 1) * (base_y - b) + f * s * B (A x). */
hive_status dora_apply(peft_lora *a, uint32_t layer, uint32_t module, const hive_tensor *x,
                       const hive_tensor *base_y, const hive_tensor *y, hive_error **err);

#endif
