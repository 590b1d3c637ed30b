/* gpu_impl.h — the backend operations behind the ABI table. They throw gpu_exc;
 * backend_api.cu turns that into hive_status + hive_error at the boundary. */
#ifndef HIVE_GPU_IMPL_H
#define HIVE_GPU_IMPL_H

#include "gpu_backend.h"

uint32_t gpu_impl_device_count(void);
void gpu_impl_device_info(uint32_t index, hive_device_info *out);
hive_device *gpu_impl_device_open(uint32_t index, const hive_device_options *opts);
void gpu_impl_device_close(hive_device *d);
void gpu_impl_synchronize(hive_device *d);

hive_buffer *gpu_impl_buffer_alloc(hive_device *d, uint64_t nbytes);
void gpu_impl_buffer_free(hive_device *d, hive_buffer *b);
void gpu_impl_buffer_upload(hive_device *d, hive_buffer *b, uint64_t off, const void *src, uint64_t n);
void gpu_impl_buffer_download(hive_device *d, const hive_buffer *b, uint64_t off, void *dst, uint64_t n);

uint32_t gpu_impl_weight_supported(uint32_t dtype);
hive_weight *gpu_impl_weight_upload(hive_device *d, const hive_weight_desc *desc, const void *data);
void gpu_impl_weight_free(hive_device *d, hive_weight *w);
hive_kv_cache *gpu_impl_kv_alloc(hive_device *d, const hive_kv_desc *desc);
void gpu_impl_kv_free(hive_device *d, hive_kv_cache *kv);

void gpu_impl_embed(hive_device *d, const hive_weight *table, const int32_t *ids, const hive_tensor *out);
void gpu_impl_rmsnorm(hive_device *d, const hive_tensor *x, const hive_weight *gain, float eps,
                      const hive_tensor *out);
void gpu_impl_layernorm(hive_device *d, const hive_tensor *x, const hive_weight *gain, const hive_weight *bias,
                        float eps, const hive_tensor *out);
void gpu_impl_binary(hive_device *d, uint32_t op, const hive_tensor *a, const hive_tensor *b,
                     const hive_tensor *out);
void gpu_impl_binary_weight(hive_device *d, uint32_t op, const hive_tensor *a, const hive_weight *w,
                            const hive_tensor *out);
void gpu_impl_swiglu(hive_device *d, const hive_tensor *g, const hive_tensor *u, const hive_tensor *out);
void gpu_impl_rope(hive_device *d, const hive_tensor *x, const hive_rope_desc *rope, const hive_batch *b);
void gpu_impl_kv_store(hive_device *d, hive_kv_cache *kv, uint32_t layer, const hive_tensor *k,
                       const hive_tensor *v, const hive_batch *b);
void gpu_impl_attention(hive_device *d, hive_kv_cache *kv, uint32_t layer, const hive_tensor *q,
                        uint32_t n_heads, float scale, const hive_batch *b, const hive_tensor *out);
void gpu_impl_get_rows(hive_device *d, const hive_tensor *x, const int32_t *rows, uint32_t n,
                       const hive_tensor *out);
void gpu_impl_argmax(hive_device *d, const hive_tensor *x, int32_t *ids);
/* backend_ssm.cu: Mamba2 */
void gpu_impl_ssm_conv(hive_device *d, const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                       uint32_t kernel, const hive_batch *b, const int32_t *slots, const hive_tensor *state,
                       const hive_tensor *out);
void gpu_impl_ssm_scan(hive_device *d, const hive_tensor *x, const hive_tensor *dt, const hive_tensor *B,
                       const hive_tensor *C, const hive_weight *A, const hive_weight *D, const hive_weight *dt_bias,
                       const hive_ssm_desc *desc, const hive_batch *b, const int32_t *slots, const hive_tensor *state,
                       const hive_tensor *y);
void gpu_impl_add_rows_scaled(hive_device *d, const hive_tensor *x, const int32_t *rows, const float *scale,
                              const hive_tensor *out);

/* Extensions handed out by get_extension; NULL when this build has none.
 * backend_sgmv.cu: segmented multi-LoRA. backend_graph.cu: graph capture. */
const hive_ext_lora_segments *gpu_ext_lora_segments(void);
const hive_ext_graph *gpu_ext_graph(void);

#endif
