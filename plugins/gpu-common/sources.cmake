# Shared GPU backend sources, compiled once per vendor plugin (nvcc for cuda,
# hipcc for hip). Included by plugins/cuda and plugins/hip.
set(HIVE_GPU_COMMON_DIR ${CMAKE_CURRENT_LIST_DIR})
set(HIVE_GPU_COMMON_KERNELS
  ${HIVE_GPU_COMMON_DIR}/backend_core.cu
  ${HIVE_GPU_COMMON_DIR}/backend_device.cu
  ${HIVE_GPU_COMMON_DIR}/backend_ops.cu
  ${HIVE_GPU_COMMON_DIR}/backend_ssm.cu
  ${HIVE_GPU_COMMON_DIR}/backend_attn_ops.cu
  ${HIVE_GPU_COMMON_DIR}/backend_matmul.cu
  ${HIVE_GPU_COMMON_DIR}/backend_api.cu
  ${HIVE_GPU_COMMON_DIR}/backend_sgmv.cu
  ${HIVE_GPU_COMMON_DIR}/backend_graph.cu
  ${HIVE_GPU_COMMON_DIR}/k_elementwise.cu
  ${HIVE_GPU_COMMON_DIR}/k_dequant.cu
  ${HIVE_GPU_COMMON_DIR}/k_gemv.cu
  ${HIVE_GPU_COMMON_DIR}/k_gemm.cu
  ${HIVE_GPU_COMMON_DIR}/k_rope.cu
  ${HIVE_GPU_COMMON_DIR}/k_attention.cu
  ${HIVE_GPU_COMMON_DIR}/k_sgmv.cu)
set(HIVE_GPU_COMMON_ENTRY ${HIVE_GPU_COMMON_DIR}/gpu_entry.c)
set(HIVE_GPU_COMMON_HEADERS
  ${HIVE_GPU_COMMON_DIR}/gpu_port.h ${HIVE_GPU_COMMON_DIR}/gpu_backend.h
  ${HIVE_GPU_COMMON_DIR}/gpu_kernels.h ${HIVE_GPU_COMMON_DIR}/gpu_impl.h
  ${HIVE_GPU_COMMON_DIR}/gpu_entry.h ${HIVE_GPU_COMMON_DIR}/k_quant.cuh
  ${HIVE_GPU_COMMON_DIR}/k_sgmv.h)
