/*
 * hive_abi.h — the Hive plugin ABI. This is the ONLY header a plugin includes.
 *
 * Rules (docs/PLUGIN_ABI.md explains each with examples):
 *  - A plugin exports exactly two symbols: hive_plugin_query and hive_plugin_init.
 *  - Every struct that crosses the boundary starts with `uint32_t struct_size`.
 *    Fields are only ever appended. A field exists for the reader only if it lies
 *    entirely inside struct_size and, for pointers, is non-NULL.
 *  - Fixed-width integers only; no bool or enum in a layout; strings are
 *    NUL-terminated `const char *` (inputs) or hive_str (pointer + length).
 *  - Versioning: major must match; the plugin's min_host_minor must be <= the
 *    host's minor; the agreed minor is min(host minor, plugin minor).
 *  - Every fallible call returns a hive_status; on failure it may set *err to an
 *    error made with hive_host_api.error_new (the host copies and owns it).
 *    Plugins never abort() or exit(); C++ plugins catch everything at the edge.
 *  - Ownership: whoever allocates frees. Every object type has its destroy entry
 *    in the same table. Inputs are borrowed for the duration of the call only.
 *  - Optional table entries may be NULL; the host checks before calling.
 *
 * History (append-only):
 *  1.0  plugin info, host services, backend kernel table, adapter table.
 *  1.1  host_api.config_get; backend: op_argmax, get_extension; adapter: merge.
 *  1.2  adapter: get_extension. Extensions: backend LORA_SEGMENTS (SGMV) and
 *       GRAPH (record/replay of a step); adapter LOWRANK (its A and B).
 *  1.3  hive_rope_desc: angles, theta_scale (llama.cpp's RoPE arithmetic).
 *  1.4  backend: op_add_rows_scaled (mixture-of-experts combine).
 *  1.5  backend: op_ssm_conv, op_ssm_scan (Mamba2 layers), hive_ssm_desc.
 *  1.6  hive_kv_desc: has_v_dtype, v_dtype (K and V element types apart).
 *  1.7  hive_adapter_load_args.cache (hive_adapter_cache: data a plugin
 *       derives from an adapter and the base, kept across processes).
 *  1.8  backend: op_layernorm (LayerNorm with a bias: blazr's Mamba2 blocks).
 *  1.9  hive_kv_desc: n_store_blocks, store_dtype, store_v_dtype (a second
 *       tier of KV pages); backend: op_kv_migrate (two-tier KV, --kv-tail).
 *  1.10 hive_model_shape: n_modules, modules_in/out/path_fmt, module_present
 *       (a family's own linears after the seven: Mamba2, MLA);
 *       hive_adapter_desc.hooks_stride. hive_ssm_desc.chunk_size (was
 *       reserved0, so 0 from older hosts: the backend's choice).
 *  1.11 hive_model_shape: n_experts, modules_expert (modules that are one
 *       routed expert's slice of a stacked 3-D parameter: PEFT's
 *       target_parameters).
 */
#ifndef HIVE_ABI_H
#define HIVE_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HIVE_ABI_MAJOR 1
#define HIVE_ABI_MINOR 11

/* Mark the two entry points; everything else in a plugin is hidden. */
#if defined(__GNUC__)
#define HIVE_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define HIVE_PLUGIN_EXPORT
#endif

/* True when `field` of struct type `type` lies inside a struct of `size` bytes. */
#define HIVE_HAS_FIELD(type, size, field) \
    ((size) >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ---------------------------------------------------------------- basics -- */

typedef int32_t hive_status;
#define HIVE_OK                 0
#define HIVE_E_INVALID          1  /* bad argument or malformed input */
#define HIVE_E_NOMEM            2  /* allocation failed (host or device) */
#define HIVE_E_UNSUPPORTED      3  /* op, dtype or option not implemented here */
#define HIVE_E_NODEVICE         4  /* no usable device */
#define HIVE_E_DEVICE           5  /* device/driver failure */
#define HIVE_E_IO               6  /* file could not be read */
#define HIVE_E_SHAPE            7  /* shape mismatch */
#define HIVE_E_VERSION          8  /* ABI or format version mismatch */
#define HIVE_E_INTERNAL         9  /* bug: a broken invariant */
#define HIVE_E_NOTFOUND        10  /* named thing does not exist */

typedef struct hive_str {
    const char *ptr;
    uint64_t len;
} hive_str;

/* Opaque, host-owned error. Plugins only create them (host_api.error_new). */
typedef struct hive_error hive_error;

#define HIVE_LOG_ERROR 0
#define HIVE_LOG_WARN  1
#define HIVE_LOG_INFO  2
#define HIVE_LOG_DEBUG 3
#define HIVE_LOG_TRACE 4

/* Element types. Quantized layouts are the GGML block layouts (docs/PLUGIN_ABI.md). */
#define HIVE_DTYPE_F32   0
#define HIVE_DTYPE_F16   1
#define HIVE_DTYPE_BF16  2
#define HIVE_DTYPE_I32   3
#define HIVE_DTYPE_I8    4
#define HIVE_DTYPE_Q8_0  10  /* 32 elems: f16 d, int8 q[32]            (34 B) */
#define HIVE_DTYPE_Q4_0  11  /* 32 elems: f16 d, uint8 qs[16]          (18 B) */
#define HIVE_DTYPE_Q4_1  12  /* 32 elems: f16 d, f16 m, uint8 qs[16]   (20 B) */
#define HIVE_DTYPE_Q4_K  13  /* 256 elems: super-block                 (144 B) */
#define HIVE_DTYPE_Q6_K  14  /* 256 elems: super-block                 (210 B) */
#define HIVE_DTYPE_COUNT 15

/* ------------------------------------------------------------ plugin info -- */

#define HIVE_PLUGIN_BACKEND 1u
#define HIVE_PLUGIN_ADAPTER 2u

/* Filled by hive_plugin_query. The host sets struct_size to its own size before
 * the call; the plugin writes only fields inside min(host size, its size) and
 * sets struct_size to the size it knows. Strings are static in the plugin. */
typedef struct hive_plugin_info {
    uint32_t struct_size;
    uint32_t kind;            /* HIVE_PLUGIN_* */
    uint32_t abi_major;       /* HIVE_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;       /* HIVE_ABI_MINOR the plugin was built with */
    uint32_t min_host_minor;  /* oldest host minor the plugin can run on */
    uint32_t reserved0;
    const char *name;         /* unique, e.g. "onednn-cpu", "lora" */
    const char *version;      /* plugin's own version, e.g. "0.1.0" */
    const char *build;        /* compiler / flags / target, free text */
    const char *description;  /* one line */
} hive_plugin_info;

/* ------------------------------------------------------ host services -- */

/* A tensor stored in a file the host opened (safetensors or GGUF), memory-mapped.
 * `data` stays valid until the file is closed. Shape is outermost-first, as in
 * safetensors ([out, in] for a linear weight). */
#define HIVE_MAX_DIMS 8
typedef struct hive_tensor_view {
    uint32_t struct_size;
    uint32_t dtype;           /* HIVE_DTYPE_* */
    uint32_t n_dims;
    uint32_t reserved0;
    int64_t shape[HIVE_MAX_DIMS];
    const char *name;
    const void *data;
    uint64_t nbytes;
} hive_tensor_view;

typedef struct hive_tensor_file hive_tensor_file; /* host-owned */

typedef struct hive_host_api {
    uint32_t struct_size;
    uint32_t abi_major;
    uint32_t agreed_minor;    /* min(host minor, plugin minor) */
    uint32_t reserved0;
    void *ctx;                /* pass back to every call below */

    /* Logging; the host prefixes the plugin's name. `msg` is one line. */
    void (*log)(void *ctx, int32_t level, const char *msg);
    /* Make an error (printf format). Returns NULL only when out of memory. */
    hive_error *(*error_new)(void *ctx, hive_status code, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* Host allocator (64-byte aligned when align == 0). */
    void *(*alloc)(void *ctx, uint64_t nbytes, uint64_t align);
    void (*free)(void *ctx, void *ptr);

    /* Tensor files: safetensors and GGUF, read-only, mmapped. */
    hive_status (*tensor_file_open)(void *ctx, const char *path, hive_tensor_file **out,
                                    hive_error **err);
    uint64_t (*tensor_file_count)(void *ctx, const hive_tensor_file *f);
    /* index in [0, count); fills *out */
    hive_status (*tensor_file_get)(void *ctx, const hive_tensor_file *f, uint64_t index,
                                   hive_tensor_view *out);
    /* HIVE_E_NOTFOUND when absent (no error made) */
    hive_status (*tensor_file_find)(void *ctx, const hive_tensor_file *f, const char *name,
                                    hive_tensor_view *out);
    void (*tensor_file_close)(void *ctx, hive_tensor_file *f);

    const char *plugin_path;  /* realpath of this plugin's .so */

    /* ---- 1.1 ---- */
    /* Plugin-scoped configuration: returns the value of `plugins.<name>.<key>`
     * as a string, or NULL when unset. Valid until the plugin is unloaded. */
    const char *(*config_get)(void *ctx, const char *key);
} hive_host_api;

/* ---------------------------------------------------------- backends -- */

typedef struct hive_device hive_device;       /* backend-owned */
typedef struct hive_buffer hive_buffer;       /* backend-owned, device memory */
typedef struct hive_weight hive_weight;       /* backend-owned, maybe repacked */
typedef struct hive_kv_cache hive_kv_cache;   /* backend-owned, paged */

typedef struct hive_device_info {
    uint32_t struct_size;
    uint32_t score;           /* 0 = unusable; higher = preferred */
    char name[128];           /* e.g. "AMD EPYC 7B13 (avx2,fma)" */
    char reason[256];         /* why this score: features found / what is missing */
    uint64_t memory_total;    /* bytes, 0 if unknown */
    uint64_t memory_free;     /* bytes, 0 if unknown */
} hive_device_info;

typedef struct hive_device_options {
    uint32_t struct_size;
    uint32_t threads;         /* 0 = backend default (all cores) */
    uint32_t max_rows;        /* largest batch of token rows an op will see */
    uint32_t reserved0;
} hive_device_options;

/* An activation: a 2-D row-major f32 (or declared dtype) view into a buffer.
 * rows x cols elements, row i starts at offset + i*row_stride elements. */
typedef struct hive_tensor {
    uint32_t struct_size;
    uint32_t dtype;
    hive_buffer *buf;
    uint64_t offset;          /* bytes */
    int64_t rows;
    int64_t cols;
    int64_t row_stride;       /* elements */
} hive_tensor;

/* A weight matrix [rows = out features, cols = in features] in `dtype`
 * (quantized blocks run along cols). Vectors (norm gains, biases) are rows == 1. */
typedef struct hive_weight_desc {
    uint32_t struct_size;
    uint32_t dtype;
    int64_t rows;
    int64_t cols;
    const char *name;         /* for messages */
} hive_weight_desc;

typedef struct hive_kv_desc {
    uint32_t struct_size;
    uint32_t dtype;           /* HIVE_DTYPE_F16 (default) or F32; K's (and V's) element type */
    uint32_t n_layers;
    uint32_t n_blocks;
    uint32_t block_size;      /* token slots per block */
    uint32_t n_kv_heads;
    uint32_t head_dim;
    uint32_t reserved0;
    /* 1.6: when has_v_dtype is non-zero, V's element type is v_dtype and dtype
     * is K's alone. A backend that cannot store that pair refuses it; the host
     * never sends K != V to a plugin that agreed on a minor below 6. */
    uint32_t has_v_dtype;
    uint32_t v_dtype;
    /* 1.9: a second tier of n_store_blocks pages (0: none), K in store_dtype
     * and V in store_v_dtype: block ids n_blocks .. n_blocks + n_store_blocks
     * - 1 in a block table are store pages; op_kv_store and op_attention
     * read each page in its own tier's types. The host sends store pages
     * only to a backend that agreed on 1.9 and has op_kv_migrate. */
    uint32_t n_store_blocks;
    uint32_t store_dtype;
    uint32_t store_v_dtype;
    uint32_t reserved1;
} hive_kv_desc;

/* Which rows belong to which sequence, where they sit, and each sequence's
 * block table. Arrays live in host memory; a device backend copies them. */
typedef struct hive_batch {
    uint32_t struct_size;
    uint32_t n_rows;
    const int32_t *row_seq;      /* [n_rows] index into the per-sequence arrays */
    const int32_t *row_pos;      /* [n_rows] absolute position (KV slot) of the row */
    uint32_t n_seqs;
    uint32_t max_blocks;         /* stride of block_table */
    const int32_t *block_table;  /* [n_seqs * max_blocks] physical block ids */
} hive_batch;

/* A selective state-space (Mamba2) mixer's shape, for op_ssm_scan (1.5).
 * Head h reads B and C of group h / (n_heads / n_groups). */
typedef struct hive_ssm_desc {
    uint32_t struct_size;
    uint32_t n_heads;
    uint32_t head_dim;
    uint32_t n_groups;
    uint32_t state_size;
    uint32_t chunk_size;         /* the model's SSD chunk (a hint for a chunked prefill; any value gives the
                                    same result up to rounding); 0: the backend's choice. Was reserved0 (0). */
    float dt_min, dt_max;        /* clamp of softplus(dt + dt_bias); 0 and +inf: none */
} hive_ssm_desc;

/* RoPE as the host computed it: rotate pairs with angle pos * inv_freq[i],
 * then multiply by attn_factor (YaRN mscale; 1 otherwise).
 * angles (1.3) picks the arithmetic, so a GGUF model rotates exactly as
 * llama.cpp's CPU build does and a Hugging Face one as transformers does: */
#define HIVE_ROPE_ANGLES_TABLE 0 /* theta_i = pos * inv_freq[i]; each product rounded (transformers) */
#define HIVE_ROPE_ANGLES_GGML  1 /* theta_0 = pos, theta_i+1 = theta_i * theta_scale (a running f32
                                    product); x0*c - x1*s as fma(x0, c, -(x1*s)), x0*s + x1*c as
                                    fma(x0, s, x1*c) (ggml built with FMA); inv_freq unused */
#define HIVE_ROPE_NORMAL 0  /* pairs (2i, 2i+1)            (GGUF llama) */
#define HIVE_ROPE_NEOX   1  /* pairs (i, i + head_dim/2)   (HF rotate_half) */
typedef struct hive_rope_desc {
    uint32_t struct_size;
    uint32_t mode;               /* HIVE_ROPE_* */
    uint32_t n_heads;            /* heads in the tensor's cols */
    uint32_t head_dim;
    uint32_t rot_dims;           /* rotated dims per head (<= head_dim) */
    float attn_factor;
    const float *inv_freq;       /* [rot_dims/2], host memory */
    /* ---- 1.3 ---- (absent: HIVE_ROPE_ANGLES_TABLE; a backend without it
     * computes the table's angles, which differ in the last bits) */
    uint32_t angles;             /* HIVE_ROPE_ANGLES_* */
    float theta_scale;           /* ANGLES_GGML: base^(-2/rot_dims) in f32 */
} hive_rope_desc;

#define HIVE_BINARY_ADD 0
#define HIVE_BINARY_MUL 1

/* Capability bits (hive_backend_api.caps): quick checks; details by extension. */
#define HIVE_BACKEND_CAP_F16_KV      (1ull << 0)
#define HIVE_BACKEND_CAP_BF16_MATMUL (1ull << 1)
#define HIVE_BACKEND_CAP_HOST_MEMORY (1ull << 2) /* buffers are host-addressable */
#define HIVE_BACKEND_CAP_ARGMAX      (1ull << 3)

typedef struct hive_backend_api {
    uint32_t struct_size;
    uint32_t reserved0;
    uint64_t caps;

    /* Devices. device_count may return 0 with a reason in the info of index 0. */
    hive_status (*device_count)(uint32_t *count, hive_error **err);
    hive_status (*device_info)(uint32_t index, hive_device_info *out, hive_error **err);
    hive_status (*device_open)(uint32_t index, const hive_device_options *opts,
                               hive_device **out, hive_error **err);
    void (*device_close)(hive_device *dev);
    /* Wait until all queued work on the device has finished. */
    hive_status (*synchronize)(hive_device *dev, hive_error **err);

    /* Buffers. */
    hive_status (*buffer_alloc)(hive_device *dev, uint64_t nbytes, hive_buffer **out,
                                hive_error **err);
    void (*buffer_free)(hive_device *dev, hive_buffer *buf);
    hive_status (*buffer_upload)(hive_device *dev, hive_buffer *buf, uint64_t offset,
                                 const void *src, uint64_t nbytes, hive_error **err);
    hive_status (*buffer_download)(hive_device *dev, const hive_buffer *buf, uint64_t offset,
                                   void *dst, uint64_t nbytes, hive_error **err);
    /* Host pointer of a buffer, or NULL when not host-addressable (optional). */
    void *(*buffer_host_ptr)(hive_device *dev, hive_buffer *buf);

    /* Weights. weight_supported: 0 = host must convert; nonzero = runs natively. */
    uint32_t (*weight_supported)(hive_device *dev, uint32_t dtype);
    /* `data` is borrowed for the call; the backend copies/repacks it. */
    hive_status (*weight_upload)(hive_device *dev, const hive_weight_desc *desc,
                                 const void *data, hive_weight **out, hive_error **err);
    void (*weight_free)(hive_device *dev, hive_weight *w);

    /* Paged KV cache. */
    hive_status (*kv_alloc)(hive_device *dev, const hive_kv_desc *desc, hive_kv_cache **out,
                            hive_error **err);
    void (*kv_free)(hive_device *dev, hive_kv_cache *kv);

    /* ---- ops; all activations f32 unless stated; out may not alias inputs
     *      unless stated. ---- */
    /* out[i] = dequant(table row ids[i]); ids in host memory. */
    hive_status (*op_embed)(hive_device *dev, const hive_weight *table, const int32_t *ids,
                            const hive_tensor *out, hive_error **err);
    /* out = x / rms(x) * gain (per row over cols); gain is a [1, cols] weight.
     * out may alias x. */
    hive_status (*op_rmsnorm)(hive_device *dev, const hive_tensor *x, const hive_weight *gain,
                              float eps, const hive_tensor *out, hive_error **err);
    /* out = alpha * (x @ w^T + bias) + beta * out. bias may be NULL ([1, rows(w)]).
     * beta == 0 means out is not read. */
    hive_status (*op_matmul)(hive_device *dev, const hive_tensor *x, const hive_weight *w,
                             const hive_weight *bias, float alpha, float beta,
                             const hive_tensor *out, hive_error **err);
    /* out = a (op) b; b has a's shape or one row (broadcast). out may alias a. */
    hive_status (*op_binary)(hive_device *dev, uint32_t op, const hive_tensor *a,
                             const hive_tensor *b, const hive_tensor *out, hive_error **err);
    /* out = a (op) w, w a [1, cols] weight broadcast over rows. out may alias a. */
    hive_status (*op_binary_weight)(hive_device *dev, uint32_t op, const hive_tensor *a,
                                    const hive_weight *w, const hive_tensor *out,
                                    hive_error **err);
    /* out = silu(gate) * up. out may alias gate. */
    hive_status (*op_swiglu)(hive_device *dev, const hive_tensor *gate, const hive_tensor *up,
                             const hive_tensor *out, hive_error **err);
    /* In place on x (cols = n_heads * head_dim), positions from batch->row_pos. */
    hive_status (*op_rope)(hive_device *dev, const hive_tensor *x, const hive_rope_desc *rope,
                           const hive_batch *batch, hive_error **err);
    /* Store k, v rows ([n_rows, n_kv_heads*head_dim]) at their (seq, pos) slots. */
    hive_status (*op_kv_store)(hive_device *dev, hive_kv_cache *kv, uint32_t layer,
                               const hive_tensor *k, const hive_tensor *v,
                               const hive_batch *batch, hive_error **err);
    /* Causal attention: row r of sequence s at position p attends to KV slots
     * 0..p of s. q: [n_rows, n_heads*head_dim]; out likewise. GQA when
     * n_heads > n_kv_heads. scale is applied to q.k. */
    hive_status (*op_attention)(hive_device *dev, hive_kv_cache *kv, uint32_t layer,
                                const hive_tensor *q, uint32_t n_heads, float scale,
                                const hive_batch *batch, const hive_tensor *out,
                                hive_error **err);
    /* out[i] = x[rows[i]]; rows in host memory. */
    hive_status (*op_get_rows)(hive_device *dev, const hive_tensor *x, const int32_t *rows,
                               uint32_t n, const hive_tensor *out, hive_error **err);

    /* ---- 1.1 ---- */
    /* Optional: ids[i] = argmax over cols of x row i, written to host memory. */
    hive_status (*op_argmax)(hive_device *dev, const hive_tensor *x, int32_t *ids,
                             hive_error **err);
    /* Optional: typed extension by id (struct_size first), or NULL. */
    const void *(*get_extension)(hive_device *dev, uint32_t id, uint32_t min_version);

    /* ---- 1.4 ---- */
    /* Optional: out[rows[i]] += scale[i] * x[i] for each row i of x; rows and
     * scale in host memory, rows distinct, x and out of one width. A
     * mixture-of-experts layer adds each expert's output rows, weighted by
     * the router, into the residual stream with it. HIVE_EXT_GRAPH v1 does
     * not record it (a backend refuses it during a capture). */
    hive_status (*op_add_rows_scaled)(hive_device *dev, const hive_tensor *x, const int32_t *rows,
                                      const float *scale, const hive_tensor *out, hive_error **err);

    /* ---- 1.5 ---- */
    /* Optional, Mamba2 layers. Each sequence's recurrent state is one row of
     * `state` (f32, in device memory, kept between calls): local sequence j
     * (hive_batch.row_seq) owns row slots[j] (host memory). Rows of one
     * sequence are consumed in batch order, each continuing its state. Not
     * recordable by HIVE_EXT_GRAPH v1. */
    /* out = silu(causal depthwise conv1d(x)) over each sequence, kernel K:
     * out[t][c] = silu(bias[c] + sum_k w[c*K + k] * in[t - K + 1 + k][c]),
     * inputs before the row from the state row ([c * (K - 1) + i], the last
     * K - 1 inputs, oldest first), which is then advanced. x, out: [n, C];
     * w: a [1, C * K] weight; bias: [1, C] or NULL; state cols C * (K - 1). */
    hive_status (*op_ssm_conv)(hive_device *dev, const hive_tensor *x, const hive_weight *w,
                               const hive_weight *bias, uint32_t kernel, const hive_batch *batch,
                               const int32_t *slots, const hive_tensor *state, const hive_tensor *out,
                               hive_error **err);
    /* The selective scan, one token at a time per sequence (exact; any
     * chunking is the backend's): for head h, dim p, state n, with g the
     * head's group, dt_h = clamp(softplus(dt[h] + dt_bias[h])),
     *   s[h][p][n] = s[h][p][n] * exp(dt_h * A[h]) + dt_h * B[g][n] * x[h][p]
     *   y[h][p]    = sum_n s[h][p][n] * C[g][n] + D[h] * x[h][p].
     * x, y: [n, heads * head_dim]; dt: [n, heads]; B, C: [n, groups *
     * state_size]; A (negative), D, dt_bias: [1, heads] weights; state cols
     * heads * head_dim * state_size, laid out [h][p][n]. */
    hive_status (*op_ssm_scan)(hive_device *dev, const hive_tensor *x, const hive_tensor *dt,
                               const hive_tensor *B, const hive_tensor *C, const hive_weight *A,
                               const hive_weight *D, const hive_weight *dt_bias, const hive_ssm_desc *desc,
                               const hive_batch *batch, const int32_t *slots, const hive_tensor *state,
                               const hive_tensor *y, hive_error **err);
    /* ---- 1.8 (optional: NULL when absent) ---- */
    /* out = (x - mean(x)) / sqrt(var(x) + eps) * gain + bias per row over
     * cols (biased variance, as torch.nn.LayerNorm); gain and bias are
     * [1, cols] weights, bias may be NULL. out may alias x. Not recordable
     * by HIVE_EXT_GRAPH v1 (like the Mamba2 ops it runs beside). */
    hive_status (*op_layernorm)(hive_device *dev, const hive_tensor *x, const hive_weight *gain,
                                const hive_weight *bias, float eps, const hive_tensor *out, hive_error **err);
    /* ---- 1.9 (optional: NULL when absent) ---- */
    /* Two-tier KV: converts page src (< n_blocks, the first tier's types) into
     * store page dst (n_blocks <= dst < n_blocks + n_store_blocks), all layers,
     * K and V, every slot of the page. src is left as it was (the host frees
     * it). Not recordable by HIVE_EXT_GRAPH v1. */
    hive_status (*op_kv_migrate)(hive_device *dev, hive_kv_cache *kv, uint32_t src_page, uint32_t dst_page,
                                 hive_error **err);
} hive_backend_api;

/* ---------------------------------------------------------- adapters -- */

/* Linear modules an adapter may hook. */
#define HIVE_MODULE_Q     0
#define HIVE_MODULE_K     1
#define HIVE_MODULE_V     2
#define HIVE_MODULE_O     3
#define HIVE_MODULE_GATE  4
#define HIVE_MODULE_UP    5
#define HIVE_MODULE_DOWN  6
#define HIVE_MODULE_COUNT 7

typedef struct hive_adapter hive_adapter;  /* adapter-plugin-owned */

/* The base model as an adapter sees it. */
typedef struct hive_model_shape {
    uint32_t struct_size;
    uint32_t n_layers;
    uint32_t hidden;
    uint32_t vocab;
    /* in/out features of each module (same in every layer) */
    uint32_t module_in[HIVE_MODULE_COUNT];
    uint32_t module_out[HIVE_MODULE_COUNT];
    const char *arch;          /* "llama", "qwen2", "qwen3" */
    /* module path as PEFT names it: "model.layers.%u.self_attn.q_proj" */
    const char *module_path_fmt[HIVE_MODULE_COUNT];
    /* ---- 1.10 ---- */
    /* Every linear an adapter may hook: ids 0..6 are the seven above (same
     * sizes and paths), ids 7..n_modules-1 the family's own (Mamba2 in_proj,
     * out_proj; latent attention's q_a_proj, ...), known to a plugin only by
     * their PEFT path. Arrays of n_modules. module_present[layer * n_modules
     * + module] is 1 where the layer has the module (a hybrid's Mamba2 layer
     * has no q_proj). A plugin that hooks by these ids sets
     * hive_adapter_desc.hooks_stride = n_modules. */
    uint32_t n_modules;
    uint32_t reserved0;
    const uint32_t *modules_in;
    const uint32_t *modules_out;
    const char *const *modules_path_fmt;
    const uint8_t *module_present;
    /* ---- 1.11 ---- */
    /* Routed experts' parameters. modules_expert[m] (array of n_modules) is 0
     * for a linear module; k + 1 when module m is expert k's slice of the
     * stacked parameter [n_experts, out, in] whose PEFT path
     * modules_path_fmt[m] names ("model.layers.%u.mlp.experts.gate_up_proj":
     * a parameter, which PEFT's target_parameters selects, never
     * target_modules). Slices of one layer's parameters are listed expert by
     * expert, and within an expert in the order the Hugging Face class
     * registers the parameters (gate_up_proj before down_proj). */
    uint32_t n_experts;
    uint32_t reserved1;
    const uint32_t *modules_expert;
} hive_model_shape;

/* 1.7: a store of named blobs private to one adapter file on one base model
 * file with one adapter config: the host keys it by the sha256 of all three,
 * checks each blob's size and checksum when reading (a damaged one is
 * reported, deleted and reads as absent) and writes atomically. The plugin
 * still checks that a blob's contents fit what it loads (its own format
 * version, shapes). */
typedef struct hive_adapter_cache {
    uint32_t struct_size;
    uint32_t reserved0;
    void *ctx;
    /* The blob `name` ([A-Za-z0-9._-], at most 64 chars) in *data (host
     * memory: free with host_api.free) and *size. HIVE_E_NOTFOUND when there
     * is none, it is damaged or the cache is off (no error made). */
    hive_status (*get)(void *ctx, const char *name, void **data, uint64_t *size);
    /* Stores (replaces) the blob. Best effort: a read-only or missing cache
     * directory only skips it; the host logs why. */
    void (*put)(void *ctx, const char *name, const void *data, uint64_t size);
} hive_adapter_cache;

/* Read-only access to base weights, for DoRA's norms and merging. */
typedef struct hive_base_access {
    uint32_t struct_size;
    uint32_t reserved0;
    void *ctx;
    /* The base weight of (layer, module) dequantized to f32 [out, in], in a
     * host buffer the caller frees with host_api.free. */
    hive_status (*weight_f32)(void *ctx, uint32_t layer, uint32_t module, float **out,
                              hive_error **err);
    /* The device weight of (layer, module), for merging; NULL if unknown. */
    hive_weight *(*weight)(void *ctx, uint32_t layer, uint32_t module);
    /* The module's bias as f32 [out] in host memory (caller frees with
     * host_api.free), or *out = NULL when the module has none. */
    hive_status (*bias_f32)(void *ctx, uint32_t layer, uint32_t module, float **out,
                            hive_error **err);
    /* Merge support: replace the base weight of (layer, module) with `w`, f32
     * [out, in] (borrowed). Affects every sequence of this engine. */
    hive_status (*replace_weight_f32)(void *ctx, uint32_t layer, uint32_t module,
                                      const float *w, hive_error **err);
} hive_base_access;

typedef struct hive_adapter_load_args {
    uint32_t struct_size;
    uint32_t max_rows;               /* most rows a hook will see at once */
    const char *dir;                 /* PEFT adapter directory */
    const char *config_json;         /* adapter_config.json contents */
    const hive_backend_api *backend;
    hive_device *device;
    const hive_model_shape *model;
    const hive_base_access *base;
    /* ---- 1.7 ---- */
    /* Optional (NULL: no cache): where to keep what this load derives from the
     * adapter and the base (DoRA: its weight norms) for the next process. */
    const hive_adapter_cache *cache;
} hive_adapter_load_args;

/* What a loaded adapter does, for the engine's planning.
 * Order at a hooked linear y = W x + b, for the adapters active on a row:
 *   1. LINEAR_INPUT hooks scale x in place (IA3 feed-forward; scales multiply);
 *   2. base_y = W x + b;  y = base_y;
 *   3. LINEAR_OUTPUT hooks add their delta to y, computed from x and base_y
 *      (LoRA: s*B(A x); DoRA: (f-1)*(base_y - b) + f*s*B(A x)). Deltas add;
 *   4. OUTPUT_SCALE hooks multiply y in place (IA3 on other modules), so IA3
 *      scales the adapted module's output, as PEFT does when IA3 wraps LoRA. */
#define HIVE_HOOK_EMBED         (1u << 0)
#define HIVE_HOOK_LINEAR_INPUT  (1u << 1)
#define HIVE_HOOK_LINEAR_OUTPUT (1u << 2)
#define HIVE_HOOK_OUTPUT_SCALE  (1u << 3)
typedef struct hive_adapter_desc {
    uint32_t struct_size;
    uint32_t hooks;                  /* HIVE_HOOK_* (union over all modules) */
    uint32_t n_virtual_tokens;       /* soft prompt */
    uint32_t reserved0;
    uint64_t device_bytes;           /* memory held on the device */
    /* hooks per (layer, module): hooks_at[layer * HIVE_MODULE_COUNT + module]
     * is a HIVE_HOOK_* mask; array of n_layers * HIVE_MODULE_COUNT, owned by
     * the adapter, valid while it lives (1.10: the stride is hooks_stride
     * when that is set) */
    const uint32_t *hooks_at;
    /* ---- 1.10 ---- */
    /* modules per layer in hooks_at (and the module ids' range): 0 or absent
     * is HIVE_MODULE_COUNT; else hive_model_shape.n_modules */
    uint32_t hooks_stride;
    uint32_t reserved1;
} hive_adapter_desc;

typedef struct hive_adapter_api {
    uint32_t struct_size;
    uint32_t reserved0;
    uint64_t caps;
    /* 0 = not mine; higher = better match. Reads only the JSON text. */
    uint32_t (*claim)(const char *config_json);
    hive_status (*load)(const hive_adapter_load_args *args, hive_adapter **out,
                        hive_error **err);
    void (*destroy)(hive_adapter *a);
    hive_status (*describe)(const hive_adapter *a, hive_adapter_desc *out);
    /* EMBED: write the n_virtual_tokens embedding rows (f32) into out. */
    hive_status (*embed)(hive_adapter *a, const hive_tensor *out, hive_error **err);
    /* LINEAR_INPUT: scale x (the rows of one segment) in place. */
    hive_status (*linear_input)(hive_adapter *a, uint32_t layer, uint32_t module,
                                const hive_tensor *x, hive_error **err);
    /* OUTPUT_SCALE: multiply y in place. LINEAR_OUTPUT: add the delta to y.
     * x is the module input, base_y = W x + bias (read-only), y the output. */
    hive_status (*linear_output)(hive_adapter *a, uint32_t layer, uint32_t module,
                                 const hive_tensor *x, const hive_tensor *base_y,
                                 const hive_tensor *y, hive_error **err);
    /* ---- 1.1 ---- */
    /* Optional: fold into the base weights via base->weight (single-expert
     * fast path); afterwards the adapter's hooks must not be called. */
    hive_status (*merge)(hive_adapter *a, hive_error **err);
    /* ---- 1.2 ---- */
    /* Optional: typed extension by id (struct_size first), or NULL. */
    const void *(*get_extension)(hive_adapter *a, uint32_t id, uint32_t min_version);
} hive_adapter_api;

/* -------------------------------------------------------- extensions -- */
/* An extension is a struct that starts with struct_size and version and is
 * append-only like every table. get_extension(.., id, min_version) returns it
 * when the plugin offers `id` at version >= min_version, else NULL. */

/* Backend extension ids. */
#define HIVE_EXT_LORA_SEGMENTS 1u
#define HIVE_EXT_GRAPH         2u
/* Adapter extension ids. */
#define HIVE_ADAPTER_EXT_LOWRANK 1u

/* HIVE_EXT_LORA_SEGMENTS v1: every low-rank delta of a linear in one call
 * (SGMV: rows grouped by adapter). For each segment s in [0, n):
 *     y[row0[s] .. row0[s] + rows[s]) += B[s] (A[s] x[same rows])
 * A[s] is an f32 weight [r_s, cols(x)] and B[s] an f32 weight [cols(y), r_s]
 * with the scale already folded in (see HIVE_ADAPTER_EXT_LOWRANK); r_s <=
 * max_rank. Segments must not overlap. Arrays are host memory, borrowed. */
typedef struct hive_ext_lora_segments {
    uint32_t struct_size;
    uint32_t version;
    uint32_t max_rank;
    uint32_t reserved0;
    hive_status (*op_lora_segments)(hive_device *dev, const hive_tensor *x, const hive_tensor *y, uint32_t n,
                                    const int32_t *row0, const int32_t *rows, const hive_weight *const *A,
                                    const hive_weight *const *B, hive_error **err);
} hive_ext_lora_segments;

/* HIVE_EXT_GRAPH v1: record the ops of one step once, replay them cheaply
 * (CUDA graphs). Between capture_begin and capture_end, ops on `dev` are
 * recorded, not run; buffer_upload, buffer_download, synchronize and
 * op_argmax are refused. At each replay the backend re-reads, from the same
 * host addresses and with the sizes of the capture, these host arrays:
 * op_embed ids, op_get_rows rows, and a hive_batch's row_seq, row_pos and
 * block_table. Everything else is fixed at capture: shapes, scalars,
 * buffers, weights, n_seqs, a rope's inv_freq and op_lora_segments' arrays. The host
 * keeps those arrays alive and captures anew when anything fixed changes.
 * Kernels must not depend on array contents for their launch shape (e.g.
 * attention sizes its work for max_blocks * block_size positions). */
typedef struct hive_graph hive_graph; /* backend-owned */
typedef struct hive_ext_graph {
    uint32_t struct_size;
    uint32_t version;
    hive_status (*capture_begin)(hive_device *dev, hive_error **err);
    /* On failure no graph exists and the device is back to running ops. */
    hive_status (*capture_end)(hive_device *dev, hive_graph **out, hive_error **err);
    /* Queued in order with other work: a download after it sees its results. */
    hive_status (*replay)(hive_device *dev, hive_graph *g, hive_error **err);
    void (*graph_free)(hive_device *dev, hive_graph *g);
} hive_ext_graph;

/* HIVE_ADAPTER_EXT_LOWRANK v1: when the adapter's LINEAR_OUTPUT delta at
 * (layer, module) is exactly y += B (A x) (plain LoRA; scale folded into B),
 * lowrank_at gives its f32 weights A [r, in] and B [out, r] and returns
 * HIVE_OK, so the host may batch it into op_lora_segments; otherwise
 * HIVE_E_NOTFOUND and the host calls linear_output. Weights stay owned by
 * the adapter. */
typedef struct hive_adapter_ext_lowrank {
    uint32_t struct_size;
    uint32_t version;
    hive_status (*lowrank_at)(const hive_adapter *a, uint32_t layer, uint32_t module, const hive_weight **A,
                              const hive_weight **B, uint32_t *rank);
} hive_adapter_ext_lowrank;

/* ------------------------------------------------------- entry points -- */

/* Frozen forever. Initialises no driver; may be called without init. */
typedef hive_status (*hive_plugin_query_fn)(hive_plugin_info *info);
/* Returns the plugin's table (hive_backend_api or hive_adapter_api, by kind)
 * in *api; the table stays valid until the plugin is unloaded. */
typedef hive_status (*hive_plugin_init_fn)(const hive_host_api *host, const void **api,
                                           hive_error **err);

#define HIVE_PLUGIN_QUERY_SYMBOL "hive_plugin_query"
#define HIVE_PLUGIN_INIT_SYMBOL  "hive_plugin_init"

#ifdef __cplusplus
}
#endif
#endif /* HIVE_ABI_H */
