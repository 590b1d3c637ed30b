/* cuda_blas.cu — the CUDA vendor hooks: one cuBLAS handle per device, bound to
 * the device stream, and cublasGemmEx for f32/f16/bf16 with f32 output and f32
 * compute. Row-major out[m,n] = x[m,k] w[n,k]^T is column-major
 * out^T[n,m] = W^T(op T on the k x n column-major w) * x^T. */
#include <climits>

#include <cublas_v2.h>

#include "gpu_backend.h"
#include "gpu_entry.h"

static const char *blas_status(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "alloc failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "arch mismatch";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "error";
    }
}

#define BLAS_CHECK(call)                                                                          \
    do {                                                                                          \
        cublasStatus_t s_ = (call);                                                               \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                          \
            gpu_throw(s_ == CUBLAS_STATUS_ALLOC_FAILED ? HIVE_E_NOMEM : HIVE_E_DEVICE,            \
                      "cuBLAS %s (%s)", blas_status(s_), #call);                                  \
    } while (0)

static void cuda_open(hive_device *dev) {
    cublasHandle_t h = nullptr;
    BLAS_CHECK(cublasCreate(&h));
    dev->vendor = h;
    BLAS_CHECK(cublasSetStream(h, dev->stream));
    BLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
}

static void cuda_close(hive_device *dev) {
    if (dev->vendor) (void)cublasDestroy((cublasHandle_t)dev->vendor);
    dev->vendor = nullptr;
}

static cudaDataType_t cuda_type(uint32_t dtype) {
    switch (dtype) {
    case HIVE_DTYPE_F32: return CUDA_R_32F;
    case HIVE_DTYPE_F16: return CUDA_R_16F;
    case HIVE_DTYPE_BF16: return CUDA_R_16BF;
    default: gpu_throw(HIVE_E_INTERNAL, "cuBLAS: dtype %u", dtype);
    }
}

static void cuda_gemm(hive_device *dev, const gpu_gemm_args *a) {
    if (a->m > INT_MAX || a->n > INT_MAX || a->k > INT_MAX || a->ldx > INT_MAX || a->ldc > INT_MAX)
        gpu_throw(HIVE_E_UNSUPPORTED, "cuBLAS: matrix too large for 32-bit sizes");
    const cudaDataType_t t = cuda_type(a->dtype);
    BLAS_CHECK(cublasGemmEx((cublasHandle_t)dev->vendor, CUBLAS_OP_T, CUBLAS_OP_N, (int)a->n, (int)a->m, (int)a->k,
                            &a->alpha, a->w, t, (int)a->k, a->x, t, (int)a->ldx, &a->beta, a->c, CUDA_R_32F,
                            (int)a->ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

static const gpu_vendor_ops k_cuda_ops = {"cuda", cuda_open, cuda_close, cuda_gemm};

extern "C" const gpu_vendor_ops *gpu_vendor_get(void) { return &k_cuda_ops; }
