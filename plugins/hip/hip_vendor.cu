/* hip_vendor.cu — the HIP vendor hooks. Debian's ROCm ships no hipBLAS/rocBLAS,
 * so there is no vendor GEMM: matmul runs the shared tiled kernel
 * (gpu-common/k_gemm.cu) and the shared GEMV kernels. */
#include "gpu_backend.h"
#include "gpu_entry.h"

static const gpu_vendor_ops k_hip_ops = {"hip", nullptr, nullptr, nullptr};

extern "C" const gpu_vendor_ops *gpu_vendor_get(void) { return &k_hip_ops; }
