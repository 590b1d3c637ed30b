/* The engine's side of adapters: the model shape and base-weight access given
 * to adapter plugins, per-sequence adapter sets, and linears with hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "model/dequant.h"
#include "util/dtype.h"
#include "util/error.h"

static const char *const k_module_paths[HIVE_MODULE_COUNT] = {
    "model.layers.%u.self_attn.q_proj", "model.layers.%u.self_attn.k_proj", "model.layers.%u.self_attn.v_proj",
    "model.layers.%u.self_attn.o_proj", "model.layers.%u.mlp.gate_proj",    "model.layers.%u.mlp.up_proj",
    "model.layers.%u.mlp.down_proj"};

static const hive_tensor_view *module_view(const hive_engine *e, uint32_t layer, uint32_t module, int bias) {
    const hive_layer_tensors *t = &e->model->layers[layer];
    switch (module) {
    case HIVE_MODULE_Q: return bias ? &t->bq : &t->wq;
    case HIVE_MODULE_K: return bias ? &t->bk : &t->wk;
    case HIVE_MODULE_V: return bias ? &t->bv : &t->wv;
    case HIVE_MODULE_O: return bias ? NULL : &t->wo;
    case HIVE_MODULE_GATE: return bias ? NULL : &t->w_gate;
    case HIVE_MODULE_UP: return bias ? NULL : &t->w_up;
    case HIVE_MODULE_DOWN: return bias ? NULL : &t->w_down;
    default: return NULL;
    }
}

static const char *module_name(const hive_engine *e, uint32_t module) {
    const char *p = module < e->n_mod ? e->mod_path[module] : NULL, *dot = p ? strrchr(p, '.') : NULL;
    return dot ? dot + 1 : "?";
}

/* A routed layer has no dense gate/up/down for an adapter to hook or merge;
 * a Mamba2 layer has none of the attention modules; base weights exist for
 * the seven only (the family's own linears serve plain LoRA hooks). */
static hive_status module_exists(const hive_engine *e, uint32_t layer, uint32_t module, hive_error **err) {
    if (layer >= e->hp.n_layers || module >= HIVE_MODULE_COUNT)
        return hive_fail(err, HIVE_E_INVALID, "no module %u in layer %u with a base weight", module, layer);
    /* only LoRA, unmerged, is checked against a reference on blazr's layers */
    if (e->hp.arch == HIVE_ARCH_BLAZR)
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "blazr models take LoRA adapters unmerged only: DoRA and merging (base-weight access) "
                         "are not supported");
    if (module >= HIVE_MODULE_GATE && e->layers[layer].moe_router)
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "layer %u routes to experts and has no dense %s: adapt its experts' gate_up_proj and "
                         "down_proj (PEFT target_parameters) instead",
                         layer, module_name(e, module));
    if (!e->mod_present[layer * e->n_mod + module])
        return hive_fail(err, HIVE_E_UNSUPPORTED, "layer %u has no %s for an adapter", layer, module_name(e, module));
    return HIVE_OK;
}

static hive_status to_f32(const hive_tensor_view *v, float **out, hive_error **err) {
    int64_t n = 1;
    for (uint32_t i = 0; i < v->n_dims; i++) n *= v->shape[i];
    float *f = malloc((size_t)n * sizeof *f);
    if (!f) return hive_fail(err, HIVE_E_NOMEM, "out of memory dequantizing %s", v->name);
    hive_status st = hive_dequantize(v->dtype, v->data, f, n);
    if (st != HIVE_OK) {
        free(f);
        return hive_fail(err, st, "%s: cannot dequantize", v->name);
    }
    *out = f;
    return HIVE_OK;
}

static hive_status base_weight_f32(void *ctx, uint32_t layer, uint32_t module, float **out, hive_error **err) {
    hive_engine *e = ctx;
    hive_status st = module_exists(e, layer, module, err);
    if (st != HIVE_OK) return st;
    const hive_tensor_view *v = module_view(e, layer, module, 0);
    if (!e->unpermute_qk || (module != HIVE_MODULE_Q && module != HIVE_MODULE_K)) return to_f32(v, out, err);
    /* in the HF row order the engine runs (see unpermute_qk): each row is
     * dequantized straight to its HF position (hive_unpermute_qk_rows' map) */
    uint32_t heads = module == HIVE_MODULE_Q ? e->hp.n_heads : e->hp.n_kv_heads, hd = e->hp.head_dim, half = hd / 2;
    uint32_t in = e->shape.module_in[module], blk = hive_dtype_block_elems(v->dtype);
    uint64_t src_row = hive_dtype_row_bytes(v->dtype, in), elems = 1;
    for (uint32_t i = 0; i < v->n_dims; i++) elems *= (uint64_t)v->shape[i];
    if (!blk || in % blk || !src_row || elems != (uint64_t)heads * hd * in)
        return hive_fail(err, HIVE_E_SHAPE, "%s: cannot dequantize as %u heads of %u rows of %u", v->name, heads, hd,
                         in);
    float *hf = malloc((size_t)heads * hd * in * sizeof *hf);
    if (!hf) return hive_fail(err, HIVE_E_NOMEM, "out of memory dequantizing %s", v->name);
    const uint8_t *src = v->data;
    for (uint32_t h = 0; h < heads; h++)
        for (uint32_t a = 0; a < 2; a++)
            for (uint32_t j = 0; j < half; j++) {
                uint64_t to = (uint64_t)h * hd + a * half + j, from = (uint64_t)h * hd + 2 * j + a;
                hive_status st = hive_dequantize(v->dtype, src + from * src_row, hf + to * in, in);
                if (st != HIVE_OK) {
                    free(hf);
                    return hive_fail(err, st, "%s: cannot dequantize", v->name);
                }
            }
    *out = hf;
    return HIVE_OK;
}

static hive_status base_bias_f32(void *ctx, uint32_t layer, uint32_t module, float **out, hive_error **err) {
    hive_engine *e = ctx;
    *out = NULL;
    if (layer >= e->hp.n_layers || module >= HIVE_MODULE_COUNT)
        return hive_fail(err, HIVE_E_INVALID, "no module %u in layer %u", module, layer);
    const hive_tensor_view *v = module_view(e, layer, module, 1);
    return (v && v->data) ? to_f32(v, out, err) : HIVE_OK;
}

static hive_weight *base_weight(void *ctx, uint32_t layer, uint32_t module) {
    hive_engine *e = ctx;
    if (layer >= e->hp.n_layers) return NULL;
    layer_weights *w = &e->layers[layer];
    hive_weight *all[HIVE_MODULE_COUNT] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
    return module < HIVE_MODULE_COUNT ? all[module] : NULL;
}

static hive_status replace_weight_f32(void *ctx, uint32_t layer, uint32_t module, const float *w, hive_error **err) {
    hive_engine *e = ctx;
    hive_status st0 = module_exists(e, layer, module, err);
    if (st0 != HIVE_OK) return st0;
    layer_weights *lw = &e->layers[layer];
    hive_weight **slots[HIVE_MODULE_COUNT] = {&lw->wq, &lw->wk, &lw->wv, &lw->wo, &lw->w_gate, &lw->w_up, &lw->w_down};
    hive_weight_desc d = {sizeof d, HIVE_DTYPE_F32, e->shape.module_out[module], e->shape.module_in[module],
                          module_view(e, layer, module, 0)->name};
    hive_weight *nw = NULL;
    hive_status st = hive_engine_unstack(e, layer, module, err);
    if (st == HIVE_OK) st = e->be->weight_upload(e->dev, &d, w, &nw, err);
    if (st != HIVE_OK) return st;
    hive_engine_graphs_flush(e); /* captured graphs hold the old weight */
    hive_engine_soft_prompts_drop(e); /* and soft-prompt KV was computed with it */
    e->be->weight_free(e->dev, *slots[module]);
    *slots[module] = nw;
    return HIVE_OK;
}

/* Routed experts' stacked parameters as transformers 5 names them (one
 * Experts module per layer holding gate_up_proj and down_proj); blazr's
 * experts are separate linears under its own names: none. */
static const char *experts_path(const hive_hparams *hp, int down) {
    switch (hp->arch) {
    case HIVE_ARCH_QWEN3_MOE:
    case HIVE_ARCH_QWEN2_MOE:
    case HIVE_ARCH_DEEPSEEK2:
        return down ? "model.layers.%u.mlp.experts.down_proj" : "model.layers.%u.mlp.experts.gate_up_proj";
    case HIVE_ARCH_GRANITE_HYBRID:
        return down ? "model.layers.%u.block_sparse_moe.experts.down_proj"
                    : "model.layers.%u.block_sparse_moe.experts.gate_up_proj";
    default: return NULL;
    }
}

/* blazr (oxidizr's names, no "model." prefix): the same roles, its latent
 * attention's seven projections (w_dq, w_uq, w_dkv as Q_A, Q_B, KV_A) and
 * each expert's three linears, which PEFT's target_modules names. */
static hive_status blazr_modules(hive_engine *e) {
    const hive_hparams *hp = &e->hp;
    static const struct {
        uint32_t id;
        const char *path;
    } names[] = {
        {HIVE_MODULE_Q, "layers.%u.self_attn.q_proj"},
        {HIVE_MODULE_K, "layers.%u.self_attn.k_proj"},
        {HIVE_MODULE_V, "layers.%u.self_attn.v_proj"},
        {HIVE_MODULE_O, "layers.%u.self_attn.o_proj"},
        {HIVE_MODULE_GATE, "layers.%u.mlp.gate_proj"},
        {HIVE_MODULE_UP, "layers.%u.mlp.up_proj"},
        {HIVE_MODULE_DOWN, "layers.%u.mlp.down_proj"},
        {HIVE_XMOD_SSM_IN, "layers.%u.mamba2.mixer.in_proj"},
        {HIVE_XMOD_SSM_OUT, "layers.%u.mamba2.mixer.out_proj"},
        {HIVE_XMOD_MLA_Q_A, "layers.%u.self_attn.w_dq"},
        {HIVE_XMOD_MLA_Q_B, "layers.%u.self_attn.w_uq"},
        {HIVE_XMOD_MLA_KV_A, "layers.%u.self_attn.w_dkv"},
        {HIVE_XMOD_SHEXP_GATE, "layers.%u.moe.shared_expert.gate_proj"},
        {HIVE_XMOD_SHEXP_UP, "layers.%u.moe.shared_expert.up_proj"},
        {HIVE_XMOD_SHEXP_DOWN, "layers.%u.moe.shared_expert.down_proj"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) e->mod_path[names[i].id] = names[i].path;
    uint32_t *in = e->mod_in, *out = e->mod_out, H = hp->n_heads;
    out[HIVE_MODULE_Q] = H * hp->head_dim; /* its standard layers' q_proj: no rope part of its own */
    out[HIVE_XMOD_MLA_Q_B] = H * hp->mla_nope;
    out[HIVE_XMOD_MLA_KV_A] = hp->mla_kv_rank;
    in[HIVE_XMOD_MLA_QR] = in[HIVE_XMOD_MLA_KR] = hp->hidden;
    out[HIVE_XMOD_MLA_QR] = H * hp->mla_rope, out[HIVE_XMOD_MLA_KR] = hp->mla_rope;
    in[HIVE_XMOD_MLA_UK] = in[HIVE_XMOD_MLA_UV] = hp->mla_kv_rank;
    out[HIVE_XMOD_MLA_UK] = H * hp->mla_nope, out[HIVE_XMOD_MLA_UV] = H * hp->mla_v;
    enum { PATH = 48 };
    if (hp->n_experts && !(e->mod_path_pool = malloc((size_t)hp->n_experts * 3 * PATH))) return HIVE_E_NOMEM;
    static const char *const what[3] = {"gate_proj", "up_proj", "down_proj"};
    for (uint32_t x = 0; x < hp->n_experts; x++)
        for (uint32_t k = 0; k < 3; k++) {
            uint32_t id = hive_xmod_expert(e, x, k);
            char *p = e->mod_path_pool + ((size_t)x * 3 + k) * PATH;
            snprintf(p, PATH, "layers.%%u.moe.experts.%u.%s", x, what[k]);
            e->mod_path[id] = p;
            in[id] = k == HIVE_EXPERT_DOWN ? hp->moe_ffn : hp->hidden;
            out[id] = k == HIVE_EXPERT_DOWN ? hp->hidden : hp->moe_ffn;
        }
    return HIVE_OK;
}

/* Which modules each layer has, their features and PEFT paths (1.10), and
 * the routed experts' parameter slices (1.11) or linears (blazr). */
static hive_status describe_modules(hive_engine *e) {
    const hive_hparams *hp = &e->hp;
    uint32_t qd = hp->n_heads * hp->head_dim, kvd = hp->n_kv_heads * hp->head_dim, H = hp->n_heads;
    const int blazr = hp->arch == HIVE_ARCH_BLAZR, fused_experts = hp->n_experts && experts_path(hp, 0);
    e->exp_per = blazr ? 3 : 2;
    e->n_mod = HIVE_XMOD_COUNT + (fused_experts || blazr ? e->exp_per * hp->n_experts : 0);
    e->mod_in = calloc(e->n_mod, sizeof *e->mod_in);
    e->mod_out = calloc(e->n_mod, sizeof *e->mod_out);
    e->mod_expert = calloc(e->n_mod, sizeof *e->mod_expert);
    e->mod_path = calloc(e->n_mod, sizeof *e->mod_path);
    if (!e->mod_in || !e->mod_out || !e->mod_expert || !e->mod_path) return HIVE_E_NOMEM;
    uint32_t *in = e->mod_in, *out = e->mod_out;
    const char **paths = e->mod_path;
    const uint32_t in7[HIVE_MODULE_COUNT] = {hp->hidden, hp->hidden, hp->hidden, qd, hp->hidden, hp->hidden, hp->ffn};
    const uint32_t out7[HIVE_MODULE_COUNT] = {qd, kvd, kvd, hp->hidden, hp->ffn, hp->ffn, hp->hidden};
    memcpy(in, in7, sizeof in7);
    memcpy(out, out7, sizeof out7);
    memcpy(paths, k_module_paths, sizeof k_module_paths);
    uint32_t I = hp->ssm_inner;
    in[HIVE_XMOD_SSM_IN] = hp->hidden, out[HIVE_XMOD_SSM_IN] = 2 * I + 2 * hp->ssm_groups * hp->ssm_state + hp->ssm_heads;
    in[HIVE_XMOD_SSM_OUT] = I, out[HIVE_XMOD_SSM_OUT] = hp->hidden;
    /* Mamba2ForCausalLM names its blocks backbone.layers.N.mixer; GraniteMoeHybrid model.layers.N.mamba */
    int backbone = hp->arch == HIVE_ARCH_MAMBA2;
    paths[HIVE_XMOD_SSM_IN] = backbone ? "backbone.layers.%u.mixer.in_proj" : "model.layers.%u.mamba.in_proj";
    paths[HIVE_XMOD_SSM_OUT] = backbone ? "backbone.layers.%u.mixer.out_proj" : "model.layers.%u.mamba.out_proj";
    uint32_t qk = hp->mla_nope + hp->mla_rope;
    if (hp->mla_kv_rank) {
        out[HIVE_MODULE_Q] = H * qk;
        in[HIVE_MODULE_O] = H * hp->mla_v;
    }
    in[HIVE_XMOD_MLA_Q_A] = hp->hidden, out[HIVE_XMOD_MLA_Q_A] = hp->mla_q_rank;
    in[HIVE_XMOD_MLA_Q_B] = hp->mla_q_rank, out[HIVE_XMOD_MLA_Q_B] = H * qk;
    in[HIVE_XMOD_MLA_KV_A] = hp->hidden, out[HIVE_XMOD_MLA_KV_A] = hp->mla_kv_rank + hp->mla_rope;
    in[HIVE_XMOD_MLA_KV_B] = hp->mla_kv_rank, out[HIVE_XMOD_MLA_KV_B] = H * (hp->mla_nope + hp->mla_v);
    paths[HIVE_XMOD_MLA_Q_A] = "model.layers.%u.self_attn.q_a_proj";
    paths[HIVE_XMOD_MLA_Q_B] = "model.layers.%u.self_attn.q_b_proj";
    paths[HIVE_XMOD_MLA_KV_A] = "model.layers.%u.self_attn.kv_a_proj_with_mqa";
    paths[HIVE_XMOD_MLA_KV_B] = "model.layers.%u.self_attn.kv_b_proj";
    /* Qwen2-MoE's mlp.shared_expert, DeepSeek-V2's mlp.shared_experts */
    uint32_t sf = hp->moe_shared_ffn;
    in[HIVE_XMOD_SHEXP_GATE] = in[HIVE_XMOD_SHEXP_UP] = hp->hidden, in[HIVE_XMOD_SHEXP_DOWN] = sf;
    out[HIVE_XMOD_SHEXP_GATE] = out[HIVE_XMOD_SHEXP_UP] = sf, out[HIVE_XMOD_SHEXP_DOWN] = hp->hidden;
    int deepseek = hp->arch == HIVE_ARCH_DEEPSEEK2;
    paths[HIVE_XMOD_SHEXP_GATE] = deepseek ? "model.layers.%u.mlp.shared_experts.gate_proj"
                                           : "model.layers.%u.mlp.shared_expert.gate_proj";
    paths[HIVE_XMOD_SHEXP_UP] = deepseek ? "model.layers.%u.mlp.shared_experts.up_proj"
                                         : "model.layers.%u.mlp.shared_expert.up_proj";
    paths[HIVE_XMOD_SHEXP_DOWN] = deepseek ? "model.layers.%u.mlp.shared_experts.down_proj"
                                           : "model.layers.%u.mlp.shared_expert.down_proj";
    /* Granite's shared MLP (dense, or beside routed experts): one [gate | up] linear */
    in[HIVE_XMOD_SHMLP_IN] = hp->hidden, out[HIVE_XMOD_SHMLP_IN] = 2 * hp->ffn;
    in[HIVE_XMOD_SHMLP_OUT] = hp->ffn, out[HIVE_XMOD_SHMLP_OUT] = hp->hidden;
    paths[HIVE_XMOD_SHMLP_IN] = "model.layers.%u.shared_mlp.input_linear";
    paths[HIVE_XMOD_SHMLP_OUT] = "model.layers.%u.shared_mlp.output_linear";
    for (uint32_t x = 0; fused_experts && x < hp->n_experts; x++) {
        uint32_t gu = hive_xmod_expert(e, x, HIVE_EXPERT_GATE_UP), dn = hive_xmod_expert(e, x, HIVE_EXPERT_DOWN_FUSED);
        in[gu] = hp->hidden, out[gu] = 2 * hp->moe_ffn, paths[gu] = experts_path(hp, 0), e->mod_expert[gu] = x + 1;
        in[dn] = hp->moe_ffn, out[dn] = hp->hidden, paths[dn] = experts_path(hp, 1), e->mod_expert[dn] = x + 1;
    }
    /* blazr's own latent-attention linears: named for every model, present on blazr's only */
    paths[HIVE_XMOD_MLA_QR] = "layers.%u.self_attn.w_qr", paths[HIVE_XMOD_MLA_KR] = "layers.%u.self_attn.w_kr";
    paths[HIVE_XMOD_MLA_UK] = "layers.%u.self_attn.w_uk", paths[HIVE_XMOD_MLA_UV] = "layers.%u.self_attn.w_uv";
    if (blazr && blazr_modules(e) != HIVE_OK) return HIVE_E_NOMEM;
    const int granite = hp->arch == HIVE_ARCH_GRANITE_HYBRID;
    if (!(e->mod_present = calloc((size_t)hp->n_layers * e->n_mod, 1))) return HIVE_E_NOMEM;
    for (uint32_t l = 0; l < hp->n_layers; l++) {
        const layer_weights *w = &e->layers[l];
        uint8_t *p = e->mod_present + (size_t)l * e->n_mod;
        if (w->moe_router) memset(p + HIVE_XMOD_COUNT, 1, e->n_mod - HIVE_XMOD_COUNT);
        /* a dense feed-forward; a routed layer's experts are fused parameters
         * in transformers 5 (no nn.Linear for PEFT's target_modules), its
         * shared expert three nn.Linear (stacked [gate | up] here) */
        if (w->ffn_norm && !w->moe_router) p[HIVE_MODULE_GATE] = p[HIVE_MODULE_UP] = p[HIVE_MODULE_DOWN] = 1;
        if (w->moe_shared_gate_up) p[HIVE_XMOD_SHEXP_GATE] = p[HIVE_XMOD_SHEXP_UP] = p[HIVE_XMOD_SHEXP_DOWN] = 1;
        if (granite && w->ffn_norm) { /* its MLP is shared_mlp, by that name only */
            p[HIVE_MODULE_GATE] = p[HIVE_MODULE_UP] = p[HIVE_MODULE_DOWN] = 0;
            p[HIVE_XMOD_SHEXP_GATE] = p[HIVE_XMOD_SHEXP_UP] = p[HIVE_XMOD_SHEXP_DOWN] = 0;
            p[HIVE_XMOD_SHMLP_IN] = p[HIVE_XMOD_SHMLP_OUT] = 1;
        }
        if (w->ssm_in) {
            p[HIVE_XMOD_SSM_IN] = p[HIVE_XMOD_SSM_OUT] = 1;
        } else if (w->mla_kv_a && !w->mla_kr) {
            p[HIVE_MODULE_O] = p[HIVE_XMOD_MLA_KV_A] = p[HIVE_XMOD_MLA_KV_B] = 1;
            if (w->mla_q_a) p[HIVE_XMOD_MLA_Q_A] = p[HIVE_XMOD_MLA_Q_B] = 1;
            else p[HIVE_MODULE_Q] = 1;
        } else if (w->mla_kr) { /* blazr's latent attention */
            static const uint32_t mla[] = {HIVE_MODULE_O,     HIVE_XMOD_MLA_Q_A, HIVE_XMOD_MLA_Q_B, HIVE_XMOD_MLA_KV_A,
                                           HIVE_XMOD_MLA_QR,  HIVE_XMOD_MLA_KR,  HIVE_XMOD_MLA_UK,  HIVE_XMOD_MLA_UV};
            for (size_t i = 0; i < sizeof mla / sizeof mla[0]; i++) p[mla[i]] = 1;
        } else if (!w->mla_kv_a) {
            p[HIVE_MODULE_Q] = p[HIVE_MODULE_K] = p[HIVE_MODULE_V] = p[HIVE_MODULE_O] = 1;
        }
    }
    return HIVE_OK;
}

hive_status hive_engine_adapters_init(hive_engine *e, const hive_model_files *m, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    e->model = m;
    hive_model_shape *s = &e->shape;
    if (describe_modules(e) != HIVE_OK) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    s->struct_size = sizeof *s;
    s->n_layers = hp->n_layers;
    s->hidden = hp->hidden;
    s->vocab = hp->vocab;
    memcpy(s->module_in, e->mod_in, sizeof s->module_in);
    memcpy(s->module_out, e->mod_out, sizeof s->module_out);
    s->arch = hp->arch_name;
    memcpy(s->module_path_fmt, e->mod_path, sizeof s->module_path_fmt); /* the seven: blazr names them its own way */
    s->n_modules = e->n_mod;
    s->n_experts = e->n_mod > HIVE_XMOD_COUNT ? hp->n_experts : 0;
    s->modules_expert = e->mod_expert;
    s->modules_in = e->mod_in;
    s->modules_out = e->mod_out;
    s->modules_path_fmt = e->mod_path;
    s->module_present = e->mod_present;
    e->base = (hive_base_access){sizeof e->base, 0, e, base_weight_f32, base_weight, base_bias_f32, replace_weight_f32};

    /* as wide as the widest stacked output (q|k|v, gate|up) or module: hook_base holds one */
    uint32_t qd = hp->n_heads * hp->head_dim, kvd = hp->n_kv_heads * hp->head_dim;
    uint64_t widest = hp->hidden > qd + 2 * kvd ? hp->hidden : qd + 2 * kvd;
    if (2 * hp->ffn > widest) widest = 2 * hp->ffn;
    if (2 * hp->moe_shared_ffn > widest) widest = 2 * hp->moe_shared_ffn;
    for (uint32_t i = 0; i < e->n_mod; i++) {
        if (e->mod_in[i] > widest) widest = e->mod_in[i];
        if (e->mod_out[i] > widest) widest = e->mod_out[i];
    }
    uint64_t bytes = (uint64_t)e->opts.max_rows * widest * sizeof(float);
    hive_status st;
    if ((st = e->be->buffer_alloc(e->dev, bytes, &e->act.hook_in, err)) ||
        (st = e->be->buffer_alloc(e->dev, bytes, &e->act.hook_base, err)) ||
        (st = e->be->buffer_alloc(e->dev, bytes, &e->act.hook_out, err)))
        return st;
    e->segs = malloc(e->opts.max_rows * sizeof *e->segs);
    e->expert_segs = malloc(e->opts.max_rows * sizeof *e->expert_segs);
    e->hooks_any = calloc((size_t)hp->n_layers * e->n_mod, sizeof *e->hooks_any);
    e->identity = malloc(e->opts.max_rows * sizeof *e->identity);
    e->lora_row0 = malloc(e->opts.max_rows * sizeof *e->lora_row0);
    e->lora_rows = malloc(e->opts.max_rows * sizeof *e->lora_rows);
    e->lora_A = malloc(e->opts.max_rows * sizeof *e->lora_A);
    e->lora_B = malloc(e->opts.max_rows * sizeof *e->lora_B);
    e->lora_done = malloc(e->opts.max_rows * sizeof *e->lora_done);
    e->residual_scales = malloc(e->opts.max_rows * sizeof *e->residual_scales);
    if (!e->segs || !e->expert_segs || !e->hooks_any || !e->identity || !e->lora_row0 || !e->lora_rows || !e->lora_A || !e->lora_B ||
        !e->lora_done || !e->residual_scales)
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < e->opts.max_rows; i++) e->residual_scales[i] = hp->residual_mult > 0 ? hp->residual_mult : 1.0f;
    if (e->opts.batched_lora && e->be->get_extension)
        e->lora_ext = e->be->get_extension(e->dev, HIVE_EXT_LORA_SEGMENTS, 1);
    for (uint32_t i = 0; i < e->opts.max_rows; i++) e->identity[i] = (int32_t)i;
    return HIVE_OK;
}

void hive_engine_adapters_free(hive_engine *e) {
    hive_buffer **bufs[] = {&e->act.hook_in, &e->act.hook_base, &e->act.hook_out};
    for (size_t i = 0; i < 3; i++)
        if (*bufs[i]) e->be->buffer_free(e->dev, *bufs[i]);
    free(e->segs);
    free(e->expert_segs);
    free(e->hooks_any);
    free(e->mod_present);
    free(e->mod_in);
    free(e->mod_out);
    free(e->mod_expert);
    free(e->mod_path);
    free(e->mod_path_pool);
    free(e->identity);
    free(e->lora_row0);
    free(e->lora_rows);
    free(e->lora_A);
    free(e->lora_B);
    free(e->lora_done);
    free(e->residual_scales);
}

const hive_model_shape *hive_engine_model_shape(const hive_engine *e) { return &e->shape; }
const hive_base_access *hive_engine_base_access(const hive_engine *e) { return &e->base; }
hive_device *hive_engine_device(const hive_engine *e) { return e->dev; }
const hive_backend_api *hive_engine_backend(const hive_engine *e) { return e->be; }
uint32_t hive_engine_max_rows(const hive_engine *e) { return e->opts.max_rows; }
uint64_t hive_engine_lora_batched_calls(const hive_engine *e) { return e->lora_batched_calls; }

uint32_t hive_engine_hooks_stride(const hive_adapter_ref *r) {
    const hive_adapter_desc *d = &r->desc;
    return HIVE_HAS_FIELD(hive_adapter_desc, d->struct_size, hooks_stride) && d->hooks_stride ? d->hooks_stride
                                                                                               : HIVE_MODULE_COUNT;
}

static uint32_t hooks_at(const hive_adapter_ref *r, uint32_t layer, uint32_t module) {
    uint32_t stride = hive_engine_hooks_stride(r);
    return r->desc.hooks_at && module < stride ? r->desc.hooks_at[layer * stride + module] : 0;
}

static hive_tensor rows_of(const hive_tensor *t, uint32_t row0, uint32_t n) {
    hive_tensor r = *t;
    r.offset += (uint64_t)row0 * t->row_stride * sizeof(float);
    r.rows = n;
    return r;
}

/* Plain-LoRA deltas of every segment as op_lora_segments calls. Pass k takes,
 * in each segment, the next adapter whose delta at (layer, module) is y += B A x,
 * so segments never overlap within a call; one call per pass. What was applied
 * is marked in lora_done (bit a of segment s), for output_hooks to skip. */
static hive_status lora_batched(hive_engine *e, uint32_t layer, uint32_t module, const hive_tensor *in,
                                const hive_tensor *out, hive_error **err) {
    memset(e->lora_done, 0, e->n_segs * sizeof *e->lora_done);
    if (!e->lora_ext) return HIVE_OK;
    for (;;) {
        uint32_t n = 0;
        for (uint32_t s = 0; s < e->n_segs; s++) {
            const segment *sg = &e->segs[s];
            for (uint32_t a = 0; sg->set && a < sg->set->n; a++) {
                const hive_adapter_ref *r = &sg->set->refs[a];
                if (((e->lora_done[s] >> a) & 1) || !(hooks_at(r, layer, module) & HIVE_HOOK_LINEAR_OUTPUT) ||
                    !r->api->get_extension)
                    continue;
                const hive_adapter_ext_lowrank *lr = r->api->get_extension(r->adapter, HIVE_ADAPTER_EXT_LOWRANK, 1);
                uint32_t rank = 0;
                if (!lr || lr->lowrank_at(r->adapter, layer, module, &e->lora_A[n], &e->lora_B[n], &rank) != HIVE_OK ||
                    rank > e->lora_ext->max_rank)
                    continue;
                e->lora_done[s] |= 1u << a;
                e->lora_row0[n] = (int32_t)sg->row0;
                e->lora_rows[n] = (int32_t)sg->n;
                n++;
                break;
            }
        }
        if (!n) return HIVE_OK;
        hive_status st = e->lora_ext->op_lora_segments(e->dev, in, out, n, e->lora_row0, e->lora_rows, e->lora_A,
                                                       e->lora_B, err);
        if (st != HIVE_OK) return st;
        e->lora_batched_calls++;
    }
}

/* Call one kind of output hook for every segment's adapters (LINEAR_OUTPUT:
 * those lora_batched did not apply). */
static hive_status output_hooks(hive_engine *e, uint32_t layer, uint32_t module, uint32_t kind, const hive_tensor *in,
                                const hive_tensor *base, const hive_tensor *out, hive_error **err) {
    for (uint32_t s = 0; s < e->n_segs; s++) {
        const segment *sg = &e->segs[s];
        if (!sg->set) continue;
        hive_tensor xi = rows_of(in, sg->row0, sg->n), bi = rows_of(base, sg->row0, sg->n), yi = rows_of(out, sg->row0, sg->n);
        for (uint32_t a = 0; a < sg->set->n; a++) {
            const hive_adapter_ref *r = &sg->set->refs[a];
            if (!(hooks_at(r, layer, module) & kind)) continue;
            if (kind == HIVE_HOOK_LINEAR_OUTPUT && ((e->lora_done[s] >> a) & 1)) continue;
            hive_status st = r->api->linear_output(r->adapter, layer, module, &xi, &bi, &yi, err);
            if (st != HIVE_OK) return st;
        }
    }
    return HIVE_OK;
}

/* Input hooks of `module` on a copy of x in hook_in (the same x feeds other
 * modules); returns that copy. */
static hive_status scaled_input(hive_engine *e, uint32_t layer, uint32_t module, const hive_tensor *x, hive_tensor *in,
                                hive_error **err) {
    uint32_t n = (uint32_t)x->rows;
    *in = hive_t(e->act.hook_in, 0, n, x->cols);
    hive_status st = e->be->op_get_rows(e->dev, x, e->identity, n, in, err);
    for (uint32_t s = 0; st == HIVE_OK && s < e->n_segs; s++) {
        const segment *sg = &e->segs[s];
        if (!sg->set) continue;
        hive_tensor xi = rows_of(in, sg->row0, sg->n);
        for (uint32_t a = 0; st == HIVE_OK && a < sg->set->n; a++) {
            const hive_adapter_ref *r = &sg->set->refs[a];
            if (hooks_at(r, layer, module) & HIVE_HOOK_LINEAR_INPUT)
                st = r->api->linear_input(r->adapter, layer, module, &xi, err);
        }
    }
    return st;
}

/* Output hooks of one module: deltas (segmented LoRA first), then scales. */
static hive_status after_matmul(hive_engine *e, uint32_t layer, uint32_t module, uint32_t mask, const hive_tensor *in,
                                const hive_tensor *base, const hive_tensor *out, hive_error **err) {
    hive_status st = HIVE_OK;
    if (mask & HIVE_HOOK_LINEAR_OUTPUT) {
        if ((st = lora_batched(e, layer, module, in, out, err)) ||
            (st = output_hooks(e, layer, module, HIVE_HOOK_LINEAR_OUTPUT, in, base, out, err)))
            return st;
    }
    if (mask & HIVE_HOOK_OUTPUT_SCALE) st = output_hooks(e, layer, module, HIVE_HOOK_OUTPUT_SCALE, in, base, out, err);
    return st;
}

hive_status hive_engine_linear(hive_engine *e, uint32_t layer, uint32_t module, const hive_tensor *x, hive_weight *w,
                               hive_weight *bias, const hive_tensor *y, int residual, hive_error **err) {
    uint32_t mask = e->hooks_any[layer * e->n_mod + module];
    /* a residual branch may be scaled (Granite's residual_multiplier): the hooked delta with it */
    float alpha = residual && e->hp.residual_mult > 0 ? e->hp.residual_mult : 1.0f;
    if (!(mask & (HIVE_HOOK_LINEAR_INPUT | HIVE_HOOK_LINEAR_OUTPUT | HIVE_HOOK_OUTPUT_SCALE)))
        return e->be->op_matmul(e->dev, x, w, bias, alpha, residual ? 1.0f : 0.0f, y, err);

    hive_status st;
    uint32_t n = (uint32_t)x->rows;
    hive_tensor in = *x;
    /* scale a copy: the same x may feed other modules (q, k, v share it) */
    if ((mask & HIVE_HOOK_LINEAR_INPUT) && (st = scaled_input(e, layer, module, x, &in, err))) return st;
    hive_tensor out = residual ? hive_t(e->act.hook_out, 0, n, y->cols) : *y;
    hive_tensor base = (mask & HIVE_HOOK_LINEAR_OUTPUT) ? hive_t(e->act.hook_base, 0, n, y->cols) : out;
    if ((st = e->be->op_matmul(e->dev, &in, w, bias, 1.0f, 0.0f, &base, err))) return st;
    if (base.buf != out.buf && (st = e->be->op_get_rows(e->dev, &base, e->identity, n, &out, err))) return st;
    if ((st = after_matmul(e, layer, module, mask, &in, &base, &out, err))) return st;
    if (!residual) return HIVE_OK;
    if (alpha != 1.0f) return e->be->op_add_rows_scaled(e->dev, &out, e->identity, e->residual_scales, y, err);
    return e->be->op_binary(e->dev, HIVE_BINARY_ADD, y, &out, y, err);
}

hive_status hive_engine_linear_group(hive_engine *e, uint32_t layer, const uint32_t *modules, int n_mod,
                                     const hive_tensor *x, hive_weight *w, hive_weight *bias, const hive_tensor *out,
                                     hive_error **err) {
    const uint32_t hook_kinds = HIVE_HOOK_LINEAR_INPUT | HIVE_HOOK_LINEAR_OUTPUT | HIVE_HOOK_OUTPUT_SCALE;
    uint32_t any = 0, n = (uint32_t)x->rows;
    for (int i = 0; i < n_mod; i++) any |= e->hooks_any[layer * e->n_mod + modules[i]];
    if (!(any & hook_kinds)) return e->be->op_matmul(e->dev, x, w, bias, 1.0f, 0.0f, out, err);

    hive_status st;
    hive_tensor full = hive_t(e->act.hook_base, 0, n, out->cols); /* W x + b of all modules: hooks' base_y */
    if (!(any & HIVE_HOOK_LINEAR_INPUT) &&
        ((st = e->be->op_matmul(e->dev, x, w, bias, 1.0f, 0.0f, &full, err)) ||
         (st = e->be->op_get_rows(e->dev, &full, e->identity, n, out, err))))
        return st;
    int64_t col0 = 0;
    for (int i = 0; i < n_mod; col0 += e->mod_out[modules[i]], i++) {
        uint32_t module = modules[i], mask = e->hooks_any[layer * e->n_mod + module];
        int64_t width = e->mod_out[module];
        hive_tensor in = *x, base = hive_cols(&full, col0, width), y = hive_cols(out, col0, width);
        if (any & HIVE_HOOK_LINEAR_INPUT) {
            /* modules read differently scaled inputs: the stacked matmul per
             * module, keeping its columns (IA3 feed-forward scaling is rare on
             * stacked modules; correctness over speed) */
            if ((mask & HIVE_HOOK_LINEAR_INPUT) && (st = scaled_input(e, layer, module, x, &in, err))) return st;
            if ((st = e->be->op_matmul(e->dev, &in, w, bias, 1.0f, 0.0f, &full, err)) ||
                (st = e->be->op_get_rows(e->dev, &base, e->identity, n, &y, err)))
                return st;
        }
        if ((st = after_matmul(e, layer, module, mask, &in, &base, &y, err))) return st;
    }
    return HIVE_OK;
}

hive_status hive_engine_linear_reordered(hive_engine *e, uint32_t layer, uint32_t module, const hive_tensor *x,
                                         hive_weight *w, const hive_tensor *y, const int64_t *runs, uint32_t n_runs,
                                         hive_error **err) {
    uint32_t mask = e->hooks_any[layer * e->n_mod + module], n = (uint32_t)x->rows;
    if (!(mask & (HIVE_HOOK_LINEAR_INPUT | HIVE_HOOK_LINEAR_OUTPUT | HIVE_HOOK_OUTPUT_SCALE)))
        return e->be->op_matmul(e->dev, x, w, NULL, 1.0f, 0.0f, y, err);
    hive_status st;
    hive_tensor in = *x;
    if ((mask & HIVE_HOOK_LINEAR_INPUT) && (st = scaled_input(e, layer, module, x, &in, err))) return st;
    if ((st = e->be->op_matmul(e->dev, &in, w, NULL, 1.0f, 0.0f, y, err))) return st;
    /* base_y and the hooked output in the file's column order, then back */
    hive_tensor base = hive_t(e->act.hook_base, 0, n, y->cols), out = hive_t(e->act.hook_out, 0, n, y->cols);
    for (uint32_t i = 0; i < n_runs; i++) {
        hive_tensor src = hive_cols(y, runs[3 * i + 1], runs[3 * i + 2]), dst = hive_cols(&base, runs[3 * i], runs[3 * i + 2]);
        if ((st = e->be->op_get_rows(e->dev, &src, e->identity, n, &dst, err))) return st;
    }
    if ((st = e->be->op_get_rows(e->dev, &base, e->identity, n, &out, err)) ||
        (st = after_matmul(e, layer, module, mask, &in, &base, &out, err)))
        return st;
    for (uint32_t i = 0; i < n_runs; i++) {
        hive_tensor src = hive_cols(&out, runs[3 * i], runs[3 * i + 2]), dst = hive_cols(y, runs[3 * i + 1], runs[3 * i + 2]);
        if ((st = e->be->op_get_rows(e->dev, &src, e->identity, n, &dst, err))) return st;
    }
    return HIVE_OK;
}

/* Can this engine run every hook the adapter asks for? */
static hive_status check_hooks(const hive_engine *e, const hive_adapter_ref *r, hive_error **err) {
    uint32_t stride = hive_engine_hooks_stride(r);
    /* the seven (a plugin of before 1.10), or every module of the shape */
    if (stride != HIVE_MODULE_COUNT && stride != e->n_mod)
        return hive_fail(err, HIVE_E_INVALID, "hooks_at has %u modules per layer; this model has %u", stride,
                         e->n_mod);
    if ((r->desc.hooks & HIVE_HOOK_EMBED) && (e->n_ssm_layers || e->hp.mla_kv_rank))
        return hive_fail(err, HIVE_E_UNSUPPORTED, "soft prompts on %s models are not supported yet",
                         e->n_ssm_layers ? "Mamba2" : "latent-attention (DeepSeek-V2)");
    for (uint32_t l = 0; r->desc.hooks_at && l < e->hp.n_layers; l++)
        for (uint32_t mod = 0; mod < stride; mod++) {
            if (!r->desc.hooks_at[l * stride + mod]) continue;
            if (e->hp.arch == HIVE_ARCH_BLAZR && (r->desc.hooks_at[l * stride + mod] & ~HIVE_HOOK_LINEAR_OUTPUT))
                return hive_fail(err, HIVE_E_UNSUPPORTED,
                                 "blazr models take LoRA adapters only: IA3's scaling hooks are not supported");
            /* q/k hooks need HF row order (see hive_engine_opts.qk_hf_order) */
            if ((mod == HIVE_MODULE_Q || mod == HIVE_MODULE_K) && e->hp.rope_mode == HIVE_ROPE_NORMAL &&
                e->model->is_gguf && !e->hp.mla_kv_rank)
                return hive_fail(err, HIVE_E_UNSUPPORTED,
                                 "it hooks q_proj/k_proj, but this engine keeps the GGUF file's permuted q/k rows; "
                                 "create it with qk_hf_order = 1");
            /* kv_b_proj is absorbed (mla_adapt.c): only an additive delta can be folded in */
            if ((mod == HIVE_XMOD_MLA_KV_B || mod == HIVE_XMOD_MLA_UK || mod == HIVE_XMOD_MLA_UV) &&
                r->desc.hooks_at[l * stride + mod] != HIVE_HOOK_LINEAR_OUTPUT)
                return hive_fail(err, HIVE_E_UNSUPPORTED,
                                 "layer %u: %s is absorbed into the query and output of Hive's latent "
                                 "attention; only an additive (LoRA) delta can be applied there",
                                 l, module_name(e, mod));
            if (mod >= HIVE_MODULE_GATE && mod <= HIVE_MODULE_DOWN && e->layers[l].moe_router)
                return module_exists(e, l, mod, err); /* names the routed layer */
            if (!e->mod_present[l * e->n_mod + mod])
                return hive_fail(err, HIVE_E_UNSUPPORTED, "layer %u has no %s for an adapter", l, module_name(e, mod));
        }
    return HIVE_OK;
}

hive_status hive_engine_seq_set_adapters(hive_engine *e, int32_t seq, const hive_adapter_set *set, hive_error **err) {
    if (seq < 0 || (uint32_t)seq >= e->opts.max_seqs || !e->seqs[seq].active)
        return hive_fail(err, HIVE_E_INVALID, "no sequence %d", seq);
    seq_state *s = &e->seqs[seq];
    const hive_adapter_ref *embed = NULL;
    for (uint32_t i = 0; set && i < set->n; i++) {
        if (!(set->refs[i].desc.hooks & HIVE_HOOK_EMBED)) continue;
        if (embed) return hive_fail(err, HIVE_E_UNSUPPORTED, "at most one soft-prompt expert per sequence");
        embed = &set->refs[i];
    }
    for (uint32_t i = 0; set && i < set->n; i++) {
        hive_status st = check_hooks(e, &set->refs[i], err);
        if (st != HIVE_OK) {
            if (err && *err) hive_error_prefix(*err, "adapter %u", i);
            return st;
        }
    }
    hive_status st0 = e->hp.mla_kv_rank ? hive_engine_mla_set_prepare(e, set, err) : HIVE_OK;
    if (st0 != HIVE_OK) return st0;
    /* drop all KV, virtual rows included */
    s->n_virtual = 0;
    hive_status st = hive_engine_seq_truncate(e, seq, 0, err);
    if (st != HIVE_OK) return st;
    s->set = set;
    if (!embed || !embed->desc.n_virtual_tokens) return HIVE_OK;
    uint32_t nv = embed->desc.n_virtual_tokens;
    if (nv > e->opts.max_rows || nv >= e->opts.ctx)
        return hive_fail(err, HIVE_E_INVALID, "soft prompt of %u virtual tokens exceeds the batch (%u) or context (%u)", nv,
                         e->opts.max_rows, e->opts.ctx);
    return hive_engine_soft_prompt_attach(e, seq, set, embed, err); /* soft_prompt.c */
}
