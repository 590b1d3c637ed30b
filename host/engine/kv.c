/* Paged KV cache bookkeeping: a pool of fixed-size pages and, per sequence, a
 * block table. The device memory itself belongs to the backend. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "util/dtype.h"
#include "util/error.h"

/* --kv-tail: what the engine and the backend must both offer. */
static hive_status kv_tail_check(const hive_engine *e, uint32_t v_dtype, hive_error **err) {
    uint32_t k = e->opts.kv_dtype;
    if ((k != HIVE_DTYPE_Q8_0 && k != HIVE_DTYPE_Q4_0) || (v_dtype != HIVE_DTYPE_Q8_0 && v_dtype != HIVE_DTYPE_Q4_0))
        return hive_fail(err, HIVE_E_INVALID,
                         "--kv-tail %u: the older tokens' store type (--kv-dtype) must be q8_0 or q4_0 (for K and V), "
                         "not %s,%s; the tail is always f16",
                         e->opts.kv_tail, hive_dtype_name(k), hive_dtype_name(v_dtype));
    if (!e->be->op_kv_migrate)
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "--kv-tail %u: the backend has no op_kv_migrate (ABI 1.9): it cannot keep a two-tier KV cache",
                         e->opts.kv_tail);
    for (uint32_t l = 0; l < e->hp.n_layers; l++)
        if (e->layers[l].mla_kr)
            return hive_fail(err, HIVE_E_UNSUPPORTED,
                             "--kv-tail %u: latent-attention (MLA) caches are not two-tier yet", e->opts.kv_tail);
    return HIVE_OK;
}

hive_status hive_engine_kv_init(hive_engine *e, hive_error **err) {
    e->max_blocks = (e->opts.ctx + e->opts.kv_block - 1) / e->opts.kv_block;
    uint32_t v_dtype = e->opts.kv_v_dtype >= 0 ? (uint32_t)e->opts.kv_v_dtype : e->opts.kv_dtype;
    uint32_t n_tail = e->max_blocks * e->opts.max_seqs, n_store = 0;
    if (e->opts.kv_tail) {
        hive_status st = kv_tail_check(e, v_dtype, err);
        if (st != HIVE_OK) return st;
        hive_engine_kv_tier_pages(e->opts.ctx, e->opts.kv_block, e->opts.max_rows, e->opts.max_seqs, e->opts.kv_tail,
                                  &n_tail, &n_store);
    }
    /* graphs pad decode batches with rows that need a page of their own */
    e->n_tail_blocks = n_tail + (e->graph_ext ? 1 : 0);
    e->n_blocks_total = e->n_tail_blocks + n_store;
    /* only attention layers have KV: a hybrid's Mamba2 layers keep a state (ssm.c) */
    if (!(e->kv_layer = calloc(e->hp.n_layers, sizeof *e->kv_layer))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    uint32_t n_kv = 0;
    /* blazr's latent-attention layers (mla_kr) cache in their own (mla.c) */
    for (uint32_t l = 0; l < e->hp.n_layers; l++)
        e->kv_layer[l] = e->layers[l].ssm_in || e->layers[l].mla_kr ? 0 : n_kv++;
    hive_kv_desc d = {sizeof d, e->opts.kv_dtype, n_kv, e->n_tail_blocks, e->opts.kv_block,
                      e->hp.n_kv_heads, e->hp.head_dim, 0, 0, 0, 0, 0, 0, 0};
    /* V's own type only when it differs: a backend then refuses what it cannot store */
    if (e->opts.kv_v_dtype >= 0 && (uint32_t)e->opts.kv_v_dtype != e->opts.kv_dtype)
        d.has_v_dtype = 1, d.v_dtype = (uint32_t)e->opts.kv_v_dtype;
    if (n_store) /* two tiers: f16 pages, then store pages of --kv-dtype */
        d.dtype = HIVE_DTYPE_F16, d.has_v_dtype = 0, d.v_dtype = 0, d.n_store_blocks = n_store,
        d.store_dtype = e->opts.kv_dtype, d.store_v_dtype = v_dtype;
    /* no attention (Mamba2): pages still count each sequence's positions */
    hive_status st = n_kv ? e->be->kv_alloc(e->dev, &d, &e->kv, err) : HIVE_OK;
    if (st != HIVE_OK) return st;
    e->free_blocks = malloc(e->n_tail_blocks * sizeof *e->free_blocks);
    e->free_store = malloc((n_store ? n_store : 1) * sizeof *e->free_store);
    e->page_refs = calloc(e->n_blocks_total, sizeof *e->page_refs);
    e->seqs = calloc(e->opts.max_seqs, sizeof *e->seqs);
    if (!e->free_blocks || !e->free_store || !e->page_refs || !e->seqs)
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    /* hand out low page ids first (a freed page is the next one taken, so
     * the CPU's mapped pool touches no more pages than are held at once) */
    for (uint32_t i = 0; i < e->n_tail_blocks; i++) e->free_blocks[i] = (int32_t)(e->n_tail_blocks - 1 - i);
    e->n_free = e->n_tail_blocks;
    for (uint32_t i = 0; i < n_store; i++) e->free_store[i] = (int32_t)(e->n_blocks_total - 1 - i);
    e->n_free_store = n_store;
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
    free(e->free_store);
    e->free_store = NULL;
    free(e->page_refs);
    free(e->kv_layer);
    e->kv_layer = NULL;
    e->seqs = NULL;
    e->free_blocks = NULL;
    e->page_refs = NULL;
}

hive_status hive_engine_kv_reserve(hive_engine *e, int32_t seq, uint32_t len, hive_error **err) {
    seq_state *s = &e->seqs[seq];
    if (len > e->opts.ctx)
        return hive_fail(err, HIVE_E_INVALID, "context full: sequence needs %u tokens, the context holds %u (--ctx)", len,
                         e->opts.ctx);
    uint32_t need = (len + e->opts.kv_block - 1) / e->opts.kv_block;
    while (s->n_blocks < need) {
        int32_t p;
        if (e->n_free) p = e->free_blocks[--e->n_free];
        /* --kv-tail with its f16 pool spent (pages shared by prefixes stay
         * f16): new rows go to the store tier, at its precision */
        else if (e->n_free_store) p = e->free_store[--e->n_free_store];
        else if (hive_engine_soft_prompts_free_pages(e)) continue; /* a cached soft prompt's pages first */
        else return hive_fail(err, HIVE_E_NOMEM, "KV cache exhausted: no free pages");
        e->page_refs[p] = 1;
        s->blocks[s->n_blocks++] = p;
    }
    return HIVE_OK;
}

void hive_engine_page_unref(hive_engine *e, int32_t p) {
    if (--e->page_refs[p]) return;
    if ((uint32_t)p < e->n_tail_blocks) e->free_blocks[e->n_free++] = p;
    else e->free_store[e->n_free_store++] = p;
}

/* A shared page goes back to the free list when its last holder lets go. */
static void release_pages(hive_engine *e, seq_state *s, uint32_t keep) {
    while (s->n_blocks > keep) hive_engine_page_unref(e, s->blocks[--s->n_blocks]);
}

/* A page another holder shares (a prefix, a soft prompt's template) stays
 * f16 until it is this sequence's alone: migrating it would change the
 * others' block tables under them. */
hive_status hive_engine_kv_migrate(hive_engine *e, int32_t seq, hive_error **err) {
    seq_state *s = &e->seqs[seq];
    if (!e->opts.kv_tail || !e->kv || s->len <= e->opts.kv_tail) return HIVE_OK;
    uint32_t old = (s->len - e->opts.kv_tail) / e->opts.kv_block; /* pages wholly before the tail */
    for (uint32_t i = 0; i < old && i < s->n_blocks && e->n_free_store; i++) {
        int32_t p = s->blocks[i];
        if ((uint32_t)p >= e->n_tail_blocks || e->page_refs[p] != 1) continue;
        int32_t d = e->free_store[e->n_free_store - 1];
        hive_status st = e->be->op_kv_migrate(e->dev, e->kv, (uint32_t)p, (uint32_t)d, err);
        if (st != HIVE_OK) return st;
        e->n_free_store--;
        e->page_refs[d] = 1;
        s->blocks[i] = d;
        hive_engine_page_unref(e, p);
        e->kv_migrations++;
    }
    return HIVE_OK;
}

void hive_engine_kv_tier_stats(const hive_engine *e, hive_kv_tier_stats *out) {
    out->tail_pages = e->n_tail_blocks - (e->graph_ext ? 1 : 0);
    out->store_pages = e->n_blocks_total - e->n_tail_blocks;
    out->tail_free = e->n_free;
    out->store_free = e->n_free_store;
    out->migrations = e->kv_migrations;
}

uint32_t hive_engine_seq_store_pages(const hive_engine *e, int32_t seq) {
    if (seq < 0 || (uint32_t)seq >= e->opts.max_seqs || !e->seqs[seq].active) return 0;
    uint32_t n = 0;
    for (uint32_t b = 0; b < e->seqs[seq].n_blocks; b++) n += (uint32_t)e->seqs[seq].blocks[b] >= e->n_tail_blocks;
    return n;
}

uint32_t hive_engine_seq_share_prefix(hive_engine *e, int32_t dst, int32_t src, uint32_t len) {
    if (dst == src || dst < 0 || src < 0 || (uint32_t)dst >= e->opts.max_seqs || (uint32_t)src >= e->opts.max_seqs ||
        !e->seqs[dst].active || !e->seqs[src].active)
        return hive_engine_seq_len(e, dst);
    seq_state *d = &e->seqs[dst], *s = &e->seqs[src];
    if (e->n_ssm_layers) return hive_engine_seq_len(e, dst); /* a state is not shareable by pages: recompute */
    uint32_t rows = s->n_virtual + len < s->len ? s->n_virtual + len : s->len;
    uint32_t pages = rows / e->opts.kv_block; /* whole pages only: they are never written again */
    if (pages * e->opts.kv_block < s->n_virtual || pages * e->opts.kv_block <= d->len)
        return hive_engine_seq_len(e, dst); /* nothing gained (or a soft prompt would be cut) */
    release_pages(e, d, 0);
    for (uint32_t i = 0; i < pages; i++) {
        d->blocks[i] = s->blocks[i];
        e->page_refs[s->blocks[i]]++;
    }
    d->n_blocks = pages;
    d->len = pages * e->opts.kv_block;
    d->n_virtual = s->n_virtual;
    memcpy(d->tokens, s->tokens, d->len * sizeof *d->tokens);
    return d->len - d->n_virtual;
}

hive_status hive_engine_seq_new(hive_engine *e, int32_t *seq, hive_error **err) {
    for (uint32_t i = 0; i < e->opts.max_seqs; i++)
        if (!e->seqs[i].active) {
            e->seqs[i].active = 1;
            e->seqs[i].len = 0;
            e->seqs[i].n_blocks = 0;
            e->seqs[i].n_virtual = 0;
            e->seqs[i].set = NULL;
            hive_status st = hive_engine_ssm_reset(e, (int32_t)i, err);
            if (st != HIVE_OK) {
                e->seqs[i].active = 0;
                return st;
            }
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

void hive_engine_kv_pages(const hive_engine *e, uint32_t *total, uint32_t *free_pages) {
    *total = e->n_blocks_total - (e->graph_ext ? 1 : 0);
    *free_pages = e->n_free + e->n_free_store;
}

uint32_t hive_engine_seq_pages(const hive_engine *e, int32_t seq) {
    return (seq >= 0 && (uint32_t)seq < e->opts.max_seqs && e->seqs[seq].active) ? e->seqs[seq].n_blocks : 0;
}

uint32_t hive_engine_kv_pages_held(const hive_engine *e, const int32_t *seqs, uint32_t n) {
    uint8_t *seen = calloc(e->n_blocks_total, 1);
    uint32_t count = 0;
    for (uint32_t i = 0; seen && i < n; i++) {
        if (seqs[i] < 0 || (uint32_t)seqs[i] >= e->opts.max_seqs || !e->seqs[seqs[i]].active) continue;
        const seq_state *s = &e->seqs[seqs[i]];
        for (uint32_t b = 0; b < s->n_blocks; b++)
            if (!seen[s->blocks[b]]) seen[s->blocks[b]] = 1, count++;
    }
    free(seen);
    return count;
}

const int32_t *hive_engine_seq_tokens(const hive_engine *e, int32_t seq) {
    return (seq >= 0 && (uint32_t)seq < e->opts.max_seqs) ? e->seqs[seq].tokens + e->seqs[seq].n_virtual : NULL;
}

const hive_adapter_set *hive_engine_seq_adapters(const hive_engine *e, int32_t seq) {
    return (seq >= 0 && (uint32_t)seq < e->opts.max_seqs && e->seqs[seq].active) ? e->seqs[seq].set : NULL;
}

uint32_t hive_engine_seq_len(const hive_engine *e, int32_t seq) {
    return (seq >= 0 && (uint32_t)seq < e->opts.max_seqs) ? e->seqs[seq].len - e->seqs[seq].n_virtual : 0;
}

uint32_t hive_engine_seq_ctx(const hive_engine *e, int32_t seq) {
    return (seq >= 0 && (uint32_t)seq < e->opts.max_seqs) ? e->opts.ctx - e->seqs[seq].n_virtual : e->opts.ctx;
}

uint32_t hive_engine_seq_reusable_len(const hive_engine *e, int32_t seq, uint32_t len) {
    if (seq < 0 || (uint32_t)seq >= e->opts.max_seqs || !e->seqs[seq].active) return 0;
    const seq_state *s = &e->seqs[seq];
    /* Mamba2 keeps all or nothing: its state is the whole past */
    if (e->n_ssm_layers) return s->n_virtual + len >= s->len ? s->len - s->n_virtual : 0;
    uint32_t rows = s->n_virtual + len < s->len ? s->n_virtual + len : s->len, page = rows / e->opts.kv_block;
    if (rows % e->opts.kv_block && page < s->n_blocks && e->page_refs[s->blocks[page]] > 1)
        rows = page * e->opts.kv_block;
    return rows > s->n_virtual ? rows - s->n_virtual : 0;
}

hive_status hive_engine_seq_truncate(hive_engine *e, int32_t seq, uint32_t len, hive_error **err) {
    if (seq < 0 || (uint32_t)seq >= e->opts.max_seqs || !e->seqs[seq].active)
        return hive_fail(err, HIVE_E_INVALID, "no sequence %d", seq);
    seq_state *s = &e->seqs[seq];
    len += s->n_virtual; /* virtual rows stay */
    if (len > s->len) return hive_fail(err, HIVE_E_INVALID, "cannot truncate sequence of %u tokens to %u", s->len, len);
    if (e->n_ssm_layers && len != s->len) {
        if (len > s->n_virtual)
            return hive_fail(err, HIVE_E_UNSUPPORTED,
                             "sequence %d: a Mamba2 state holds its whole past, so it cannot be cut back to %u of %u "
                             "tokens (only kept whole or restarted); speculative decoding and partial prefix reuse "
                             "need attention-only models",
                             seq, len - s->n_virtual, s->len - s->n_virtual);
        hive_status st = hive_engine_ssm_reset(e, seq, err);
        if (st != HIVE_OK) return st;
    }
    uint32_t page = len / e->opts.kv_block;
    if (len < s->len && len % e->opts.kv_block && page < s->n_blocks && e->page_refs[s->blocks[page]] > 1)
        return hive_fail(err, HIVE_E_INTERNAL, "truncating sequence %d to %u tokens would overwrite a shared KV page "
                         "(hive_engine_seq_reusable_len)", seq, len - s->n_virtual);
    s->len = len;
    release_pages(e, s, (len + e->opts.kv_block - 1) / e->opts.kv_block);
    return HIVE_OK;
}
