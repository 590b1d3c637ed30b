/* A model's hyper-parameters and tokenizer source from GGUF metadata
 * (<arch>.* and tokenizer.* keys, as llama.cpp's converter writes them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "util/error.h"
#include "util/log.h"

typedef struct {
    const hive_tensor_file *f;
    const char *arch;
    char key[160];
} keys;

static const char *akey(keys *k, const char *suffix) {
    snprintf(k->key, sizeof k->key, "%s.%s", k->arch, suffix);
    return k->key;
}

/* Absent keys leave *out untouched; required ones fail with the key's name. */
static hive_status get_u32(keys *k, const char *suffix, uint32_t *out, int required, hive_error **err) {
    hive_status st = hive_gguf_get_u32(k->f, akey(k, suffix), out, err);
    if (st == HIVE_E_NOTFOUND)
        return required ? hive_fail(err, HIVE_E_INVALID, "GGUF key %s is missing", k->key) : HIVE_OK;
    return st;
}

static hive_status get_f32(keys *k, const char *suffix, float *out, hive_error **err) {
    hive_status st = hive_gguf_get_f32(k->f, akey(k, suffix), out, err);
    return st == HIVE_E_NOTFOUND ? HIVE_OK : st;
}

static void copy_str(char *dst, size_t cap, hive_str s) {
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* {arch}.rope.scaling.* as llama.cpp names them. llama.cpp's attn_factor
 * multiplies the cos/sin scale (YaRN's 0.1 ln(s) + 1 included), so it is kept
 * as rope_attn_mult; yarn_attn_factor (newer converters) wins over it. */
static hive_status rope_scaling(keys *k, hive_hparams *hp, hive_error **err) {
    hive_str type;
    hive_status st = hive_gguf_get_str(k->f, akey(k, "rope.scaling.type"), &type, err);
    if (st == HIVE_OK) {
        char name[64];
        copy_str(name, sizeof name, type);
        if (!hive_rope_type_known(name))
            return hive_fail(err, HIVE_E_UNSUPPORTED, "%s '%s' is not supported; supported: %s", k->key, name,
                             HIVE_ROPE_TYPES);
        snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "%.15s", strcmp(name, "default") ? name : "none");
    } else if (st != HIVE_E_NOTFOUND) {
        return st;
    }
    if ((st = get_f32(k, "rope.scaling.factor", &hp->rope_factor, err))) return st;
    float linear = 0; /* older converters: rope.scale_linear only */
    if ((st = get_f32(k, "rope.scale_linear", &linear, err))) return st;
    if (linear > 0 && !hp->rope_scaling[0]) {
        snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "linear");
        hp->rope_factor = linear;
    }
    if ((st = get_u32(k, "rope.scaling.original_context_length", &hp->rope_orig_ctx, 0, err))) return st;
    if ((st = get_f32(k, "rope.scaling.attn_factor", &hp->rope_attn_mult, err))) return st;
    if ((st = get_f32(k, "rope.scaling.yarn_attn_factor", &hp->rope_attn_mult, err))) return st;
    if ((st = get_f32(k, "rope.scaling.yarn_beta_fast", &hp->yarn_beta_fast, err))) return st;
    return get_f32(k, "rope.scaling.yarn_beta_slow", &hp->yarn_beta_slow, err);
}

static hive_status vocab_size(keys *k, const hive_tensor_file *f, hive_hparams *hp, hive_error **err);

/* llama.cpp's mamba2 keys: heads are ssm.time_step_rank, head_dim the inner
 * size over them; no attention. */
static hive_status ssm_hparams(keys *k, const hive_tensor_file *f, hive_hparams *hp, hive_error **err) {
    hive_status st;
    if ((st = get_u32(k, "block_count", &hp->n_layers, 1, err)) || (st = get_u32(k, "embedding_length", &hp->hidden, 1, err)) ||
        (st = get_u32(k, "ssm.conv_kernel", &hp->ssm_conv, 1, err)) ||
        (st = get_u32(k, "ssm.inner_size", &hp->ssm_inner, 1, err)) ||
        (st = get_u32(k, "ssm.state_size", &hp->ssm_state, 1, err)) ||
        (st = get_u32(k, "ssm.time_step_rank", &hp->ssm_heads, 1, err)) ||
        (st = get_u32(k, "ssm.group_count", &hp->ssm_groups, 0, err)) ||
        (st = get_f32(k, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err)) || (st = vocab_size(k, f, hp, err)))
        return st;
    if (!hp->ssm_groups) hp->ssm_groups = 1;
    if (!hp->ssm_heads || hp->ssm_inner % hp->ssm_heads)
        return hive_fail(err, HIVE_E_INVALID, "mamba2: inner size %u is not a multiple of %u heads", hp->ssm_inner,
                         hp->ssm_heads);
    hp->ssm_head_dim = hp->ssm_inner / hp->ssm_heads;
    hp->ssm_dt_min = 0.0f, hp->ssm_dt_max = INFINITY; /* llama.cpp applies no time-step limit */
    return model_hparams_finish(hp, err);
}

/* llama.cpp's deepseek2 keys: latent widths, the per-head split
 * (key_length_mla = nope + rope, value_length_mla = v), and the experts'
 * routing. The cache row is [c_kv | rope key]: head_dim kv rank + rope. */
static hive_status deepseek2_hparams(keys *k, hive_hparams *hp, hive_error **err) {
    hive_status st;
    uint32_t key_mla = 0, shared = 0, gating = 1, groups = 0, norm = 0;
    if ((st = get_u32(k, "attention.kv_lora_rank", &hp->mla_kv_rank, 1, err)) ||
        (st = get_u32(k, "attention.q_lora_rank", &hp->mla_q_rank, 0, err)) ||
        (st = get_u32(k, "attention.key_length_mla", &key_mla, 1, err)) ||
        (st = get_u32(k, "attention.value_length_mla", &hp->mla_v, 1, err)) ||
        (st = get_u32(k, "expert_count", &hp->n_experts, 0, err)) ||
        (st = get_u32(k, "expert_used_count", &hp->n_experts_used, 0, err)) ||
        (st = get_u32(k, "expert_feed_forward_length", &hp->moe_ffn, 0, err)) ||
        (st = get_u32(k, "expert_shared_count", &shared, 0, err)) ||
        (st = get_u32(k, "expert_group_count", &groups, 0, err)) ||
        (st = get_u32(k, "expert_group_used_count", &hp->moe_topk_groups, 0, err)) ||
        (st = get_u32(k, "expert_gating_func", &gating, 0, err)) || (st = get_f32(k, "expert_weights_scale", &hp->moe_scale, err)))
        return st;
    st = hive_gguf_get_bool(k->f, akey(k, "expert_weights_norm"), (int *)&norm, err);
    if (st && st != HIVE_E_NOTFOUND) return st;
    if (gating != 1) /* llama.cpp: 1 softmax, 2 sigmoid (DeepSeek-V3) */
        return hive_fail(err, HIVE_E_UNSUPPORTED, "deepseek2: expert gating function %u is not supported (softmax only)",
                         gating);
    hp->mla_rope = hp->rope_dims;
    if (!hp->mla_rope || key_mla <= hp->mla_rope)
        return hive_fail(err, HIVE_E_INVALID, "deepseek2: key_length_mla %u must exceed the rope dims %u", key_mla,
                         hp->mla_rope);
    hp->mla_nope = key_mla - hp->mla_rope;
    hp->moe_norm_topk = norm != 0;
    hp->moe_shared_ffn = shared * hp->moe_ffn;
    if (groups > 1) hp->moe_groups = groups;
    else hp->moe_topk_groups = 0;
    if (hp->moe_groups && (hp->n_experts % hp->moe_groups || !hp->moe_topk_groups || hp->moe_topk_groups > hp->moe_groups))
        return hive_fail(err, HIVE_E_INVALID, "deepseek2: %u expert groups must divide %u experts, %u used <= groups",
                         hp->moe_groups, hp->n_experts, hp->moe_topk_groups);
    hp->n_kv_heads = 1;
    hp->head_dim = hp->mla_kv_rank + hp->mla_rope;
    return HIVE_OK;
}

/* llama.cpp's granitehybrid: head_count_kv per layer (0: a Mamba2 layer,
 * found again by its tensors when binding), the ssm.* keys, Granite's
 * scales; with routed experts (expert_count), their width is
 * feed_forward_length and the shared MLP's expert_shared_feed_forward_length. */
static hive_status granite_hybrid_hparams(keys *k, hive_hparams *hp, hive_error **err) {
    hive_status st;
    uint32_t et;
    uint64_t n;
    if ((st = hive_gguf_get_arr(k->f, akey(k, "attention.head_count_kv"), &et, &n, err)) == HIVE_OK) {
        if (n == 0 || n > 100000) return hive_fail(err, HIVE_E_INVALID, "GGUF key %s has %llu entries", k->key, (unsigned long long)n);
        int32_t *kv = malloc(n * sizeof *kv);
        if (!kv) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        st = hive_gguf_arr_i32(k->f, k->key, kv, n, err);
        for (uint64_t i = 0; !st && i < n; i++)
            if (kv[i] > 0 && (uint32_t)kv[i] > hp->n_kv_heads) hp->n_kv_heads = (uint32_t)kv[i];
        free(kv);
        if (st) return st;
    } else if (st == HIVE_E_NOTFOUND) {
        st = HIVE_OK;
    } else {
        return st;
    }
    if ((st = get_u32(k, "ssm.conv_kernel", &hp->ssm_conv, 1, err)) ||
        (st = get_u32(k, "ssm.inner_size", &hp->ssm_inner, 1, err)) ||
        (st = get_u32(k, "ssm.state_size", &hp->ssm_state, 1, err)) ||
        (st = get_u32(k, "ssm.time_step_rank", &hp->ssm_heads, 1, err)) ||
        (st = get_u32(k, "ssm.group_count", &hp->ssm_groups, 0, err)) ||
        (st = get_f32(k, "attention.scale", &hp->attn_scale, err)) ||
        (st = get_f32(k, "embedding_scale", &hp->embed_mult, err)) ||
        (st = get_f32(k, "residual_scale", &hp->residual_mult, err)) || (st = get_f32(k, "logit_scale", &hp->logits_div, err)))
        return st;
    if ((st = get_u32(k, "expert_count", &hp->n_experts, 0, err))) return st;
    if (hp->n_experts) {
        hp->moe_ffn = hp->ffn, hp->moe_norm_topk = 1; /* softmax over the chosen logits */
        if ((st = get_u32(k, "expert_used_count", &hp->n_experts_used, 1, err)) ||
            (st = get_u32(k, "expert_shared_feed_forward_length", &hp->ffn, 1, err)))
            return st;
        hp->moe_shared_ffn = hp->ffn;
    }
    if (!hp->ssm_groups) hp->ssm_groups = 1;
    if (!hp->ssm_heads || hp->ssm_inner % hp->ssm_heads)
        return hive_fail(err, HIVE_E_INVALID, "granitehybrid: inner size %u is not a multiple of %u heads", hp->ssm_inner,
                         hp->ssm_heads);
    hp->ssm_head_dim = hp->ssm_inner / hp->ssm_heads;
    hp->ssm_dt_min = 0.0f, hp->ssm_dt_max = INFINITY;
    return HIVE_OK;
}

hive_status model_gguf_hparams(const hive_tensor_file *f, hive_hparams *hp, hive_error **err) {
    hive_str s;
    hive_status st = hive_gguf_get_str(f, "general.architecture", &s, err);
    if (st == HIVE_E_NOTFOUND) return hive_fail(err, HIVE_E_INVALID, "GGUF key general.architecture is missing");
    if (st) return st;
    char arch[64];
    copy_str(arch, sizeof arch, s);
    if (!model_arch_from_name(arch, &hp->arch))
        return hive_fail(err, HIVE_E_UNSUPPORTED, "unknown architecture '%s' (general.architecture); supported: %s", arch,
                         HIVE_ARCH_SUPPORTED);
    snprintf(hp->arch_name, sizeof hp->arch_name, "%.31s", arch);
    if (hive_gguf_get_str(f, "general.name", &s, NULL) == HIVE_OK) copy_str(hp->name, sizeof hp->name, s);

    keys k = {f, hp->arch_name, {0}};
    if (hp->arch == HIVE_ARCH_MAMBA2) return ssm_hparams(&k, f, hp, err);
    if ((st = get_u32(&k, "block_count", &hp->n_layers, 1, err))) return st;
    if ((st = get_u32(&k, "embedding_length", &hp->hidden, 1, err))) return st;
    if ((st = get_u32(&k, "feed_forward_length", &hp->ffn, 1, err))) return st;
    if ((st = get_u32(&k, "attention.head_count", &hp->n_heads, 1, err))) return st;
    if (hp->arch == HIVE_ARCH_GRANITE_HYBRID) {
        if ((st = granite_hybrid_hparams(&k, hp, err))) return st;
    } else if ((st = get_u32(&k, "attention.head_count_kv", &hp->n_kv_heads, 0, err))) {
        return st;
    }
    if ((st = get_u32(&k, "attention.key_length", &hp->head_dim, 0, err))) return st;
    if ((st = get_u32(&k, "rope.dimension_count", &hp->rope_dims, 0, err))) return st;
    if ((st = get_u32(&k, "context_length", &hp->max_ctx, 0, err))) return st;
    if ((st = get_f32(&k, "rope.freq_base", &hp->rope_theta, err))) return st;
    if ((st = get_f32(&k, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err))) return st;
    if ((st = rope_scaling(&k, hp, err))) return st;
    if (hp->arch == HIVE_ARCH_QWEN3_MOE || hp->arch == HIVE_ARCH_QWEN2_MOE) {
        if ((st = get_u32(&k, "expert_count", &hp->n_experts, 1, err)) ||
            (st = get_u32(&k, "expert_used_count", &hp->n_experts_used, 1, err)) ||
            (st = get_u32(&k, "expert_feed_forward_length", &hp->moe_ffn, 1, err)))
            return st;
        /* llama.cpp's graphs: qwen3moe always renormalises the top-k weights,
         * qwen2moe never does and adds a sigmoid-gated shared expert */
        hp->moe_norm_topk = hp->arch == HIVE_ARCH_QWEN3_MOE;
        if (hp->arch == HIVE_ARCH_QWEN2_MOE &&
            (st = get_u32(&k, "expert_shared_feed_forward_length", &hp->moe_shared_ffn, 1, err)))
            return st;
    }

    if ((st = vocab_size(&k, f, hp, err))) return st;
    if (hp->arch == HIVE_ARCH_DEEPSEEK2 && (st = deepseek2_hparams(&k, hp, err))) return st;
    /* llama.cpp's converter permutes llama (and Granite) q/k rows for
     * interleaved pairs; DeepSeek-V2 rotates adjacent pairs in every format */
    hp->rope_mode = hp->arch == HIVE_ARCH_LLAMA || hp->arch == HIVE_ARCH_DEEPSEEK2 || hp->arch == HIVE_ARCH_GRANITE_HYBRID
                        ? HIVE_ROPE_NORMAL
                        : HIVE_ROPE_NEOX;
    hp->rope_ggml_arith = 1; /* the file's home runtime is llama.cpp: its angles, to the bit */
    return model_hparams_finish(hp, err);
}

/* tokenizer.ggml.tokens' length, else <arch>.vocab_size */
static hive_status vocab_size(keys *k, const hive_tensor_file *f, hive_hparams *hp, hive_error **err) {
    hive_status st;
    uint32_t et;
    uint64_t n;
    st = hive_gguf_get_arr(f, "tokenizer.ggml.tokens", &et, &n, err);
    if (st == HIVE_OK && n > 0 && n <= UINT32_MAX) {
        hp->vocab = (uint32_t)n;
    } else if (st == HIVE_OK || st == HIVE_E_NOTFOUND) {
        if ((st = get_u32(k, "vocab_size", &hp->vocab, 0, err))) return st;
    } else {
        return st;
    }
    return HIVE_OK;
}

static hive_status str_array(const hive_tensor_file *f, const char *key, hive_str **out, uint32_t *n_out,
                             hive_error **err) {
    uint32_t et;
    uint64_t n;
    hive_status st = hive_gguf_get_arr(f, key, &et, &n, err);
    if (st) return st;
    if (et != HIVE_GGUF_STRING) return hive_fail(err, HIVE_E_INVALID, "GGUF key %s is not an array of strings", key);
    if (n > UINT32_MAX) return hive_fail(err, HIVE_E_INVALID, "GGUF key %s has too many elements", key);
    hive_str *a = malloc((n ? n : 1) * sizeof *a);
    if (!a) return hive_fail(err, HIVE_E_NOMEM, "out of memory reading %s", key);
    for (uint64_t i = 0; i < n; i++)
        if ((st = hive_gguf_arr_str(f, key, i, &a[i], err))) {
            free(a);
            return st;
        }
    *out = a;
    *n_out = (uint32_t)n;
    return HIVE_OK;
}

/* A token id key: -1 when absent; out-of-range ids are dropped with a warning. */
static hive_status token_id(const hive_tensor_file *f, const char *key, uint32_t n_tokens, int32_t *out,
                            hive_error **err) {
    uint32_t v;
    hive_status st = hive_gguf_get_u32(f, key, &v, err);
    *out = -1;
    if (st == HIVE_E_NOTFOUND) return HIVE_OK;
    if (st) return st;
    if (v >= n_tokens) {
        HLOG_WARN("GGUF %s = %u is outside the %u-token vocabulary; ignored", key, v, n_tokens);
        return HIVE_OK;
    }
    *out = (int32_t)v;
    return HIVE_OK;
}

hive_status model_gguf_vocab(hive_model_files *m, const hive_tensor_file *f, hive_error **err) {
    model_priv *p = m->priv;
    hive_vocab_src *v = &m->vocab;
    v->bos_id = v->eos_id = v->pad_id = v->unk_id = v->eot_id = -1;
    hive_str s;
    hive_status st = hive_gguf_get_str(f, "tokenizer.chat_template", &s, err);
    if (st == HIVE_OK) {
        m->chat_template = malloc((size_t)s.len + 1);
        if (!m->chat_template) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        memcpy(m->chat_template, s.ptr, (size_t)s.len);
        m->chat_template[s.len] = '\0';
    } else if (st != HIVE_E_NOTFOUND) {
        return st;
    }
    st = str_array(f, "tokenizer.ggml.tokens", &p->tokens, &v->n_tokens, err);
    if (st == HIVE_E_NOTFOUND) return HIVE_OK; /* no tokenizer in this file */
    if (st) return st;
    v->tokens = p->tokens;

    uint32_t et;
    uint64_t n;
    st = hive_gguf_get_arr(f, "tokenizer.ggml.token_type", &et, &n, err);
    if (st == HIVE_OK) {
        if (n != v->n_tokens)
            return hive_fail(err, HIVE_E_INVALID, "tokenizer.ggml.token_type has %llu entries for %u tokens",
                             (unsigned long long)n, v->n_tokens);
        p->token_types = malloc((n ? n : 1) * sizeof *p->token_types);
        if (!p->token_types) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        if ((st = hive_gguf_arr_i32(f, "tokenizer.ggml.token_type", p->token_types, n, err))) return st;
        v->types = p->token_types;
    } else if (st != HIVE_E_NOTFOUND) {
        return st;
    }
    st = str_array(f, "tokenizer.ggml.merges", &p->merges, &v->n_merges, err);
    if (st == HIVE_OK) v->merges = p->merges;
    else if (st != HIVE_E_NOTFOUND) return st;

    st = hive_gguf_get_str(f, "tokenizer.ggml.pre", &s, err);
    if (st == HIVE_OK) copy_str(v->pre, sizeof v->pre, s);
    else if (st == HIVE_E_NOTFOUND) snprintf(v->pre, sizeof v->pre, "default");
    else return st;

    if ((st = token_id(f, "tokenizer.ggml.bos_token_id", v->n_tokens, &v->bos_id, err))) return st;
    if ((st = token_id(f, "tokenizer.ggml.eos_token_id", v->n_tokens, &v->eos_id, err))) return st;
    if ((st = token_id(f, "tokenizer.ggml.unknown_token_id", v->n_tokens, &v->unk_id, err))) return st;
    if ((st = token_id(f, "tokenizer.ggml.padding_token_id", v->n_tokens, &v->pad_id, err))) return st;
    if ((st = token_id(f, "tokenizer.ggml.eot_token_id", v->n_tokens, &v->eot_id, err))) return st;
    for (uint32_t i = 0; v->eot_id < 0 && i < v->n_tokens; i++)
        if (v->tokens[i].len == 10 && memcmp(v->tokens[i].ptr, "<|im_end|>", 10) == 0) v->eot_id = (int32_t)i;
    st = hive_gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &v->add_bos, err);
    if (st == HIVE_E_NOTFOUND) v->add_bos = 0;
    else if (st) return st;
    v->owner = NULL; /* views into the map; arrays freed by the model */
    return HIVE_OK;
}
