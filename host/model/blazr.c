/* blazr's checkpoints (written by oxidizr, its trainer): a flat config.json
 * and safetensors whose names carry no "model." prefix. Each layer is one of
 *   Mamba2       layers.N.mamba2.{norm, mixer.*}    x + mixer(LayerNorm(x))
 *   MlaWithMoe   layers.N.self_attn.w_* + moe.*     latent attention, experts
 *   MlaWithMlp   layers.N.self_attn.w_* + mlp.*     latent attention, SwiGLU
 *   Standard     layers.N.self_attn.{q,k,v,o}_proj + mlp.*
 * from config.json's layer_types, or its older mamba_layers (the listed
 * layers are Mamba2, the others detected), or detected from the names in
 * blazr's order: mamba2. -> Mamba2; w_dkv with moe. -> MlaWithMoe; w_dkv
 * with mlp. -> MlaWithMlp; q_proj -> Standard. The views land in the same
 * hive_layer_tensors the Hugging Face families fill, so the engine runs them
 * with its Mamba2, latent-attention and expert paths (docs/HYBRID.md). */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "util/error.h"

static const char *const k_type_names[] = {"(detect)", "Mamba2", "MlaWithMoe", "MlaWithMlp", "StandardTransformer"};

const char *model_blazr_type_name(int type) {
    return type > 0 && type <= BLAZR_STANDARD ? k_type_names[type] : "?";
}

const char *hive_model_blazr_layer_type(const hive_model_files *m, uint32_t l) {
    const model_priv *p = m->priv;
    if (m->hp.arch != HIVE_ARCH_BLAZR || !p->blazr_type || l >= m->hp.n_layers) return NULL;
    return model_blazr_type_name(p->blazr_type[l]);
}

int model_blazr_config_is(const void *cfg_json) {
    const cJSON *cfg = cfg_json;
    return cJSON_IsObject(cfg) && !cJSON_GetObjectItemCaseSensitive(cfg, "model_type") &&
           !cJSON_GetObjectItemCaseSensitive(cfg, "architectures") &&
           cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cfg, "num_layers"));
}

/* Absent or null leaves *out alone. */
static hive_status get_u32(const cJSON *cfg, const char *key, uint32_t *out, int required, hive_error **err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!j || cJSON_IsNull(j))
        return required ? hive_fail(err, HIVE_E_INVALID, "blazr config.json: %s is missing", key) : HIVE_OK;
    double d = cJSON_IsNumber(j) ? j->valuedouble : -1;
    if (!(d >= 0) || d > 1e9 || floor(d) != d)
        return hive_fail(err, HIVE_E_INVALID, "blazr config.json: %s must be a non-negative integer", key);
    *out = (uint32_t)d;
    return HIVE_OK;
}

static hive_status get_f32(const cJSON *cfg, const char *key, float *out, hive_error **err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!j || cJSON_IsNull(j)) return HIVE_OK;
    if (!cJSON_IsNumber(j) || !(j->valuedouble > 0) || !(j->valuedouble <= FLT_MAX))
        return hive_fail(err, HIVE_E_INVALID, "blazr config.json: %s must be a positive number", key);
    *out = (float)j->valuedouble;
    return HIVE_OK;
}

/* layer_types (names) or mamba_layers (indices) into p->blazr_type. */
static hive_status layer_list(const cJSON *cfg, const hive_hparams *hp, model_priv *p, hive_error **err) {
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(cfg, "layer_types"), *v;
    const cJSON *mamba = cJSON_GetObjectItemCaseSensitive(cfg, "mamba_layers");
    if (!(p->blazr_type = calloc(hp->n_layers, 1))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (types && !cJSON_IsNull(types)) {
        if (!cJSON_IsArray(types) || (uint32_t)cJSON_GetArraySize(types) != hp->n_layers)
            return hive_fail(err, HIVE_E_INVALID, "blazr config.json: layer_types must list the %u layers' types",
                             hp->n_layers);
        uint32_t l = 0;
        p->blazr_listed = 1;
        cJSON_ArrayForEach(v, types) {
            const char *t = cJSON_IsString(v) ? v->valuestring : "";
            for (int k = BLAZR_MAMBA2; k <= BLAZR_STANDARD; k++)
                if (!strcmp(t, k_type_names[k])) p->blazr_type[l] = (uint8_t)k;
            if (!p->blazr_type[l])
                return hive_fail(err, HIVE_E_UNSUPPORTED,
                                 "blazr config.json: layer %u has type '%s' (known: Mamba2, MlaWithMoe, MlaWithMlp, "
                                 "StandardTransformer)",
                                 l, t);
            l++;
        }
        return HIVE_OK;
    }
    if (!mamba || cJSON_IsNull(mamba)) return HIVE_OK; /* every layer detected from its names */
    if (!cJSON_IsArray(mamba))
        return hive_fail(err, HIVE_E_INVALID, "blazr config.json: mamba_layers must be a list of layer indices");
    p->blazr_listed = 1;
    cJSON_ArrayForEach(v, mamba) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= hp->n_layers ||
            floor(v->valuedouble) != v->valuedouble)
            return hive_fail(err, HIVE_E_INVALID, "blazr config.json: mamba_layers holds %g, not a layer index below %u",
                             cJSON_IsNumber(v) ? v->valuedouble : -1.0, hp->n_layers);
        p->blazr_type[(uint32_t)v->valuedouble] = BLAZR_MAMBA2;
    }
    return HIVE_OK;
}

hive_status model_blazr_params(const void *cfg_json, hive_hparams *hp, model_priv *p, hive_error **err) {
    const cJSON *cfg = cfg_json;
    uint32_t expand = 2, chunk = 256, kv_heads = 0;
    hive_status st;
    hp->arch = HIVE_ARCH_BLAZR;
    snprintf(hp->arch_name, sizeof hp->arch_name, "blazr");
    hp->max_ctx = 4096, hp->rms_eps = 1e-5f, hp->rope_theta = 10000.0f;
    hp->ssm_groups = 1, hp->ssm_conv = 4, hp->n_experts_used = 2;
    if ((st = get_u32(cfg, "num_layers", &hp->n_layers, 1, err)) || (st = get_u32(cfg, "hidden_size", &hp->hidden, 1, err)) ||
        (st = get_u32(cfg, "vocab_size", &hp->vocab, 0, err)) || (st = get_u32(cfg, "max_seq_len", &hp->max_ctx, 0, err)) ||
        (st = get_f32(cfg, "rms_norm_eps", &hp->rms_eps, err)) || (st = get_f32(cfg, "rope_theta", &hp->rope_theta, err)) ||
        (st = get_u32(cfg, "num_attention_heads", &hp->n_heads, 0, err)) ||
        (st = get_u32(cfg, "num_kv_heads", &kv_heads, 0, err)) || (st = get_u32(cfg, "intermediate_size", &hp->ffn, 0, err)) ||
        (st = get_u32(cfg, "kv_latent_dim", &hp->mla_kv_rank, 0, err)) ||
        (st = get_u32(cfg, "q_latent_dim", &hp->mla_q_rank, 0, err)) || (st = get_u32(cfg, "d_rope", &hp->mla_rope, 0, err)) ||
        (st = get_u32(cfg, "num_experts", &hp->n_experts, 0, err)) ||
        (st = get_u32(cfg, "experts_per_tok", &hp->n_experts_used, 0, err)) ||
        (st = get_u32(cfg, "mamba2_num_heads", &hp->ssm_heads, 0, err)) ||
        (st = get_u32(cfg, "mamba2_head_dim", &hp->ssm_head_dim, 0, err)) ||
        (st = get_u32(cfg, "mamba2_state_size", &hp->ssm_state, 0, err)) ||
        (st = get_u32(cfg, "mamba2_chunk_size", &chunk, 0, err)) || (st = get_u32(cfg, "mamba2_expand", &expand, 0, err)) ||
        (st = get_u32(cfg, "mamba2_conv_kernel", &hp->ssm_conv, 0, err)) ||
        (st = get_u32(cfg, "mamba2_n_groups", &hp->ssm_groups, 0, err)))
        return st;
    if (!hp->n_layers || hp->n_layers > 100000 || !hp->hidden || hp->hidden > 1000000)
        return hive_fail(err, HIVE_E_INVALID, "blazr config.json: num_layers %u and hidden_size %u out of range",
                         hp->n_layers, hp->hidden);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings");
    p->blazr_tied = cJSON_IsBool(tie) ? cJSON_IsTrue(tie) : -1;
    const cJSON *shared = cJSON_GetObjectItemCaseSensitive(cfg, "shared_expert_enabled");
    if (!hp->ffn) hp->ffn = 4 * hp->hidden; /* oxidizr's MLP default */
    hp->moe_ffn = hp->ffn;                 /* experts and the shared one are intermediate_size wide */
    hp->moe_shared_ffn = cJSON_IsTrue(shared) ? hp->ffn : 0;
    hp->moe_norm_topk = 1; /* a softmax over the k chosen logits = the full softmax renormalised over them */
    if (!hp->n_heads) hp->n_heads = 1; /* an all-Mamba2 model needs none; checked per layer type when bound */
    hp->n_kv_heads = kv_heads ? kv_heads : hp->n_heads;
    /* the latent attention's heads are hidden / heads wide, for the query, the key and the value */
    if (hp->mla_kv_rank) hp->mla_nope = hp->mla_v = hp->hidden / hp->n_heads;
    hp->rope_mode = HIVE_ROPE_NEOX; /* rotate_half throughout */
    if (hp->ssm_heads) {
        hp->ssm_inner = hp->ssm_heads * hp->ssm_head_dim;
        if ((uint64_t)expand * hp->hidden != hp->ssm_inner)
            return hive_fail(err, HIVE_E_INVALID,
                             "blazr config.json: mamba2_expand x hidden_size (%u x %u) must equal mamba2_num_heads x "
                             "mamba2_head_dim (%u x %u)",
                             expand, hp->hidden, hp->ssm_heads, hp->ssm_head_dim);
        if (!chunk) return hive_fail(err, HIVE_E_INVALID, "blazr config.json: mamba2_chunk_size must be > 0");
        hp->ssm_chunk = chunk;
        /* oxidizr's mixer: dt clamped to [0.001, 0.1], LayerNorm and gated norm eps 1e-6, one norm group */
        hp->ssm_dt_min = 0.001f, hp->ssm_dt_max = 0.1f;
        hp->ssm_ln_eps = 1e-6f, hp->ssm_norm_eps = 1e-6f, hp->ssm_norm_groups = 1;
    }
    if (!hp->n_experts) hp->moe_shared_ffn = 0;
    if ((st = model_hparams_finish(hp, err))) return st;
    return layer_list(cfg, hp, p, err);
}

/* ---------------------------------------------------------------- binding -- */

typedef struct {
    hive_model_files *m;
    uint64_t n_params, bytes;
} blazr_binder;

/* Finds name (required, or optional) with the given shape ({rows, cols}; cols 0:
 * a vector; d0 > 0: [d0, rows, cols]); a float weight dtype. */
static hive_status take(blazr_binder *b, const char *name, int64_t d0, int64_t rows, int64_t cols, int required,
                        hive_tensor_view *out, hive_error **err) {
    memset(out, 0, sizeof *out);
    hive_tensor_view v;
    if (!model_find_tensor(b->m, name, &v)) {
        if (!required) return HIVE_OK;
        return hive_fail(err, HIVE_E_NOTFOUND, "missing tensor %s (required by blazr)", name);
    }
    int64_t want[3] = {d0, rows, cols};
    const int64_t *w = d0 ? want : want + 1;
    uint32_t n = d0 ? 3 : cols ? 2 : 1;
    int ok = v.n_dims == n;
    for (uint32_t i = 0; ok && i < n; i++) ok = v.shape[i] == w[i];
    if (!ok) {
        char ws[80], fs[120];
        if (n == 1) snprintf(ws, sizeof ws, "[%lld]", (long long)w[0]);
        else if (n == 2) snprintf(ws, sizeof ws, "[%lld, %lld]", (long long)w[0], (long long)w[1]);
        else snprintf(ws, sizeof ws, "[%lld, %lld, %lld]", (long long)w[0], (long long)w[1], (long long)w[2]);
        size_t k = (size_t)snprintf(fs, sizeof fs, "[");
        for (uint32_t i = 0; i < v.n_dims && i < 8 && k < sizeof fs; i++)
            k += (size_t)snprintf(fs + k, sizeof fs - k, "%s%lld", i ? ", " : "", (long long)v.shape[i]);
        if (k < sizeof fs) snprintf(fs + k, sizeof fs - k, "]");
        return hive_fail(err, HIVE_E_SHAPE, "%s: expected %s, found %s", name, ws, fs);
    }
    if (v.dtype != HIVE_DTYPE_F32 && v.dtype != HIVE_DTYPE_F16 && v.dtype != HIVE_DTYPE_BF16)
        return hive_fail(err, HIVE_E_UNSUPPORTED, "%s: blazr weights must be f32, f16 or bf16", name);
    uint64_t elems = 1;
    for (uint32_t i = 0; i < v.n_dims; i++) elems *= (uint64_t)v.shape[i];
    b->n_params += elems, b->bytes += v.nbytes;
    *out = v;
    return HIVE_OK;
}

/* Does any tensor's name start with prefix? */
static int has_prefix(const hive_model_files *m, const char *prefix) {
    const model_priv *p = m->priv;
    size_t n = strlen(prefix);
    for (uint32_t f = 0; f < p->n_files; f++) {
        uint64_t count = hive_tf_count(p->files[f]);
        for (uint64_t i = 0; i < count; i++) {
            hive_tensor_view v;
            if (hive_tf_get(p->files[f], i, &v) == HIVE_OK && v.name && !strncmp(v.name, prefix, n)) return 1;
        }
    }
    return 0;
}

/* blazr's detection order; 0 when nothing says. */
static int detect_type(const hive_model_files *m, uint32_t l) {
    char pre[96];
#define HAS(fmt) (snprintf(pre, sizeof pre, "layers.%u." fmt, l), has_prefix(m, pre))
    if (HAS("mamba2.")) return BLAZR_MAMBA2;
    int mla = HAS("self_attn.w_dkv");
    if (mla && HAS("moe.")) return BLAZR_MLA_MOE;
    if (mla && HAS("mlp.")) return BLAZR_MLA_MLP;
    if (HAS("self_attn.q_proj")) return BLAZR_STANDARD;
#undef HAS
    return 0;
}

static hive_status bind_mamba2(blazr_binder *b, uint32_t l, hive_error **err) {
    const hive_hparams *hp = &b->m->hp;
    hive_layer_tensors *t = &b->m->layers[l];
    int64_t H = hp->hidden, I = hp->ssm_inner, GN = 2ll * hp->ssm_groups * hp->ssm_state, C = I + GN;
    int64_t P = 2 * I + GN + hp->ssm_heads, NH = hp->ssm_heads;
    const struct {
        hive_tensor_view *dst;
        const char *name;
        int64_t d0, rows, cols;
        int required;
    } k[] = {
        {&t->attn_norm, "norm.weight", 0, H, 0, 1},
        {&t->attn_norm_b, "norm.bias", 0, H, 0, 1},
        {&t->ssm_in, "mixer.in_proj.weight", 0, P, H, 1},
        {&t->ssm_in_b, "mixer.in_proj.bias", 0, P, 0, 0},
        {&t->ssm_conv_w, "mixer.conv1d.weight", C, 1, hp->ssm_conv, 1},
        {&t->ssm_conv_b, "mixer.conv1d.bias", 0, C, 0, 0},
        {&t->ssm_dt_bias, "mixer.dt_bias", 0, NH, 0, 1},
        {&t->ssm_A_log, "mixer.A_log", 0, NH, 0, 1},
        {&t->ssm_D, "mixer.D", 0, NH, 0, 1},
        {&t->ssm_norm, "mixer.norm.weight", 0, I, 0, 1},
        {&t->ssm_out, "mixer.out_proj.weight", 0, H, I, 1},
        {&t->ssm_out_b, "mixer.out_proj.bias", 0, H, 0, 0},
    };
    char name[160];
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        snprintf(name, sizeof name, "layers.%u.mamba2.%s", l, k[i].name);
        hive_status st = take(b, name, k[i].d0, k[i].rows, k[i].cols, k[i].required, k[i].dst, err);
        if (st) return st;
    }
    return HIVE_OK;
}

static hive_status bind_mla(blazr_binder *b, uint32_t l, hive_error **err) {
    const hive_hparams *hp = &b->m->hp;
    hive_layer_tensors *t = &b->m->layers[l];
    int64_t H = hp->hidden, Q = (int64_t)hp->n_heads * hp->mla_nope, r = hp->mla_kv_rank, qr = hp->mla_q_rank;
    int64_t rope = hp->mla_rope;
    const struct {
        hive_tensor_view *dst;
        const char *name;
        int64_t rows, cols;
    } k[] = {
        {&t->mla_kv_a, "w_dkv", r, H},  {&t->mla_q_a, "w_dq", qr, H},          {&t->mla_q_b, "w_uq", Q, qr},
        {&t->mla_uk, "w_uk", Q, r},     {&t->mla_uv, "w_uv", Q, r},            {&t->mla_qr, "w_qr", (int64_t)hp->n_heads * rope, H},
        {&t->mla_kr, "w_kr", rope, H},  {&t->wo, "o_proj", H, Q},
    };
    char name[160];
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        snprintf(name, sizeof name, "layers.%u.self_attn.%s.weight", l, k[i].name);
        hive_status st = take(b, name, 0, k[i].rows, k[i].cols, 1, k[i].dst, err);
        if (st) return st;
    }
    return HIVE_OK;
}

static hive_status bind_gqa(blazr_binder *b, uint32_t l, hive_error **err) {
    const hive_hparams *hp = &b->m->hp;
    hive_layer_tensors *t = &b->m->layers[l];
    int64_t H = hp->hidden, Q = (int64_t)hp->n_heads * hp->head_dim, KV = (int64_t)hp->n_kv_heads * hp->head_dim;
    const struct {
        hive_tensor_view *dst;
        const char *name;
        int64_t rows, cols;
    } k[] = {{&t->wq, "q_proj", Q, H}, {&t->wk, "k_proj", KV, H}, {&t->wv, "v_proj", KV, H}, {&t->wo, "o_proj", H, Q}};
    char name[160];
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        snprintf(name, sizeof name, "layers.%u.self_attn.%s.weight", l, k[i].name);
        hive_status st = take(b, name, 0, k[i].rows, k[i].cols, 1, k[i].dst, err);
        if (st) return st;
    }
    return HIVE_OK;
}

/* gate/up/down of one SwiGLU: `what` is "mlp", "moe.experts.E" or "moe.shared_expert". */
static hive_status bind_swiglu(blazr_binder *b, uint32_t l, const char *what, hive_tensor_view *gate, hive_tensor_view *up,
                               hive_tensor_view *down, hive_error **err) {
    int64_t H = b->m->hp.hidden, F = b->m->hp.ffn;
    char name[192];
    hive_status st;
    snprintf(name, sizeof name, "layers.%u.%s.gate_proj.weight", l, what);
    if ((st = take(b, name, 0, F, H, 1, gate, err))) return st;
    snprintf(name, sizeof name, "layers.%u.%s.up_proj.weight", l, what);
    if ((st = take(b, name, 0, F, H, 1, up, err))) return st;
    snprintf(name, sizeof name, "layers.%u.%s.down_proj.weight", l, what);
    return take(b, name, 0, H, F, 1, down, err);
}

static hive_status bind_moe(blazr_binder *b, uint32_t l, hive_error **err) {
    hive_model_files *m = b->m;
    hive_layer_tensors *t = &m->layers[l];
    model_priv *p = m->priv;
    uint32_t E = m->hp.n_experts;
    char name[160];
    hive_status st;
    if (!(p->expert_views[l] = calloc(3 * (size_t)E, sizeof **p->expert_views)))
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    t->moe_gate = p->expert_views[l], t->moe_up = t->moe_gate + E, t->moe_down = t->moe_up + E;
    snprintf(name, sizeof name, "layers.%u.moe.router.gate.weight", l);
    if ((st = take(b, name, 0, E, m->hp.hidden, 1, &t->moe_router, err))) return st;
    for (uint32_t e = 0; e < E; e++) {
        snprintf(name, sizeof name, "moe.experts.%u", e);
        if ((st = bind_swiglu(b, l, name, &t->moe_gate[e], &t->moe_up[e], &t->moe_down[e], err))) return st;
    }
    snprintf(name, sizeof name, "layers.%u.moe.shared_expert.gate_proj.weight", l);
    if (!m->hp.moe_shared_ffn) {
        if (model_find_tensor(m, name, NULL))
            return hive_fail(err, HIVE_E_INVALID, "%s is present but config.json does not set shared_expert_enabled", name);
        return HIVE_OK;
    }
    return bind_swiglu(b, l, "moe.shared_expert", &t->moe_shared_gate, &t->moe_shared_up, &t->moe_shared_down, err);
}

/* What a layer type needs from config.json; names the missing key. */
static hive_status check_keys(const hive_hparams *hp, uint32_t l, int type, hive_error **err) {
    const char *miss = NULL;
    if (type == BLAZR_MAMBA2) {
        if (!hp->ssm_heads) miss = "mamba2_num_heads";
        else if (!hp->ssm_head_dim) miss = "mamba2_head_dim";
        else if (!hp->ssm_state) miss = "mamba2_state_size";
    } else if (type == BLAZR_MLA_MOE || type == BLAZR_MLA_MLP) {
        if (!hp->mla_kv_rank) miss = "kv_latent_dim";
        else if (!hp->mla_q_rank) miss = "q_latent_dim";
        else if (!hp->mla_rope || hp->mla_rope % 2) miss = "d_rope (even, > 0)";
        else if (type == BLAZR_MLA_MOE && !hp->n_experts) miss = "num_experts";
    }
    if (!miss && type != BLAZR_MAMBA2 && hp->hidden % hp->n_heads) miss = "num_attention_heads (dividing hidden_size)";
    if (miss)
        return hive_fail(err, HIVE_E_INVALID, "blazr config.json: layer %u is %s, which needs %s", l,
                         model_blazr_type_name(type), miss);
    return HIVE_OK;
}

hive_status model_blazr_bind(hive_model_files *m, hive_error **err) {
    hive_hparams *hp = &m->hp;
    model_priv *p = m->priv;
    blazr_binder b = {m, 0, 0};
    hive_status st;
    hive_tensor_view v;
    if (!hp->vocab && model_find_tensor(m, "embed_tokens.weight", &v) && v.n_dims == 2 && v.shape[0] > 0 &&
        v.shape[0] <= UINT32_MAX)
        hp->vocab = (uint32_t)v.shape[0];
    hp->tied_embeddings = p->blazr_tied >= 0 ? p->blazr_tied : !model_find_tensor(m, "lm_head.weight", NULL);
    if ((st = take(&b, "embed_tokens.weight", 0, hp->vocab, hp->hidden, 1, &m->tok_embd, err)) ||
        (st = take(&b, "norm.weight", 0, hp->hidden, 0, 1, &m->output_norm, err)))
        return st;
    if (hp->tied_embeddings) m->output = m->tok_embd;
    else if ((st = take(&b, "lm_head.weight", 0, hp->vocab, hp->hidden, 1, &m->output, err))) return st;
    if (hp->n_experts && !(p->expert_views = calloc(hp->n_layers, sizeof *p->expert_views)))
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    hp->n_attn_layers = 0;
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        hive_layer_tensors *t = &m->layers[l];
        int listed = p->blazr_type[l], found = detect_type(m, l), type = listed ? listed : found;
        if (!type) {
            char pre[64];
            snprintf(pre, sizeof pre, "layers.%u.self_attn.w_dkv", l);
            return hive_fail(err, HIVE_E_INVALID,
                             has_prefix(m, pre) ? "blazr: layer %u has self_attn.w_dkv but neither moe.* nor mlp.* tensors"
                                                : "blazr: layer %u has no tensors that tell its type (mamba2.*, "
                                                  "self_attn.w_dkv with moe.* or mlp.*, self_attn.q_proj)",
                             l);
        }
        if (listed == BLAZR_MAMBA2 && found && found != BLAZR_MAMBA2)
            return hive_fail(err, HIVE_E_INVALID, "blazr: config.json makes layer %u Mamba2 but its tensors are %s", l,
                             model_blazr_type_name(found));
        if (p->blazr_listed && listed != BLAZR_MAMBA2 && found == BLAZR_MAMBA2)
            return hive_fail(err, HIVE_E_INVALID, "blazr: layer %u has mamba2.* tensors but config.json makes it %s", l,
                             listed ? model_blazr_type_name(listed) : "an attention layer (not in mamba_layers)");
        p->blazr_type[l] = (uint8_t)type;
        if ((st = check_keys(hp, l, type, err))) return st;
        if (type == BLAZR_MAMBA2) {
            if ((st = bind_mamba2(&b, l, err))) return st;
            continue;
        }
        hp->n_attn_layers++;
        char name[128];
        snprintf(name, sizeof name, "layers.%u.input_layernorm.weight", l);
        if ((st = take(&b, name, 0, hp->hidden, 0, 1, &t->attn_norm, err))) return st;
        snprintf(name, sizeof name, "layers.%u.post_attention_layernorm.weight", l);
        if ((st = take(&b, name, 0, hp->hidden, 0, 1, &t->ffn_norm, err))) return st;
        st = type == BLAZR_STANDARD ? bind_gqa(&b, l, err) : bind_mla(&b, l, err);
        if (!st) st = type == BLAZR_MLA_MOE ? bind_moe(&b, l, err) : bind_swiglu(&b, l, "mlp", &t->w_gate, &t->w_up, &t->w_down, err);
        if (st) return st;
    }
    m->n_params = b.n_params;
    m->weight_bytes = b.bytes;
    return HIVE_OK;
}
