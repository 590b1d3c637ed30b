/* gpu_kernels.h — host-side launchers of the shared kernels. Each launcher
 * enqueues on `s` and throws gpu_exc on a launch error. Pointers are device
 * pointers unless named *_host. Strides are in elements. */
#ifndef HIVE_GPU_KERNELS_H
#define HIVE_GPU_KERNELS_H

#include <stdint.h>

#include "gpu_port.h"

/* elementwise / rows (k_elementwise.cu) */
void gpu_rmsnorm(gpuStream_t s, const float *x, int64_t sx, const float *gain, float eps, float *out,
                 int64_t so, int64_t rows, int64_t cols);
void gpu_layernorm(gpuStream_t s, const float *x, int64_t sx, const float *gain, const float *bias, float eps,
                   float *out, int64_t so, int64_t rows, int64_t cols);
/* out = a op b (b_stride 0 = broadcast one row) */
void gpu_binary(gpuStream_t s, uint32_t op, const float *a, int64_t sa, const float *b, int64_t sb,
                float *out, int64_t so, int64_t rows, int64_t cols);
void gpu_swiglu(gpuStream_t s, const float *g, int64_t sg, const float *u, int64_t su, float *out,
                int64_t so, int64_t rows, int64_t cols);
void gpu_get_rows(gpuStream_t s, const float *x, int64_t sx, const int32_t *rows_dev, float *out,
                  int64_t so, int64_t n, int64_t cols);
/* out[rows[i]] += scale[i] * x[i] for i < n; rows and scale in device memory */
void gpu_add_rows_scaled(gpuStream_t s, const float *x, int64_t sx, const int32_t *rows_dev, const float *scale_dev,
                         float *out, int64_t so, int64_t n, int64_t cols);
/* out = alpha * bias + beta * out (beta == 0: out not read) */
void gpu_bias_prep(gpuStream_t s, const float *bias, float alpha, float beta, float *out, int64_t so,
                   int64_t rows, int64_t cols);
/* f32 rows -> contiguous f16 (dtype F16) or bf16 (dtype BF16) [rows, cols] */
void gpu_convert_rows(gpuStream_t s, uint32_t dtype, const float *x, int64_t sx, void *out,
                      int64_t rows, int64_t cols);
void gpu_argmax(gpuStream_t s, const float *x, int64_t sx, int64_t rows, int64_t cols, int32_t *ids);

/* weights (k_dequant.cu): any supported dtype */
/* rows [r0, r0+n) of w -> f16 [n, cols] */
void gpu_dequant_f16(gpuStream_t s, uint32_t dtype, const void *w, uint64_t row_bytes, int64_t r0,
                     int64_t n, int64_t cols, gpu_half *out);
/* out[i] = row ids[i] of w as f32 (embedding); ids_dev may be NULL for row i = i */
void gpu_dequant_rows_f32(gpuStream_t s, uint32_t dtype, const void *w, uint64_t row_bytes,
                          const int32_t *ids_dev, int64_t n, int64_t cols, float *out, int64_t so);

/* matmul kernels: out = alpha * (x w^T + bias) + beta * out (beta == 0: out not read) */
void gpu_gemv(gpuStream_t s, uint32_t dtype, const void *w, uint64_t row_bytes, int64_t n, int64_t k,
              const float *x, int64_t sx, int64_t m, const float *bias, float alpha, float beta,
              float *out, int64_t so);
/* Decode GEMV for w dtype F32, F16 or BF16 ([n, k], row_bytes apart; m <= 8
 * per pass, larger m in passes of 8): f32 x read directly, 16-byte weight
 * loads when rows are 16-byte aligned; sm_count shapes the grid. */
void gpu_gemv_plain(gpuStream_t s, int sm_count, uint32_t dtype, const void *w, uint64_t row_bytes, int64_t n,
                    int64_t k, const float *x, int64_t sx, int64_t m, const float *bias, float alpha, float beta,
                    float *out, int64_t so);
/* w dtype F32, F16 or BF16, row-major [n, k] contiguous */
void gpu_gemm_tiled(gpuStream_t s, uint32_t dtype, const void *w, int64_t n, int64_t k,
                    const float *x, int64_t sx, int64_t m, const float *bias, float alpha,
                    float beta, float *out, int64_t so);

/* rope (k_rope.cu), in place */
void gpu_rope(gpuStream_t s, float *x, int64_t sx, int64_t rows, uint32_t mode, uint32_t n_heads,
              uint32_t head_dim, uint32_t rot_dims, float attn_factor, const float *inv_freq,
              const int32_t *pos);

/* attention (k_attention.cu) */
struct gpu_kv_view {
    void *k, *v;            /* this layer */
    uint32_t f16;           /* 1: f16 cache, 0: f32 */
    uint32_t block_size, n_kv_heads, head_dim;
};
void gpu_kv_store(gpuStream_t s, const gpu_kv_view *kv, const float *k, int64_t sk, const float *v,
                  int64_t sv, int64_t rows, const int32_t *row_seq, const int32_t *row_pos,
                  const int32_t *block_table, uint32_t max_blocks);

#define GPU_ATT_PAIRS 4 /* (row, head) pairs per work item = warps per block */
/* seq and max_pos are ignored when gpu_att_args.row_seq is set (graph capture:
 * every item then holds pairs of one row, and the kernel reads that row's
 * sequence and position from the device arrays). */
struct gpu_att_item {
    int32_t seq, kv_head, max_pos, n_pairs;
    int32_t row[GPU_ATT_PAIRS];
    int32_t head[GPU_ATT_PAIRS];
};
struct gpu_att_args {
    const gpu_att_item *items;
    int32_t n_items;
    int32_t n_splits;
    int32_t split_len;      /* positions per split, multiple of the tile */
    const int32_t *row_pos;
    const int32_t *block_table;
    const int32_t *row_seq; /* NULL: items carry seq / max_pos (eager) */
    uint32_t max_blocks;
    const float *q;
    int64_t sq;
    float *out;
    int64_t so;
    uint32_t n_heads;
    float scale;
    float *part;            /* [rows][n_heads][n_splits][head_dim + 2] when n_splits > 1 */
    int64_t rows;
};
void gpu_attention(gpuStream_t s, const gpu_kv_view *kv, const gpu_att_args *a);

#endif
