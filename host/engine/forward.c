/* The forward pass, top to bottom, as calls into the backend kernel table.
 * llama, qwen2 (q/k/v bias), qwen3 (per-head q/k RMSNorm), qwen3_moe and
 * qwen2_moe (routed experts in place of some feed-forwards; qwen2_moe adds a
 * shared expert) share it. Each layer is
 * attention, then its feed-forward: dense (ffn_block) or experts (moe_block). */
#include <math.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "util/error.h"

#define TRY(call)                              \
    do {                                       \
        hive_status st_ = (call);              \
        if (st_ != HIVE_OK) return st_;        \
    } while (0)

static hive_status attention_block(hive_engine *e, uint32_t l, uint32_t n, const hive_batch *batch, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    layer_weights *w = &e->layers[l];
    activations *a = &e->act;
    uint32_t qd = hp->n_heads * hp->head_dim, kvd = hp->n_kv_heads * hp->head_dim;
    hive_tensor x = hive_t(a->x, 0, n, hp->hidden), h = hive_t(a->h, 0, n, hp->hidden);
    hive_tensor att = hive_t(a->att, 0, n, qd);
    /* rows of [q | k | v] in one buffer (column views), unless a per-head norm
     * needs q and k contiguous (then three buffers, three matmuls) */
    hive_tensor qkv = hive_t(a->q, 0, n, qd + 2 * kvd);
    hive_tensor q = hive_cols(&qkv, 0, qd), k = hive_cols(&qkv, qd, kvd), v = hive_cols(&qkv, qd + kvd, kvd);
    if (a->k) q = hive_t(a->q, 0, n, qd), k = hive_t(a->k, 0, n, kvd), v = hive_t(a->v, 0, n, kvd);

    TRY(e->be->op_rmsnorm(e->dev, &x, w->attn_norm, hp->rms_eps, &h, err));
    if (w->wqkv) {
        static const uint32_t qkv_modules[3] = {HIVE_MODULE_Q, HIVE_MODULE_K, HIVE_MODULE_V};
        TRY(hive_engine_linear_group(e, l, qkv_modules, 3, &h, w->wqkv, w->bqkv, &qkv, err));
    } else {
        TRY(hive_engine_linear(e, l, HIVE_MODULE_Q, &h, w->wq, w->bq, &q, 0, err));
        TRY(hive_engine_linear(e, l, HIVE_MODULE_K, &h, w->wk, w->bk, &k, 0, err));
        TRY(hive_engine_linear(e, l, HIVE_MODULE_V, &h, w->wv, w->bv, &v, 0, err));
    }
    if (w->q_norm) { /* qwen3: RMSNorm over each head */
        hive_tensor qh = hive_t(a->q, 0, (int64_t)n * hp->n_heads, hp->head_dim);
        hive_tensor kh = hive_t(a->k, 0, (int64_t)n * hp->n_kv_heads, hp->head_dim);
        TRY(e->be->op_rmsnorm(e->dev, &qh, w->q_norm, hp->rms_eps, &qh, err));
        TRY(e->be->op_rmsnorm(e->dev, &kh, w->k_norm, hp->rms_eps, &kh, err));
    }
    TRY(hive_engine_rope(e, &q, hp->n_heads, batch, err));
    TRY(hive_engine_rope(e, &k, hp->n_kv_heads, batch, err));
    TRY(e->be->op_kv_store(e->dev, e->kv, e->kv_layer[l], &k, &v, batch, err));
    if (e->sp_capture) TRY(hive_engine_soft_prompt_capture(e, e->kv_layer[l], &k, &v, err)); /* soft_prompt.c */
    float scale = hp->attn_scale > 0 ? hp->attn_scale : 1.0f / sqrtf((float)hp->head_dim); /* Granite sets its own */
    TRY(e->be->op_attention(e->dev, e->kv, e->kv_layer[l], &q, hp->n_heads, scale, batch, &att, err));
    return hive_engine_linear(e, l, HIVE_MODULE_O, &att, w->wo, NULL, &x, 1, err); /* x += att @ wo^T */
}

static hive_status ffn_block(hive_engine *e, uint32_t l, uint32_t n, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    layer_weights *w = &e->layers[l];
    activations *a = &e->act;
    hive_tensor x = hive_t(a->x, 0, n, hp->hidden), h = hive_t(a->h, 0, n, hp->hidden);
    /* rows of [gate | up] in one buffer: one matmul when the weights are stacked */
    hive_tensor gu = hive_t(a->gate, 0, n, 2 * (int64_t)hp->ffn);
    hive_tensor g = hive_cols(&gu, 0, hp->ffn), u = hive_cols(&gu, hp->ffn, hp->ffn);

    TRY(e->be->op_rmsnorm(e->dev, &x, w->ffn_norm, hp->rms_eps, &h, err));
    if (hp->arch == HIVE_ARCH_GRANITE_HYBRID) { /* shared_mlp: input_linear is [gate | up] as one linear */
        TRY(hive_engine_linear(e, l, HIVE_XMOD_SHMLP_IN, &h, w->w_gate_up, NULL, &gu, 0, err));
        TRY(e->be->op_swiglu(e->dev, &g, &u, &g, err));
        return hive_engine_linear(e, l, HIVE_XMOD_SHMLP_OUT, &g, w->w_down, NULL, &x, 1, err);
    }
    if (w->w_gate_up) {
        static const uint32_t gu_modules[2] = {HIVE_MODULE_GATE, HIVE_MODULE_UP};
        TRY(hive_engine_linear_group(e, l, gu_modules, 2, &h, w->w_gate_up, NULL, &gu, err));
    } else {
        TRY(hive_engine_linear(e, l, HIVE_MODULE_GATE, &h, w->w_gate, NULL, &g, 0, err));
        TRY(hive_engine_linear(e, l, HIVE_MODULE_UP, &h, w->w_up, NULL, &u, 0, err));
    }
    TRY(e->be->op_swiglu(e->dev, &g, &u, &g, err));
    return hive_engine_linear(e, l, HIVE_MODULE_DOWN, &g, w->w_down, NULL, &x, 1, err); /* x += swiglu @ down^T */
}

/* Router probabilities -> each row's top-k experts and weights, grouped by
 * expert, as transformers' Qwen3MoeTopKRouter / DeepseekV2TopkRouter:
 * softmax over all experts, the k largest (ties: lower index; with groups,
 * only among the topk_groups groups of the highest best score), optionally
 * renormalised, times the routed scale. */
/* Group-limited routing: zero the experts outside the topk_groups groups
 * whose best probability is highest (groups tie toward the lower index). */
static void mask_groups(const hive_hparams *hp, float *p) {
    uint32_t G = hp->moe_groups, per = hp->n_experts / G;
    float best[G];
    uint8_t keep[G];
    for (uint32_t g = 0; g < G; g++) {
        best[g] = p[g * per], keep[g] = 0;
        for (uint32_t x = 1; x < per; x++) best[g] = p[g * per + x] > best[g] ? p[g * per + x] : best[g];
    }
    for (uint32_t k = 0; k < hp->moe_topk_groups; k++) {
        uint32_t pick = G;
        for (uint32_t g = 0; g < G; g++)
            if (!keep[g] && (pick == G || best[g] > best[pick])) pick = g;
        keep[pick] = 1;
    }
    for (uint32_t g = 0; g < G; g++)
        if (!keep[g]) memset(p + g * per, 0, per * sizeof *p);
}

static void moe_route(hive_engine *e, uint32_t n) {
    const hive_hparams *hp = &e->hp;
    moe_scratch *m = &e->moe;
    uint32_t E = hp->n_experts, K = hp->n_experts_used, R = e->opts.max_rows;
    memset(m->count, 0, E * sizeof *m->count);
    for (uint32_t r = 0; r < n; r++) {
        float *p = m->probs + (uint64_t)r * E, mx = p[0], sum = 0;
        for (uint32_t x = 1; x < E; x++) mx = p[x] > mx ? p[x] : mx;
        for (uint32_t x = 0; x < E; x++) sum += p[x] = expf(p[x] - mx);
        for (uint32_t x = 0; x < E; x++) p[x] /= sum;
        if (hp->moe_groups) mask_groups(hp, p);
        uint32_t pick[K];
        float w[K], wsum = 0;
        for (uint32_t k = 0; k < K; k++) { /* K is small: selection, not a sort */
            uint32_t best = E;
            for (uint32_t x = 0; x < E; x++) {
                int taken = 0;
                for (uint32_t j = 0; j < k; j++) taken |= pick[j] == x;
                if (!taken && (best == E || p[x] > p[best])) best = x;
            }
            pick[k] = best, w[k] = p[best], wsum += p[best];
        }
        for (uint32_t k = 0; k < K; k++) {
            uint32_t x = pick[k], i = m->count[x]++;
            m->rows[(uint64_t)x * R + i] = (int32_t)r;
            /* Granite scales the whole feed-forward branch by its residual multiplier */
            m->weights[(uint64_t)x * R + i] = (hp->moe_norm_topk ? w[k] / wsum : w[k]) * (hp->moe_scale > 0 ? hp->moe_scale : 1.0f) *
                                              (hp->residual_mult > 0 ? hp->residual_mult : 1.0f);
        }
    }
}

/* SwiGLU of the n rows of in through a stacked [gate | up] weight (ffn wide)
 * and down, into out. */
static hive_status swiglu_mlp(hive_engine *e, const hive_tensor *in, hive_weight *gate_up, hive_weight *down,
                              uint32_t ffn, const hive_tensor *out, hive_error **err) {
    hive_tensor gu = hive_t(e->act.gate, 0, in->rows, 2 * (int64_t)ffn);
    hive_tensor g = hive_cols(&gu, 0, ffn), u = hive_cols(&gu, ffn, ffn);
    TRY(e->be->op_matmul(e->dev, in, gate_up, NULL, 1.0f, 0.0f, &gu, err));
    TRY(e->be->op_swiglu(e->dev, &g, &u, &g, err));
    return e->be->op_matmul(e->dev, &g, down, NULL, 1.0f, 0.0f, out, err);
}

/* The shared expert: every row, scaled by sigmoid(gate_inp . h) (Qwen2-MoE),
 * by 1 (DeepSeek-V2, no gate) or by the residual multiplier (Granite's
 * shared MLP beside its routed experts). */
static hive_status shared_expert(hive_engine *e, uint32_t l, const hive_tensor *h, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    layer_weights *w = &e->layers[l];
    activations *a = &e->act;
    uint32_t n = (uint32_t)h->rows;
    hive_tensor x = hive_t(a->x, 0, n, hp->hidden), y = hive_t(a->moe_y, 0, n, hp->hidden);
    hive_tensor gate = hive_t(a->moe_logits, 0, n, 1);
    float *scale = e->moe.probs;
    /* the three linears take adapters' hooks (LoRA on mlp.shared_expert.*) */
    uint32_t F = hp->moe_shared_ffn;
    hive_tensor gu = hive_t(a->gate, 0, n, 2 * (int64_t)F);
    hive_tensor g = hive_cols(&gu, 0, F), u = hive_cols(&gu, F, F);
    static const uint32_t gu_modules[2] = {HIVE_XMOD_SHEXP_GATE, HIVE_XMOD_SHEXP_UP};
    const int granite = hp->arch == HIVE_ARCH_GRANITE_HYBRID; /* its shared_mlp: one [gate | up] linear */
    if (granite) TRY(hive_engine_linear(e, l, HIVE_XMOD_SHMLP_IN, h, w->moe_shared_gate_up, NULL, &gu, 0, err));
    else TRY(hive_engine_linear_group(e, l, gu_modules, 2, h, w->moe_shared_gate_up, NULL, &gu, err));
    TRY(e->be->op_swiglu(e->dev, &g, &u, &g, err));
    /* ungated (DeepSeek-V2, Granite): straight onto the residual, times Granite's multiplier */
    if (!w->moe_shared_gate_inp)
        return hive_engine_linear(e, l, granite ? HIVE_XMOD_SHMLP_OUT : HIVE_XMOD_SHEXP_DOWN, &g, w->moe_shared_down,
                                  NULL, &x, 1, err);
    TRY(hive_engine_linear(e, l, HIVE_XMOD_SHEXP_DOWN, &g, w->moe_shared_down, NULL, &y, 0, err));
    TRY(e->be->op_matmul(e->dev, h, w->moe_shared_gate_inp, NULL, 1.0f, 0.0f, &gate, err));
    TRY(e->be->buffer_download(e->dev, a->moe_logits, 0, scale, (uint64_t)n * sizeof(float), err));
    for (uint32_t r = 0; r < n; r++) scale[r] = 1.0f / (1.0f + expf(-scale[r]));
    return e->be->op_add_rows_scaled(e->dev, &y, e->identity, scale, &x, err);
}

/* One expert over its gathered rows (ascending batch rows) when an adapter
 * hooks one of its modules (a gate_up_proj / down_proj slice, or blazr's
 * gate_proj, up_proj, down_proj): the batch's segments narrowed to those rows
 * (each stays consecutive among them) stand in for the hooks. */
static hive_status expert_mlp_hooked(hive_engine *e, uint32_t l, uint32_t ex, const int32_t *rows, const hive_tensor *xe,
                                     const hive_tensor *ye, hive_error **err) {
    const layer_weights *w = &e->layers[l];
    uint32_t F = e->hp.moe_ffn, k = (uint32_t)xe->rows, n = 0, i = 0;
    for (uint32_t s = 0; s < e->n_segs && i < k; s++) {
        uint32_t start = i, end = e->segs[s].row0 + e->segs[s].n;
        while (i < k && (uint32_t)rows[i] < end) i++;
        if (i > start) e->expert_segs[n++] = (segment){start, i - start, e->segs[s].set};
    }
    segment *batch_segs = e->segs;
    uint32_t batch_n = e->n_segs;
    e->segs = e->expert_segs, e->n_segs = n;
    hive_tensor gu = hive_t(e->act.gate, 0, k, 2 * (int64_t)F);
    hive_tensor g = hive_cols(&gu, 0, F), u = hive_cols(&gu, F, F);
    const uint32_t gu_modules[2] = {hive_xmod_expert(e, ex, HIVE_EXPERT_GATE), hive_xmod_expert(e, ex, HIVE_EXPERT_UP)};
    const int fused = e->exp_per == 2; /* [gate | up] one parameter; else two linears stacked here */
    hive_status st = fused ? hive_engine_linear(e, l, gu_modules[0], xe, w->moe_gate_up[ex], NULL, &gu, 0, err)
                           : hive_engine_linear_group(e, l, gu_modules, 2, xe, w->moe_gate_up[ex], NULL, &gu, err);
    if (st == HIVE_OK) st = e->be->op_swiglu(e->dev, &g, &u, &g, err);
    if (st == HIVE_OK)
        st = hive_engine_linear(e, l, hive_xmod_expert(e, ex, e->exp_per - 1), &g, w->moe_down[ex], NULL, ye, 0, err);
    e->segs = batch_segs, e->n_segs = batch_n;
    return st;
}

/* Mixture of experts: route each row on the host, then per expert gather its
 * rows, run SwiGLU over them and add them back weighted: x += sum_k w_k E_k(h),
 * plus a shared expert where the model has one. */
static hive_status moe_block(hive_engine *e, uint32_t l, uint32_t n, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    layer_weights *w = &e->layers[l];
    activations *a = &e->act;
    moe_scratch *m = &e->moe;
    uint32_t E = hp->n_experts, F = hp->moe_ffn, R = e->opts.max_rows;
    hive_tensor x = hive_t(a->x, 0, n, hp->hidden), h = hive_t(a->h, 0, n, hp->hidden);
    hive_tensor logits = hive_t(a->moe_logits, 0, n, E);

    TRY(e->be->op_rmsnorm(e->dev, &x, w->ffn_norm, hp->rms_eps, &h, err));
    TRY(e->be->op_matmul(e->dev, &h, w->moe_router, NULL, 1.0f, 0.0f, &logits, err));
    TRY(e->be->buffer_download(e->dev, a->moe_logits, 0, m->probs, (uint64_t)n * E * sizeof(float), err));
    moe_route(e, n);
    for (uint32_t ex = 0; ex < E; ex++) {
        uint32_t k = m->count[ex];
        if (!k) continue;
        const int32_t *rows = m->rows + (uint64_t)ex * R;
        hive_tensor xe = hive_t(a->moe_x, 0, k, hp->hidden), ye = hive_t(a->moe_y, 0, k, hp->hidden);
        TRY(e->be->op_get_rows(e->dev, &h, rows, k, &xe, err));
        uint32_t hooked = 0, m0 = hive_xmod_expert(e, ex, 0);
        for (uint32_t j = 0; m0 + j < e->n_mod && j < e->exp_per; j++) hooked |= e->hooks_any[(size_t)l * e->n_mod + m0 + j];
        if (hooked)
            TRY(expert_mlp_hooked(e, l, ex, rows, &xe, &ye, err));
        else
            TRY(swiglu_mlp(e, &xe, w->moe_gate_up[ex], w->moe_down[ex], F, &ye, err));
        TRY(e->be->op_add_rows_scaled(e->dev, &ye, rows, m->weights + (uint64_t)ex * R, &x, err));
    }
    return w->moe_shared_gate_up ? shared_expert(e, l, &h, err) : HIVE_OK;
}

/* The device work of a pass up to the last hidden state in act.x: embeddings
 * (tokens, or an adapter's virtual rows when tokens == NULL), then every layer.
 * Graph capture (graph.c) records exactly this, plus the output head. */
hive_status hive_engine_run_layers(hive_engine *e, const int32_t *tokens, const hive_adapter_ref *embed_from,
                                   uint32_t n, const hive_batch *batch, hive_error **err) {
    hive_tensor x = hive_t(e->act.x, 0, n, e->hp.hidden);
    hive_engine_rope_plan(e, batch);
    if (tokens) TRY(e->be->op_embed(e->dev, e->tok_embd, tokens, &x, err));
    else TRY(embed_from->api->embed(embed_from->adapter, &x, err));
    if (e->embed_mult) TRY(e->be->op_binary_weight(e->dev, HIVE_BINARY_MUL, &x, e->embed_mult, &x, err));
    for (uint32_t l = 0; l < e->hp.n_layers; l++) {
        if (e->layers[l].ssm_in) { /* Mamba2 mixer in place of attention (a hybrid's then has a feed-forward) */
            TRY(hive_engine_ssm_block(e, l, n, batch, err));
            if (e->layers[l].ffn_norm) TRY(e->layers[l].moe_router ? moe_block(e, l, n, err) : ffn_block(e, l, n, err));
            continue;
        }
        if (e->layers[l].mla_kv_a) TRY(hive_engine_mla_block(e, l, n, batch, err));
        else TRY(attention_block(e, l, n, batch, err));
        TRY(e->layers[l].moe_router ? moe_block(e, l, n, err) : ffn_block(e, l, n, err));
    }
    return HIVE_OK;
}

/* ids[i] = argmax of logits row i (m rows in lg): on the device when the
 * backend can, so only the ids cross to the host. */
hive_status hive_engine_argmax_rows(hive_engine *e, const hive_tensor *lg, float *host_rows, int32_t *ids,
                                    hive_error **err) {
    if (e->be->op_argmax) return e->be->op_argmax(e->dev, lg, ids, err);
    uint32_t V = e->hp.vocab;
    TRY(e->be->buffer_download(e->dev, lg->buf, lg->offset, host_rows, (uint64_t)lg->rows * V * sizeof(float), err));
    for (int64_t r = 0; r < lg->rows; r++) {
        const float *row = host_rows + (uint64_t)r * V;
        uint32_t best = 0;
        for (uint32_t j = 1; j < V; j++)
            if (row[j] > row[best]) best = j; /* ties: lowest id, as the sampler */
        ids[r] = (int32_t)best;
    }
    return HIVE_OK;
}

/* Final norm and output head for the selected rows, LOGIT_ROWS at a time.
 * argmax != NULL: write each row's argmax there instead of its logits. */
static hive_status logits_for(hive_engine *e, uint32_t n, const int32_t *rows, uint32_t n_rows, float *out,
                              int32_t *argmax, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    activations *a = &e->act;
    hive_tensor x = hive_t(a->x, 0, n, hp->hidden);
    for (uint32_t r0 = 0; r0 < n_rows; r0 += a->logit_rows) {
        uint32_t m = n_rows - r0 < a->logit_rows ? n_rows - r0 : a->logit_rows;
        hive_tensor last = hive_t(a->last, 0, m, hp->hidden), lg = hive_t(a->logits, 0, m, hp->vocab);
        TRY(e->be->op_get_rows(e->dev, &x, rows + r0, m, &last, err));
        TRY(e->be->op_rmsnorm(e->dev, &last, e->output_norm, hp->rms_eps, &last, err));
        TRY(e->be->op_matmul(e->dev, &last, e->output, NULL, hp->logits_div > 0 ? 1.0f / hp->logits_div : 1.0f, 0.0f, &lg,
                             err));
        if (argmax) {
            TRY(hive_engine_argmax_rows(e, &lg, e->argmax_host, argmax + r0, err));
            continue;
        }
        TRY(e->be->buffer_download(e->dev, a->logits, 0, out + (uint64_t)r0 * hp->vocab,
                                   (uint64_t)m * hp->vocab * sizeof(float), err));
    }
    return HIVE_OK;
}

/* Group consecutive rows with the same adapter set, and collect which hooks
 * any of them has at each (layer, module). */
static void plan_segments(hive_engine *e, const int32_t *seqs, uint32_t n) {
    size_t slots = (size_t)e->hp.n_layers * e->n_mod;
    memset(e->hooks_any, 0, slots * sizeof *e->hooks_any);
    e->n_segs = 0;
    for (uint32_t i = 0; i < n; i++) {
        const hive_adapter_set *set = e->seqs[seqs[i]].set;
        if (e->n_segs && e->segs[e->n_segs - 1].set == set) {
            e->segs[e->n_segs - 1].n++;
            continue;
        }
        e->segs[e->n_segs++] = (segment){i, 1, set};
        int seen = 0; /* a set already planned adds nothing new */
        for (uint32_t s = 0; s + 1 < e->n_segs; s++) seen |= e->segs[s].set == set;
        for (uint32_t a = 0; set && !seen && a < set->n; a++) {
            const uint32_t *h = set->refs[a].desc.hooks_at;
            uint32_t stride = hive_engine_hooks_stride(&set->refs[a]); /* the seven, or every module (checked at set) */
            for (uint32_t l = 0; h && l < e->hp.n_layers; l++)
                for (uint32_t m = 0; m < stride && m < e->n_mod; m++)
                    e->hooks_any[(size_t)l * e->n_mod + m] |= h[(size_t)l * stride + m];
        }
    }
}

/* One chunk of at most max_rows rows. tokens == NULL: every row takes its
 * embedding from embed_from (soft-prompt virtual tokens). */
hive_status hive_engine_forward_rows(hive_engine *e, const int32_t *tokens, const hive_adapter_ref *embed_from,
                                     const int32_t *seqs, const uint8_t *want, uint32_t n, float *logits,
                                     int32_t *argmax, uint32_t *n_logits, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    /* Map sequences to local indices, assign positions, reserve pages. */
    uint32_t n_local = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t s = seqs[i];
        if (s < 0 || (uint32_t)s >= e->opts.max_seqs || !e->seqs[s].active)
            return hive_fail(err, HIVE_E_INVALID, "row %u: no active sequence %d", i, s);
        if (tokens && (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->vocab))
            return hive_fail(err, HIVE_E_INVALID, "row %u: token id %d is outside the vocabulary (%u)", i, tokens[i],
                             hp->vocab);
        uint32_t j = 0;
        while (j < n_local && e->local_seq_ids[j] != s) j++;
        if (j == n_local) e->local_seq_ids[n_local++] = s;
        e->row_seq[i] = (int32_t)j;
    }
    /* positions continue each sequence; count rows per sequence */
    for (uint32_t j = 0; j < n_local; j++) {
        seq_state *ss = &e->seqs[e->local_seq_ids[j]];
        uint32_t add = 0;
        for (uint32_t i = 0; i < n; i++) add += e->row_seq[i] == (int32_t)j;
        TRY(hive_engine_kv_reserve(e, e->local_seq_ids[j], ss->len + add, err));
        memcpy(e->block_table + (uint64_t)j * e->max_blocks, ss->blocks, ss->n_blocks * sizeof(int32_t));
    }
    uint32_t next[n_local ? n_local : 1];
    for (uint32_t j = 0; j < n_local; j++) next[j] = e->seqs[e->local_seq_ids[j]].len;
    for (uint32_t i = 0; i < n; i++) {
        e->row_pos[i] = (int32_t)next[e->row_seq[i]]++;
        e->seqs[seqs[i]].tokens[e->row_pos[i]] = tokens ? tokens[i] : -1;
    }

    plan_segments(e, seqs, n);
    uint32_t n_rows = 0;
    for (uint32_t i = 0; i < n; i++)
        if (want[i]) e->logit_rows_idx[n_rows++] = (int32_t)i;
    /* a decode step (one row per sequence, every row wanted) may replay a graph */
    int ran = 0;
    if (tokens && n_local == n && n_rows == n)
        TRY(hive_engine_graph_step(e, tokens, n, logits, argmax, &ran, err));
    if (!ran) {
        hive_batch batch = {sizeof batch, n, e->row_seq, e->row_pos, n_local, e->max_blocks, e->block_table};
        TRY(hive_engine_run_layers(e, tokens, embed_from, n, &batch, err));
        if (n_rows) TRY(logits_for(e, n, e->logit_rows_idx, n_rows, logits, argmax, err));
    }
    *n_logits = n_rows;
    for (uint32_t j = 0; j < n_local; j++) e->seqs[e->local_seq_ids[j]].len = next[j];
    for (uint32_t j = 0; j < n_local && e->opts.kv_tail; j++) /* --kv-tail: pages past the tail to the store tier */
        TRY(hive_engine_kv_migrate(e, e->local_seq_ids[j], err));
    return HIVE_OK;
}

hive_status hive_engine_forward(hive_engine *e, const hive_fwd_batch *b, float *logits, hive_error **err) {
    if (!b->n) return HIVE_OK;
    uint32_t argmax_done = 0;
    for (uint32_t i0 = 0; i0 < b->n; i0 += e->opts.max_rows) {
        uint32_t n = b->n - i0 < e->opts.max_rows ? b->n - i0 : e->opts.max_rows;
        uint8_t want_buf[n];
        const uint8_t *want = b->want_logits ? b->want_logits + i0 : want_buf;
        if (!b->want_logits) {
            memset(want_buf, 0, n);
            if (i0 + n == b->n) want_buf[n - 1] = 1;
        }
        uint32_t got = 0;
        TRY(hive_engine_forward_rows(e, b->tokens + i0, NULL, b->seqs + i0, want, n, b->argmax ? NULL : logits,
                                     b->argmax ? b->argmax + argmax_done : NULL, &got, err));
        if (b->argmax) argmax_done += got;
        else logits += (uint64_t)got * e->hp.vocab;
    }
    return HIVE_OK;
}
