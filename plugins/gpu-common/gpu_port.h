/* gpu_port.h — the one place where CUDA and HIP differ for the shared kernels:
 * runtime API names, half types, warp size and warp intrinsics.
 * Compiled by nvcc (cuda plugin) or hipcc (hip plugin), C++17. */
#ifndef HIVE_GPU_PORT_H
#define HIVE_GPU_PORT_H

#include <stdint.h>

#if defined(__HIPCC__) || defined(HIVE_GPU_HIP)
/* ------------------------------------------------------------------ HIP -- */
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>

#define GPU_VENDOR "HIP"
#define GPU_IS_HIP 1
/* gfx90a / gfx940 run wave64. */
#define GPU_WARP 64

typedef hipError_t gpuError_t;
typedef hipStream_t gpuStream_t;
typedef hipEvent_t gpuEvent_t;
typedef hipDeviceProp_t gpuDeviceProp;
#define gpuSuccess hipSuccess
#define gpuErrorMemoryAllocation hipErrorOutOfMemory
#define gpuGetErrorString hipGetErrorString
#define gpuGetLastError hipGetLastError
#define gpuGetDeviceCount hipGetDeviceCount
#define gpuGetDeviceProperties hipGetDeviceProperties
#define gpuSetDevice hipSetDevice
#define gpuMemGetInfo hipMemGetInfo
#define gpuDriverGetVersion hipDriverGetVersion
#define gpuRuntimeGetVersion hipRuntimeGetVersion
#define gpuMalloc hipMalloc
#define gpuFree hipFree
#define gpuHostAlloc(p, n) hipHostMalloc((p), (n), hipHostMallocDefault)
#define gpuFreeHost hipHostFree
#define gpuMemcpyAsync hipMemcpyAsync
#define gpuMemsetAsync hipMemsetAsync
#define gpuMemcpyHostToDevice hipMemcpyHostToDevice
#define gpuMemcpyDeviceToHost hipMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define gpuStreamCreateWithFlags hipStreamCreateWithFlags
#define gpuStreamNonBlocking hipStreamNonBlocking
#define gpuStreamSynchronize hipStreamSynchronize
#define gpuStreamDestroy hipStreamDestroy
#define gpuEventCreateWithFlags hipEventCreateWithFlags
#define gpuEventDisableTiming hipEventDisableTiming
#define gpuEventRecord hipEventRecord
#define gpuEventSynchronize hipEventSynchronize
#define gpuEventDestroy hipEventDestroy
/* graphs (HIVE_EXT_GRAPH, backend_graph.cu); HIP 5.2 has them (marked beta) */
typedef hipGraph_t gpuGraph_t;
typedef hipGraphExec_t gpuGraphExec_t;
#define gpuStreamBeginCapture hipStreamBeginCapture
#define gpuStreamEndCapture hipStreamEndCapture
#define gpuStreamCaptureModeRelaxed hipStreamCaptureModeRelaxed
#define gpuGraphInstantiate(exec, graph) hipGraphInstantiate((exec), (graph), nullptr, nullptr, 0)
#define gpuGraphLaunch hipGraphLaunch
#define gpuGraphExecDestroy hipGraphExecDestroy
#define gpuGraphDestroy hipGraphDestroy

typedef __half gpu_half;
__device__ __forceinline__ float gpu_shfl_xor(float v, int mask) { return __shfl_xor(v, mask, GPU_WARP); }
__device__ __forceinline__ int gpu_shfl_xor_i(int v, int mask) { return __shfl_xor(v, mask, GPU_WARP); }
__device__ __forceinline__ float gpu_shfl(float v, int src) { return __shfl(v, src, GPU_WARP); }

#else
/* ----------------------------------------------------------------- CUDA -- */
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define GPU_VENDOR "CUDA"
#define GPU_IS_HIP 0
#define GPU_WARP 32

typedef cudaError_t gpuError_t;
typedef cudaStream_t gpuStream_t;
typedef cudaEvent_t gpuEvent_t;
typedef cudaDeviceProp gpuDeviceProp;
#define gpuSuccess cudaSuccess
#define gpuErrorMemoryAllocation cudaErrorMemoryAllocation
#define gpuGetErrorString cudaGetErrorString
#define gpuGetLastError cudaGetLastError
#define gpuGetDeviceCount cudaGetDeviceCount
#define gpuGetDeviceProperties cudaGetDeviceProperties
#define gpuSetDevice cudaSetDevice
#define gpuMemGetInfo cudaMemGetInfo
#define gpuDriverGetVersion cudaDriverGetVersion
#define gpuRuntimeGetVersion cudaRuntimeGetVersion
#define gpuMalloc cudaMalloc
#define gpuFree cudaFree
#define gpuHostAlloc(p, n) cudaMallocHost((p), (n))
#define gpuFreeHost cudaFreeHost
#define gpuMemcpyAsync cudaMemcpyAsync
#define gpuMemsetAsync cudaMemsetAsync
#define gpuMemcpyHostToDevice cudaMemcpyHostToDevice
#define gpuMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define gpuStreamCreateWithFlags cudaStreamCreateWithFlags
#define gpuStreamNonBlocking cudaStreamNonBlocking
#define gpuStreamSynchronize cudaStreamSynchronize
#define gpuStreamDestroy cudaStreamDestroy
#define gpuEventCreateWithFlags cudaEventCreateWithFlags
#define gpuEventDisableTiming cudaEventDisableTiming
#define gpuEventRecord cudaEventRecord
#define gpuEventSynchronize cudaEventSynchronize
#define gpuEventDestroy cudaEventDestroy
/* graphs (HIVE_EXT_GRAPH, backend_graph.cu) */
typedef cudaGraph_t gpuGraph_t;
typedef cudaGraphExec_t gpuGraphExec_t;
#define gpuStreamBeginCapture cudaStreamBeginCapture
#define gpuStreamEndCapture cudaStreamEndCapture
#define gpuStreamCaptureModeRelaxed cudaStreamCaptureModeRelaxed
#if CUDART_VERSION >= 12000
#define gpuGraphInstantiate(exec, graph) cudaGraphInstantiate((exec), (graph), 0)
#else
#define gpuGraphInstantiate(exec, graph) cudaGraphInstantiate((exec), (graph), nullptr, nullptr, 0)
#endif
#define gpuGraphLaunch cudaGraphLaunch
#define gpuGraphExecDestroy cudaGraphExecDestroy
#define gpuGraphDestroy cudaGraphDestroy

typedef __half gpu_half;
#ifdef __CUDACC__
__device__ __forceinline__ float gpu_shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }
__device__ __forceinline__ int gpu_shfl_xor_i(int v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }
__device__ __forceinline__ float gpu_shfl(float v, int src) { return __shfl_sync(0xffffffffu, v, src); }
#endif
#endif

/* ------------------------------------------------------------- common -- */
#if defined(__CUDACC__) || defined(__HIPCC__)
__device__ __forceinline__ float gpu_h2f(gpu_half h) { return __half2float(h); }
__device__ __forceinline__ gpu_half gpu_f2h(float f) { return __float2half(f); }
/* bf16 is kept as raw uint16_t on both vendors (no dependency on bf16 headers). */
__device__ __forceinline__ float gpu_bf2f(uint16_t b) { return __uint_as_float((uint32_t)b << 16); }
__device__ __forceinline__ uint16_t gpu_f2bf(float f) {
    uint32_t x = __float_as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}
/* f16 stored as raw bits inside quant blocks (unaligned-safe byte loads). */
__device__ __forceinline__ float gpu_h2f_bits(const uint8_t *p) {
    uint16_t u = (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
    gpu_half h;
    __builtin_memcpy(&h, &u, 2);
    return __half2float(h);
}

__device__ __forceinline__ float gpu_warp_sum(float v) {
#pragma unroll
    for (int m = GPU_WARP / 2; m > 0; m >>= 1) v += gpu_shfl_xor(v, m);
    return v;
}
__device__ __forceinline__ float gpu_warp_max(float v) {
#pragma unroll
    for (int m = GPU_WARP / 2; m > 0; m >>= 1) v = fmaxf(v, gpu_shfl_xor(v, m));
    return v;
}
#endif

#endif /* HIVE_GPU_PORT_H */
