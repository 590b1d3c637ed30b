/* k_gemm.cu — portable tiled GEMM (no vendor BLAS): out = alpha*(x w^T + bias)
 * + beta*out with f32 x, w in f32/f16/bf16, f32 accumulation. 64x64 output tile
 * per block, K in steps of 16 through shared memory, 4x4 outputs per thread.
 * No warp-level operations, so it is the same for warp 32 and wave 64. */
#include "gpu_backend.h"
#include "gpu_kernels.h"

#define GM_BM 64
#define GM_BN 64
#define GM_BK 16
#define GM_THREADS 256

__device__ __forceinline__ float gm_ld(const float *p) { return *p; }
__device__ __forceinline__ float gm_ld(const gpu_half *p) { return gpu_h2f(*p); }
__device__ __forceinline__ float gm_ld(const uint16_t *p) { return gpu_bf2f(*p); }

template <typename T>
__global__ static void k_gemm(const T *w, int64_t n, int64_t k, const float *x, int64_t sx, int64_t m,
                              const float *bias, float alpha, float beta, float *out, int64_t so) {
    __shared__ float xs[GM_BK][GM_BM + 4];
    __shared__ float ws[GM_BK][GM_BN + 4];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int64_t m0 = (int64_t)blockIdx.y * GM_BM, n0 = (int64_t)blockIdx.x * GM_BN;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    for (int64_t k0 = 0; k0 < k; k0 += GM_BK) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int idx = tid + GM_THREADS * i, r = idx >> 4, kk = idx & 15;
            const int64_t gk = k0 + kk, gm = m0 + r, gn = n0 + r;
            xs[kk][r] = (gm < m && gk < k) ? x[gm * sx + gk] : 0.0f;
            ws[kk][r] = (gn < n && gk < k) ? gm_ld(w + gn * k + gk) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GM_BK; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = xs[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = ws[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int64_t gm = m0 + ty + 16 * i;
        if (gm >= m) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int64_t gn = n0 + tx + 16 * j;
            if (gn >= n) continue;
            float *o = out + gm * so + gn;
            const float y = alpha * (acc[i][j] + (bias ? bias[gn] : 0.0f));
            *o = beta != 0.0f ? y + beta * *o : y;
        }
    }
}

void gpu_gemm_tiled(gpuStream_t s, uint32_t dtype, const void *w, int64_t n, int64_t k,
                    const float *x, int64_t sx, int64_t m, const float *bias, float alpha,
                    float beta, float *out, int64_t so) {
    if (n <= 0 || m <= 0) return;
    const dim3 grid((unsigned)((n + GM_BN - 1) / GM_BN), (unsigned)((m + GM_BM - 1) / GM_BM));
    switch (dtype) {
    case HIVE_DTYPE_F32:
        k_gemm<float><<<grid, GM_THREADS, 0, s>>>((const float *)w, n, k, x, sx, m, bias, alpha, beta, out, so);
        break;
    case HIVE_DTYPE_F16:
        k_gemm<gpu_half><<<grid, GM_THREADS, 0, s>>>((const gpu_half *)w, n, k, x, sx, m, bias, alpha, beta,
                                                     out, so);
        break;
    case HIVE_DTYPE_BF16:
        k_gemm<uint16_t><<<grid, GM_THREADS, 0, s>>>((const uint16_t *)w, n, k, x, sx, m, bias, alpha, beta,
                                                     out, so);
        break;
    default: gpu_throw(HIVE_E_INTERNAL, "tiled gemm: dtype %u", dtype);
    }
    GPU_CHECK_LAUNCH("gemm");
}
