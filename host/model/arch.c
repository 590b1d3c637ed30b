/* Architecture knowledge: which tensors llama / qwen2 / qwen3 / qwen3_moe
 * need, what they are called in GGUF and in Hugging Face checkpoints, and
 * their shapes. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "util/dtype.h"
#include "util/error.h"
#include "util/log.h"

int model_arch_from_name(const char *name, hive_arch *out) {
    static const struct { const char *name; hive_arch arch; } k_arches[] = {
        {"llama", HIVE_ARCH_LLAMA}, {"qwen2", HIVE_ARCH_QWEN2}, {"qwen3", HIVE_ARCH_QWEN3},
        {"qwen3_moe", HIVE_ARCH_QWEN3_MOE}, {"qwen3moe", HIVE_ARCH_QWEN3_MOE} /* llama.cpp's name */,
        {"qwen2_moe", HIVE_ARCH_QWEN2_MOE}, {"qwen2moe", HIVE_ARCH_QWEN2_MOE}, {"mamba2", HIVE_ARCH_MAMBA2},
        {"deepseek_v2", HIVE_ARCH_DEEPSEEK2}, {"deepseek2", HIVE_ARCH_DEEPSEEK2}, /* llama.cpp's name */
        {"granitemoehybrid", HIVE_ARCH_GRANITE_HYBRID}, {"granitehybrid", HIVE_ARCH_GRANITE_HYBRID}};
    for (size_t i = 0; i < sizeof k_arches / sizeof k_arches[0]; i++)
        if (strcmp(name, k_arches[i].name) == 0) {
            *out = k_arches[i].arch;
            return 1;
        }
    return 0;
}

/* Mamba2: mixers only, no attention geometry. */
static hive_status ssm_hparams_finish(hive_hparams *hp, hive_error **err) {
    if (!hp->n_layers || hp->n_layers > 100000 || !hp->hidden)
        return hive_fail(err, HIVE_E_INVALID, "incomplete hyper-parameters: layers %u, hidden %u", hp->n_layers, hp->hidden);
    if (!hp->ssm_heads || !hp->ssm_head_dim || !hp->ssm_state || !hp->ssm_groups || hp->ssm_heads % hp->ssm_groups ||
        !hp->ssm_conv || hp->ssm_conv > 64 || hp->ssm_state > 1024 || hp->ssm_head_dim > 4096 || hp->ssm_heads > 4096 ||
        !(hp->ssm_dt_min <= hp->ssm_dt_max))
        return hive_fail(err, HIVE_E_INVALID,
                         "Mamba2: %u heads of %u, %u groups (dividing the heads), state %u (1-1024), conv kernel %u (1-64), "
                         "time step limit [%g, %g]: out of range",
                         hp->ssm_heads, hp->ssm_head_dim, hp->ssm_groups, hp->ssm_state, hp->ssm_conv, hp->ssm_dt_min,
                         hp->ssm_dt_max);
    if (!(hp->rms_eps > 0)) hp->rms_eps = 1e-5f;
    if (!hp->max_ctx) hp->max_ctx = 1u << 20; /* no positions: nothing bounds the context but memory */
    snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "none");
    hp->rope_factor = 1.0f;
    return HIVE_OK;
}

hive_status model_hparams_finish(hive_hparams *hp, hive_error **err) {
    if (hp->arch == HIVE_ARCH_MAMBA2) return ssm_hparams_finish(hp, err);
    if (!hp->n_layers || !hp->hidden || !hp->n_heads || !hp->ffn)
        return hive_fail(err, HIVE_E_INVALID,
                         "incomplete hyper-parameters: layers %u, hidden %u, heads %u, feed-forward %u (all must be > 0)",
                         hp->n_layers, hp->hidden, hp->n_heads, hp->ffn);
    if (hp->n_layers > 100000) return hive_fail(err, HIVE_E_INVALID, "implausible layer count %u", hp->n_layers);
    if (!hp->n_kv_heads) hp->n_kv_heads = hp->n_heads;
    if (hp->n_heads % hp->n_kv_heads != 0)
        return hive_fail(err, HIVE_E_INVALID, "%u attention heads are not a multiple of %u key/value heads",
                         hp->n_heads, hp->n_kv_heads);
    if (!hp->head_dim) {
        if (hp->hidden % hp->n_heads != 0)
            return hive_fail(err, HIVE_E_INVALID, "hidden size %u is not a multiple of %u heads and no head_dim is given",
                             hp->hidden, hp->n_heads);
        hp->head_dim = hp->hidden / hp->n_heads;
    }
    if (!hp->rope_dims) hp->rope_dims = hp->head_dim;
    if (hp->rope_dims > hp->head_dim || hp->rope_dims % 2 != 0)
        return hive_fail(err, HIVE_E_INVALID, "rotary dimensions %u must be even and at most head_dim %u", hp->rope_dims,
                         hp->head_dim);
    if (!(hp->rms_eps > 0)) hp->rms_eps = 1e-6f;
    if (!(hp->rope_theta > 0)) hp->rope_theta = 10000.0f;
    if (!hp->max_ctx) hp->max_ctx = 2048;
    if (!hp->rope_scaling[0]) snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "none");
    if (!(hp->rope_factor > 0)) hp->rope_factor = 1.0f;
    if (!hp->rope_orig_ctx) hp->rope_orig_ctx = hp->max_ctx;
    if (!(hp->rope_low_freq_factor > 0)) hp->rope_low_freq_factor = 1.0f;
    if (!(hp->rope_high_freq_factor > 0)) hp->rope_high_freq_factor = 4.0f;
    if (!(hp->yarn_beta_fast > 0)) hp->yarn_beta_fast = 32.0f;
    if (!(hp->yarn_beta_slow > 0)) hp->yarn_beta_slow = 1.0f;
    if (hp->ssm_heads) { /* a hybrid's Mamba2 layers */
        hive_hparams ssm = *hp;
        hive_status st = ssm_hparams_finish(&ssm, err);
        if (st) return st;
    }
    if (hp->n_experts && (hp->n_experts > HIVE_MAX_EXPERTS || !hp->n_experts_used ||
                          hp->n_experts_used > hp->n_experts || !hp->moe_ffn))
        return hive_fail(err, HIVE_E_INVALID,
                         "mixture of experts: %u experts (at most %d), %u used per token (1 to the expert count), expert "
                         "feed-forward %u (> 0)",
                         hp->n_experts, HIVE_MAX_EXPERTS, hp->n_experts_used, hp->moe_ffn);
    if (hp->rope_dims / 2 > HIVE_ROPE_MAX_PAIRS)
        return hive_fail(err, HIVE_E_UNSUPPORTED, "%u rotary dimensions: at most %d are supported", hp->rope_dims,
                         2 * HIVE_ROPE_MAX_PAIRS);
    if (hp->rope_n_ext && hp->rope_n_ext != hp->rope_dims / 2)
        return hive_fail(err, HIVE_E_INVALID, "longrope short_factor/long_factor have %u entries; expected %u (rotary dims / 2)",
                         hp->rope_n_ext, hp->rope_dims / 2);
    return HIVE_OK;
}

int model_find_tensor(const hive_model_files *m, const char *name, hive_tensor_view *out) {
    const model_priv *p = m->priv;
    for (uint32_t i = 0; i < p->n_files; i++)
        if (hive_tf_find(p->files[i], name, out) == HIVE_OK) return 1;
    return 0;
}

/* Expected extents, resolved from hparams. */
enum {
    D_NONE, D_HIDDEN, D_Q, D_KV, D_FFN, D_HEAD, D_VOCAB, D_EXPERTS, D_MOE_FFN, D_SHARED_FFN, D_ONE,
    D_SSM_IN, D_SSM_INNER, D_SSM_CONV, D_SSM_HEADS, D_SSM_KERNEL, D_SSM_GROUPS, D_SSM_GROUP_SIZE,
    D_MLA_Q, D_MLA_QRANK, D_MLA_KVA, D_MLA_KVRANK, D_MLA_KVB, D_MLA_O, D_FFN2, D_HEADS, D_MLA_NOPE, D_MLA_V, D_MOE_FFN2
};
enum {
    NEED_ALWAYS, NEED_BIAS, NEED_QK_NORM,
    NEED_DENSE, /* feed-forward of a layer without experts */
    NEED_GQA    /* q/k/v/o of attention without a latent (MLA binds its own) */
};

typedef struct {
    size_t field;          /* offsetof(hive_layer_tensors, ...) */
    const char *gguf, *hf; /* after "blk.N." / "model.layers.N." */
    int rows, cols;        /* cols == D_NONE: a vector of `rows` */
    int need;
} layer_slot;

static const layer_slot k_layer_slots[] = {
    {offsetof(hive_layer_tensors, attn_norm), "attn_norm.weight", "input_layernorm.weight", D_HIDDEN, D_NONE, NEED_ALWAYS},
    {offsetof(hive_layer_tensors, wq), "attn_q.weight", "self_attn.q_proj.weight", D_Q, D_HIDDEN, NEED_GQA},
    {offsetof(hive_layer_tensors, wk), "attn_k.weight", "self_attn.k_proj.weight", D_KV, D_HIDDEN, NEED_GQA},
    {offsetof(hive_layer_tensors, wv), "attn_v.weight", "self_attn.v_proj.weight", D_KV, D_HIDDEN, NEED_GQA},
    {offsetof(hive_layer_tensors, wo), "attn_output.weight", "self_attn.o_proj.weight", D_HIDDEN, D_Q, NEED_GQA},
    {offsetof(hive_layer_tensors, bq), "attn_q.bias", "self_attn.q_proj.bias", D_Q, D_NONE, NEED_BIAS},
    {offsetof(hive_layer_tensors, bk), "attn_k.bias", "self_attn.k_proj.bias", D_KV, D_NONE, NEED_BIAS},
    {offsetof(hive_layer_tensors, bv), "attn_v.bias", "self_attn.v_proj.bias", D_KV, D_NONE, NEED_BIAS},
    {offsetof(hive_layer_tensors, q_norm), "attn_q_norm.weight", "self_attn.q_norm.weight", D_HEAD, D_NONE, NEED_QK_NORM},
    {offsetof(hive_layer_tensors, k_norm), "attn_k_norm.weight", "self_attn.k_norm.weight", D_HEAD, D_NONE, NEED_QK_NORM},
    {offsetof(hive_layer_tensors, ffn_norm), "ffn_norm.weight", "post_attention_layernorm.weight", D_HIDDEN, D_NONE, NEED_ALWAYS},
    {offsetof(hive_layer_tensors, w_gate), "ffn_gate.weight", "mlp.gate_proj.weight", D_FFN, D_HIDDEN, NEED_DENSE},
    {offsetof(hive_layer_tensors, w_up), "ffn_up.weight", "mlp.up_proj.weight", D_FFN, D_HIDDEN, NEED_DENSE},
    {offsetof(hive_layer_tensors, w_down), "ffn_down.weight", "mlp.down_proj.weight", D_HIDDEN, D_FFN, NEED_DENSE},
};

static int64_t extent(const hive_hparams *hp, int d) {
    switch (d) {
    case D_HIDDEN: return hp->hidden;
    case D_Q: return (int64_t)hp->n_heads * hp->head_dim;
    case D_KV: return (int64_t)hp->n_kv_heads * hp->head_dim;
    case D_FFN: return hp->ffn;
    case D_HEAD: return hp->head_dim;
    case D_VOCAB: return hp->vocab;
    case D_EXPERTS: return hp->n_experts;
    case D_MOE_FFN: return hp->moe_ffn;
    case D_SHARED_FFN: return hp->moe_shared_ffn;
    case D_ONE: return 1;
    case D_SSM_IN: return 2 * (int64_t)hp->ssm_inner + 2 * (int64_t)hp->ssm_groups * hp->ssm_state + hp->ssm_heads;
    case D_SSM_INNER: return hp->ssm_inner;
    case D_SSM_CONV: return hp->ssm_inner + 2 * (int64_t)hp->ssm_groups * hp->ssm_state;
    case D_SSM_HEADS: return hp->ssm_heads;
    case D_SSM_KERNEL: return hp->ssm_conv;
    case D_MLA_Q: return (int64_t)hp->n_heads * (hp->mla_nope + hp->mla_rope);
    case D_MLA_QRANK: return hp->mla_q_rank;
    case D_MLA_KVA: return (int64_t)hp->mla_kv_rank + hp->mla_rope;
    case D_MLA_KVRANK: return hp->mla_kv_rank;
    case D_MLA_KVB: return (int64_t)hp->n_heads * (hp->mla_nope + hp->mla_v);
    case D_MLA_O: return (int64_t)hp->n_heads * hp->mla_v;
    case D_FFN2: return 2 * (int64_t)hp->ffn;
    case D_MOE_FFN2: return 2 * (int64_t)hp->moe_ffn;
    case D_HEADS: return hp->n_heads;
    case D_MLA_NOPE: return hp->mla_nope;
    case D_MLA_V: return hp->mla_v;
    case D_SSM_GROUPS: return hp->ssm_groups;
    case D_SSM_GROUP_SIZE: return hp->ssm_groups ? hp->ssm_inner / hp->ssm_groups : 0;
    default: return 0;
    }
}

static void shape_str(char *buf, size_t cap, const int64_t *shape, uint32_t n) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

typedef struct {
    hive_model_files *m;
    uint64_t n_params, bytes;
} binder;

/* Finds `name`; checks it is a weight dtype with the expected shape. An
 * absent optional tensor leaves *out zeroed. */
static hive_status bind3(binder *b, const char *name, int d0, int rows, int cols, int required, hive_tensor_view *out,
                         hive_error **err) {
    memset(out, 0, sizeof *out);
    hive_tensor_view v;
    if (!model_find_tensor(b->m, name, &v)) {
        if (!required) return HIVE_OK;
        return hive_fail(err, HIVE_E_NOTFOUND, "missing tensor %s (required by %s)", name, b->m->hp.arch_name);
    }
    int64_t want[3] = {extent(&b->m->hp, d0), extent(&b->m->hp, rows), extent(&b->m->hp, cols)};
    uint32_t want_n = d0 != D_NONE ? 3 : cols == D_NONE ? 1 : 2;
    if (d0 == D_NONE) want[0] = want[1], want[1] = want[2];
    int ok = v.n_dims == want_n;
    for (uint32_t i = 0; ok && i < want_n; i++) ok = v.shape[i] == want[i];
    if (!ok) {
        char ws[64], fs[160];
        shape_str(ws, sizeof ws, want, want_n);
        shape_str(fs, sizeof fs, v.shape, v.n_dims);
        return hive_fail(err, HIVE_E_SHAPE, "%s: expected %s, found %s", name, ws, fs);
    }
    if (v.dtype == HIVE_DTYPE_I32 || v.dtype == HIVE_DTYPE_I8)
        return hive_fail(err, HIVE_E_UNSUPPORTED, "%s has dtype %s; weights must be floating point or quantized", name,
                         hive_dtype_name(v.dtype));
    uint64_t elems = 1;
    for (uint32_t i = 0; i < v.n_dims; i++) elems *= (uint64_t)v.shape[i];
    b->n_params += elems;
    b->bytes += v.nbytes;
    *out = v;
    return HIVE_OK;
}

static hive_status bind(binder *b, const char *name, int rows, int cols, int required, hive_tensor_view *out,
                        hive_error **err) {
    return bind3(b, name, D_NONE, rows, cols, required, out, err);
}

static hive_status reject_present(const hive_model_files *m, const char *name, const char *what, hive_error **err) {
    if (model_find_tensor(m, name, NULL))
        return hive_fail(err, HIVE_E_UNSUPPORTED, "%s: %s is not supported by Hive's %s", name, what, m->hp.arch_name);
    return HIVE_OK;
}

/* gate and up of a [gate rows | up rows] matrix, as two views. */
static void split_gate_up(const hive_tensor_view *gu, hive_tensor_view *gate, hive_tensor_view *up) {
    *gate = *up = *gu;
    gate->shape[0] = up->shape[0] = gu->shape[0] / 2;
    gate->nbytes = up->nbytes = gu->nbytes / 2;
    up->data = (const char *)gu->data + gu->nbytes / 2;
}

/* Granite's shared_mlp: input_linear holds gate then up by rows, viewed
 * here as the two matrices; output_linear is down. The dense feed-forward,
 * or (a routed layer) the ungated shared expert beside the experts. */
static hive_status bind_granite_mlp(binder *b, uint32_t l, int routed, hive_error **err) {
    hive_layer_tensors *t = &b->m->layers[l];
    char name[256];
    hive_tensor_view gu;
    snprintf(name, sizeof name, "model.layers.%u.shared_mlp.input_linear.weight", l);
    hive_status st = bind3(b, name, D_NONE, D_FFN2, D_HIDDEN, 1, &gu, err);
    if (st) return st;
    split_gate_up(&gu, routed ? &t->moe_shared_gate : &t->w_gate, routed ? &t->moe_shared_up : &t->w_up);
    snprintf(name, sizeof name, "model.layers.%u.shared_mlp.output_linear.weight", l);
    return bind(b, name, D_HIDDEN, D_FFN, 1, routed ? &t->moe_shared_down : &t->w_down, err);
}

/* Granite's routed experts: block_sparse_moe.router.layer [experts, hidden],
 * input_linear [experts, 2 x ffn, hidden] (each expert's gate rows, then up
 * rows) and output_linear [experts, hidden, ffn], viewed per expert. */
static hive_status bind_granite_experts(binder *b, uint32_t l, hive_error **err) {
    hive_model_files *m = b->m;
    hive_layer_tensors *t = &m->layers[l];
    uint32_t E = m->hp.n_experts;
    char name[256];
    hive_tensor_view in, out;
    snprintf(name, sizeof name, "model.layers.%u.block_sparse_moe.router.layer.weight", l);
    hive_status st = bind(b, name, D_EXPERTS, D_HIDDEN, 1, &t->moe_router, err);
    snprintf(name, sizeof name, "model.layers.%u.block_sparse_moe.input_linear.weight", l);
    if (!st) st = bind3(b, name, D_EXPERTS, D_MOE_FFN2, D_HIDDEN, 1, &in, err);
    snprintf(name, sizeof name, "model.layers.%u.block_sparse_moe.output_linear.weight", l);
    if (!st) st = bind3(b, name, D_EXPERTS, D_HIDDEN, D_MOE_FFN, 1, &out, err);
    for (uint32_t e = 0; !st && e < E; e++) {
        hive_tensor_view gu = in, *down = &t->moe_down[e];
        gu.n_dims = 2, gu.shape[0] = in.shape[1], gu.shape[1] = in.shape[2], gu.nbytes = in.nbytes / E;
        gu.data = (const char *)in.data + (uint64_t)e * gu.nbytes;
        split_gate_up(&gu, &t->moe_gate[e], &t->moe_up[e]);
        *down = out;
        down->n_dims = 2, down->shape[0] = out.shape[1], down->shape[1] = out.shape[2], down->nbytes = out.nbytes / E;
        down->data = (const char *)out.data + (uint64_t)e * down->nbytes;
    }
    return st;
}

/* DeepSeek-V2's latent attention: q_proj, or the query latent q_a_proj /
 * q_a_layernorm / q_b_proj; kv_a_proj_with_mqa, kv_a_layernorm; kv_b_proj
 * (Hugging Face) or llama.cpp's per-head split attn_k_b [heads, kv rank,
 * nope] (W_kb transposed) and attn_v_b [heads, v, kv rank]; o_proj. */
static hive_status bind_mla(binder *b, uint32_t l, hive_error **err) {
    hive_model_files *m = b->m;
    hive_layer_tensors *t = &m->layers[l];
    const int qlat = m->hp.mla_q_rank > 0, gguf = m->is_gguf;
    const struct {
        hive_tensor_view *dst;
        const char *hf, *gguf;
        int d0, rows, cols, need;
    } k[] = {
        {&t->wq, "self_attn.q_proj.weight", "attn_q.weight", D_NONE, D_MLA_Q, D_HIDDEN, !qlat},
        {&t->mla_q_a, "self_attn.q_a_proj.weight", "attn_q_a.weight", D_NONE, D_MLA_QRANK, D_HIDDEN, qlat},
        {&t->mla_q_a_norm, "self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight", D_NONE, D_MLA_QRANK, D_NONE, qlat},
        {&t->mla_q_b, "self_attn.q_b_proj.weight", "attn_q_b.weight", D_NONE, D_MLA_Q, D_MLA_QRANK, qlat},
        {&t->mla_kv_a, "self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight", D_NONE, D_MLA_KVA, D_HIDDEN, 1},
        {&t->mla_kv_a_norm, "self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight", D_NONE, D_MLA_KVRANK, D_NONE, 1},
        {&t->mla_kv_b, "self_attn.kv_b_proj.weight", NULL, D_NONE, D_MLA_KVB, D_MLA_KVRANK, !gguf},
        {&t->mla_k_b, NULL, "attn_k_b.weight", D_HEADS, D_MLA_KVRANK, D_MLA_NOPE, gguf},
        {&t->mla_v_b, NULL, "attn_v_b.weight", D_HEADS, D_MLA_V, D_MLA_KVRANK, gguf},
        {&t->wo, "self_attn.o_proj.weight", "attn_output.weight", D_NONE, D_HIDDEN, D_MLA_O, 1},
    };
    char name[256];
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (!k[i].need) continue;
        snprintf(name, sizeof name, gguf ? "blk.%u.%s" : "model.layers.%u.%s", l, gguf ? k[i].gguf : k[i].hf);
        hive_status st = bind3(b, name, k[i].d0, k[i].rows, k[i].cols, 1, k[i].dst, err);
        if (st) return st;
    }
    return HIVE_OK;
}

/* The shared expert: a SwiGLU every row runs; Qwen2-MoE's scaled by
 * sigmoid(gate_inp . x), DeepSeek-V2's (mlp.shared_experts) unscaled. The gate input is [1, hidden] (or a [hidden]
 * vector, which llama.cpp also accepts). */
static hive_status bind_shared_expert(binder *b, uint32_t l, hive_error **err) {
    hive_model_files *m = b->m;
    hive_layer_tensors *t = &m->layers[l];
    static const struct {
        size_t field;
        const char *gguf, *hf;
        int rows, cols;
    } k[] = {
        {offsetof(hive_layer_tensors, moe_shared_gate), "ffn_gate_shexp", "mlp.shared_expert.gate_proj", D_SHARED_FFN, D_HIDDEN},
        {offsetof(hive_layer_tensors, moe_shared_up), "ffn_up_shexp", "mlp.shared_expert.up_proj", D_SHARED_FFN, D_HIDDEN},
        {offsetof(hive_layer_tensors, moe_shared_down), "ffn_down_shexp", "mlp.shared_expert.down_proj", D_HIDDEN, D_SHARED_FFN},
        {offsetof(hive_layer_tensors, moe_shared_gate_inp), "ffn_gate_inp_shexp", "mlp.shared_expert_gate", D_ONE, D_HIDDEN},
    };
    char name[256], hf[64];
    int deepseek = m->hp.arch == HIVE_ARCH_DEEPSEEK2; /* mlp.shared_experts.*, no gate */
    int ungated = deepseek || m->hp.arch == HIVE_ARCH_GRANITE_HYBRID; /* Granite's GGUF: its shared MLP */
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        hive_tensor_view *dst = (hive_tensor_view *)((char *)t + k[i].field);
        if (ungated && k[i].rows == D_ONE) continue;
        snprintf(hf, sizeof hf, "%s%s", deepseek ? "mlp.shared_experts." : "", deepseek ? k[i].hf + strlen("mlp.shared_expert.") : k[i].hf);
        snprintf(name, sizeof name, m->is_gguf ? "blk.%u.%s.weight" : "model.layers.%u.%s.weight", l,
                 m->is_gguf ? k[i].gguf : hf);
        hive_tensor_view v;
        int vector = k[i].rows == D_ONE && model_find_tensor(m, name, &v) && v.n_dims == 1; /* [hidden] */
        hive_status st = vector ? bind(b, name, D_HIDDEN, D_NONE, 1, dst, err) : bind(b, name, k[i].rows, k[i].cols, 1, dst, err);
        if (st) return st;
        if (vector) dst->n_dims = 2, dst->shape[0] = 1, dst->shape[1] = m->hp.hidden;
    }
    return HIVE_OK;
}

/* A mixture-of-experts layer's router and experts. Hugging Face keeps one
 * matrix per expert (mlp.experts.E.gate_proj.weight); llama.cpp stacks them
 * in one [experts, rows, cols] tensor per projection, split here into views. */
static hive_status bind_moe(binder *b, uint32_t l, hive_error **err) {
    hive_model_files *m = b->m;
    hive_layer_tensors *t = &m->layers[l];
    uint32_t E = m->hp.n_experts;
    char name[256];
    hive_status st;
    hive_tensor_view **each[3] = {&t->moe_gate, &t->moe_up, &t->moe_down};
    static const int rows[3] = {D_MOE_FFN, D_MOE_FFN, D_HIDDEN}, cols[3] = {D_HIDDEN, D_HIDDEN, D_MOE_FFN};
    model_priv *p = m->priv;
    if (!(p->expert_views[l] = calloc(3 * (size_t)E, sizeof **p->expert_views)))
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (int k = 0; k < 3; k++) *each[k] = p->expert_views[l] + (size_t)k * E;
    if (m->hp.arch == HIVE_ARCH_GRANITE_HYBRID && !m->is_gguf) return bind_granite_experts(b, l, err);
    snprintf(name, sizeof name, m->is_gguf ? "blk.%u.ffn_gate_inp.weight" : "model.layers.%u.mlp.gate.weight", l);
    if ((st = bind(b, name, D_EXPERTS, D_HIDDEN, 1, &t->moe_router, err))) return st;
    if (m->hp.moe_shared_ffn && (st = bind_shared_expert(b, l, err))) return st;
    if (m->is_gguf) {
        static const char *const stacked[3] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
        for (int k = 0; k < 3; k++) {
            hive_tensor_view all;
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, stacked[k]);
            if ((st = bind3(b, name, D_EXPERTS, rows[k], cols[k], 1, &all, err))) return st;
            for (uint32_t e = 0; e < E; e++) {
                hive_tensor_view *v = &(*each[k])[e];
                *v = all;
                v->n_dims = 2, v->shape[0] = all.shape[1], v->shape[1] = all.shape[2];
                v->nbytes = all.nbytes / E;
                v->data = (const char *)all.data + (uint64_t)e * v->nbytes;
            }
        }
        return HIVE_OK;
    }
    static const char *const proj[3] = {"gate_proj", "up_proj", "down_proj"};
    for (uint32_t e = 0; e < E; e++)
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "model.layers.%u.mlp.experts.%u.%s.weight", l, e, proj[k]);
            if ((st = bind(b, name, rows[k], cols[k], 1, &(*each[k])[e], err))) return st;
        }
    return HIVE_OK;
}

/* Does layer l route to experts? HF: the config says (checked against the
 * file); GGUF: the router tensor's presence does. */
static hive_status layer_is_moe(const hive_model_files *m, uint32_t l, int *moe, hive_error **err) {
    const model_priv *p = m->priv;
    char router[96];
    snprintf(router, sizeof router,
             m->is_gguf                                    ? "blk.%u.ffn_gate_inp.weight"
             : m->hp.arch == HIVE_ARCH_GRANITE_HYBRID ? "model.layers.%u.block_sparse_moe.router.layer.weight"
                                                            : "model.layers.%u.mlp.gate.weight",
             l);
    int has_router = m->hp.n_experts && model_find_tensor(m, router, NULL);
    *moe = m->is_gguf ? has_router : p->moe_layer && p->moe_layer[l];
    if (!m->is_gguf && !*moe && has_router)
        return hive_fail(err, HIVE_E_INVALID,
                         "%s is present but config.json (mlp_only_layers, decoder_sparse_step) makes layer %u dense",
                         router, l);
    return HIVE_OK;
}

static hive_status bind_ssm_layer(binder *b, uint32_t l, hive_error **err);

static hive_status bind_layer(binder *b, uint32_t l, hive_error **err) {
    hive_model_files *m = b->m;
    const char *prefix = m->is_gguf ? "blk.%u.%s" : "model.layers.%u.%s";
    char name[256];
    int moe = 0;
    const model_priv *pv = m->priv;
    /* a hybrid's Mamba2 layers: config.json's layer_types, or (GGUF) their tensors */
    char ssm_in[64];
    snprintf(ssm_in, sizeof ssm_in, "blk.%u.ssm_in.weight", l);
    int ssm = pv->ssm_layer ? pv->ssm_layer[l] : m->is_gguf && m->hp.ssm_heads && model_find_tensor(m, ssm_in, NULL);
    int granite = m->hp.arch == HIVE_ARCH_GRANITE_HYBRID && !m->is_gguf; /* HF: shared_mlp names */
    hive_status st = layer_is_moe(m, l, &moe, err);
    if (st || (moe && (st = bind_moe(b, l, err)))) return st;
    for (size_t s = 0; s < sizeof k_layer_slots / sizeof k_layer_slots[0]; s++) {
        const layer_slot *sl = &k_layer_slots[s];
        int need = sl->need == NEED_ALWAYS || (sl->need == NEED_BIAS && m->hp.qkv_bias) ||
                   (sl->need == NEED_QK_NORM && m->hp.qk_norm && !ssm) ||
                   (sl->need == NEED_DENSE && !moe && !granite) || (sl->need == NEED_GQA && !m->hp.mla_kv_rank && !ssm);
        hive_tensor_view *dst = (hive_tensor_view *)((char *)&m->layers[l] + sl->field);
        if (!need) { /* unused by this model: stays absent (data == NULL) */
            memset(dst, 0, sizeof *dst);
            continue;
        }
        snprintf(name, sizeof name, prefix, l, m->is_gguf ? sl->gguf : sl->hf);
        if ((st = bind(b, name, sl->rows, sl->cols, 1, dst, err))) return st;
    }
    /* after the slots, which clear the views these fill */
    if (m->hp.mla_kv_rank && (st = bind_mla(b, l, err))) return st;
    if (ssm && (st = bind_ssm_layer(b, l, err))) return st;
    if (granite && (st = bind_granite_mlp(b, l, moe, err))) return st;
    snprintf(name, sizeof name, prefix, l, m->is_gguf ? "attn_output.bias" : "self_attn.o_proj.bias");
    return reject_present(m, name, "an attention output bias", err);
}

/* A Mamba2 layer: the block's norm and its mixer. Hugging Face names and
 * shapes, or llama.cpp's: conv1d squeezed to [C, K], A and D as [H, 1], the
 * gated norm as [groups, inner / groups], and A stored as -exp(A_log)
 * (hp.ssm_a_stored). */
static hive_status bind_ssm_layer(binder *b, uint32_t l, hive_error **err) {
    hive_layer_tensors *t = &b->m->layers[l];
    int gguf = b->m->is_gguf;
    /* Mamba2ForCausalLM: backbone.layers.N.{norm, mixer.*}; a hybrid (Granite):
     * model.layers.N.mamba.*, its norm bound with the attention layers' */
    int hybrid = b->m->hp.arch != HIVE_ARCH_MAMBA2;
    static const struct {
        size_t field;
        const char *hf, *gguf;
        int d0, rows, cols;        /* Hugging Face */
        int g0, grows, gcols;      /* GGUF */
        int required;
    } k[] = {
        {offsetof(hive_layer_tensors, attn_norm), "", "attn_norm.weight", D_NONE, D_HIDDEN, D_NONE, D_NONE, D_HIDDEN, D_NONE,
         1},
        {offsetof(hive_layer_tensors, ssm_in), "in_proj.weight", "ssm_in.weight", D_NONE, D_SSM_IN, D_HIDDEN, D_NONE,
         D_SSM_IN, D_HIDDEN, 1},
        {offsetof(hive_layer_tensors, ssm_conv_w), "conv1d.weight", "ssm_conv1d.weight", D_SSM_CONV, D_ONE,
         D_SSM_KERNEL, D_NONE, D_SSM_CONV, D_SSM_KERNEL, 1},
        {offsetof(hive_layer_tensors, ssm_conv_b), "conv1d.bias", "ssm_conv1d.bias", D_NONE, D_SSM_CONV, D_NONE,
         D_NONE, D_SSM_CONV, D_NONE, 0},
        {offsetof(hive_layer_tensors, ssm_dt_bias), "dt_bias", "ssm_dt.bias", D_NONE, D_SSM_HEADS, D_NONE, D_NONE,
         D_SSM_HEADS, D_NONE, 1},
        {offsetof(hive_layer_tensors, ssm_A_log), "A_log", "ssm_a", D_NONE, D_SSM_HEADS, D_NONE, D_NONE, D_SSM_HEADS,
         D_ONE, 1},
        {offsetof(hive_layer_tensors, ssm_D), "D", "ssm_d", D_NONE, D_SSM_HEADS, D_NONE, D_NONE, D_SSM_HEADS, D_ONE, 1},
        {offsetof(hive_layer_tensors, ssm_norm), "norm.weight", "ssm_norm.weight", D_NONE, D_SSM_INNER, D_NONE, D_NONE,
         D_SSM_GROUPS, D_SSM_GROUP_SIZE, 1},
        {offsetof(hive_layer_tensors, ssm_out), "out_proj.weight", "ssm_out.weight", D_NONE, D_HIDDEN, D_SSM_INNER,
         D_NONE, D_HIDDEN, D_SSM_INNER, 1},
    };
    char name[256], prefix[64];
    snprintf(prefix, sizeof prefix, hybrid ? "model.layers.%u.mamba." : "backbone.layers.%u.mixer.", l);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        int norm = !k[i].hf[0];
        if (norm && hybrid) continue;
        if (gguf) snprintf(name, sizeof name, "blk.%u.%s", l, k[i].gguf);
        else if (norm) snprintf(name, sizeof name, "backbone.layers.%u.norm.weight", l);
        else snprintf(name, sizeof name, "%s%s", prefix, k[i].hf);
        hive_status st = gguf ? bind3(b, name, k[i].g0, k[i].grows, k[i].gcols, k[i].required,
                                      (hive_tensor_view *)((char *)t + k[i].field), err)
                              : bind3(b, name, k[i].d0, k[i].rows, k[i].cols, k[i].required,
                                      (hive_tensor_view *)((char *)t + k[i].field), err);
        if (st) return st;
    }
    if (gguf) snprintf(name, sizeof name, "blk.%u.ssm_in.bias", l);
    else snprintf(name, sizeof name, "%sin_proj.bias", prefix);
    return reject_present(b->m, name, "an in_proj bias", err);
}

/* Mamba2ForCausalLM (or llama.cpp's mamba2): embeddings, Mamba2 layers,
 * final norm, head. */
static hive_status bind_ssm_model(binder *b, hive_error **err) {
    hive_model_files *m = b->m;
    hive_hparams *hp = &m->hp;
    const char *embd = m->is_gguf ? "token_embd.weight" : "backbone.embeddings.weight";
    const char *norm = m->is_gguf ? "output_norm.weight" : "backbone.norm_f.weight";
    const char *head = m->is_gguf ? "output.weight" : "lm_head.weight";
    hp->ssm_a_stored = m->is_gguf;
    if (!hp->vocab) {
        hive_tensor_view v;
        if (model_find_tensor(m, embd, &v) && v.n_dims == 2 && v.shape[0] > 0 && v.shape[0] <= UINT32_MAX)
            hp->vocab = (uint32_t)v.shape[0];
    }
    if (!hp->tied_embeddings) hp->tied_embeddings = !model_find_tensor(m, head, NULL);
    hive_status st = bind(b, embd, D_VOCAB, D_HIDDEN, 1, &m->tok_embd, err);
    if (!st) st = bind(b, norm, D_HIDDEN, D_NONE, 1, &m->output_norm, err);
    if (!st && hp->tied_embeddings) m->output = m->tok_embd;
    else if (!st) st = bind(b, head, D_VOCAB, D_HIDDEN, 1, &m->output, err);
    for (uint32_t l = 0; !st && l < hp->n_layers; l++) st = bind_ssm_layer(b, l, err);
    if (st) return st;
    m->n_params = b->n_params;
    m->weight_bytes = b->bytes;
    return HIVE_OK;
}

hive_status model_bind_tensors(hive_model_files *m, hive_error **err) {
    hive_hparams *hp = &m->hp;
    if (hp->arch == HIVE_ARCH_MAMBA2) {
        binder sb = {m, 0, 0};
        return bind_ssm_model(&sb, err);
    }
    if (hp->arch == HIVE_ARCH_BLAZR) return model_blazr_bind(m, err); /* blazr.c */
    const model_priv *p = m->priv;
    binder b = {m, 0, 0};
    const char *embd = m->is_gguf ? "token_embd.weight" : "model.embed_tokens.weight";
    const char *norm = m->is_gguf ? "output_norm.weight" : "model.norm.weight";
    const char *head = m->is_gguf ? "output.weight" : "lm_head.weight";
    const char *q_bias0 = m->is_gguf ? "blk.0.attn_q.bias" : "model.layers.0.self_attn.q_proj.bias";
    const char *q_norm0 = m->is_gguf ? "blk.0.attn_q_norm.weight" : "model.layers.0.self_attn.q_norm.weight";

    if (!hp->vocab) { /* neither metadata nor config said: trust the embedding */
        hive_tensor_view v;
        if (model_find_tensor(m, embd, &v) && v.n_dims == 2 && v.shape[0] > 0 && v.shape[0] <= UINT32_MAX)
            hp->vocab = (uint32_t)v.shape[0];
    }
    hp->qkv_bias = hp->arch == HIVE_ARCH_QWEN2 || hp->arch == HIVE_ARCH_QWEN2_MOE || p->hf_attention_bias ||
                   model_find_tensor(m, q_bias0, NULL);
    hp->qk_norm = hp->arch == HIVE_ARCH_QWEN3 || hp->arch == HIVE_ARCH_QWEN3_MOE || model_find_tensor(m, q_norm0, NULL);
    if (!m->is_gguf && hp->tied_embeddings) {
        /* config says tied: an lm_head in the file is a duplicate */
    } else {
        hp->tied_embeddings = !model_find_tensor(m, head, NULL);
    }

    hive_status st = bind(&b, embd, D_VOCAB, D_HIDDEN, 1, &m->tok_embd, err);
    if (!st) st = bind(&b, norm, D_HIDDEN, D_NONE, 1, &m->output_norm, err);
    if (!st) {
        if (hp->tied_embeddings)
            m->output = m->tok_embd;
        else
            st = bind(&b, head, D_VOCAB, D_HIDDEN, 1, &m->output, err);
    }
    if (!st && hp->n_experts) {
        model_priv *pw = m->priv;
        pw->expert_views = calloc(hp->n_layers, sizeof *pw->expert_views);
        if (!pw->expert_views) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    hp->ssm_a_stored = m->is_gguf; /* llama.cpp's converter stores A = -exp(A_log) */
    for (uint32_t l = 0; !st && l < hp->n_layers; l++) st = bind_layer(&b, l, err);
    if (st) return st;
    hp->n_attn_layers = hp->n_layers;
    for (uint32_t l = 0; l < hp->n_layers; l++) hp->n_attn_layers -= m->layers[l].ssm_in.data != NULL;
    m->n_params = b.n_params;
    m->weight_bytes = b.bytes;
    HLOG_DEBUG("%s: %s, %u layers, %llu parameters, %llu weight bytes", m->path, hp->arch_name, hp->n_layers,
               (unsigned long long)b.n_params, (unsigned long long)b.bytes);
    return HIVE_OK;
}
