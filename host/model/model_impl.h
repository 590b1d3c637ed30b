/* Private pieces of the model loader, shared by model.c, arch.c,
 * hf_config.c and gguf_model.c. */
#ifndef HIVE_MODEL_MODEL_IMPL_H
#define HIVE_MODEL_MODEL_IMPL_H

#include "model/model.h"
#include "model/tensor_file.h"

typedef struct model_priv {
    hive_tensor_file **files;   /* one, or the shards of a sharded checkpoint */
    uint32_t n_files;
    /* GGUF vocab storage (views into the map, arrays owned here) */
    hive_str *tokens, *merges;
    int32_t *token_types;
    int vocab_from_json;        /* release with hive_vocab_src_free */
    int hf_attention_bias;      /* HF config attention_bias */
    uint8_t *moe_layer;         /* [n_layers] 1: the config makes layer l route to experts (HF MoE) */
    uint8_t *ssm_layer;         /* [n_layers] 1: layer l is a Mamba2 mixer (hybrid models) */
    /* [n_layers] each routed layer's moe_gate/up/down views (3 x n_experts), allocated when the
     * layer is bound, so a file claiming many layers and experts costs nothing it does not hold */
    hive_tensor_view **expert_views;
    uint8_t *blazr_type;        /* [n_layers] blazr: BLAZR_* from config.json, 0 = detect from the names (blazr.c) */
    int blazr_listed;           /* blazr config.json lists types (layer_types) or Mamba2 layers (mamba_layers) */
    int blazr_tied;             /* blazr config.json: tie_word_embeddings given (1 tied, 0 untied); -1: from the file */
} model_priv;

#define HIVE_ARCH_SUPPORTED "llama qwen2 qwen3 qwen3_moe qwen2_moe mamba2 deepseek_v2 granitemoehybrid"

/* "llama" -> HIVE_ARCH_LLAMA; 0 when unknown. */
int model_arch_from_name(const char *name, hive_arch *out);

/* Defaults and sanity checks shared by both formats (after the format filled
 * what it knows; zero means "not given"). */
hive_status model_hparams_finish(hive_hparams *hp, hive_error **err);
/* GGUF per-dimension RoPE factors (rope_freqs, rope_factors_long/short) into hp. */
hive_status model_rope_tensors(hive_model_files *m, hive_error **err);

/* GGUF: hyper-parameters from <arch>.* keys, tokenizer from tokenizer.*. */
hive_status model_gguf_hparams(const hive_tensor_file *f, hive_hparams *hp, hive_error **err);
hive_status model_gguf_vocab(hive_model_files *m, const hive_tensor_file *f, hive_error **err);

/* blazr (oxidizr's checkpoints): a flat config.json, recognised by having
 * num_layers but neither model_type nor architectures (transformers always
 * writes model_type), and tensors named without model. (blazr.c). */
enum { BLAZR_DETECT = 0, BLAZR_MAMBA2 = 1, BLAZR_MLA_MOE = 2, BLAZR_MLA_MLP = 3, BLAZR_STANDARD = 4 };
const char *model_blazr_type_name(int type);
int model_blazr_config_is(const void *cfg_json);
hive_status model_blazr_params(const void *cfg_json, hive_hparams *hp, model_priv *p, hive_error **err);
hive_status model_blazr_bind(hive_model_files *m, hive_error **err);

/* HF: hyper-parameters from dir/config.json. */
hive_status model_hf_config(const char *dir, hive_hparams *hp, model_priv *p, hive_error **err);
hive_status model_hf_config_text(const char *text, const char *path, hive_hparams *hp, model_priv *p, hive_error **err);

/* Finds and validates every tensor the architecture needs; fills
 * tok_embd/output_norm/output/layers, tied/qkv_bias/qk_norm, n_params, weight_bytes. */
hive_status model_bind_tensors(hive_model_files *m, hive_error **err);

/* Reads a whole text file, NUL-terminated; caller frees. */
hive_status model_read_text(const char *path, char **out, hive_error **err);

/* Looks a tensor up across the model's files. */
int model_find_tensor(const hive_model_files *m, const char *name, hive_tensor_view *out);

#endif
