/* backend_matmul.cu — out = alpha*(x w^T + bias) + beta*out, dispatched by shape
 * and format: for decode (<= 8 rows) one GEMV launch straight from the stored
 * format (gpu_gemv_plain for f32/f16/bf16: f32 x, 16-byte weight loads;
 * gpu_gemv for quantized weights); for more rows vendor GEMM (cuBLAS) for
 * f32/f16/bf16, dequantize-to-f16 chunks then GEMM for prefill of quantized
 * weights, and the portable tiled GEMM when there is no vendor BLAS.
 * Config plugins.<cuda|hip>.plain_gemv = false sends f32/f16/bf16 decode back
 * to the GEMM path (vendor GEMM, or gpu_gemv without one), for A/B timing. */
#include <atomic>
#include <string.h>

#include "gpu_backend.h"
#include "gpu_kernels.h"

static size_t deq_chunk_bytes(const hive_weight *w) {
    const size_t row = (size_t)w->cols * 2, all = row * (size_t)w->rows;
    size_t want = GPU_DEQ_CHUNK_BYTES > row * 64 ? GPU_DEQ_CHUNK_BYTES : row * 64;
    return want < all ? want : all;
}

static int needs_conv(uint32_t dtype) { return dtype != HIVE_DTYPE_F32; }

void gpu_weight_prepare_scratch(hive_device *dev, const hive_weight *w) {
    const int vendor = g_gpu_vendor && g_gpu_vendor->gemm;
    if (vendor && needs_conv(w->dtype))
        gpu_scratch_ensure(dev, &dev->conv, (size_t)dev->max_rows * (size_t)w->cols * 2);
    if (gpu_dtype_is_quant(w->dtype) && w->rows > 1) gpu_scratch_ensure(dev, &dev->deq, deq_chunk_bytes(w));
}

/* plugins.<name>.plain_gemv (default true), read on first use. */
static int plain_gemv_enabled(void) {
    static std::atomic<int> cached(-1);
    int v = cached.load(std::memory_order_relaxed);
    if (v >= 0) return v;
    v = 1;
    if (g_gpu_host && g_gpu_host->agreed_minor >= 1 &&
        HIVE_HAS_FIELD(hive_host_api, g_gpu_host->struct_size, config_get) && g_gpu_host->config_get) {
        const char *c = g_gpu_host->config_get(g_gpu_host->ctx, "plain_gemv");
        if (c && (!strcmp(c, "false") || !strcmp(c, "0") || !strcmp(c, "no") || !strcmp(c, "off"))) v = 0;
    }
    if (!v) gpu_log(HIVE_LOG_INFO, "plain_gemv = false: f32/f16/bf16 decode matmuls take the GEMM path");
    cached.store(v, std::memory_order_relaxed);
    return v;
}

static const float *bias_ptr(const hive_weight *b, const hive_weight *w) {
    if (!b) return nullptr;
    if (b->rows != 1 || b->cols != w->rows || !b->f32)
        gpu_throw(HIVE_E_SHAPE, "matmul: bias %lldx%lld for %lld outputs", (long long)b->rows,
                  (long long)b->cols, (long long)w->rows);
    return b->f32;
}

void gpu_matmul(hive_device *dev, const hive_tensor *x, const hive_weight *w, const hive_weight *b,
                float alpha, float beta, const hive_tensor *out) {
    if (!w) gpu_throw(HIVE_E_INVALID, "matmul: missing weight");
    const float *xp = gpu_tensor_ptr(x, "matmul x");
    float *op = gpu_tensor_ptr(out, "matmul out");
    if (x->cols != w->cols || out->rows != x->rows || out->cols != w->rows)
        gpu_throw(HIVE_E_SHAPE, "matmul: x %lldx%lld, w %lldx%lld, out %lldx%lld", (long long)x->rows,
                  (long long)x->cols, (long long)w->rows, (long long)w->cols, (long long)out->rows,
                  (long long)out->cols);
    const float *bp = bias_ptr(b, w);
    const int64_t M = x->rows, N = w->rows, K = w->cols;
    if (M == 0) return;
    gpuStream_t s = dev->stream;
    const int quant = gpu_dtype_is_quant(w->dtype);
    const int vendor = g_gpu_vendor && g_gpu_vendor->gemm;

    if (M <= GPU_GEMV_MAX_ROWS && !quant && plain_gemv_enabled()) {
        gpu_gemv_plain(s, dev->sm_count, w->dtype, w->data, w->row_bytes, N, K, xp, x->row_stride, M, bp, alpha,
                       beta, op, out->row_stride);
        return;
    }
    if (M <= GPU_GEMV_MAX_ROWS && (quant || !vendor)) {
        gpu_gemv(s, w->dtype, w->data, w->row_bytes, N, K, xp, x->row_stride, M, bp, alpha, beta, op,
                 out->row_stride);
        return;
    }
    if (!vendor) {
        if (!quant) {
            gpu_gemm_tiled(s, w->dtype, w->data, N, K, xp, x->row_stride, M, bp, alpha, beta, op,
                           out->row_stride);
            return;
        }
        gpu_scratch_ensure(dev, &dev->deq, deq_chunk_bytes(w));
        const int64_t nc = (int64_t)(dev->deq.cap / ((size_t)K * 2));
        for (int64_t n0 = 0; n0 < N; n0 += nc) {
            const int64_t nn = N - n0 < nc ? N - n0 : nc;
            gpu_dequant_f16(s, w->dtype, w->data, w->row_bytes, n0, nn, K, (gpu_half *)dev->deq.ptr);
            gpu_gemm_tiled(s, HIVE_DTYPE_F16, dev->deq.ptr, nn, K, xp, x->row_stride, M, bp ? bp + n0 : nullptr,
                           alpha, beta, op + n0, out->row_stride);
        }
        return;
    }

    /* vendor BLAS: bias folded into out first, then out = alpha*x w^T + 1*out */
    float beta_eff = beta;
    if (bp) {
        gpu_bias_prep(s, bp, alpha, beta, op, out->row_stride, M, N);
        beta_eff = 1.0f;
    }
    gpu_gemm_args a;
    a.m = M;
    a.n = N;
    a.k = K;
    a.c = op;
    a.ldc = out->row_stride;
    a.alpha = alpha;
    a.beta = beta_eff;
    if (w->dtype == HIVE_DTYPE_F32) {
        a.dtype = HIVE_DTYPE_F32;
        a.w = w->data;
        a.x = xp;
        a.ldx = x->row_stride;
        g_gpu_vendor->gemm(dev, &a);
        return;
    }
    const uint32_t xt = w->dtype == HIVE_DTYPE_BF16 ? HIVE_DTYPE_BF16 : HIVE_DTYPE_F16;
    gpu_scratch_ensure(dev, &dev->conv, (size_t)M * (size_t)K * 2);
    gpu_convert_rows(s, xt, xp, x->row_stride, dev->conv.ptr, M, K);
    a.dtype = xt;
    a.x = dev->conv.ptr;
    a.ldx = K;
    if (!quant) {
        a.w = w->data;
        g_gpu_vendor->gemm(dev, &a);
        return;
    }
    gpu_scratch_ensure(dev, &dev->deq, deq_chunk_bytes(w));
    const int64_t nc = (int64_t)(dev->deq.cap / ((size_t)K * 2));
    for (int64_t n0 = 0; n0 < N; n0 += nc) {
        const int64_t nn = N - n0 < nc ? N - n0 : nc;
        gpu_dequant_f16(s, w->dtype, w->data, w->row_bytes, n0, nn, K, (gpu_half *)dev->deq.ptr);
        a.w = dev->deq.ptr;
        a.n = nn;
        a.c = op + n0;
        g_gpu_vendor->gemm(dev, &a);
    }
}
