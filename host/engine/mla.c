/* Multi-head latent attention (DeepSeek-V2), top to bottom, with the key and
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

hive_status hive_engine_mla_init(hive_engine *e, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    if (!hp->mla_kv_rank) return HIVE_OK;
    uint64_t bytes = (uint64_t)e->opts.max_rows * hp->head_dim * sizeof(float);
    float *zeros = calloc(1, bytes);
    if (!zeros) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    hive_status st = e->be->buffer_upload(e->dev, e->act.mla_v, 0, zeros, bytes, err);
    free(zeros);
    return st;
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

    TRY(e->be->op_rmsnorm(e->dev, &x, w->attn_norm, hp->rms_eps, &h, err));
    if (w->mla_q_a) {
        hive_tensor lat = hive_t(a->mla_qa, 0, n, hp->mla_q_rank);
        TRY(e->be->op_matmul(e->dev, &h, w->mla_q_a, NULL, 1.0f, 0.0f, &lat, err));
        TRY(e->be->op_rmsnorm(e->dev, &lat, w->mla_q_a_norm, hp->rms_eps, &lat, err));
        TRY(e->be->op_matmul(e->dev, &lat, w->mla_q, NULL, 1.0f, 0.0f, &q, err));
    } else {
        TRY(e->be->op_matmul(e->dev, &h, w->mla_q, NULL, 1.0f, 0.0f, &q, err));
    }
    TRY(e->be->op_matmul(e->dev, &h, w->mla_kv_a, NULL, 1.0f, 0.0f, &kv, err));
    TRY(e->be->op_rmsnorm(e->dev, &c, w->mla_kv_a_norm, hp->rms_eps, &c, err));
    TRY(hive_engine_rope(e, &q_rope, H, batch, err));
    TRY(hive_engine_rope(e, &k_rope, 1, batch, err));
    TRY(e->be->op_get_rows(e->dev, &c, e->identity, n, &val_c, err));
    TRY(e->be->op_kv_store(e->dev, e->kv, e->kv_layer[l], &kv, &val, batch, err));
    for (uint32_t i = 0; i < H; i++) { /* q'_i = [W_kb_i^T q_nope_i | q_rope_i] */
        hive_tensor qn = hive_cols(&q, (int64_t)i * nope, nope), qr = hive_cols(&q_rope, (int64_t)i * rope, rope);
        hive_tensor dst_c = hive_cols(&qa, (int64_t)i * row, r), dst_r = hive_cols(&qa, (int64_t)i * row + r, rope);
        TRY(e->be->op_matmul(e->dev, &qn, w->mla_kb_t[i], NULL, 1.0f, 0.0f, &dst_c, err));
        TRY(e->be->op_get_rows(e->dev, &qr, e->identity, n, &dst_r, err));
    }
    float scale = 1.0f / sqrtf((float)(nope + rope));
    TRY(e->be->op_attention(e->dev, e->kv, e->kv_layer[l], &qa, H, scale, batch, &att, err));
    for (uint32_t i = 0; i < H; i++) { /* out_i = W_vb_i (the head's attended latent) */
        hive_tensor lat = hive_cols(&att, (int64_t)i * row, r), out = hive_cols(&o, (int64_t)i * v, v);
        TRY(e->be->op_matmul(e->dev, &lat, w->mla_vb[i], NULL, 1.0f, 0.0f, &out, err));
    }
    return e->be->op_matmul(e->dev, &o, w->wo, NULL, 1.0f, 1.0f, &x, err); /* x += o_proj(out) */
}
