/* k_dequant.cu — weight rows to f16 (prefill GEMM input) or f32 (embedding
 * gather, gain/bias vectors). One thread decodes one 32-element chunk. */
#include "gpu_backend.h"
#include "gpu_kernels.h"
#include "k_quant.cuh"

#define DQ_THREADS 128

__global__ static void k_dequant_f16(uint32_t dtype, const uint8_t *w, uint64_t row_bytes, int64_t r0,
                                     int64_t n, int64_t cols, gpu_half *out) {
    const int64_t chunks = (cols + 31) / 32;
    const int64_t total = n * chunks;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = t / chunks, c = t % chunks;
        float v[32];
        gpu_load_chunk(dtype, w + (uint64_t)(r0 + r) * row_bytes, c, cols, v);
        gpu_half *o = out + r * cols + c * 32;
        const int64_t left = cols - c * 32;
#pragma unroll
        for (int i = 0; i < 32; i++)
            if (i < left) o[i] = gpu_f2h(v[i]);
    }
}

void gpu_dequant_f16(gpuStream_t s, uint32_t dtype, const void *w, uint64_t row_bytes, int64_t r0,
                     int64_t n, int64_t cols, gpu_half *out) {
    const int64_t total = n * ((cols + 31) / 32);
    if (total <= 0) return;
    int64_t blocks = (total + DQ_THREADS - 1) / DQ_THREADS;
    if (blocks > 1 << 20) blocks = 1 << 20;
    k_dequant_f16<<<(unsigned)blocks, DQ_THREADS, 0, s>>>(dtype, (const uint8_t *)w, row_bytes, r0, n,
                                                           cols, out);
    GPU_CHECK_LAUNCH("dequant_f16");
}

__global__ static void k_dequant_rows_f32(uint32_t dtype, const uint8_t *w, uint64_t row_bytes,
                                          const int32_t *ids, int64_t cols, float *out, int64_t so) {
    const int64_t i = blockIdx.y;
    const int64_t r = ids ? (int64_t)ids[i] : i;
    const int64_t chunks = (cols + 31) / 32;
    const uint8_t *row = w + (uint64_t)r * row_bytes;
    for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < chunks;
         c += (int64_t)gridDim.x * blockDim.x) {
        float v[32];
        gpu_load_chunk(dtype, row, c, cols, v);
        float *o = out + i * so + c * 32;
        const int64_t left = cols - c * 32;
#pragma unroll
        for (int k = 0; k < 32; k++)
            if (k < left) o[k] = v[k];
    }
}

void gpu_dequant_rows_f32(gpuStream_t s, uint32_t dtype, const void *w, uint64_t row_bytes,
                          const int32_t *ids_dev, int64_t n, int64_t cols, float *out, int64_t so) {
    if (n <= 0 || cols <= 0) return;
    const int64_t chunks = (cols + 31) / 32;
    int64_t bx = (chunks + DQ_THREADS - 1) / DQ_THREADS;
    for (int64_t i0 = 0; i0 < n; i0 += 65535) {
        const int64_t nn = n - i0 < 65535 ? n - i0 : 65535;
        const uint8_t *wb = (const uint8_t *)w + (ids_dev ? 0 : (uint64_t)i0 * row_bytes);
        dim3 grid((unsigned)(bx > 1024 ? 1024 : bx), (unsigned)nn);
        k_dequant_rows_f32<<<grid, DQ_THREADS, 0, s>>>(dtype, wb, row_bytes, ids_dev ? ids_dev + i0 : nullptr,
                                                         cols, out + i0 * so, so);
        GPU_CHECK_LAUNCH("dequant_rows_f32");
    }
}
