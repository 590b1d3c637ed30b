/* k_elementwise.cu — row-wise and elementwise kernels: rmsnorm, binary ops,
 * SwiGLU, get_rows, add_rows_scaled, bias preparation, activation conversion, argmax. */
#include "gpu_backend.h"
#include "gpu_kernels.h"

#define EW_THREADS 256

static unsigned grid_1d(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b > 65535 * 32 ? 65535 * 32 : (b < 1 ? 1 : b));
}

/* block-wide sum; every thread gets the result */
__device__ static float block_sum(float v, float *sh) {
    v = gpu_warp_sum(v);
    const int lane = threadIdx.x % GPU_WARP, w = threadIdx.x / GPU_WARP;
    if (lane == 0) sh[w] = v;
    __syncthreads();
    const int nw = (blockDim.x + GPU_WARP - 1) / GPU_WARP;
    float t = 0.0f;
    for (int i = 0; i < nw; i++) t += sh[i];
    __syncthreads();
    return t;
}

__global__ static void k_rmsnorm(const float *x, int64_t sx, const float *gain, float eps, float *out,
                                 int64_t so, int64_t cols) {
    __shared__ float sh[EW_THREADS / 32];
    const float *xr = x + (int64_t)blockIdx.x * sx;
    float *orow = out + (int64_t)blockIdx.x * so;
    float ss = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) ss += xr[j] * xr[j];
    ss = block_sum(ss, sh);
    const float r = rsqrtf(ss / (float)cols + eps);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) orow[j] = xr[j] * r * gain[j];
}

void gpu_rmsnorm(gpuStream_t s, const float *x, int64_t sx, const float *gain, float eps, float *out,
                 int64_t so, int64_t rows, int64_t cols) {
    if (rows <= 0) return;
    k_rmsnorm<<<(unsigned)rows, EW_THREADS, 0, s>>>(x, sx, gain, eps, out, so, cols);
    GPU_CHECK_LAUNCH("rmsnorm");
}

/* LayerNorm: the mean first, then the centred squares (two block sums). */
__global__ static void k_layernorm(const float *x, int64_t sx, const float *gain, const float *bias, float eps,
                                   float *out, int64_t so, int64_t cols) {
    __shared__ float sh[EW_THREADS / 32];
    const float *xr = x + (int64_t)blockIdx.x * sx;
    float *orow = out + (int64_t)blockIdx.x * so;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += xr[j];
    const float mean = block_sum(s, sh) / (float)cols;
    float ss = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) ss += (xr[j] - mean) * (xr[j] - mean);
    ss = block_sum(ss, sh);
    const float r = rsqrtf(ss / (float)cols + eps);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        orow[j] = (xr[j] - mean) * r * gain[j] + (bias ? bias[j] : 0.0f);
}

void gpu_layernorm(gpuStream_t s, const float *x, int64_t sx, const float *gain, const float *bias, float eps,
                   float *out, int64_t so, int64_t rows, int64_t cols) {
    if (rows <= 0) return;
    k_layernorm<<<(unsigned)rows, EW_THREADS, 0, s>>>(x, sx, gain, bias, eps, out, so, cols);
    GPU_CHECK_LAUNCH("layernorm");
}

__global__ static void k_binary(uint32_t op, const float *a, int64_t sa, const float *b, int64_t sb,
                                float *out, int64_t so, int64_t rows, int64_t cols) {
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / cols, c = i % cols;
        const float x = a[r * sa + c], y = b[r * sb + c];
        out[r * so + c] = op == HIVE_BINARY_MUL ? x * y : x + y;
    }
}

void gpu_binary(gpuStream_t s, uint32_t op, const float *a, int64_t sa, const float *b, int64_t sb,
                float *out, int64_t so, int64_t rows, int64_t cols) {
    if (rows * cols <= 0) return;
    k_binary<<<grid_1d(rows * cols, EW_THREADS), EW_THREADS, 0, s>>>(op, a, sa, b, sb, out, so, rows, cols);
    GPU_CHECK_LAUNCH("binary");
}

__global__ static void k_swiglu(const float *g, int64_t sg, const float *u, int64_t su, float *out,
                                int64_t so, int64_t rows, int64_t cols) {
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / cols, c = i % cols;
        const float x = g[r * sg + c];
        out[r * so + c] = x / (1.0f + __expf(-x)) * u[r * su + c];
    }
}

void gpu_swiglu(gpuStream_t s, const float *g, int64_t sg, const float *u, int64_t su, float *out,
                int64_t so, int64_t rows, int64_t cols) {
    if (rows * cols <= 0) return;
    k_swiglu<<<grid_1d(rows * cols, EW_THREADS), EW_THREADS, 0, s>>>(g, sg, u, su, out, so, rows, cols);
    GPU_CHECK_LAUNCH("swiglu");
}

__global__ static void k_get_rows(const float *x, int64_t sx, const int32_t *idx, float *out,
                                  int64_t so, int64_t cols) {
    const float *src = x + (int64_t)idx[blockIdx.x] * sx;
    float *dst = out + (int64_t)blockIdx.x * so;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dst[j] = src[j];
}

void gpu_get_rows(gpuStream_t s, const float *x, int64_t sx, const int32_t *rows_dev, float *out,
                  int64_t so, int64_t n, int64_t cols) {
    if (n <= 0) return;
    k_get_rows<<<(unsigned)n, EW_THREADS, 0, s>>>(x, sx, rows_dev, out, so, cols);
    GPU_CHECK_LAUNCH("get_rows");
}

/* out[rows[i]] += scale[i] * x[i]: one block per row (rows are distinct) */
__global__ static void k_add_rows_scaled(const float *x, int64_t sx, const int32_t *idx, const float *scale,
                                         float *out, int64_t so, int64_t cols) {
    const float *src = x + (int64_t)blockIdx.x * sx;
    float *dst = out + (int64_t)idx[blockIdx.x] * so;
    const float s = scale[blockIdx.x];
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dst[j] += s * src[j];
}

void gpu_add_rows_scaled(gpuStream_t s, const float *x, int64_t sx, const int32_t *rows_dev, const float *scale_dev,
                         float *out, int64_t so, int64_t n, int64_t cols) {
    if (n <= 0) return;
    k_add_rows_scaled<<<(unsigned)n, EW_THREADS, 0, s>>>(x, sx, rows_dev, scale_dev, out, so, cols);
    GPU_CHECK_LAUNCH("add_rows_scaled");
}

__global__ static void k_bias_prep(const float *bias, float alpha, float beta, float *out, int64_t so,
                                   int64_t rows, int64_t cols) {
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / cols, c = i % cols;
        float *o = out + r * so + c;
        *o = alpha * bias[c] + (beta != 0.0f ? beta * *o : 0.0f);
    }
}

void gpu_bias_prep(gpuStream_t s, const float *bias, float alpha, float beta, float *out, int64_t so,
                   int64_t rows, int64_t cols) {
    if (rows * cols <= 0) return;
    k_bias_prep<<<grid_1d(rows * cols, EW_THREADS), EW_THREADS, 0, s>>>(bias, alpha, beta, out, so, rows, cols);
    GPU_CHECK_LAUNCH("bias_prep");
}

__global__ static void k_convert(uint32_t dtype, const float *x, int64_t sx, void *out, int64_t rows,
                                 int64_t cols) {
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float v = x[(i / cols) * sx + i % cols];
        if (dtype == HIVE_DTYPE_BF16)
            ((uint16_t *)out)[i] = gpu_f2bf(v);
        else
            ((gpu_half *)out)[i] = gpu_f2h(v);
    }
}

void gpu_convert_rows(gpuStream_t s, uint32_t dtype, const float *x, int64_t sx, void *out,
                      int64_t rows, int64_t cols) {
    if (rows * cols <= 0) return;
    k_convert<<<grid_1d(rows * cols, EW_THREADS), EW_THREADS, 0, s>>>(dtype, x, sx, out, rows, cols);
    GPU_CHECK_LAUNCH("convert");
}

/* one block per row; ties resolve to the lowest index; NaN never wins */
__global__ static void k_argmax(const float *x, int64_t sx, int64_t cols, int32_t *ids) {
    __shared__ float sv[EW_THREADS];
    __shared__ int32_t si[EW_THREADS];
    const float *xr = x + (int64_t)blockIdx.x * sx;
    float best = -INFINITY;
    int32_t bi = -1;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        const float v = xr[j];
        if (v > best || (bi < 0 && !(v != v))) {
            best = v;
            bi = (int32_t)j;
        }
    }
    sv[threadIdx.x] = best;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (int st = blockDim.x / 2; st > 0; st >>= 1) {
        if ((int)threadIdx.x < st) {
            const float ov = sv[threadIdx.x + st];
            const int32_t oi = si[threadIdx.x + st];
            const int32_t mi = si[threadIdx.x];
            if (oi >= 0 && (mi < 0 || ov > sv[threadIdx.x] || (ov == sv[threadIdx.x] && oi < mi))) {
                sv[threadIdx.x] = ov;
                si[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) ids[blockIdx.x] = si[0] < 0 ? 0 : si[0];
}

void gpu_argmax(gpuStream_t s, const float *x, int64_t sx, int64_t rows, int64_t cols, int32_t *ids) {
    if (rows <= 0) return;
    k_argmax<<<(unsigned)rows, EW_THREADS, 0, s>>>(x, sx, cols, ids);
    GPU_CHECK_LAUNCH("argmax");
}
