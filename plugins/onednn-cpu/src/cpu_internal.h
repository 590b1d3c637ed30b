/* Objects and helpers shared by the onednn-cpu plugin's files. */
#ifndef CPU_INTERNAL_H
#define CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "hive_abi.h"
#include "kernels.h"

#define CPU_ALIGN 64
#define CPU_MAX_HEAD_DIM 1024

/* The host's services, copied at init (zero where the host's struct is shorter). */
extern hive_host_api cpu_host;

typedef struct cpu_onednn cpu_onednn;           /* engine + stream, NULL without oneDNN */
typedef struct cpu_onednn_mm cpu_onednn_mm; /* cached primitive per weight */

struct hive_device {
    int threads;
    uint32_t max_rows;
    cpu_kernels kern;
    cpu_onednn *dnnl;
    /* grow-only scratch for quantized activations and matmul temporaries;
     * ops on one device are not called concurrently. */
    void *scratch;
    size_t scratch_size;
    /* graph_record.c: HIVE_EXT_GRAPH, on with plugins.onednn-cpu.graphs */
    int graphs_enabled;
    hive_graph *capturing;   /* the graph being recorded, or NULL */
    int capture_broken;      /* an op could not be recorded */
};

struct hive_buffer {
    void *ptr;
    uint64_t size;
};

struct hive_weight {
    uint32_t dtype;
    int64_t rows, cols;
    size_t row_bytes;
    void *data;          /* GGML layout, or packed (below); CPU_ALIGN aligned */
    int packed;          /* data in the 4-row layout (pack4.c): the kernel table's packed[dtype] */
    float *vec_f32;      /* rows == 1 only: f32 copy for norms, biases, scales */
    cpu_onednn_mm *dnnl_mm;
    char name[64];
};

struct hive_kv_cache {
    hive_kv_desc desc;
    size_t slot_elems;   /* n_kv_heads * head_dim */
    size_t elem_size;    /* 2 (f16) or 4 (f32) when K and V are both; else 0 (row_bytes) */
    size_t row_bytes;    /* one KV head's row of head_dim elements (K's) */
    size_t layer_bytes;  /* K for one layer (and V when the types match) */
    /* [n_layers][n_kv_heads][n_blocks][block_size][head_dim]: one KV head's
     * rows run on from page to page, so attention over a sequence's
     * consecutive pages reads one stream the hardware prefetcher follows
     * (page-major, 2 KB runs with gaps, read at about a third of the
     * bandwidth: docs/LONG_CONTEXT.md) */
    uint8_t *k, *v;
    /* K and V apart (they differ with --kv-dtype K,V): V's rows sit at
     * cpu_kv_row_off scaled by v_row_bytes / row_bytes */
    uint32_t k_dtype, v_dtype;
    size_t v_row_bytes, v_layer_bytes;
    /* ABI 1.9 two-tier KV: desc.n_store_blocks store pages (block ids from
     * desc.n_blocks on) in their own arrays, laid out as k and v are, K in
     * s_k_dtype and V in s_v_dtype (q8_0 / q4_0), n_store_blocks pages per
     * KV head (cpu_kv_row_index); NULL when there are none */
    uint8_t *sk, *sv;
    uint32_t s_k_dtype, s_v_dtype;
    size_t s_row_bytes, s_v_row_bytes, s_layer_bytes, s_v_layer_bytes;
};
/* 1 when any sequence of the batch reads a store page (ops_attention_kv.c). */
int cpu_kv_batch_reads_store(const hive_kv_cache *kv, const hive_batch *b);
hive_status cpu_op_kv_migrate(hive_device *dev, hive_kv_cache *kv, uint32_t src_page, uint32_t dst_page,
                              hive_error **err);
/* 1 when attention takes the per-type path (ops_attention_kv.c): a q4_0 or
 * bf16 half, or K and V of different types. */
static inline int cpu_kv_typed(const hive_kv_cache *kv) {
    return kv->k_dtype != kv->v_dtype || kv->k_dtype == HIVE_DTYPE_Q4_0 || kv->k_dtype == HIVE_DTYPE_BF16;
}
/* q_rot: q rotated (cpu_kv_rotate) for the tiers whose K is; NULL when none is */
hive_status cpu_attention_typed(hive_device *dev, hive_kv_cache *kv, uint32_t layer, const hive_tensor *q,
                                const hive_tensor *q_rot, uint32_t n_heads, float scale, const hive_batch *batch, const hive_tensor *out,
                                hive_error **err);
/* Rows of a q8_0 or q4_0 half (K or V) are stored rotated: x -> H D x /
 * sqrt(B) over each run of B values (H the Walsh-Hadamard matrix, D fixed
 * signs, B = cpu_kv_rotate_block: the head when head_dim is a power of two).
 * The rotation is orthogonal, so attention reads such K with its queries
 * rotated alike (q.k unchanged) and rotates the p.V sums of such V back;
 * what it buys is that a few large channels are spread over the head instead
 * of setting their block's one scale (docs/LONG_CONTEXT.md). */
static inline int cpu_kv_rotated(uint32_t dtype) { return dtype == HIVE_DTYPE_Q8_0 || dtype == HIVE_DTYPE_Q4_0; }
/* the largest power of two dividing head_dim (>= 32 for the quantized types) */
static inline int64_t cpu_kv_rotate_block(uint32_t head_dim) { return (int64_t)(head_dim & -head_dim); }
/* y = the rotation of x (n values, n a multiple of block); y may be x */
void cpu_kv_rotate(const float *x, float *y, int64_t n, int64_t block);
/* y = its inverse */
void cpu_kv_unrotate(const float *x, float *y, int64_t n, int64_t block);
/* A q4_0 KV row: llama.cpp's quantize_row_q4_0 (reference) per block of 32. */
void cpu_quantize_q4_0(const float *x, blk_q4_0 *y, int64_t n);
/* A q8_0 KV row: blocks of 32 as llama.cpp's quantize_row_q8_0 makes them. */
void cpu_quantize_q8_0(const float *x, blk_q8_0 *y, int64_t n);

/* Row number of (KV head h, slot `slot` of page `page`) within one layer of
 * a tier of n_pages pages (desc.n_blocks, or n_store_blocks with page
 * counted from the store's first). */
static inline size_t cpu_kv_row_index(const hive_kv_cache *kv, size_t n_pages, size_t page, uint32_t h,
                                      uint32_t slot) {
    return ((size_t)h * n_pages + page) * kv->desc.block_size + slot;
}
/* Byte offset of (head h, slot `slot` of first-tier page `block`) within one layer. */
static inline size_t cpu_kv_row_off(const hive_kv_cache *kv, size_t block, uint32_t h, uint32_t slot) {
    return cpu_kv_row_index(kv, kv->desc.n_blocks, block, h, slot) * kv->row_bytes;
}

/* Byte offsets of every slot each sequence of the batch reads, within a
 * layer's pages of rows row_bytes long (KV head 0); NULL when out of memory
 * (ops_attention.c). */
size_t **cpu_attention_slot_offsets(const hive_kv_cache *kv, const hive_batch *b, size_t row_bytes);

/* Makes an error through the host (message formatted here) and returns code. */
hive_status cpu_fail(hive_error **err, hive_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void cpu_log(int32_t level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void *cpu_aligned_alloc(size_t nbytes);
void cpu_aligned_free(void *p);
/* Returns the device scratch with at least nbytes, or NULL (out of memory). */
void *cpu_scratch(hive_device *dev, size_t nbytes);

/* dtype facts */
const char *cpu_dtype_name(uint32_t dtype);
uint32_t cpu_dtype_block_elems(uint32_t dtype);
uint32_t cpu_dtype_block_bytes(uint32_t dtype);
int cpu_dtype_is_quantized(uint32_t dtype);

/* Checks an f32 activation view: buffer present, cols/stride sane, inside the
 * buffer. `what` names it in the message, e.g. "matmul x". */
hive_status cpu_check_tensor(const hive_tensor *t, const char *op, const char *what,
                             hive_error **err);
static inline float *cpu_row(const hive_tensor *t, int64_t r) {
    return (float *)((char *)t->buf->ptr + t->offset) + r * t->row_stride;
}

/* Runs fn(ctx, i) for i in [0, n) across the device's threads (static split). */
typedef void (*cpu_task_fn)(void *ctx, int64_t begin, int64_t end);
void cpu_parallel_for(const hive_device *dev, int64_t n, int64_t min_per_thread, cpu_task_fn fn,
                      void *ctx);

/* CPU probing (cpu_features.c, cpu_probe.c) */
#include "cpu_features.h"
/* Highest usable ISA level this build has, capped by HIVE_CPU_ISA (warns on
 * a value that names no level). */
int cpu_isa_level(const cpu_features *f);

/* oneDNN (matmul_onednn.c); all return nonzero when oneDNN did the work. */
cpu_onednn *cpu_onednn_create(void);
void cpu_onednn_destroy(cpu_onednn *d);
void cpu_onednn_matmul_free(cpu_onednn_mm *m);
/* dst[rows x w->rows] (dst_stride) = x @ w^T; x f32 with x_stride. */
int cpu_onednn_matmul(hive_device *dev, hive_weight *w, const float *x, int64_t rows,
                      int64_t x_stride, float *dst, int64_t dst_stride);
const char *cpu_onednn_version(void);


/* table entries, grouped by file */
hive_status cpu_device_count(uint32_t *count, hive_error **err);
hive_status cpu_device_info(uint32_t index, hive_device_info *out, hive_error **err);
hive_status cpu_device_open(uint32_t index, const hive_device_options *opts, hive_device **out,
                            hive_error **err);
void cpu_device_close(hive_device *dev);
hive_status cpu_synchronize(hive_device *dev, hive_error **err);
hive_status cpu_buffer_alloc(hive_device *dev, uint64_t nbytes, hive_buffer **out,
                             hive_error **err);
void cpu_buffer_free(hive_device *dev, hive_buffer *buf);
hive_status cpu_buffer_upload(hive_device *dev, hive_buffer *buf, uint64_t offset,
                              const void *src, uint64_t nbytes, hive_error **err);
hive_status cpu_buffer_download(hive_device *dev, const hive_buffer *buf, uint64_t offset,
                                void *dst, uint64_t nbytes, hive_error **err);
void *cpu_buffer_host_ptr(hive_device *dev, hive_buffer *buf);
const void *cpu_get_extension(hive_device *dev, uint32_t id, uint32_t min_version);
/* Extensions: ops_lora.c (segmented LoRA), graph_record.c (graphs; its
 * cpu_rec_* entries record ops while a capture runs, else call them). */
#define CPU_LORA_MAX_RANK 1024
extern const hive_ext_lora_segments cpu_ext_lora_segments;
void cpu_graph_device_close(hive_device *dev);
hive_status cpu_rec_op_embed(hive_device *dev, const hive_weight *table, const int32_t *ids, const hive_tensor *out,
                             hive_error **err);
hive_status cpu_rec_op_rmsnorm(hive_device *dev, const hive_tensor *x, const hive_weight *gain, float eps,
                               const hive_tensor *out, hive_error **err);
hive_status cpu_rec_op_layernorm(hive_device *dev, const hive_tensor *x, const hive_weight *gain, const hive_weight *bias,
                                 float eps, const hive_tensor *out, hive_error **err);
hive_status cpu_rec_op_matmul(hive_device *dev, const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                              float alpha, float beta, const hive_tensor *out, hive_error **err);
hive_status cpu_rec_op_binary(hive_device *dev, uint32_t op, const hive_tensor *a, const hive_tensor *b,
                              const hive_tensor *out, hive_error **err);
hive_status cpu_rec_op_binary_weight(hive_device *dev, uint32_t op, const hive_tensor *a, const hive_weight *w,
                                     const hive_tensor *out, hive_error **err);
hive_status cpu_rec_op_swiglu(hive_device *dev, const hive_tensor *gate, const hive_tensor *up, const hive_tensor *out,
                              hive_error **err);
hive_status cpu_rec_op_rope(hive_device *dev, const hive_tensor *x, const hive_rope_desc *rope,
                            const hive_batch *batch, hive_error **err);
hive_status cpu_rec_op_kv_store(hive_device *dev, hive_kv_cache *kv, uint32_t layer, const hive_tensor *k,
                                const hive_tensor *v, const hive_batch *batch, hive_error **err);
hive_status cpu_rec_op_attention(hive_device *dev, hive_kv_cache *kv, uint32_t layer, const hive_tensor *q,
                                 uint32_t n_heads, float scale, const hive_batch *batch, const hive_tensor *out,
                                 hive_error **err);
hive_status cpu_rec_op_get_rows(hive_device *dev, const hive_tensor *x, const int32_t *rows, uint32_t n,
                                const hive_tensor *out, hive_error **err);
hive_status cpu_rec_op_argmax(hive_device *dev, const hive_tensor *x, int32_t *ids, hive_error **err);
hive_status cpu_rec_op_ssm_conv(hive_device *dev, const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                                uint32_t kernel, const hive_batch *batch, const int32_t *slots, const hive_tensor *state,
                                const hive_tensor *out, hive_error **err);
hive_status cpu_rec_op_ssm_scan(hive_device *dev, const hive_tensor *x, const hive_tensor *dt, const hive_tensor *B,
                                const hive_tensor *C, const hive_weight *A, const hive_weight *D, const hive_weight *dt_bias,
                                const hive_ssm_desc *d, const hive_batch *batch, const int32_t *slots,
                                const hive_tensor *state, const hive_tensor *y, hive_error **err);
hive_status cpu_rec_op_add_rows_scaled(hive_device *dev, const hive_tensor *x, const int32_t *rows, const float *scale,
                                       const hive_tensor *out, hive_error **err);
hive_status cpu_rec_synchronize(hive_device *dev, hive_error **err);
hive_status cpu_rec_buffer_upload(hive_device *dev, hive_buffer *buf, uint64_t offset, const void *src, uint64_t nbytes,
                                  hive_error **err);
hive_status cpu_rec_buffer_download(hive_device *dev, const hive_buffer *buf, uint64_t offset, void *dst,
                                    uint64_t nbytes, hive_error **err);

uint32_t cpu_weight_supported(hive_device *dev, uint32_t dtype);
hive_status cpu_weight_upload(hive_device *dev, const hive_weight_desc *desc, const void *data,
                              hive_weight **out, hive_error **err);
void cpu_weight_free(hive_device *dev, hive_weight *w);

hive_status cpu_kv_alloc(hive_device *dev, const hive_kv_desc *desc, hive_kv_cache **out,
                         hive_error **err);
void cpu_kv_free(hive_device *dev, hive_kv_cache *kv);
hive_status cpu_op_kv_store(hive_device *dev, hive_kv_cache *kv, uint32_t layer,
                            const hive_tensor *k, const hive_tensor *v, const hive_batch *batch,
                            hive_error **err);
hive_status cpu_op_attention(hive_device *dev, hive_kv_cache *kv, uint32_t layer,
                             const hive_tensor *q, uint32_t n_heads, float scale,
                             const hive_batch *batch, const hive_tensor *out, hive_error **err);

hive_status cpu_op_embed(hive_device *dev, const hive_weight *table, const int32_t *ids,
                         const hive_tensor *out, hive_error **err);
hive_status cpu_op_rmsnorm(hive_device *dev, const hive_tensor *x, const hive_weight *gain,
                           float eps, const hive_tensor *out, hive_error **err);
hive_status cpu_op_layernorm(hive_device *dev, const hive_tensor *x, const hive_weight *gain,
                             const hive_weight *bias, float eps, const hive_tensor *out, hive_error **err);
hive_status cpu_op_matmul(hive_device *dev, const hive_tensor *x, const hive_weight *w,
                          const hive_weight *bias, float alpha, float beta,
                          const hive_tensor *out, hive_error **err);
hive_status cpu_op_binary(hive_device *dev, uint32_t op, const hive_tensor *a,
                          const hive_tensor *b, const hive_tensor *out, hive_error **err);
hive_status cpu_op_binary_weight(hive_device *dev, uint32_t op, const hive_tensor *a,
                                 const hive_weight *w, const hive_tensor *out, hive_error **err);
hive_status cpu_op_swiglu(hive_device *dev, const hive_tensor *gate, const hive_tensor *up,
                          const hive_tensor *out, hive_error **err);
hive_status cpu_op_rope(hive_device *dev, const hive_tensor *x, const hive_rope_desc *rope,
                        const hive_batch *batch, hive_error **err);
hive_status cpu_op_get_rows(hive_device *dev, const hive_tensor *x, const int32_t *rows,
                            uint32_t n, const hive_tensor *out, hive_error **err);
/* ops_ssm.c */
hive_status cpu_op_ssm_conv(hive_device *dev, const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                            uint32_t kernel, const hive_batch *batch, const int32_t *slots, const hive_tensor *state,
                            const hive_tensor *out, hive_error **err);
hive_status cpu_op_ssm_scan(hive_device *dev, const hive_tensor *x, const hive_tensor *dt, const hive_tensor *B,
                            const hive_tensor *C, const hive_weight *A, const hive_weight *D, const hive_weight *dt_bias,
                            const hive_ssm_desc *d, const hive_batch *batch, const int32_t *slots,
                            const hive_tensor *state, const hive_tensor *y, hive_error **err);
hive_status cpu_op_add_rows_scaled(hive_device *dev, const hive_tensor *x, const int32_t *rows, const float *scale,
                                   const hive_tensor *out, hive_error **err);
hive_status cpu_op_argmax(hive_device *dev, const hive_tensor *x, int32_t *ids,
                          hive_error **err);

#endif
