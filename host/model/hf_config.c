/* Hyper-parameters from a Hugging Face config.json (transformers' LlamaConfig,
 * Qwen2Config, Qwen3Config, Qwen3MoeConfig field names; rope_parameters from
 * newer releases). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "util/error.h"

hive_status model_read_text(const char *path, char **out, hive_error **err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return hive_fail(err, HIVE_E_IO, "cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return hive_fail(err, HIVE_E_NOMEM, "out of memory reading %s", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, fp);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return hive_fail(err, HIVE_E_IO, "error reading %s", path);
    }
    buf[len] = '\0';
    *out = buf;
    return HIVE_OK;
}

/* Absent or null leaves *out alone; anything but a whole number in range fails. */
static hive_status cfg_u32(const cJSON *cfg, const char *key, uint32_t *out, int required, hive_error **err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!j || cJSON_IsNull(j))
        return required ? hive_fail(err, HIVE_E_INVALID, "config.json: %s is missing", key) : HIVE_OK;
    double d = cJSON_IsNumber(j) ? j->valuedouble : -1;
    if (!(d >= 0) || d > 4294967295.0 || floor(d) != d)
        return hive_fail(err, HIVE_E_INVALID, "config.json: %s must be a non-negative integer", key);
    *out = (uint32_t)d;
    return HIVE_OK;
}

static hive_status cfg_f32(const cJSON *cfg, const char *key, float *out, hive_error **err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!j || cJSON_IsNull(j)) return HIVE_OK;
    if (!cJSON_IsNumber(j)) return hive_fail(err, HIVE_E_INVALID, "config.json: %s must be a number", key);
    if (!(fabs(j->valuedouble) <= FLT_MAX)) /* else the conversion is undefined (C11 6.3.1.5) */
        return hive_fail(err, HIVE_E_INVALID, "config.json: %s = %g does not fit a 32-bit float", key, j->valuedouble);
    *out = (float)j->valuedouble;
    return HIVE_OK;
}

static int cfg_bool(const cJSON *cfg, const char *key, int dflt) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsBool(j) ? cJSON_IsTrue(j) : dflt;
}

static hive_status arch_of(const cJSON *cfg, hive_hparams *hp, hive_error **err) {
    static const struct { const char *cls, *arch; } k_classes[] = {
        {"LlamaForCausalLM", "llama"}, {"Qwen2ForCausalLM", "qwen2"}, {"Qwen3ForCausalLM", "qwen3"},
        {"Qwen3MoeForCausalLM", "qwen3_moe"}, {"Qwen2MoeForCausalLM", "qwen2_moe"},
        {"Mamba2ForCausalLM", "mamba2"}, {"DeepseekV2ForCausalLM", "deepseek_v2"},
        {"GraniteMoeHybridForCausalLM", "granitemoehybrid"}};
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    const char *name = cJSON_IsString(mt) ? mt->valuestring : NULL;
    const char *from = "model_type";
    if (!name) {
        const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
        const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
        if (!cJSON_IsString(a0))
            return hive_fail(err, HIVE_E_INVALID, "config.json names no model_type or architectures (nor num_layers, as blazr's does)");
        name = a0->valuestring;
        from = "architectures";
        for (size_t i = 0; i < sizeof k_classes / sizeof k_classes[0]; i++)
            if (strcmp(name, k_classes[i].cls) == 0) name = k_classes[i].arch;
    }
    if (!model_arch_from_name(name, &hp->arch))
        return hive_fail(err, HIVE_E_UNSUPPORTED, "unknown architecture '%s' (config.json %s); supported: %s", name,
                         from, HIVE_ARCH_SUPPORTED);
    snprintf(hp->arch_name, sizeof hp->arch_name, "%.31s", name);
    return HIVE_OK;
}

/* A list of numbers (longrope's short_factor / long_factor). */
static hive_status cfg_f32_list(const cJSON *cfg, const char *key, float *out, uint32_t *n, hive_error **err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(cfg, key), *v;
    if (!j || cJSON_IsNull(j)) return HIVE_OK;
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) > HIVE_ROPE_MAX_PAIRS)
        return hive_fail(err, HIVE_E_INVALID, "config.json: %s must be a list of at most %d numbers", key,
                         HIVE_ROPE_MAX_PAIRS);
    uint32_t i = 0;
    cJSON_ArrayForEach(v, j) {
        /* positive also as a float: 1e-50 would become a factor of 0 */
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !(v->valuedouble <= FLT_MAX) || !((float)v->valuedouble > 0))
            return hive_fail(err, HIVE_E_INVALID, "config.json: %s[%u] must be a positive number", key, i);
        out[i++] = (float)v->valuedouble;
    }
    *n = i;
    return HIVE_OK;
}

/* One rope_scaling / rope_parameters object, as transformers reads it
 * (modeling_rope_utils.py): "rope_type" or the older "type". */
static hive_status rope_object(const cJSON *rs, const char *where, hive_hparams *hp, hive_error **err) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    const char *type = cJSON_IsString(t) ? t->valuestring : "default";
    if (!hive_rope_type_known(type))
        return hive_fail(err, HIVE_E_UNSUPPORTED, "config.json: %s type '%s' is not supported; supported: %s", where,
                         type, HIVE_ROPE_TYPES);
    snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "%.15s", strcmp(type, "default") ? type : "none");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(rs, "truncate");
    if (cJSON_IsBool(tr)) hp->yarn_no_truncate = !cJSON_IsTrue(tr);
    hive_status st;
    if ((st = cfg_f32(rs, "factor", &hp->rope_factor, err)) ||
        (st = cfg_u32(rs, "original_max_position_embeddings", &hp->rope_orig_ctx, 0, err)) ||
        (st = cfg_f32(rs, "low_freq_factor", &hp->rope_low_freq_factor, err)) ||
        (st = cfg_f32(rs, "high_freq_factor", &hp->rope_high_freq_factor, err)) ||
        (st = cfg_f32(rs, "beta_fast", &hp->yarn_beta_fast, err)) ||
        (st = cfg_f32(rs, "beta_slow", &hp->yarn_beta_slow, err)) ||
        (st = cfg_f32(rs, "mscale", &hp->yarn_mscale, err)) ||
        (st = cfg_f32(rs, "mscale_all_dim", &hp->yarn_mscale_all_dim, err)) ||
        (st = cfg_f32(rs, "attention_factor", &hp->rope_attn_factor, err)))
        return st;
    uint32_t n_short = 0, n_long = 0;
    if ((st = cfg_f32_list(rs, "short_factor", hp->rope_short_factor, &n_short, err)) ||
        (st = cfg_f32_list(rs, "long_factor", hp->rope_long_factor, &n_long, err)))
        return st;
    if (n_short != n_long)
        return hive_fail(err, HIVE_E_INVALID,
                         "config.json: short_factor (%u numbers) and long_factor (%u) must both be given, equally long",
                         n_short, n_long);
    hp->rope_n_ext = n_short;
    return HIVE_OK;
}

/* rope_scaling (older) or rope_parameters (newer transformers, which also
 * carries rope_theta); rope_scaling wins, as in transformers. Then the
 * lengths transformers derives: llama3/yarn/longrope extend a top-level
 * original_max_position_embeddings (Phi-3) or max_position_embeddings;
 * dynamic NTK always grows past max_position_embeddings; yarn and longrope
 * without a factor take max_position_embeddings / original. */
static hive_status rope_params(const cJSON *cfg, hive_hparams *hp, hive_error **err) {
    hive_status st = cfg_f32(cfg, "rope_theta", &hp->rope_theta, err);
    const char *keys[] = {"rope_parameters", "rope_scaling"};
    for (int k = 0; !st && k < 2; k++) {
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, keys[k]);
        if (!rs || cJSON_IsNull(rs)) continue;
        if (!cJSON_IsObject(rs)) return hive_fail(err, HIVE_E_INVALID, "config.json: %s must be an object", keys[k]);
        if (k == 0 && (st = cfg_f32(rs, "rope_theta", &hp->rope_theta, err))) return st;
        st = rope_object(rs, keys[k], hp, err);
    }
    if (st || !hp->rope_scaling[0]) return st;
    uint32_t top_orig = 0;
    if ((st = cfg_u32(cfg, "original_max_position_embeddings", &top_orig, 0, err))) return st;
    const char *type = hp->rope_scaling;
    if (!strcmp(type, "dynamic")) hp->rope_orig_ctx = hp->max_ctx;
    else if (top_orig && (!strcmp(type, "llama3") || !strcmp(type, "yarn") || !strcmp(type, "longrope")))
        hp->rope_orig_ctx = top_orig;
    if (!strcmp(type, "longrope") && hp->rope_n_ext == 0)
        return hive_fail(err, HIVE_E_INVALID, "config.json: longrope needs short_factor and long_factor");
    uint32_t orig = hp->rope_orig_ctx ? hp->rope_orig_ctx : hp->max_ctx;
    if (!(hp->rope_factor > 0) && orig && hp->max_ctx && (!strcmp(type, "yarn") || !strcmp(type, "longrope")))
        hp->rope_factor = (float)((double)hp->max_ctx / orig);
    return HIVE_OK;
}

/* Qwen3-MoE's and Qwen2-MoE's routing keys (Qwen2-MoE adds a shared expert). */
static hive_status moe_params(const cJSON *cfg, hive_hparams *hp, uint32_t *step, hive_error **err) {
    hive_status st;
    if ((st = cfg_u32(cfg, "num_experts", &hp->n_experts, 0, err)) ||
        (st = cfg_u32(cfg, "num_local_experts", &hp->n_experts, 0, err)) || /* transformers 5's name */
        (st = cfg_u32(cfg, "num_experts_per_tok", &hp->n_experts_used, 1, err)) ||
        (st = cfg_u32(cfg, "moe_intermediate_size", &hp->moe_ffn, 1, err)) ||
        (st = cfg_u32(cfg, "decoder_sparse_step", step, 0, err)))
        return st;
    hp->moe_norm_topk = cfg_bool(cfg, "norm_topk_prob", 0);
    if (hp->arch == HIVE_ARCH_QWEN2_MOE &&
        (st = cfg_u32(cfg, "shared_expert_intermediate_size", &hp->moe_shared_ffn, 1, err)))
        return st;
    if (!hp->n_experts) return hive_fail(err, HIVE_E_INVALID, "config.json: num_experts is missing or 0");
    return HIVE_OK;
}

/* Which layers route (MoE only): layer l routes unless it is in
 * mlp_only_layers, and when (l + 1) is a multiple of decoder_sparse_step
 * (transformers' Qwen3MoeDecoderLayer), and from first_moe on (DeepSeek-V2's
 * first_k_dense_replace); the result goes to p->moe_layer for
 * binding. Runs after model_hparams_finish has bounded n_layers: the array is
 * n_layers bytes, so an unchecked count (up to 2^32 - 1) would allocate and
 * write gigabytes before the config was rejected. */
static hive_status moe_layers(const cJSON *cfg, const hive_hparams *hp, uint32_t step, uint32_t first_moe, model_priv *p,
                              hive_error **err) {
    if (!(p->moe_layer = calloc(hp->n_layers, 1))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t l = 0; l < hp->n_layers; l++) p->moe_layer[l] = l >= first_moe && step > 0 && (l + 1) % step == 0;
    const cJSON *only = cJSON_GetObjectItemCaseSensitive(cfg, "mlp_only_layers"), *v;
    if (only && !cJSON_IsNull(only) && !cJSON_IsArray(only))
        return hive_fail(err, HIVE_E_INVALID, "config.json: mlp_only_layers must be a list of layer indices");
    cJSON_ArrayForEach(v, only) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= hp->n_layers ||
            floor(v->valuedouble) != v->valuedouble)
            return hive_fail(err, HIVE_E_INVALID, "config.json: mlp_only_layers holds %g, not a layer index below %u",
                             cJSON_IsNumber(v) ? v->valuedouble : -1.0, hp->n_layers);
        p->moe_layer[(uint32_t)v->valuedouble] = 0;
    }
    return HIVE_OK;
}

/* Mamba2ForCausalLM: no attention, every layer a Mamba2 mixer. */
static hive_status mamba2_params(const cJSON *cfg, hive_hparams *hp, hive_error **err) {
    float expand = 2.0f;
    hp->ssm_groups = 1, hp->ssm_conv = 4;
    hive_status st;
    if ((st = cfg_u32(cfg, "num_hidden_layers", &hp->n_layers, 1, err)) ||
        (st = cfg_u32(cfg, "hidden_size", &hp->hidden, 1, err)) || (st = cfg_u32(cfg, "vocab_size", &hp->vocab, 0, err)) ||
        (st = cfg_u32(cfg, "state_size", &hp->ssm_state, 1, err)) ||
        (st = cfg_u32(cfg, "num_heads", &hp->ssm_heads, 1, err)) ||
        (st = cfg_u32(cfg, "head_dim", &hp->ssm_head_dim, 1, err)) ||
        (st = cfg_u32(cfg, "n_groups", &hp->ssm_groups, 0, err)) ||
        (st = cfg_u32(cfg, "chunk_size", &hp->ssm_chunk, 0, err)) ||
        (st = cfg_u32(cfg, "conv_kernel", &hp->ssm_conv, 0, err)) || (st = cfg_f32(cfg, "expand", &expand, err)) ||
        (st = cfg_f32(cfg, "layer_norm_epsilon", &hp->rms_eps, err)))
        return st;
    if (cfg_bool(cfg, "use_bias", 0))
        return hive_fail(err, HIVE_E_UNSUPPORTED, "config.json: use_bias (in_proj/out_proj biases) is not supported");
    double inner = (double)expand * hp->hidden;
    if (!(inner > 0) || inner != (double)hp->ssm_heads * hp->ssm_head_dim)
        return hive_fail(err, HIVE_E_INVALID, "config.json: expand x hidden_size (%g) must equal num_heads x head_dim (%u x %u)",
                         inner, hp->ssm_heads, hp->ssm_head_dim);
    hp->ssm_inner = hp->ssm_heads * hp->ssm_head_dim;
    /* time_step_limit: [min, max]; transformers writes an infinite max as
     * {"__float__": "Infinity"} */
    hp->ssm_dt_min = 0.0f, hp->ssm_dt_max = INFINITY;
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(cfg, "time_step_limit");
    if (cJSON_IsArray(lim) && cJSON_GetArraySize(lim) == 2) {
        const cJSON *lo = cJSON_GetArrayItem(lim, 0), *hi = cJSON_GetArrayItem(lim, 1);
        /* a non-number max is transformers' {"__float__": "Infinity"}; numbers must fit a float */
        if (cJSON_IsNumber(lo) && !(fabs(lo->valuedouble) <= FLT_MAX))
            return hive_fail(err, HIVE_E_INVALID, "config.json: time_step_limit[0] does not fit a 32-bit float");
        if (cJSON_IsNumber(hi) && !(hi->valuedouble <= FLT_MAX || isinf(hi->valuedouble)))
            return hive_fail(err, HIVE_E_INVALID, "config.json: time_step_limit[1] is not a number");
        if (cJSON_IsNumber(lo)) hp->ssm_dt_min = (float)lo->valuedouble;
        if (cJSON_IsNumber(hi) && hi->valuedouble <= FLT_MAX) hp->ssm_dt_max = (float)hi->valuedouble;
    } else if (lim && !cJSON_IsNull(lim)) {
        return hive_fail(err, HIVE_E_INVALID, "config.json: time_step_limit must be [min, max]");
    }
    hp->tied_embeddings = cfg_bool(cfg, "tie_word_embeddings", 0);
    return model_hparams_finish(hp, err);
}

/* DeepSeek-V2's experts (layers from first_k_dense_replace on): a softmax
 * over the routed experts, the top k (greedy, or within the best topk_group
 * of n_group groups), times routed_scaling_factor, not renormalised; plus
 * n_shared_experts always-on experts, run as one of their summed width. */
static hive_status deepseek_moe_params(const cJSON *cfg, hive_hparams *hp, hive_error **err) {
    hive_status st;
    uint32_t shared = 0;
    hp->moe_scale = 1.0f;
    if ((st = cfg_u32(cfg, "n_routed_experts", &hp->n_experts, 1, err)) ||
        (st = cfg_u32(cfg, "num_experts_per_tok", &hp->n_experts_used, 1, err)) ||
        (st = cfg_u32(cfg, "moe_intermediate_size", &hp->moe_ffn, 1, err)) ||
        (st = cfg_u32(cfg, "n_shared_experts", &shared, 0, err)) ||
        (st = cfg_f32(cfg, "routed_scaling_factor", &hp->moe_scale, err)))
        return st;
    hp->moe_shared_ffn = shared * hp->moe_ffn;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cfg, "topk_method");
    const char *method = cJSON_IsString(m) ? m->valuestring : "greedy";
    if (!strcmp(method, "group_limited_greedy")) {
        if ((st = cfg_u32(cfg, "n_group", &hp->moe_groups, 1, err)) ||
            (st = cfg_u32(cfg, "topk_group", &hp->moe_topk_groups, 1, err)))
            return st;
        if (!hp->moe_groups || hp->n_experts % hp->moe_groups || !hp->moe_topk_groups ||
            hp->moe_topk_groups > hp->moe_groups)
            return hive_fail(err, HIVE_E_INVALID, "config.json: n_group %u must divide %u experts, topk_group %u <= n_group",
                             hp->moe_groups, hp->n_experts, hp->moe_topk_groups);
    } else if (strcmp(method, "greedy")) {
        return hive_fail(err, HIVE_E_UNSUPPORTED, "config.json: topk_method '%s' is not supported (greedy, "
                         "group_limited_greedy)", method);
    }
    if (!(hp->moe_scale > 0)) return hive_fail(err, HIVE_E_INVALID, "config.json: routed_scaling_factor must be > 0");
    return HIVE_OK;
}

/* DeepSeek-V2's multi-head latent attention. Its config's head_dim is the
 * RoPE part; the KV cache row Hive keeps is [c_kv | rope key], one "head". */
static hive_status mla_params(const cJSON *cfg, hive_hparams *hp, uint32_t *dense_out, hive_error **err) {
    hive_status st;
    uint32_t dense = 0;
    if ((st = cfg_u32(cfg, "kv_lora_rank", &hp->mla_kv_rank, 1, err)) ||
        (st = cfg_u32(cfg, "q_lora_rank", &hp->mla_q_rank, 0, err)) ||
        (st = cfg_u32(cfg, "qk_rope_head_dim", &hp->mla_rope, 1, err)) ||
        (st = cfg_u32(cfg, "qk_nope_head_dim", &hp->mla_nope, 1, err)) ||
        (st = cfg_u32(cfg, "v_head_dim", &hp->mla_v, 1, err)) ||
        (st = cfg_u32(cfg, "first_k_dense_replace", &dense, 0, err)))
        return st;
    *dense_out = dense;
    if (dense < hp->n_layers && (st = deepseek_moe_params(cfg, hp, err))) return st;
    if (!hp->mla_kv_rank || !hp->mla_rope || hp->mla_rope % 2 || !hp->mla_nope || !hp->mla_v ||
        hp->mla_kv_rank + hp->mla_rope > 4096)
        return hive_fail(err, HIVE_E_INVALID,
                         "config.json: kv_lora_rank %u, qk_rope_head_dim %u (even), qk_nope_head_dim %u, v_head_dim %u "
                         "out of range",
                         hp->mla_kv_rank, hp->mla_rope, hp->mla_nope, hp->mla_v);
    hp->n_kv_heads = 1;
    hp->head_dim = hp->mla_kv_rank + hp->mla_rope;
    hp->rope_dims = hp->mla_rope;
    return HIVE_OK;
}

/* GraniteMoeHybrid: Mamba2 and attention layers (layer_types, or the older
 * layers_block_type), each followed by the shared SwiGLU MLP, and Granite's
 * multipliers. With routed experts (num_local_experts > 0) every layer
 * routes: top-k of the router's logits, softmax over those k (the same as
 * renormalised top-k probabilities), experts of width intermediate_size,
 * and the shared MLP beside them as an ungated shared expert. */
static hive_status granite_params(const cJSON *cfg, hive_hparams *hp, hive_error **err) {
    hive_status st;
    uint32_t experts = 0, expert_ffn = hp->ffn; /* intermediate_size: the experts' width */
    float expand = 2.0f;
    hp->ssm_groups = 1, hp->ssm_conv = 4;
    if ((st = cfg_u32(cfg, "shared_intermediate_size", &hp->ffn, 1, err)) ||
        (st = cfg_u32(cfg, "num_local_experts", &experts, 0, err)) ||
        (st = cfg_u32(cfg, "mamba_n_heads", &hp->ssm_heads, 1, err)) ||
        (st = cfg_u32(cfg, "mamba_d_head", &hp->ssm_head_dim, 1, err)) ||
        (st = cfg_u32(cfg, "mamba_d_state", &hp->ssm_state, 1, err)) ||
        (st = cfg_u32(cfg, "mamba_n_groups", &hp->ssm_groups, 0, err)) ||
        (st = cfg_u32(cfg, "mamba_chunk_size", &hp->ssm_chunk, 0, err)) ||
        (st = cfg_u32(cfg, "mamba_d_conv", &hp->ssm_conv, 0, err)) || (st = cfg_f32(cfg, "mamba_expand", &expand, err)) ||
        (st = cfg_f32(cfg, "embedding_multiplier", &hp->embed_mult, err)) ||
        (st = cfg_f32(cfg, "residual_multiplier", &hp->residual_mult, err)) ||
        (st = cfg_f32(cfg, "attention_multiplier", &hp->attn_scale, err)) ||
        (st = cfg_f32(cfg, "logits_scaling", &hp->logits_div, err)))
        return st;
    if (experts) {
        if ((st = cfg_u32(cfg, "num_experts_per_tok", &hp->n_experts_used, 1, err))) return st;
        if (hp->n_experts_used > experts)
            return hive_fail(err, HIVE_E_INVALID, "config.json: num_experts_per_tok %u exceeds num_local_experts %u",
                             hp->n_experts_used, experts);
        hp->n_experts = experts, hp->moe_ffn = expert_ffn, hp->moe_shared_ffn = hp->ffn, hp->moe_norm_topk = 1;
    }
    if (cfg_bool(cfg, "mamba_proj_bias", 0))
        return hive_fail(err, HIVE_E_UNSUPPORTED, "config.json: mamba_proj_bias is not supported");
    hp->ssm_inner = hp->ssm_heads * hp->ssm_head_dim;
    if ((double)expand * hp->hidden != (double)hp->ssm_inner)
        return hive_fail(err, HIVE_E_INVALID, "config.json: mamba_expand x hidden_size must equal mamba_n_heads x mamba_d_head");
    hp->ssm_dt_min = 0.0f, hp->ssm_dt_max = INFINITY;
    return HIVE_OK;
}

/* Which layers are Mamba2 mixers: layer_types "mamba" / "linear_attention"
 * (or layers_block_type), the others attention. */
static hive_status granite_layers(const cJSON *cfg, const hive_hparams *hp, model_priv *p, hive_error **err) {
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(cfg, "layer_types"), *v;
    if (!cJSON_IsArray(types)) types = cJSON_GetObjectItemCaseSensitive(cfg, "layers_block_type");
    if (!cJSON_IsArray(types) || (uint32_t)cJSON_GetArraySize(types) != hp->n_layers)
        return hive_fail(err, HIVE_E_INVALID, "config.json: layer_types must list the %u layers' types", hp->n_layers);
    if (!(p->ssm_layer = calloc(hp->n_layers, 1))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    uint32_t l = 0;
    cJSON_ArrayForEach(v, types) {
        const char *t = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(t, "mamba") || !strcmp(t, "linear_attention")) p->ssm_layer[l] = 1;
        else if (strcmp(t, "attention") && strcmp(t, "full_attention"))
            return hive_fail(err, HIVE_E_UNSUPPORTED, "config.json: layer %u has type '%s' (known: mamba, attention)", l, t);
        l++;
    }
    return HIVE_OK;
}

static hive_status parse_config(const cJSON *cfg, hive_hparams *hp, model_priv *p, hive_error **err) {
    if (!cJSON_IsObject(cfg)) return hive_fail(err, HIVE_E_INVALID, "config.json is not a JSON object");
    if (model_blazr_config_is(cfg)) return model_blazr_params(cfg, hp, p, err); /* blazr.c */
    int moe = 0;
    uint32_t step = 1;
    hive_status st = arch_of(cfg, hp, err);
    if (!st && hp->arch == HIVE_ARCH_MAMBA2) return mamba2_params(cfg, hp, err);
    if (!st) st = cfg_u32(cfg, "num_hidden_layers", &hp->n_layers, 1, err);
    if (!st) st = cfg_u32(cfg, "hidden_size", &hp->hidden, 1, err);
    if (!st) st = cfg_u32(cfg, "intermediate_size", &hp->ffn, 1, err);
    if (!st) st = cfg_u32(cfg, "num_attention_heads", &hp->n_heads, 1, err);
    if (!st) st = cfg_u32(cfg, "num_key_value_heads", &hp->n_kv_heads, 0, err);
    if (!st) st = cfg_u32(cfg, "head_dim", &hp->head_dim, 0, err);
    if (!st) st = cfg_u32(cfg, "vocab_size", &hp->vocab, 0, err);
    if (!st) st = cfg_u32(cfg, "max_position_embeddings", &hp->max_ctx, 0, err);
    if (!st) st = cfg_f32(cfg, "rms_norm_eps", &hp->rms_eps, err);
    if (!st) st = rope_params(cfg, hp, err);
    if (!st && (hp->arch == HIVE_ARCH_QWEN3_MOE || hp->arch == HIVE_ARCH_QWEN2_MOE)) {
        moe = 1;
        st = moe_params(cfg, hp, &step, err);
    }
    uint32_t first_moe = 0;
    if (!st && hp->arch == HIVE_ARCH_DEEPSEEK2) st = mla_params(cfg, hp, &first_moe, err);
    if (!st && hp->arch == HIVE_ARCH_GRANITE_HYBRID) st = granite_params(cfg, hp, err);
    if (st) return st;
    moe |= hp->n_experts > 0;
    /* transformers' llama/qwen configs default to untied; a missing lm_head
     * also means tied (decided when binding tensors) */
    hp->tied_embeddings = cfg_bool(cfg, "tie_word_embeddings", 0);
    p->hf_attention_bias = cfg_bool(cfg, "attention_bias", 0);
    /* HF checkpoints keep rotate_half layout; DeepSeek-V2 rotates adjacent pairs (complex form) */
    hp->rope_mode = hp->arch == HIVE_ARCH_DEEPSEEK2 ? HIVE_ROPE_NORMAL : HIVE_ROPE_NEOX;
    if ((st = model_hparams_finish(hp, err))) return st;
    if (hp->arch == HIVE_ARCH_GRANITE_HYBRID && (st = granite_layers(cfg, hp, p, err))) return st;
    return moe ? moe_layers(cfg, hp, step, first_moe, p, err) : HIVE_OK;
}

hive_status model_hf_config_text(const char *text, const char *path, hive_hparams *hp, model_priv *p,
                                 hive_error **err) {
    cJSON *cfg = cJSON_Parse(text);
    if (!cfg) return hive_fail(err, HIVE_E_INVALID, "%s is not valid JSON", path);
    hive_status st = parse_config(cfg, hp, p, err);
    cJSON_Delete(cfg);
    return st;
}

hive_status model_hf_config(const char *dir, hive_hparams *hp, model_priv *p, hive_error **err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = NULL;
    hive_status st = model_read_text(path, &text, err);
    if (st) return st;
    st = model_hf_config_text(text, path, hp, p, err);
    free(text);
    return st;
}
