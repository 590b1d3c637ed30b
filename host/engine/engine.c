/* Engine setup and teardown: open the device, upload weights, size the KV
 * cache and the activation buffers. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "util/dtype.h"
#include "util/error.h"
#include "util/log.h"

void hive_engine_opts_default(hive_engine_opts *o) {
    memset(o, 0, sizeof *o);
    o->ctx = 4096;
    o->max_rows = 512;
    o->max_seqs = 1;
    o->kv_block = 16;
    o->kv_dtype = HIVE_DTYPE_F16;
    o->kv_v_dtype = -1;
    o->weights_dtype = -1;
    o->qk_hf_order = 1;
    o->batched_lora = 1;
    o->graphs = 1;
    o->fuse_linears = 1;
}

#define LOGIT_ROWS 16 /* logits are computed this many rows at a time */

static hive_status alloc_act(hive_engine *e, hive_error **err) {
    const hive_hparams *hp = &e->hp;
    uint64_t R = e->opts.max_rows, f = sizeof(float);
    /* a latent-attention query is heads of [kv rank + rope] (mla.c): wider than head_dim in blazr's mixes */
    uint32_t mla_row = hp->mla_kv_rank ? hp->mla_kv_rank + hp->mla_rope : 0;
    uint64_t qd = (uint64_t)hp->n_heads * (hp->head_dim > mla_row ? hp->head_dim : mla_row);
    uint64_t kvd = (uint64_t)hp->n_kv_heads * hp->head_dim;
    uint64_t widest = hp->hidden > qd ? hp->hidden : qd;
    uint64_t ffn = hp->ffn > hp->moe_ffn ? hp->ffn : hp->moe_ffn; /* gate holds an expert's [gate | up] too */
    if (hp->moe_shared_ffn > ffn) ffn = hp->moe_shared_ffn;
    if (ffn > widest) widest = ffn;
    /* q holds k and v too (rows of [q | k | v]) unless a per-head norm needs
     * them apart; gate holds up ([gate | up]): a stacked weight fills each in
     * one matmul (forward.c reads column views) */
    int split = hp->qk_norm != 0;
    struct {
        hive_buffer **b;
        uint64_t bytes;
    } bufs[] = {
        {&e->act.x, R * hp->hidden * f},   {&e->act.h, R * hp->hidden * f},
        {&e->act.q, R * (split ? qd : qd + 2 * kvd) * f},
        {&e->act.k, split ? R * kvd * f : 0}, {&e->act.v, split ? R * kvd * f : 0}, {&e->act.att, R * qd * f},
        {&e->act.gate, R * 2 * ffn * f}, {&e->act.tmp, R * widest * f},
        {&e->act.last, LOGIT_ROWS * hp->hidden * f}, {&e->act.logits, (uint64_t)LOGIT_ROWS * hp->vocab * f},
        {&e->act.moe_logits, R * hp->n_experts * f}, {&e->act.moe_x, hp->n_experts ? R * hp->hidden * f : 0},
        {&e->act.moe_y, hp->n_experts ? R * hp->hidden * f : 0},
        {&e->act.ssm_proj, R * (2ull * hp->ssm_inner + 2ull * hp->ssm_groups * hp->ssm_state + hp->ssm_heads) * f},
        {&e->act.ssm_conv, R * ((uint64_t)hp->ssm_inner + 2ull * hp->ssm_groups * hp->ssm_state) * f},
        {&e->act.ssm_y, R * hp->ssm_inner * f},
        {&e->act.mla_qa, R * hp->mla_q_rank * f},
        {&e->act.mla_q, hp->mla_kv_rank ? R * hp->n_heads * (hp->mla_nope + hp->mla_rope) * f : 0},
        {&e->act.mla_k, R * mla_row * f},
        {&e->act.mla_v, R * mla_row * f},
        {&e->act.mla_o, R * hp->n_heads * hp->mla_v * f},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (!bufs[i].bytes) continue;
        hive_status st = e->be->buffer_alloc(e->dev, bufs[i].bytes, bufs[i].b, err);
        if (st != HIVE_OK) return st;
    }
    e->act.logit_rows = LOGIT_ROWS;
    e->row_seq = malloc(R * sizeof(int32_t));
    e->row_pos = malloc(R * sizeof(int32_t));
    e->local_seq_ids = malloc(R * sizeof(int32_t));
    e->logit_rows_idx = malloc(R * sizeof(int32_t));
    /* greedy without op_argmax: logits come to the host, LOGIT_ROWS at a time */
    if (!e->be->op_argmax && !(e->argmax_host = malloc((size_t)LOGIT_ROWS * hp->vocab * sizeof(float))))
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    e->block_table = malloc(R * (uint64_t)e->max_blocks * sizeof(int32_t));
    if (hp->n_experts) {
        moe_scratch *m = &e->moe;
        m->probs = malloc(R * hp->n_experts * sizeof *m->probs);
        m->rows = malloc(R * hp->n_experts * sizeof *m->rows);
        m->weights = malloc(R * hp->n_experts * sizeof *m->weights);
        m->count = malloc(hp->n_experts * sizeof *m->count);
        if (!m->probs || !m->rows || !m->weights || !m->count) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    if (!e->row_seq || !e->row_pos || !e->local_seq_ids || !e->logit_rows_idx || !e->block_table)
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    return HIVE_OK;
}

hive_status hive_engine_new(const hive_model_files *m, const hive_backend_api *backend, uint32_t device,
                            const hive_engine_opts *opts, hive_engine **out, hive_error **err) {
    *out = NULL;
    hive_engine *e = calloc(1, sizeof *e);
    if (!e) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    e->be = backend;
    e->hp = m->hp;
    e->opts = *opts;
    hive_status st = hive_hparams_rope_override(&e->hp, &opts->rope, err);
    if (st != HIVE_OK) {
        free(e);
        return st;
    }
    if (!e->opts.max_rows) e->opts.max_rows = 512;
    if (!e->opts.max_seqs) e->opts.max_seqs = 1;
    if (!e->opts.kv_block) e->opts.kv_block = 16;
    /* RoPE scaling (the model's or --rope-*) extends the trained length by its factor */
    const hive_hparams *rp = &e->hp;
    int scaled = rp->rope_factor > 1.0f && rp->rope_scaling[0] && strcmp(rp->rope_scaling, "none") &&
                 strcmp(rp->rope_scaling, "default");
    double reach = scaled ? (double)rp->rope_factor * (rp->rope_orig_ctx ? rp->rope_orig_ctx : rp->max_ctx) : 0;
    if (m->hp.max_ctx && e->opts.ctx > m->hp.max_ctx && e->opts.ctx > reach) {
        if (scaled)
            HLOG_WARN("context %u is longer than the %.0f tokens its RoPE scaling covers (%s x%g from %u; trained %u)",
                      e->opts.ctx, reach, rp->rope_scaling, (double)rp->rope_factor,
                      rp->rope_orig_ctx ? rp->rope_orig_ctx : rp->max_ctx, m->hp.max_ctx);
        else
            HLOG_WARN("context %u is longer than the model was trained for (%u)", e->opts.ctx, m->hp.max_ctx);
    }

    hive_device_options dopts = {sizeof dopts, opts->threads, e->opts.max_rows, 0};
    st = backend->device_open(device, &dopts, &e->dev, err);
    if (st == HIVE_OK) hive_engine_graphs_probe(e);
    if (st == HIVE_OK) st = hive_engine_upload_weights(e, m, err);
    if (st == HIVE_OK) st = hive_engine_ssm_init(e, err);
    if (st == HIVE_OK) st = hive_engine_kv_init(e, err);
    if (st == HIVE_OK) st = alloc_act(e, err);
    if (st == HIVE_OK) st = hive_engine_mla_init(e, err);
    if (st == HIVE_OK) st = hive_engine_adapters_init(e, m, err);
    if (st == HIVE_OK) st = hive_engine_graphs_init(e, err);
    if (st == HIVE_OK) st = hive_engine_rope_init(e, err);
    if (st != HIVE_OK) {
        hive_engine_free(e);
        return st;
    }
    *out = e;
    return HIVE_OK;
}

void hive_engine_free(hive_engine *e) {
    if (!e) return;
    if (e->dev) {
        hive_buffer **bufs[] = {&e->act.x, &e->act.h, &e->act.q, &e->act.k, &e->act.v, &e->act.att,
                                &e->act.gate, &e->act.tmp, &e->act.last, &e->act.logits,
                                &e->act.moe_logits, &e->act.moe_x, &e->act.moe_y,
                                &e->act.ssm_proj, &e->act.ssm_conv, &e->act.ssm_y,
                                &e->act.mla_qa, &e->act.mla_q, &e->act.mla_k, &e->act.mla_v, &e->act.mla_o};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (*bufs[i]) e->be->buffer_free(e->dev, *bufs[i]);
        hive_engine_graphs_free(e);
        hive_engine_adapters_free(e);
        if (e->page_refs) hive_engine_soft_prompts_drop(e); /* their pages and tail buffers */
        free(e->sp);
        hive_engine_kv_free(e);
        hive_engine_ssm_free(e);
        hive_engine_mla_free(e);
        hive_engine_free_weights(e);
        e->be->device_close(e->dev);
    }
    hive_engine_rope_free(e);
    free(e->row_seq);
    free(e->row_pos);
    free(e->local_seq_ids);
    free(e->logit_rows_idx);
    free(e->argmax_host);
    free(e->block_table);
    free(e->moe.probs);
    free(e->moe.rows);
    free(e->moe.weights);
    free(e->moe.count);
    free(e);
}

const hive_hparams *hive_engine_hparams(const hive_engine *e) { return &e->hp; }
uint64_t hive_engine_weight_bytes(const hive_engine *e) { return e->weight_bytes; }
uint32_t hive_engine_ctx(const hive_engine *e) { return e->opts.ctx; }
uint64_t hive_engine_kv_bytes(const hive_engine *e) {
    uint32_t v = e->opts.kv_v_dtype < 0 ? e->opts.kv_dtype : (uint32_t)e->opts.kv_v_dtype;
    if (e->n_tail_blocks < e->n_blocks_total) /* --kv-tail: f16 tail pages + store pages */
        return e->hp.n_attn_layers * (uint64_t)e->opts.kv_block *
               ((uint64_t)e->n_tail_blocks * hive_engine_kv_token_bytes(HIVE_DTYPE_F16, HIVE_DTYPE_F16, e->hp.n_kv_heads, e->hp.head_dim) +
                (uint64_t)(e->n_blocks_total - e->n_tail_blocks) *
                    hive_engine_kv_token_bytes(e->opts.kv_dtype, v, e->hp.n_kv_heads, e->hp.head_dim));
    uint64_t slots = (uint64_t)e->n_blocks_total * e->opts.kv_block;
    uint32_t n_mla = 0; /* blazr's latent-attention layers: their own cache of [c_kv | rope key] rows (mla.c) */
    for (uint32_t l = 0; e->layers && l < e->hp.n_layers; l++) n_mla += e->layers[l].mla_kr != NULL;
    return (e->hp.n_attn_layers - n_mla) * slots * hive_engine_kv_token_bytes(e->opts.kv_dtype, v, e->hp.n_kv_heads, e->hp.head_dim) +
           n_mla * slots * hive_engine_kv_token_bytes(e->opts.kv_dtype, v, 1, e->hp.mla_kv_rank + e->hp.mla_rope);
}
