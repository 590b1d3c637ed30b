/* Shared by the two forms of Mamba2's selective scan (ops_ssm.c: one token
 * at a time; ops_ssm_chunked.c: chunks of one sequence's rows). */
#ifndef HIVE_CPU_OPS_SSM_INTERNAL_H
#define HIVE_CPU_OPS_SSM_INTERNAL_H

#include <math.h>

#include "cpu_internal.h"

typedef struct {
    const hive_tensor *x, *dt, *B, *C, *state, *y;
    const float *A, *D, *dt_bias;
    const hive_ssm_desc *d;
} cpu_ssm_args;

/* dt of head h at batch row r: clamp(softplus(dt + dt_bias)), softplus as
 * torch's (linear above 20). */
static inline float cpu_ssm_dt(const cpu_ssm_args *a, int64_t r, int64_t h) {
    float v = cpu_row(a->dt, r)[h] + a->dt_bias[h];
    float dth = v > 20.0f ? v : log1pf(expf(v));
    if (dth < a->d->dt_min) dth = a->d->dt_min;
    if (dth > a->d->dt_max) dth = a->d->dt_max;
    return dth;
}

/* One token (batch row r) of heads [h0, h1), continuing state row slot. */
void cpu_ssm_step_heads(const cpu_ssm_args *a, int64_t r, int32_t slot, int64_t h0, int64_t h1);

/* Rows rows[0 .. L) of one sequence (one build per ISA width), in order, continuing state row slot, by
 * chunks of Q tokens; heads split across the device's threads. */
void cpu_ssm_scan_chunked_base(const hive_device *dev, const cpu_ssm_args *a, const int64_t *rows, int64_t L,
                               int32_t slot, uint32_t Q);
void cpu_ssm_scan_chunked_avx2(const hive_device *dev, const cpu_ssm_args *a, const int64_t *rows, int64_t L,
                               int32_t slot, uint32_t Q);
void cpu_ssm_scan_chunked_avx512(const hive_device *dev, const cpu_ssm_args *a, const int64_t *rows, int64_t L,
                                 int32_t slot, uint32_t Q);

#endif
