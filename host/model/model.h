/* A base model on disk: hyper-parameters, tokenizer source and the tensor
 * catalog, validated against its architecture. No device memory here: the
 * engine uploads these views through the backend. */
#ifndef HIVE_MODEL_MODEL_H
#define HIVE_MODEL_MODEL_H

#include <stdint.h>
#include "hive_abi.h"
#include "tokenizer/vocab.h"

#define HIVE_ROPE_MAX_PAIRS 256 /* rotated pairs per head Hive supports (head_dim 512) */
#define HIVE_ROPE_TYPES "none (default) linear dynamic yarn longrope llama3"

typedef enum {
    HIVE_ARCH_LLAMA = 0,
    HIVE_ARCH_QWEN2 = 1,
    HIVE_ARCH_QWEN3 = 2,
    HIVE_ARCH_QWEN3_MOE = 3,
    HIVE_ARCH_QWEN2_MOE = 4,
    HIVE_ARCH_MAMBA2 = 5,
    HIVE_ARCH_DEEPSEEK2 = 6,
    HIVE_ARCH_GRANITE_HYBRID = 7,
    HIVE_ARCH_BLAZR = 8 /* blazr / oxidizr checkpoints: flat config.json, names without model. (blazr.c) */
} hive_arch;

#define HIVE_MAX_EXPERTS 1024 /* routed experts per layer Hive accepts */

typedef struct hive_hparams {
    hive_arch arch;
    char arch_name[32];         /* "llama", "qwen2", "qwen3", "qwen3_moe", "qwen2_moe" (GGUF: "qwen3moe",
                                   "qwen2moe"), "mamba2", "deepseek_v2", "granitemoehybrid", "blazr" */
    char name[128];             /* general.name or directory name */
    uint32_t n_layers;
    uint32_t hidden;            /* n_embd */
    uint32_t n_heads;
    uint32_t n_kv_heads;
    uint32_t head_dim;          /* qwen3 may have head_dim != hidden / n_heads */
    uint32_t ffn;               /* intermediate size */
    uint32_t vocab;
    uint32_t max_ctx;           /* trained context length */
    float rms_eps;
    float rope_theta;
    uint32_t rope_mode;         /* HIVE_ROPE_NORMAL (GGUF llama, permuted q/k) or HIVE_ROPE_NEOX */
    /* RoPE scaling (docs/LONG_CONTEXT.md): type "none", "linear", "dynamic",
     * "yarn", "longrope" or "llama3", with transformers' parameters */
    char rope_scaling[16];
    float rope_factor;
    uint32_t rope_orig_ctx;     /* pretraining length the scaling extends (dynamic: max_ctx) */
    float rope_low_freq_factor, rope_high_freq_factor; /* llama3 */
    float yarn_beta_fast, yarn_beta_slow;
    float yarn_mscale, yarn_mscale_all_dim; /* 0: absent */
    int yarn_no_truncate;       /* yarn truncate: false (keep the correction range unrounded) */
    float rope_attn_factor;     /* transformers' attention_factor (yarn, longrope); 0: computed */
    float rope_attn_mult;       /* llama.cpp's attn_factor: multiplies the cos/sin scale; 0: 1 */
    uint32_t rope_n_ext;        /* longrope: entries of short/long factor (rope_dims / 2) */
    float rope_short_factor[HIVE_ROPE_MAX_PAIRS], rope_long_factor[HIVE_ROPE_MAX_PAIRS];
    /* GGUF rope_freqs tensor (llama.cpp's llama3 conversion): inv_freq[i] /= factor[i] */
    uint32_t rope_n_freq_factors;
    float rope_freq_factors[HIVE_ROPE_MAX_PAIRS];
    int tied_embeddings;        /* output weight == token embedding */
    int qkv_bias;               /* qwen2 */
    int qk_norm;                /* qwen3 */
    uint32_t rope_dims;         /* rotated dims per head (GGUF rope.dimension_count; = head_dim) */
    int rope_ggml_arith;        /* GGUF: unscaled RoPE computed as llama.cpp does (HIVE_ROPE_ANGLES_GGML) */
    /* Mixture of experts (qwen3_moe, qwen2_moe): 0 experts means every layer is dense.
     * Which layers route is per layer (hive_layer_tensors.moe_router). */
    uint32_t n_experts;         /* routed experts per MoE layer */
    uint32_t n_experts_used;    /* top-k */
    uint32_t moe_ffn;           /* each expert's intermediate size */
    int moe_norm_topk;          /* renormalise the top-k probabilities to sum to 1 */
    uint32_t moe_shared_ffn;    /* a shared expert every row runs (qwen2_moe, deepseek_v2), its intermediate size; 0: none */
    float moe_scale;            /* routed weights times this (deepseek_v2's routed_scaling_factor); 0: 1 */
    uint32_t moe_groups, moe_topk_groups; /* group-limited routing: top experts within the best groups; 0: off */
    /* Selective state-space (Mamba2) mixers, 0 heads: none. Which layers are
     * Mamba2 is per layer (hive_layer_tensors.ssm_in). */
    uint32_t ssm_heads, ssm_head_dim, ssm_groups, ssm_state, ssm_conv;
    uint32_t ssm_inner;         /* heads * head_dim (config: expand * hidden) */
    float ssm_dt_min, ssm_dt_max; /* time_step_limit */
    uint32_t ssm_chunk;         /* the SSD chunk the model was trained with (a backend hint); 0: not given */
    int ssm_a_stored;           /* the file holds A = -exp(A_log) (llama.cpp's GGUF), not A_log */
    uint32_t n_attn_layers;     /* layers with attention (the KV cache's users) */
    /* Multi-head latent attention (deepseek_v2), mla_kv_rank 0: none. The KV
     * cache then holds one row per token of [latent c_kv | rope key]
     * (n_kv_heads 1, head_dim = mla_kv_rank + mla_rope). */
    uint32_t mla_kv_rank, mla_q_rank; /* latent widths (q: 0 = q straight from x) */
    uint32_t mla_nope, mla_rope, mla_v; /* per head: query/key dims without and with RoPE, value dims */
    /* Granite's multipliers (0: 1): embeddings, every residual branch, the
     * attention score scale (replacing 1/sqrt(head_dim)), and logits (divided) */
    float embed_mult, residual_mult, attn_scale, logits_div;
    /* blazr's Mamba2 blocks: pre-norm a LayerNorm with a bias (eps ssm_ln_eps;
     * hive_layer_tensors.attn_norm_b), the gated RMSNorm over ssm_norm_groups
     * groups (0: ssm_groups) with eps ssm_norm_eps (0: rms_eps) */
    float ssm_ln_eps, ssm_norm_eps;
    uint32_t ssm_norm_groups;
} hive_hparams;

/* RoPE settings given on the command line or in the config file, over the
 * model file's (docs/LONG_CONTEXT.md). Zero / "" keeps the model's value. */
typedef struct hive_rope_override {
    char scaling[16];          /* --rope-scaling */
    float factor;              /* --rope-scale */
    float freq_base;           /* --rope-freq-base */
    uint32_t orig_ctx;         /* --yarn-orig-ctx */
    float beta_fast, beta_slow; /* --yarn-beta-fast, --yarn-beta-slow */
    float attn_mult;           /* --yarn-attn-factor (llama.cpp's meaning: multiplies the scale) */
} hive_rope_override;

/* 1 when type names a RoPE scaling Hive computes ("default" counts as "none"). */
int hive_rope_type_known(const char *type);
/* Apply o to hp; an unknown type or a value out of range is an error naming it. */
hive_status hive_hparams_rope_override(hive_hparams *hp, const hive_rope_override *o, hive_error **err);

/* A tensor the model uses. data == NULL means absent (optional tensors only). */
typedef struct hive_layer_tensors {
    hive_tensor_view attn_norm;   /* [hidden] */
    hive_tensor_view wq, wk, wv, wo;
    hive_tensor_view bq, bk, bv;  /* qwen2 */
    hive_tensor_view q_norm, k_norm; /* qwen3 [head_dim] */
    hive_tensor_view ffn_norm;
    hive_tensor_view w_gate, w_up, w_down; /* dense layers */
    /* mixture-of-experts layers (data NULL on dense ones): the router
     * [n_experts, hidden] and, per expert, gate/up [moe_ffn, hidden] and down
     * [hidden, moe_ffn] (arrays of n_experts, owned by the model) */
    hive_tensor_view moe_router;
    hive_tensor_view *moe_gate, *moe_up, *moe_down;
    /* the shared expert (moe_shared_ffn > 0): gate/up [moe_shared_ffn, hidden],
     * down [hidden, moe_shared_ffn], and its sigmoid gate [1, hidden] */
    hive_tensor_view moe_shared_gate, moe_shared_up, moe_shared_down, moe_shared_gate_inp;
    /* Mamba2 layers (ssm_in.data NULL on others; attn_norm is the block's
     * pre-norm): in_proj [2 inner + 2 groups * state + heads, hidden],
     * conv1d weight [conv dim, 1, kernel] and bias [conv dim], dt_bias, A_log,
     * D [heads], the gated norm [inner], out_proj [hidden, inner] */
    hive_tensor_view ssm_in, ssm_conv_w, ssm_conv_b, ssm_dt_bias, ssm_A_log, ssm_D, ssm_norm, ssm_out;
    /* multi-head latent attention (wq is q_proj when there is no query latent;
     * wo is [hidden, heads * v]): q_a [q rank, hidden] + q_a_norm + q_b
     * [heads * (nope + rope), q rank]; kv_a [kv rank + rope, hidden] +
     * kv_a_norm [kv rank]; kv_b [heads * (nope + v), kv rank] */
    hive_tensor_view mla_q_a, mla_q_a_norm, mla_q_b, mla_kv_a, mla_kv_a_norm, mla_kv_b;
    hive_tensor_view mla_k_b, mla_v_b; /* GGUF: kv_b split per head, [heads, kv rank, nope], [heads, v, kv rank] */
    /* blazr's latent attention (no latent norms; mla_kv_a is w_dkv [kv rank,
     * hidden], mla_q_a w_dq, mla_q_b w_uq [heads * nope, q rank]): the rope
     * query straight from x, w_qr [heads * rope, hidden], the shared rope key
     * w_kr [rope, hidden], the up-projections w_uk, w_uv [heads * nope, kv rank] */
    hive_tensor_view mla_qr, mla_kr, mla_uk, mla_uv;
    /* blazr's Mamba2 blocks: the LayerNorm's bias [hidden], in_proj / out_proj biases */
    hive_tensor_view attn_norm_b, ssm_in_b, ssm_out_b;
} hive_layer_tensors;

typedef struct hive_model_files {
    char path[4096];              /* what the user gave */
    int is_gguf;
    hive_hparams hp;
    hive_tensor_view tok_embd;    /* [vocab, hidden] */
    hive_tensor_view output_norm; /* [hidden] */
    hive_tensor_view output;      /* [vocab, hidden]; equals tok_embd when tied */
    hive_layer_tensors *layers;   /* [n_layers] */
    hive_vocab_src vocab;         /* tokenizer source (from GGUF or tokenizer.json) */
    char *chat_template;          /* NULL when absent */
    uint64_t n_params;
    uint64_t weight_bytes;        /* as stored */
    /* private: open files, parsed json, owned strings */
    void *priv;
} hive_model_files;

/* path: a .gguf file, or a Hugging Face directory (config.json + model.safetensors
 * or model.safetensors.index.json + shards; f32/f16/bf16). Errors name the
 * tensor with expected and found shapes, the unknown architecture, etc. */
hive_status hive_model_open(const char *path, hive_model_files **out, hive_error **err);
void hive_model_close(hive_model_files *m);
/* blazr: layer l's type as blazr names it ("Mamba2", "MlaWithMoe", "MlaWithMlp",
 * "StandardTransformer"); NULL for the other formats. */
const char *hive_model_blazr_layer_type(const hive_model_files *m, uint32_t l);

#endif
