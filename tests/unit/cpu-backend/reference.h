/* Independent scalar references: random weights in every supported dtype with
 * their exact f32 values, and f16 helpers built on the compiler's _Float16. */
#ifndef CPU_TEST_REFERENCE_H
#define CPU_TEST_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

/* Random [rows x cols] weight in dtype: *data gets the raw bytes (GGML blocks),
 * *deq the f32 value of every element. Both malloc'ed. Returns bytes. */
size_t ref_make_weight(uint32_t dtype, int64_t rows, int64_t cols, void **data, float **deq);
const char *ref_dtype_name(uint32_t dtype);
uint32_t ref_block_elems(uint32_t dtype);

uint16_t ref_f16_bits(float f);
float ref_f16_value(float f); /* f rounded to f16 and back */
float ref_bf16_value(float f); /* nearest bfloat16, ties to even (no NaNs) */

/* What llama.cpp's reference quantizers (quantize_row_q8_0 / q4_0) keep of
 * the n values x (a multiple of 32), as values: q8_0 d = amax / 127 in f16,
 * q = round(x / d); q4_0 d = (the value of largest magnitude, the first on
 * ties) / -8 in f16, q = min(15, trunc(x / d + 8.5)), value (q - 8) d. */
void ref_q8_0_values(const float *x, float *y, int n);
void ref_q4_0_values(const float *x, float *y, int n);

/* What a KV page of dtype holds for one head's row x of n values (n a
 * multiple of 32), in the model's basis: x itself rounded to f16 / bf16, and
 * for q8_0 and q4_0, which onednn-cpu stores rotated, R^T Q(R x) with Q the
 * quantizer above and R = H D / sqrt(B) over each run of B values: B the
 * largest power of two dividing n, H the Walsh-Hadamard matrix (entry (i, j)
 * = (-1)^popcount(i & j)), D = diag of -1 where bit i % 64 of
 * 0x9E3779B97F4A7C15 is set, else 1. R x is computed in float in the
 * plugin's order (the quantizer's rounding must see its bits), R^T from the
 * matrix in double. */
void ref_kv_values(uint32_t dtype, const float *x, float *y, int n);

/* Exact attention (in double) of `rows` query rows (q, row r at q + r *
 * q_stride, nh heads of hd) over the values a cache holds (kq, vq: one row
 * of nkv * hd per slot): row r attends to slots 0..qpos[r], head h to KV
 * head h / (nh / nkv). Slot t takes q rounded to f16 where q_f16[t] and its
 * softmax weight rounded to f16 where p_f16[t], as an f16 page does (NULL:
 * no slot). exact[(r * nh + h) * hd + i]. */
void ref_attention_exact(const float *q, size_t q_stride, int rows, const int32_t *qpos, int nh, int nkv, int hd,
                         float scale, const float *kq, const float *vq, const uint8_t *q_f16, const uint8_t *p_f16,
                         double *exact);
/* The worst |got - exact| / (1 + |exact|) over rows x cols (got row r at
 * got + r * got_stride, exact packed); NaN when any is NaN. */
double ref_worst_rel(const float *got, size_t got_stride, const double *exact, int rows, int cols);

#endif
