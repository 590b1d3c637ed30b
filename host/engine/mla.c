/* Multi-head latent attention (DeepSeek-V2, and blazr's variant: see
 * blazr_project), top to bottom, with the key and
 * value up-projections absorbed so the KV cache keeps only the latent:
 *   c_kv | k_rope = kv_a(h)               one row per token, cached
 *   q_nope | q_rope = q(h)                (q: q_proj, or q_b(norm(q_a(h))))
 *   q'_h  = [W_kb_h^T q_nope_h | rope(q_rope_h)]
 *   out_h = W_vb_h softmax(q'_h . [norm(c_kv) | rope(k_rope)] * scale) [norm(c_kv) | 0]
 *   x    += o_proj(out)
 * which is transformers' expand-then-attend, reassociated: the scores and
 * outputs are the same sums. The cache row is one "KV head" of kv rank +
 * rope dims; the value row repeats the latent with a zero tail (the
 * backend's cache keeps K and V rows of one width). */
#include <math.h>
#include <stdlib.h>

#include "engine/engine_impl.h"
#include "util/error.h"

#define TRY(call)                              \
    do {                                       \
        hive_status st_ = (call);              \
        if (st_ != HIVE_OK) return st_;        \
    } while (0)

/* blazr's layers cache apart from the attention layers (their rows differ
 * in width); pages and block tables are shared, so one page id addresses
 * both caches. */
static hive_status blazr_cache_init(hive_engine *e, uint32_t row, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    uint32_t n = 0;
    if (!(e->mla_kv_layer = calloc(hp->n_layers, sizeof *e->mla_kv_layer)))
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t l = 0; l < hp->n_layers; l++)
        if (e->layers[l].mla_kr) e->mla_kv_layer[l] = n++;
    if (!n) return HIVE_OK;
    hive_kv_desc d = {sizeof d, e->opts.kv_dtype, n, e->n_blocks_total, e->opts.kv_block, 1, row, 0, 0, 0, 0, 0, 0, 0};
    if (e->opts.kv_v_dtype >= 0 && (uint32_t)e->opts.kv_v_dtype != e->opts.kv_dtype)
        d.has_v_dtype = 1, d.v_dtype = (uint32_t)e->opts.kv_v_dtype;
    hive_status st = e->be->kv_alloc(e->dev, &d, &e->kv_mla, err);
    if (st) return st;
    /* the rope parts are d_rope wide, not head_dim: their own frequencies
     * (blazr has no RoPE scaling) */
    uint32_t pairs = hp->mla_rope / 2;
    if (!(e->mla_inv_freq = malloc(pairs * sizeof *e->mla_inv_freq))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < pairs; i++)
        e->mla_inv_freq[i] = (float)(1.0 / pow((double)hp->rope_theta, (double)(2 * i) / (double)hp->mla_rope));
    return HIVE_OK;
}

hive_status hive_engine_mla_init(hive_engine *e, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    if (!hp->mla_kv_rank) return HIVE_OK;
    uint32_t row = hp->mla_kv_rank + hp->mla_rope;
    if (hp->arch == HIVE_ARCH_BLAZR) {
        hive_status st = blazr_cache_init(e, row, err);
        if (st) return st;
    }
    uint64_t bytes = (uint64_t)e->opts.max_rows * row * sizeof(float);
    float *zeros = calloc(1, bytes);
    if (!zeros) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    hive_status st = e->be->buffer_upload(e->dev, e->act.mla_v, 0, zeros, bytes, err);
    free(zeros);
    return st;
}

void hive_engine_mla_free(hive_engine *e) {
    hive_engine_mla_sets_drop(e);
    if (e->kv_mla) e->be->kv_free(e->dev, e->kv_mla);
    e->kv_mla = NULL;
    free(e->mla_kv_layer);
    free(e->mla_inv_freq);
    e->mla_kv_layer = NULL, e->mla_inv_freq = NULL;
}

/* blazr's projections: c_kv = w_dkv h and k_rope = w_kr h (no latent norm);
 * q_nope = w_uq (w_dq h); q_rope = w_qr h; RoPE (rotate-half) on the rope
 * parts with d_rope-wide frequencies. Each takes adapters' hooks. */
static hive_status blazr_project(hive_engine *e, uint32_t l, const hive_tensor *h, const hive_tensor *q,
                                 const hive_tensor *c, const hive_tensor *k_rope, const hive_batch *batch,
                                 hive_error **err) {
    layer_weights *w = &e->layers[l];
    const hive_hparams *hp = &e->hp;
    uint32_t n = (uint32_t)h->rows, H = hp->n_heads, nope = hp->mla_nope, rope = hp->mla_rope;
    hive_tensor lat = hive_t(e->act.mla_qa, 0, n, hp->mla_q_rank);
    hive_tensor q_nope = hive_cols(q, 0, (int64_t)H * nope), q_rope = hive_cols(q, (int64_t)H * nope, (int64_t)H * rope);
    TRY(hive_engine_linear(e, l, HIVE_XMOD_MLA_KV_A, h, w->mla_kv_a, NULL, c, 0, err));
    TRY(hive_engine_linear(e, l, HIVE_XMOD_MLA_KR, h, w->mla_kr, NULL, k_rope, 0, err));
    TRY(hive_engine_linear(e, l, HIVE_XMOD_MLA_Q_A, h, w->mla_q_a, NULL, &lat, 0, err));
    TRY(hive_engine_linear(e, l, HIVE_XMOD_MLA_Q_B, &lat, w->mla_q, NULL, &q_nope, 0, err));
    TRY(hive_engine_linear(e, l, HIVE_XMOD_MLA_QR, h, w->mla_qr, NULL, &q_rope, 0, err));
    hive_rope_desc dq = {sizeof dq, HIVE_ROPE_NEOX, H, rope, rope, 1.0f, e->mla_inv_freq, 0, 0}, dk = dq;
    dk.n_heads = 1;
    TRY(e->be->op_rope(e->dev, &q_rope, &dq, batch, err));
    return e->be->op_rope(e->dev, k_rope, &dk, batch, err);
}

/* q = W x for q_proj or q_b_proj, whose rows the engine keeps as [every
 * head's nope | every head's rope] (weights.c): adapters' hooks see the
 * file's per-head [nope | rope] order. */
static hive_status q_linear(hive_engine *e, uint32_t l, uint32_t module, const hive_tensor *x, hive_weight *w,
                            const hive_tensor *q, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    uint32_t H = hp->n_heads, nope = hp->mla_nope, rope = hp->mla_rope;
    int64_t runs[6 * H];
    for (uint32_t i = 0; i < H; i++) {
        int64_t *r = runs + 6 * i;
        r[0] = (int64_t)i * (nope + rope), r[1] = (int64_t)i * nope, r[2] = nope;
        r[3] = r[0] + nope, r[4] = (int64_t)H * nope + (int64_t)i * rope, r[5] = rope;
    }
    return hive_engine_linear_reordered(e, l, module, x, w, q, runs, 2 * H, err);
}

/* The rows of each segment whose set has a kv_b_proj LoRA in this layer,
 * recomputed with the set's own per-head weights: value 0, the absorbed
 * query (from q's nope parts into qa's latent parts); value 1, the heads'
 * outputs (from att's latent parts into o). */
static hive_status adapted_rows(hive_engine *e, uint32_t l, const hive_tensor *from, const hive_tensor *to, int value,
                                hive_error **err) {
    const hive_hparams *hp = &e->hp;
    uint32_t H = hp->n_heads, nope = hp->mla_nope, row = hp->mla_kv_rank + hp->mla_rope;
    for (uint32_t s = 0; s < e->n_segs; s++) {
        const segment *sg = &e->segs[s];
        if (!sg->set) continue;
        /* derived when attached; again here if dropped since (least recently used, adapters released) */
        TRY(hive_engine_mla_set_prepare(e, sg->set, err));
        const mla_set_weights *sw = hive_engine_mla_set_find(e, sg->set);
        for (uint32_t i = 0; sw && i < H; i++) {
            hive_weight *w = hive_engine_mla_set_weight(sw, l, i, value, H);
            if (!w) break;
            uint32_t r = hp->mla_kv_rank, v = hp->mla_v;
            hive_tensor src = value ? hive_cols(from, (int64_t)i * row, r) : hive_cols(from, (int64_t)i * nope, nope);
            hive_tensor dst = value ? hive_cols(to, (int64_t)i * v, v) : hive_cols(to, (int64_t)i * row, r);
            src.offset += (uint64_t)sg->row0 * src.row_stride * sizeof(float), src.rows = sg->n;
            dst.offset += (uint64_t)sg->row0 * dst.row_stride * sizeof(float), dst.rows = sg->n;
            TRY(e->be->op_matmul(e->dev, &src, w, NULL, 1.0f, 0.0f, &dst, err));
        }
    }
    return HIVE_OK;
}

hive_status hive_engine_mla_block(hive_engine *e, uint32_t l, uint32_t n, const hive_batch *batch, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    layer_weights *w = &e->layers[l];
    activations *a = &e->act;
    uint32_t H = hp->n_heads, nope = hp->mla_nope, rope = hp->mla_rope, v = hp->mla_v, r = hp->mla_kv_rank;
    uint32_t row = r + rope; /* the cache row, and each head's attention width */
    hive_tensor x = hive_t(a->x, 0, n, hp->hidden), h = hive_t(a->h, 0, n, hp->hidden);
    hive_tensor q = hive_t(a->mla_q, 0, n, (int64_t)H * (nope + rope));
    hive_tensor q_rope = hive_cols(&q, (int64_t)H * nope, (int64_t)H * rope);
    hive_tensor kv = hive_t(a->mla_k, 0, n, row), c = hive_cols(&kv, 0, r), k_rope = hive_cols(&kv, r, rope);
    hive_tensor val = hive_t(a->mla_v, 0, n, row), val_c = hive_cols(&val, 0, r);
    hive_tensor qa = hive_t(a->q, 0, n, (int64_t)H * row), att = hive_t(a->att, 0, n, (int64_t)H * row);
    hive_tensor o = hive_t(a->mla_o, 0, n, (int64_t)H * v);

    /* blazr's layers cache in their own (mla_init) */
    hive_kv_cache *cache = w->mla_kr ? e->kv_mla : e->kv;
    uint32_t cache_layer = w->mla_kr ? e->mla_kv_layer[l] : e->kv_layer[l];

    TRY(e->be->op_rmsnorm(e->dev, &x, w->attn_norm, hp->rms_eps, &h, err));
    if (w->mla_kr) {
        TRY(blazr_project(e, l, &h, &q, &c, &k_rope, batch, err));
    } else if (w->mla_q_a) {
        hive_tensor lat = hive_t(a->mla_qa, 0, n, hp->mla_q_rank);
        TRY(hive_engine_linear(e, l, HIVE_XMOD_MLA_Q_A, &h, w->mla_q_a, NULL, &lat, 0, err));
        TRY(e->be->op_rmsnorm(e->dev, &lat, w->mla_q_a_norm, hp->rms_eps, &lat, err));
        TRY(q_linear(e, l, HIVE_XMOD_MLA_Q_B, &lat, w->mla_q, &q, err));
    } else {
        TRY(q_linear(e, l, HIVE_MODULE_Q, &h, w->mla_q, &q, err));
    }
    if (!w->mla_kr) {
        TRY(hive_engine_linear(e, l, HIVE_XMOD_MLA_KV_A, &h, w->mla_kv_a, NULL, &kv, 0, err));
        TRY(e->be->op_rmsnorm(e->dev, &c, w->mla_kv_a_norm, hp->rms_eps, &c, err));
        TRY(hive_engine_rope(e, &q_rope, H, batch, err));
        TRY(hive_engine_rope(e, &k_rope, 1, batch, err));
    }
    TRY(e->be->op_get_rows(e->dev, &c, e->identity, n, &val_c, err));
    TRY(e->be->op_kv_store(e->dev, cache, cache_layer, &kv, &val, batch, err));
    for (uint32_t i = 0; i < H; i++) { /* q'_i = [W_kb_i^T q_nope_i | q_rope_i] */
        hive_tensor qn = hive_cols(&q, (int64_t)i * nope, nope), qr = hive_cols(&q_rope, (int64_t)i * rope, rope);
        hive_tensor dst_c = hive_cols(&qa, (int64_t)i * row, r), dst_r = hive_cols(&qa, (int64_t)i * row + r, rope);
        TRY(e->be->op_matmul(e->dev, &qn, w->mla_kb_t[i], NULL, 1.0f, 0.0f, &dst_c, err));
        TRY(e->be->op_get_rows(e->dev, &qr, e->identity, n, &dst_r, err));
    }
    TRY(adapted_rows(e, l, &q, &qa, 0, err)); /* sets with kv_b_proj LoRA: their own W_kb^T */
    float scale = 1.0f / sqrtf((float)(nope + rope));
    TRY(e->be->op_attention(e->dev, cache, cache_layer, &qa, H, scale, batch, &att, err));
    for (uint32_t i = 0; i < H; i++) { /* out_i = W_vb_i (the head's attended latent) */
        hive_tensor lat = hive_cols(&att, (int64_t)i * row, r), out = hive_cols(&o, (int64_t)i * v, v);
        TRY(e->be->op_matmul(e->dev, &lat, w->mla_vb[i], NULL, 1.0f, 0.0f, &out, err));
    }
    TRY(adapted_rows(e, l, &att, &o, 1, err)); /* and their own W_vb */
    return hive_engine_linear(e, l, HIVE_MODULE_O, &o, w->wo, NULL, &x, 1, err); /* x += o_proj(out) */
}
