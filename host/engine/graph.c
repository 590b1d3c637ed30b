/* Decode steps as device graphs (HIVE_EXT_GRAPH, e.g. CUDA graphs): a step of
 * n rows is padded to a bucket B, and the ops of a B-row step are captured
 * once per (B, adapter set of each row) and replayed afterwards, so a decode
 * step costs one launch instead of a few hundred.
 *
 * What the backend re-reads at each replay lives at fixed addresses here
 * (g_tokens, g_row_seq, g_row_pos, g_block_table); everything else a graph
 * holds (buffers, weights, shapes, adapter layout) is fixed, so anything that
 * changes it is part of the key or flushes the cache (replaced weights).
 * Padding rows are token 0 at position 0 of a reserved KV page, with no
 * adapters: rows never see each other, so they change no real row.
 * A key is run eagerly the first time it is seen (that sizes the backend's
 * scratch), captured the second time, replayed from then on. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_impl.h"
#include "util/error.h"
#include "util/log.h"

#define GRAPH_CACHE 16      /* graphs kept (least recently used goes) */
#define GRAPH_MAX_ROWS 256  /* larger decode batches run eagerly */

typedef struct graph_entry {
    uint32_t bucket;
    const hive_adapter_set **sets; /* [bucket] */
    uint64_t *set_ids;             /* [bucket]: a set freed and another allocated at its address differ */
    hive_graph *g;                 /* NULL: seen once, not captured yet */
    int failed;                    /* capture refused: this key runs eagerly */
    uint64_t last_use;
} graph_entry;

static uint32_t bucket_of(uint32_t n) {
    if (n <= 4) return n <= 1 ? 1 : n <= 2 ? 2 : 4;
    return (n + 7) / 8 * 8;
}

void hive_engine_graphs_probe(hive_engine *e) {
    e->graph_ext = NULL;
    e->pad_block = -1;
    /* a captured step keeps its rope table; dynamic NTK / longrope change it per step */
    /* experts are routed on the host between ops: a step is not one graph */
    /* nor are Mamba2 steps: their state ops are not recordable */
    if (!e->opts.graphs || !e->be->get_extension || hive_rope_by_length(&e->hp) || e->hp.n_experts || e->hp.ssm_heads)
        return;
    e->graph_ext = e->be->get_extension(e->dev, HIVE_EXT_GRAPH, 1);
    /* the largest bucket the activation buffers hold */
    uint32_t m = e->opts.max_rows < GRAPH_MAX_ROWS ? e->opts.max_rows : GRAPH_MAX_ROWS;
    e->graph_max_rows = m >= 8 ? m - m % 8 : m >= 4 ? 4 : m >= 2 ? 2 : 1;
}

hive_status hive_engine_graphs_init(hive_engine *e, hive_error **err) {
    if (!e->graph_ext) return HIVE_OK;
    uint32_t R = e->graph_max_rows;
    e->g_tokens = calloc(R, sizeof *e->g_tokens);
    e->g_row_seq = calloc(R, sizeof *e->g_row_seq);
    e->g_row_pos = calloc(R, sizeof *e->g_row_pos);
    e->g_block_table = calloc((size_t)R * e->max_blocks, sizeof *e->g_block_table);
    e->g_sets = calloc(R, sizeof *e->g_sets);
    e->g_set_ids = calloc(R, sizeof *e->g_set_ids);
    e->graphs = calloc(GRAPH_CACHE, sizeof *e->graphs);
    if (!e->g_tokens || !e->g_row_seq || !e->g_row_pos || !e->g_block_table || !e->g_sets || !e->g_set_ids ||
        !e->graphs)
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    HLOG_DEBUG("decode graphs: on, batches up to %u rows", R);
    return HIVE_OK;
}

static void entry_clear(hive_engine *e, graph_entry *g) {
    if (g->g) e->graph_ext->graph_free(e->dev, g->g);
    free(g->sets);
    free(g->set_ids);
    memset(g, 0, sizeof *g);
}

void hive_engine_graphs_flush(hive_engine *e) {
    for (uint32_t i = 0; e->graphs && i < e->n_graphs; i++) entry_clear(e, &e->graphs[i]);
    e->n_graphs = 0;
}

void hive_engine_graphs_free(hive_engine *e) {
    hive_engine_graphs_flush(e);
    if (e->g_logits) e->be->buffer_free(e->dev, e->g_logits);
    e->g_logits = NULL;
    free(e->graphs);
    free(e->g_tokens);
    free(e->g_row_seq);
    free(e->g_row_pos);
    free(e->g_block_table);
    free(e->g_sets);
    free(e->g_set_ids);
}

void hive_engine_adapters_released(hive_engine *e) {
    if (!e) return;
    hive_engine_graphs_flush(e);
    hive_engine_soft_prompts_drop(e);
    hive_engine_mla_sets_drop(e);
}

void hive_engine_graph_stats(const hive_engine *e, uint64_t *captured, uint64_t *replayed) {
    *captured = e->graph_captures;
    *replayed = e->graph_replays;
}

/* The entry for the key in g_sets/g_set_ids, made (evicting the least
 * recently used) when absent; *fresh = 1 when just made. */
static graph_entry *entry_for(hive_engine *e, uint32_t B, int *fresh, hive_error **err) {
    *fresh = 0;
    for (uint32_t i = 0; i < e->n_graphs; i++) {
        graph_entry *g = &e->graphs[i];
        if (g->bucket == B && !memcmp(g->sets, e->g_sets, B * sizeof *g->sets) &&
            !memcmp(g->set_ids, e->g_set_ids, B * sizeof *g->set_ids))
            return g;
    }
    const hive_adapter_set **sets = malloc(B * sizeof *sets);
    uint64_t *ids = malloc(B * sizeof *ids);
    if (!sets || !ids) {
        free(sets);
        free(ids);
        hive_fail(err, HIVE_E_NOMEM, "out of memory");
        return NULL;
    }
    graph_entry *g = &e->graphs[e->n_graphs];
    if (e->n_graphs == GRAPH_CACHE) {
        g = &e->graphs[0];
        for (uint32_t i = 1; i < e->n_graphs; i++)
            if (e->graphs[i].last_use < g->last_use) g = &e->graphs[i];
        entry_clear(e, g);
    } else {
        e->n_graphs++;
    }
    g->bucket = B;
    g->sets = sets;
    g->set_ids = ids;
    memcpy(g->sets, e->g_sets, B * sizeof *g->sets);
    memcpy(g->set_ids, e->g_set_ids, B * sizeof *g->set_ids);
    *fresh = 1;
    return g;
}

/* Logits of every graph row, made at the first capture for the largest
 * bucket: graphs hold its address, so it never moves. */
static hive_status ensure_logits(hive_engine *e, hive_error **err) {
    if (e->g_logits) return HIVE_OK;
    uint32_t rows = e->graph_max_rows;
    return e->be->buffer_alloc(e->dev, (uint64_t)rows * e->hp.vocab * sizeof(float), &e->g_logits, err);
}

/* What a graph holds: embeddings, layers, final norm and the output head. */
static hive_status record_step(hive_engine *e, uint32_t B, hive_error **err) {
    hive_batch batch = {sizeof batch, B, e->g_row_seq, e->g_row_pos, B, e->max_blocks, e->g_block_table};
    hive_status st = hive_engine_run_layers(e, e->g_tokens, NULL, B, &batch, err);
    hive_tensor x = hive_t(e->act.x, 0, B, e->hp.hidden), h = hive_t(e->act.h, 0, B, e->hp.hidden);
    hive_tensor lg = hive_t(e->g_logits, 0, B, e->hp.vocab);
    if (st == HIVE_OK) st = e->be->op_rmsnorm(e->dev, &x, e->output_norm, e->hp.rms_eps, &h, err);
    float alpha = e->hp.logits_div > 0 ? 1.0f / e->hp.logits_div : 1.0f;
    if (st == HIVE_OK) st = e->be->op_matmul(e->dev, &h, e->output, NULL, alpha, 0.0f, &lg, err);
    return st;
}

/* Records g's step. A step that cannot be captured is not an error: the key
 * is marked failed and its steps run op by op. */
static void capture(hive_engine *e, graph_entry *g) {
    hive_error *why = NULL;
    hive_status st = e->graph_ext->capture_begin(e->dev, &why);
    if (st == HIVE_OK) {
        hive_status rec = record_step(e, g->bucket, &why);
        hive_error *end_why = NULL;
        st = e->graph_ext->capture_end(e->dev, &g->g, rec == HIVE_OK ? &why : &end_why);
        hive_error_free(end_why);
        if (rec != HIVE_OK) st = rec;
    }
    if (st == HIVE_OK) {
        e->graph_captures++;
        return;
    }
    g->g = NULL;
    g->failed = 1;
    HLOG_WARN("decode graph for %u rows not captured (%s): running those steps op by op", g->bucket,
               hive_error_message(why));
    hive_error_free(why);
}

hive_status hive_engine_graph_step(hive_engine *e, const int32_t *tokens, uint32_t n, float *logits, int32_t *argmax,
                                   int *ran, hive_error **err) {
    *ran = 0;
    if (!e->graph_ext || n > e->graph_max_rows) return HIVE_OK;
    const uint32_t B = bucket_of(n), mb = e->max_blocks;
    for (uint32_t i = 0; i < B; i++) {
        const hive_adapter_set *set = i < n ? e->seqs[e->local_seq_ids[i]].set : NULL;
        e->g_sets[i] = set;
        e->g_set_ids[i] = set ? set->id : 0;
    }
    int fresh = 0;
    graph_entry *g = entry_for(e, B, &fresh, err);
    if (!g) return HIVE_E_NOMEM;
    g->last_use = ++e->graph_clock;
    if (fresh || g->failed) return HIVE_OK; /* eager: first sight warms the backend up */
    hive_status st = ensure_logits(e, err);
    if (st != HIVE_OK) return st;

    /* this step's host arrays, in place; row i is local sequence i */
    for (uint32_t i = 0; i < B; i++) {
        int real = i < n;
        e->g_tokens[i] = real ? tokens[i] : 0;
        e->g_row_seq[i] = (int32_t)i;
        e->g_row_pos[i] = real ? e->row_pos[i] : 0;
        int32_t *bt = e->g_block_table + (size_t)i * mb;
        if (real) memcpy(bt, e->block_table + (size_t)e->row_seq[i] * mb, mb * sizeof *bt);
        else
            for (uint32_t j = 0; j < mb; j++) bt[j] = e->pad_block;
    }
    /* padding rows form one segment without adapters */
    uint32_t saved_segs = e->n_segs, saved_last = e->n_segs ? e->segs[e->n_segs - 1].n : 0;
    if (B > n) {
        if (e->n_segs && !e->segs[e->n_segs - 1].set) e->segs[e->n_segs - 1].n += B - n;
        else e->segs[e->n_segs++] = (segment){n, B - n, NULL};
    }
    if (!g->g) capture(e, g);
    int captured = g->g != NULL;
    if (captured) st = e->graph_ext->replay(e->dev, g->g, err);
    if (saved_segs) e->segs[saved_segs - 1].n = saved_last;
    e->n_segs = saved_segs;
    if (st != HIVE_OK || !captured) return st;
    e->graph_replays++;

    /* only the real rows leave the device */
    *ran = 1;
    hive_tensor lg = hive_t(e->g_logits, 0, n, e->hp.vocab);
    if (!argmax)
        return e->be->buffer_download(e->dev, e->g_logits, 0, logits, (uint64_t)n * e->hp.vocab * sizeof(float), err);
    for (uint32_t r0 = 0; r0 < n; r0 += e->act.logit_rows) {
        hive_tensor part = lg;
        part.offset = (uint64_t)r0 * e->hp.vocab * sizeof(float);
        part.rows = n - r0 < e->act.logit_rows ? n - r0 : e->act.logit_rows;
        if ((st = hive_engine_argmax_rows(e, &part, e->argmax_host, argmax + r0, err)) != HIVE_OK) return st;
    }
    return HIVE_OK;
}
