/* Paged KV cache bookkeeping: a pool of fixed-size pages and, per sequence, a
 * block table. The device memory itself belongs to the backend. */
#include <stdlib.h>

#include "engine/engine_impl.h"
#include "util/error.h"

hive_status hive_engine_kv_init(hive_engine *e, hive_error **err) {
    e->max_blocks = (e->opts.ctx + e->opts.kv_block - 1) / e->opts.kv_block;
    /* graphs pad decode batches with rows that need a page of their own */
    e->n_blocks_total = e->max_blocks * e->opts.max_seqs + (e->graph_ext ? 1 : 0);
    hive_kv_desc d = {sizeof d, e->opts.kv_dtype, e->hp.n_layers, e->n_blocks_total, e->opts.kv_block,
                      e->hp.n_kv_heads, e->hp.head_dim, 0};
    hive_status st = e->be->kv_alloc(e->dev, &d, &e->kv, err);
    if (st != HIVE_OK) return st;
    e->free_blocks = malloc(e->n_blocks_total * sizeof *e->free_blocks);
    e->seqs = calloc(e->opts.max_seqs, sizeof *e->seqs);
    if (!e->free_blocks || !e->seqs) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    /* hand out low page ids first */
    for (uint32_t i = 0; i < e->n_blocks_total; i++) e->free_blocks[i] = (int32_t)(e->n_blocks_total - 1 - i);
    e->n_free = e->n_blocks_total;
    if (e->graph_ext) e->pad_block = e->free_blocks[--e->n_free];
    for (uint32_t s = 0; s < e->opts.max_seqs; s++) {
        e->seqs[s].blocks = malloc(e->max_blocks * sizeof(int32_t));
        e->seqs[s].tokens = malloc(e->opts.ctx * sizeof(int32_t));
        if (!e->seqs[s].blocks || !e->seqs[s].tokens) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    return HIVE_OK;
}

void hive_engine_kv_free(hive_engine *e) {
    if (e->kv) e->be->kv_free(e->dev, e->kv);
    e->kv = NULL;
    if (e->seqs)
        for (uint32_t s = 0; s < e->opts.max_seqs; s++) {
            free(e->seqs[s].blocks);
            free(e->seqs[s].tokens);
        }
    free(e->seqs);
    free(e->free_blocks);
    e->seqs = NULL;
    e->free_blocks = NULL;
}

hive_status hive_engine_kv_reserve(hive_engine *e, int32_t seq, uint32_t len, hive_error **err) {
    seq_state *s = &e->seqs[seq];
    if (len > e->opts.ctx)
        return hive_fail(err, HIVE_E_INVALID, "context full: sequence needs %u tokens, the context holds %u (--ctx)", len,
                         e->opts.ctx);
    uint32_t need = (len + e->opts.kv_block - 1) / e->opts.kv_block;
    while (s->n_blocks < need) {
        if (!e->n_free) return hive_fail(err, HIVE_E_NOMEM, "KV cache exhausted: no free pages");
        s->blocks[s->n_blocks++] = e->free_blocks[--e->n_free];
    }
    return HIVE_OK;
}

static void release_pages(hive_engine *e, seq_state *s, uint32_t keep) {
    while (s->n_blocks > keep) e->free_blocks[e->n_free++] = s->blocks[--s->n_blocks];
}

hive_status hive_engine_seq_new(hive_engine *e, int32_t *seq, hive_error **err) {
    for (uint32_t i = 0; i < e->opts.max_seqs; i++)
        if (!e->seqs[i].active) {
            e->seqs[i].active = 1;
            e->seqs[i].len = 0;
            e->seqs[i].n_blocks = 0;
            e->seqs[i].n_virtual = 0;
            e->seqs[i].set = NULL;
            *seq = (int32_t)i;
            return HIVE_OK;
        }
    return hive_fail(err, HIVE_E_NOMEM, "all %u sequence slots are in use", e->opts.max_seqs);
}

void hive_engine_seq_free(hive_engine *e, int32_t seq) {
    if (seq < 0 || (uint32_t)seq >= e->opts.max_seqs || !e->seqs[seq].active) return;
    release_pages(e, &e->seqs[seq], 0);
    e->seqs[seq].active = 0;
    e->seqs[seq].n_virtual = 0;
    e->seqs[seq].set = NULL;
    e->seqs[seq].len = 0;
}

const int32_t *hive_engine_seq_tokens(const hive_engine *e, int32_t seq) {
    return (seq >= 0 && (uint32_t)seq < e->opts.max_seqs) ? e->seqs[seq].tokens + e->seqs[seq].n_virtual : NULL;
}

uint32_t hive_engine_seq_len(const hive_engine *e, int32_t seq) {
    return (seq >= 0 && (uint32_t)seq < e->opts.max_seqs) ? e->seqs[seq].len - e->seqs[seq].n_virtual : 0;
}

hive_status hive_engine_seq_truncate(hive_engine *e, int32_t seq, uint32_t len, hive_error **err) {
    if (seq < 0 || (uint32_t)seq >= e->opts.max_seqs || !e->seqs[seq].active)
        return hive_fail(err, HIVE_E_INVALID, "no sequence %d", seq);
    seq_state *s = &e->seqs[seq];
    len += s->n_virtual; /* virtual rows stay */
    if (len > s->len) return hive_fail(err, HIVE_E_INVALID, "cannot truncate sequence of %u tokens to %u", s->len, len);
    s->len = len;
    release_pages(e, s, (len + e->opts.kv_block - 1) / e->opts.kv_block);
    return HIVE_OK;
}
