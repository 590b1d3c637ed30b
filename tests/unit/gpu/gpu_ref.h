/* gpu_ref.h — scalar CPU references for the GPU backend tests. */
#ifndef HIVE_TEST_GPU_REF_H
#define HIVE_TEST_GPU_REF_H

#include <stdint.h>

#include "hive_abi.h"

float ref_f16_to_f32(uint16_t h);
uint16_t ref_f32_to_f16(float f);
float ref_round_f16(float f);

/* deterministic uniform in [-1, 1) */
float ref_rand(uint32_t *state);
void ref_fill(float *x, int64_t n, uint32_t *state, float scale);

/* Random weight of rows x cols in dtype (random blocks for quantized types).
 * *bytes gets the raw data (free()), *f32 its exact dequantization (free()). */
void ref_make_weight(uint32_t dtype, int64_t rows, int64_t cols, uint32_t *state, void **bytes, float **f32);

/* out[m,n] = alpha*(x w^T + bias) + beta*out */
void ref_matmul(const float *x, const float *w, const float *bias, float alpha, float beta, float *out,
                int64_t m, int64_t n, int64_t k);
void ref_rope(float *x, int64_t rows, int64_t cols, const hive_rope_desc *r, const int32_t *pos);
/* k/v given per (seq, pos) as [n_seqs][max_pos][n_kv*hd]; q/out [rows][n_heads*hd] */
void ref_attention(const float *q, const float *k, const float *v, int64_t ctx, const int32_t *row_seq,
                   const int32_t *row_pos, int64_t rows, uint32_t n_heads, uint32_t n_kv, uint32_t hd,
                   float scale, float *out);

#endif
