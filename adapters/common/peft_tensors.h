/* adapter_model.safetensors through the host's tensor-file service: lookups
 * with shape checks and f32 conversion, and a check that every tensor in the
 * file was used. */
#ifndef HIVE_ADAPTERS_PEFT_TENSORS_H
#define HIVE_ADAPTERS_PEFT_TENSORS_H

#include <stdint.h>
#include "hive_abi.h"

/* "base_model.model." — the prefix of every LoRA/DoRA/IA3 key. */
#define PEFT_KEY_PREFIX "base_model.model."

/* Staging buffers for tensors that must be converted to f32 (or that the
 * caller changes, as LoRA scales B): one per role, grown as needed and
 * reused by every later tensor of the load, freed by peft_tensors_close. */
#define PEFT_STAGES 3

typedef struct peft_tensors {
    const hive_host_api *host;
    char *path; /* dir/adapter_model.safetensors, for messages */
    hive_tensor_file *file;
    uint64_t count;
    const char **names; /* sorted; point into the file */
    uint8_t *used;      /* parallel to names */
    float *stage[PEFT_STAGES];
    uint64_t stage_cap[PEFT_STAGES]; /* floats */
    /* bytes handed out in place (pointers into the mapped file) and bytes
     * written by conversions or copies; a debug line reports them */
    uint64_t bytes_in_place, bytes_converted;
} peft_tensors;

/* Opens dir/adapter_model.safetensors. When only adapter_model.bin exists the
 * error says pickles are unsupported. */
hive_status peft_tensors_open(const hive_host_api *host, const char *dir, peft_tensors *t, hive_error **err);
void peft_tensors_close(peft_tensors *t);

/* 1 when the file holds `name`, else 0. */
int peft_tensors_has(const peft_tensors *t, const char *name);
/* Marks `name` used; HIVE_E_NOTFOUND "missing tensor NAME" when absent. */
hive_status peft_tensors_expect(peft_tensors *t, const char *name, hive_error **err);

/* The tensor `name` as malloc'd f32 (F32/F16/BF16 accepted), after checking
 * its shape is exactly `shape` and that every element is finite. Missing:
 * HIVE_E_NOTFOUND naming the tensor; wrong shape: HIVE_E_SHAPE "NAME:
 * expected [a, b], found [c, d]"; a NaN or +-Inf: HIVE_E_INVALID
 * "DIR/adapter_model.safetensors: tensor 'NAME' holds NaN at element 123 (of
 * 4096)" (the first one, row-major). Every adapter plugin reads its weights
 * here, so none can upload or merge a non-finite weight. Marks the tensor
 * used. */
hive_status peft_tensors_f32(peft_tensors *t, const char *name, uint32_t n_dims, const int64_t *shape, float **out,
                             hive_error **err);

/* The tensor `name` as f32 to read, checked as peft_tensors_f32. When the
 * file holds it as F32 at a 4-byte aligned address, *out points into the
 * mapped file (no copy: valid until peft_tensors_close), so the backend's
 * weight_upload reads the file's bytes; otherwise (F16, BF16, or unaligned)
 * it is converted into stage buffer `stage` (valid until that stage is used
 * again). F16/BF16 are converted, not uploaded as they are: the backends'
 * low-rank ops (op_lora_segments) take f32, and a 16-bit weight in op_matmul
 * may round the activations too (onednn-cpu's bf16 prefill does). */
hive_status peft_tensors_view_f32(peft_tensors *t, const char *name, uint32_t n_dims, const int64_t *shape,
                                  uint32_t stage, const float **out, hive_error **err);
/* The same, always as a writable f32 copy in stage buffer `stage`. */
hive_status peft_tensors_stage_f32(peft_tensors *t, const char *name, uint32_t n_dims, const int64_t *shape,
                                   uint32_t stage, float **out, hive_error **err);

/* HIVE_E_INVALID naming up to three tensors that no lookup used ("tensors
 * that target nothing"); `what` describes the expectation for the message. */
hive_status peft_tensors_check_all_used(const peft_tensors *t, const char *what, hive_error **err);

#endif
