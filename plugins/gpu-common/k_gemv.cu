/* k_gemv.cu — decode matmul (m <= GPU_GEMV_MAX_ROWS rows of x) straight from the
 * stored weight format: one warp per output feature, each lane decodes 32-element
 * chunks of the weight row and dots them with every x row (f32 accumulation). */
#include "gpu_backend.h"
#include "gpu_kernels.h"
#include "k_quant.cuh"

#define GEMV_WARPS 4

__global__ static void k_gemv(uint32_t dtype, const uint8_t *w, uint64_t row_bytes, int64_t n, int64_t k,
                              const float *x, int64_t sx, int m, const float *bias, float alpha,
                              float beta, float *out, int64_t so) {
    const int lane = threadIdx.x % GPU_WARP;
    const int64_t col = (int64_t)blockIdx.x * GEMV_WARPS + threadIdx.x / GPU_WARP;
    if (col >= n) return; /* whole warp leaves together */
    const uint8_t *row = w + (uint64_t)col * row_bytes;
    const int64_t chunks = (k + 31) / 32;
    float acc[GPU_GEMV_MAX_ROWS];
#pragma unroll
    for (int r = 0; r < GPU_GEMV_MAX_ROWS; r++) acc[r] = 0.0f;
    for (int64_t c = lane; c < chunks; c += GPU_WARP) {
        float v[32];
        gpu_load_chunk(dtype, row, c, k, v);
        const int64_t e0 = c * 32;
        const int left = k - e0 < 32 ? (int)(k - e0) : 32;
#pragma unroll
        for (int r = 0; r < GPU_GEMV_MAX_ROWS; r++) {
            if (r < m) {
                const float *xr = x + r * sx + e0;
                float t = 0.0f;
                if (left == 32) {
#pragma unroll
                    for (int i = 0; i < 32; i++) t += v[i] * xr[i];
                } else {
                    for (int i = 0; i < left; i++) t += v[i] * xr[i];
                }
                acc[r] += t;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < GPU_GEMV_MAX_ROWS; r++) {
        if (r < m) {
            const float s = gpu_warp_sum(acc[r]);
            if (lane == 0) {
                float *o = out + r * so + col;
                const float y = alpha * (s + (bias ? bias[col] : 0.0f));
                *o = beta != 0.0f ? y + beta * *o : y;
            }
        }
    }
}

void gpu_gemv(gpuStream_t s, uint32_t dtype, const void *w, uint64_t row_bytes, int64_t n, int64_t k,
              const float *x, int64_t sx, int64_t m, const float *bias, float alpha, float beta,
              float *out, int64_t so) {
    if (n <= 0 || m <= 0) return;
    for (int64_t r0 = 0; r0 < m; r0 += GPU_GEMV_MAX_ROWS) {
        const int mm = (int)(m - r0 < GPU_GEMV_MAX_ROWS ? m - r0 : GPU_GEMV_MAX_ROWS);
        const unsigned blocks = (unsigned)((n + GEMV_WARPS - 1) / GEMV_WARPS);
        k_gemv<<<blocks, GEMV_WARPS * GPU_WARP, 0, s>>>(dtype, (const uint8_t *)w, row_bytes, n, k,
                                                         x + r0 * sx, sx, mm, bias, alpha, beta,
                                                         out + r0 * so, so);
        GPU_CHECK_LAUNCH("gemv");
    }
}
