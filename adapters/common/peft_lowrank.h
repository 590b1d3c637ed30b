/* The low-rank delta y += B (A x) as backend ops, for LoRA-style adapters. */
#ifndef HIVE_ADAPTERS_PEFT_LOWRANK_H
#define HIVE_ADAPTERS_PEFT_LOWRANK_H

#include <stdint.h>
#include "hive_abi.h"

typedef struct peft_lowrank {
    uint32_t r, in, out;
    hive_weight *A; /* [r, in] f32 */
    hive_weight *B; /* [out, r] f32, rows already scaled by the caller */
} peft_lowrank;

/* Uploads A [r, in] and B [out, r] (host f32, borrowed) as f32 weights named
 * "<name>.lora_A" / "<name>.lora_B". On failure nothing stays allocated. */
hive_status peft_lowrank_upload(const hive_backend_api *be, hive_device *dev, const char *name, const float *A,
                                const float *B, uint32_t r, uint32_t in, uint32_t out, peft_lowrank *lr,
                                hive_error **err);
void peft_lowrank_free(const hive_backend_api *be, hive_device *dev, peft_lowrank *lr);
/* Device bytes the two weights hold (as f32). */
uint64_t peft_lowrank_bytes(const peft_lowrank *lr);

/* y += (x @ A^T) @ B^T: t = x A^T into `scratch` (f32, at least
 * x->rows * r floats), then y = 1 * (t B^T) + 1 * y. */
hive_status peft_lowrank_apply(const hive_backend_api *be, hive_device *dev, const peft_lowrank *lr,
                               const hive_tensor *x, hive_buffer *scratch, const hive_tensor *y, hive_error **err);

/* A [1, n] f32 weight from host data (for op_binary_weight). */
hive_status peft_upload_vector(const hive_backend_api *be, hive_device *dev, const char *name, const float *v,
                               uint32_t n, hive_weight **out, hive_error **err);

#endif
