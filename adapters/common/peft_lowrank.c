/* The low-rank delta y += B (A x) as backend ops. */
#include "peft_lowrank.h"

#include <stdio.h>
#include <string.h>

static hive_status upload(const hive_backend_api *be, hive_device *dev, const char *name, const char *suffix,
                          const float *data, int64_t rows, int64_t cols, hive_weight **out, hive_error **err) {
    char full[320];
    snprintf(full, sizeof full, "%s%s", name, suffix);
    hive_weight_desc d = {sizeof d, HIVE_DTYPE_F32, rows, cols, full};
    return be->weight_upload(dev, &d, data, out, err);
}

hive_status peft_lowrank_upload(const hive_backend_api *be, hive_device *dev, const char *name, const float *A,
                                const float *B, uint32_t r, uint32_t in, uint32_t out, peft_lowrank *lr,
                                hive_error **err) {
    memset(lr, 0, sizeof *lr);
    lr->r = r, lr->in = in, lr->out = out;
    hive_status st = upload(be, dev, name, ".lora_A", A, r, in, &lr->A, err);
    if (st == HIVE_OK) st = upload(be, dev, name, ".lora_B", B, out, r, &lr->B, err);
    if (st != HIVE_OK) peft_lowrank_free(be, dev, lr);
    return st;
}

void peft_lowrank_free(const hive_backend_api *be, hive_device *dev, peft_lowrank *lr) {
    if (lr->A) be->weight_free(dev, lr->A);
    if (lr->B) be->weight_free(dev, lr->B);
    lr->A = lr->B = NULL;
}

uint64_t peft_lowrank_bytes(const peft_lowrank *lr) {
    return (uint64_t)lr->r * ((uint64_t)lr->in + lr->out) * sizeof(float);
}

hive_status peft_lowrank_apply(const hive_backend_api *be, hive_device *dev, const peft_lowrank *lr,
                               const hive_tensor *x, hive_buffer *scratch, const hive_tensor *y, hive_error **err) {
    hive_tensor t = {sizeof t, HIVE_DTYPE_F32, scratch, 0, x->rows, lr->r, lr->r};
    hive_status st = be->op_matmul(dev, x, lr->A, NULL, 1.0f, 0.0f, &t, err);
    if (st != HIVE_OK) return st;
    return be->op_matmul(dev, &t, lr->B, NULL, 1.0f, 1.0f, y, err);
}

hive_status peft_upload_vector(const hive_backend_api *be, hive_device *dev, const char *name, const float *v,
                               uint32_t n, hive_weight **out, hive_error **err) {
    hive_weight_desc d = {sizeof d, HIVE_DTYPE_F32, 1, n, name};
    return be->weight_upload(dev, &d, v, out, err);
}
