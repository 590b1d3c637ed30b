/* A soft prompt's virtual tokens have the same K/V in every sequence that
 * attaches the same expert set (they sit at positions 0..n-1 and see only
 * each other), so they are computed once per set and kept as a template:
 * its whole pages are shared, reference-counted, with every sequence that
 * attaches the set (appends go to later pages, so they are never written
 * again); the rows of the last, partial page are kept as f32 K/V rows and
 * stored into the sequence's own page on attach (copy-on-write: that page is
 * written by the tokens that follow). Storing the same rows again gives the
 * same cache contents, so a shared attach is bit-identical to a prefill. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "util/error.h"

#define SP_MAX_TEMPLATES 8 /* least recently used is dropped beyond this */

struct sp_template {
    /* key: the whole set (LoRA/DoRA/IA3 adapters beside the prompt change its K/V) */
    uint64_t set_id;
    uint32_t n_refs;
    const hive_adapter *adapters[HIVE_MAX_ADAPTERS_PER_SET];
    uint32_t n_virtual, n_pages; /* pages: the whole pages among the virtual rows */
    int32_t *pages;
    hive_buffer *tail;           /* rows n_pages * block .. n_virtual - 1: per KV layer [K rows | V rows], f32 */
    uint32_t tail_rows;
    uint64_t last_used;
    int busy;                    /* being attached: not dropped for pages */
};

static int same_set(const sp_template *t, const hive_adapter_set *set) {
    if (t->set_id != set->id || t->n_refs != set->n) return 0;
    for (uint32_t i = 0; i < set->n; i++)
        if (t->adapters[i] != set->refs[i].adapter) return 0;
    return 1;
}

static void template_free(hive_engine *e, sp_template *t) {
    for (uint32_t i = 0; i < t->n_pages; i++)
        hive_engine_page_unref(e, t->pages[i]);
    if (t->tail) e->be->buffer_free(e->dev, t->tail);
    free(t->pages);
    free(t);
}

static void drop_at(hive_engine *e, uint32_t i) {
    template_free(e, e->sp[i]);
    e->sp[i] = e->sp[--e->n_sp];
}

void hive_engine_soft_prompts_drop(hive_engine *e) {
    while (e->n_sp) drop_at(e, e->n_sp - 1);
}

int hive_engine_soft_prompts_free_pages(hive_engine *e) {
    int pick = -1;
    for (uint32_t i = 0; i < e->n_sp; i++) {
        const sp_template *t = e->sp[i];
        int frees = 0; /* a page only the template holds goes back to the pool */
        for (uint32_t p = 0; p < t->n_pages; p++) frees |= e->page_refs[t->pages[p]] == 1;
        if (!t->busy && frees && (pick < 0 || t->last_used < e->sp[pick]->last_used)) pick = (int)i;
    }
    if (pick < 0) return 0;
    drop_at(e, (uint32_t)pick);
    return 1;
}

void hive_engine_soft_prompt_stats(const hive_engine *e, hive_soft_prompt_stats *out) {
    memset(out, 0, sizeof *out);
    out->prefills = e->sp_prefills;
    out->shared_attaches = e->sp_shared;
    out->templates = e->n_sp;
    for (uint32_t i = 0; i < e->n_sp; i++) out->template_pages += e->sp[i]->n_pages;
}

hive_status hive_engine_soft_prompt_capture(hive_engine *e, uint32_t kv_layer, const hive_tensor *k,
                                            const hive_tensor *v, hive_error **err) {
    uint32_t rows = e->sp_capture_rows;
    uint64_t half = (uint64_t)rows * k->cols * sizeof(float);
    hive_tensor ko = hive_t(e->sp_capture, 2 * kv_layer * half, rows, k->cols);
    hive_tensor vo = hive_t(e->sp_capture, 2 * kv_layer * half + half, rows, v->cols);
    const int32_t *from = e->identity + e->sp_capture_row0;
    hive_status st = e->be->op_get_rows(e->dev, k, from, rows, &ko, err);
    return st == HIVE_OK ? e->be->op_get_rows(e->dev, v, from, rows, &vo, err) : st;
}

/* The sequence (empty) takes the template's pages and its tail rows. */
static hive_status attach_shared(hive_engine *e, int32_t seq, sp_template *t, hive_error **err) {
    seq_state *s = &e->seqs[seq];
    const uint32_t block = e->opts.kv_block, kvd = e->hp.n_kv_heads * e->hp.head_dim;
    for (uint32_t i = 0; i < t->n_pages; i++) {
        s->blocks[i] = t->pages[i];
        e->page_refs[t->pages[i]]++;
    }
    s->n_blocks = t->n_pages;
    s->len = t->n_pages * block;
    hive_status st = HIVE_OK;
    if (t->tail_rows) {
        t->busy = 1; /* reserving may drop templates to free pages: not this one */
        st = hive_engine_kv_reserve(e, seq, t->n_virtual, err);
        t->busy = 0;
        for (uint32_t i = 0; i < t->tail_rows; i++) e->row_seq[i] = 0, e->row_pos[i] = (int32_t)(s->len + i);
        hive_batch b = {sizeof b, t->tail_rows, e->row_seq, e->row_pos, 1, e->max_blocks, s->blocks};
        uint64_t half = (uint64_t)t->tail_rows * kvd * sizeof(float);
        for (uint32_t l = 0; st == HIVE_OK && l < e->hp.n_layers; l++) {
            if (e->layers[l].ssm_in) continue;
            uint32_t kl = e->kv_layer[l];
            hive_tensor k = hive_t(t->tail, 2 * kl * half, t->tail_rows, kvd);
            hive_tensor v = hive_t(t->tail, 2 * kl * half + half, t->tail_rows, kvd);
            st = e->be->op_kv_store(e->dev, e->kv, kl, &k, &v, &b, err);
        }
    }
    if (st != HIVE_OK) {
        s->len = 0;
        hive_engine_seq_truncate(e, seq, 0, NULL); /* gives the pages back */
        return st;
    }
    for (uint32_t i = 0; i < t->n_virtual; i++) s->tokens[i] = -1;
    s->len = s->n_virtual = t->n_virtual;
    t->last_used = ++e->sp_clock;
    e->sp_shared++;
    return HIVE_OK;
}

/* Prefill the virtual rows into seq, keeping what a template needs. */
static hive_status prefill_template(hive_engine *e, int32_t seq, const hive_adapter_set *set,
                                    const hive_adapter_ref *embed, hive_error **err) {
    seq_state *s = &e->seqs[seq];
    const uint32_t nv = embed->desc.n_virtual_tokens, block = e->opts.kv_block;
    const uint32_t kvd = e->hp.n_kv_heads * e->hp.head_dim;
    sp_template *t = calloc(1, sizeof *t);
    if (!t || !(t->pages = malloc((nv / block + 1) * sizeof *t->pages))) {
        free(t);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    t->set_id = set->id;
    t->n_refs = set->n;
    for (uint32_t i = 0; i < set->n; i++) t->adapters[i] = set->refs[i].adapter;
    t->n_virtual = nv;
    t->tail_rows = nv % block;
    hive_status st = HIVE_OK;
    if (t->tail_rows)
        st = e->be->buffer_alloc(e->dev, 2ull * e->hp.n_attn_layers * t->tail_rows * kvd * sizeof(float), &t->tail,
                                 err);
    int32_t seqs[nv];
    uint8_t want[nv];
    for (uint32_t i = 0; i < nv; i++) seqs[i] = seq, want[i] = 0;
    uint32_t got = 0;
    if (st == HIVE_OK) {
        e->sp_capture = t->tail; /* attention_block copies the tail rows' K/V here */
        e->sp_capture_row0 = nv - t->tail_rows;
        e->sp_capture_rows = t->tail_rows;
        st = hive_engine_forward_rows(e, NULL, embed, seqs, want, nv, NULL, NULL, &got, err);
        e->sp_capture = NULL;
    }
    if (st != HIVE_OK) {
        template_free(e, t);
        return st;
    }
    s->n_virtual = nv;
    e->sp_prefills++;
    t->n_pages = nv / block;
    for (uint32_t i = 0; i < t->n_pages; i++) {
        t->pages[i] = s->blocks[i];
        e->page_refs[t->pages[i]]++;
    }
    t->last_used = ++e->sp_clock;
    if (e->n_sp == SP_MAX_TEMPLATES) {
        uint32_t lru = 0;
        for (uint32_t i = 1; i < e->n_sp; i++)
            if (e->sp[i]->last_used < e->sp[lru]->last_used) lru = i;
        drop_at(e, lru);
    }
    e->sp[e->n_sp++] = t;
    return HIVE_OK;
}

hive_status hive_engine_soft_prompt_attach(hive_engine *e, int32_t seq, const hive_adapter_set *set,
                                           const hive_adapter_ref *embed, hive_error **err) {
    /* not for Mamba2 (a state cannot be shared by pages) or latent attention yet */
    if (e->n_ssm_layers || e->hp.mla_kv_rank)
        return hive_fail(err, HIVE_E_UNSUPPORTED, "soft prompts on %s models are not supported",
                         e->n_ssm_layers ? "Mamba2" : "latent-attention");
    if (!e->sp && !(e->sp = calloc(SP_MAX_TEMPLATES, sizeof *e->sp)))
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < e->n_sp; i++)
        if (same_set(e->sp[i], set) && e->sp[i]->n_virtual == embed->desc.n_virtual_tokens)
            return attach_shared(e, seq, e->sp[i], err);
    return prefill_template(e, seq, set, embed, err);
}
