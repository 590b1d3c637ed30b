/* k_sgmv.h — segmented multi-LoRA (SGMV) kernels: for each segment s,
 *     y[row0 .. row0 + rows) += (x[same rows] A_s^T) B_s^T
 * with A_s f32 [rank_s, k] and B_s f32 [ncols, rank_s], both row-major and
 * contiguous. Two launches cover every segment:
 *   shrink: t_s = x_s A_s^T      (optionally split over k into partial planes)
 *   expand: y_s += (sum of the planes of t_s) B_s^T
 * Launchers enqueue on `s` and throw gpu_exc on a launch error. */
#ifndef HIVE_K_SGMV_H
#define HIVE_K_SGMV_H

#include <stdint.h>

#include "gpu_port.h"

/* Largest rank the kernels take (the shrink grid always covers this many). */
#define GPU_SGMV_MAX_RANK 128
/* Most segments in one call (grid.z limit of both vendors). */
#define GPU_SGMV_MAX_SEGMENTS 65535
/* Rows of one tile; a segment of R rows needs ceil(R / GPU_SGMV_TILE_ROWS) tiles. */
#define GPU_SGMV_TILE_ROWS 32
/* Upper bound on the split of the shrink reduction over k. */
#define GPU_SGMV_MAX_KSPLIT 16

/* One segment as the kernels read it (device copy of a host array). */
struct gpu_sgmv_seg {
    int32_t row0;     /* first row of x and y */
    int32_t rows;     /* > 0 */
    int32_t rank;     /* 1 .. GPU_SGMV_MAX_RANK */
    int32_t reserved; /* 0 */
    const float *A;   /* device, [rank, k] row stride k */
    const float *B;   /* device, [ncols, rank] row stride rank */
    int64_t t_off;    /* floats: this segment's [rows, rank] block inside one t plane */
};

struct gpu_sgmv_args {
    const gpu_sgmv_seg *segs; /* device, [n] */
    int32_t n;                /* 1 .. GPU_SGMV_MAX_SEGMENTS */
    int32_t max_rows;         /* max over segments of rows (sizes grid.y) */
    const float *x;           /* x row r at x + r * sx, k columns */
    int64_t sx, k;
    float *y;                 /* y row r at y + r * sy, ncols columns */
    int64_t sy, ncols;
    float *t;                 /* ksplit planes of t_plane floats each */
    int64_t t_plane;          /* sum over segments of rows * rank */
    int32_t ksplit;           /* >= 1; plane z holds the partial sum over k in chunk z */
    int64_t kchunk;           /* ksplit * kchunk >= k, kchunk a multiple of the k step */
};

/* Host: choose ksplit and kchunk for a reduction of length k over n segments
 * of at most max_rows rows on a device with sm_count multiprocessors. Only a
 * performance choice: every result is correct. */
void gpu_sgmv_plan_split(int64_t k, int32_t n, int32_t max_rows, int sm_count, int32_t *ksplit,
                         int64_t *kchunk);

/* t[z] = partial x A^T over k chunk z (every plane of every segment written). */
void gpu_sgmv_shrink(gpuStream_t s, const gpu_sgmv_args *a);
/* y += (sum_z t[z]) B^T, segment rows only. */
void gpu_sgmv_expand(gpuStream_t s, const gpu_sgmv_args *a);

#endif
