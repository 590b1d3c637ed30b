/* op_attention over a cache whose K and V are not one of the pairs
 * ops_attention.c runs (f16/f16, f32/f32, q8_0/q8_0): a q4_0 or bf16 half, or
 * K and V of different types. One task per (row, query head), each half read
 * in place by its own kernels: an f16 K takes q rounded to f16 and an f16 V
 * the softmax weights rounded to f16, as ops_attention.c's f16 path (and
 * llama.cpp) does; q8_0, q4_0 and bf16 keep them f32.
 * Two-tier caches (ABI 1.9, --kv-tail) come here too once a sequence holds
 * store pages: each run of slots whose pages share a tier is read by that
 * tier's kernels (the softmax stays whole over all slots). q8_0 and q4_0
 * halves are stored rotated (cpu_kv_rotated): their K is read with q
 * rotated, and the p.V sum of their V is rotated back. */
#include <stdlib.h>
#include "cpu_internal.h"

typedef struct {
    const hive_device *dev;
    const hive_kv_cache *kv;
    uint32_t layer, n_heads, group;
    float scale;
    const hive_tensor *q, *q_rot, *out; /* q_rot: q rotated, for rotated K (cpu_kv_rotated) */
    const hive_batch *batch;
    int64_t max_ctx;
    volatile int *failed;
    size_t **k_off, **v_off; /* [seq][slot] byte offsets of KV head 0's rows in K and in V */
} typed_ctx;

typedef struct {
    float *sc;      /* [max_ctx] scores, then weights */
    float *p16;     /* [max_ctx] weights rounded to f16 (an f16 V) */
    float *q16;     /* [head_dim] q rounded to f16 */
    float *cls;     /* [8][head_dim] f16 p.V class sums */
    float *part;    /* [head_dim] p.V of a later run of slots */
    float *v_rot;   /* [head_dim] p.V of the runs whose V is stored rotated */
    uint16_t *half; /* max(max_ctx, head_dim) halves */
} typed_scratch;

static void run_scores(const cpu_kernels *k, uint32_t dtype, const float *q, const float *q16, const uint8_t *base,
                       const size_t *off, int n, int64_t hd, float *sc) {
    switch (dtype) {
    case HIVE_DTYPE_F16: k->dot_slots_f16(q16, base, off, n, hd, sc); break;
    case HIVE_DTYPE_Q8_0: k->dot_slots_q8_0(q, base, off, n, hd, sc); break;
    case HIVE_DTYPE_Q4_0: k->dot_slots_q4_0(q, base, off, n, hd, sc); break;
    default: k->dot_slots_bf16(q, base, off, n, hd, sc); break;
    }
}

static void run_values(const cpu_kernels *k, uint32_t dtype, const float *p, const float *p16, const uint8_t *base,
                       const size_t *off, int n, int64_t hd, float *o, float *cls) {
    switch (dtype) {
    case HIVE_DTYPE_F16: k->pv_f16(p16, base, off, n, hd, o, cls); break;
    case HIVE_DTYPE_Q8_0: k->pv_q8_0(p, base, off, n, hd, o); break;
    case HIVE_DTYPE_Q4_0: k->pv_q4_0(p, base, off, n, hd, o); break;
    default: k->pv_bf16(p, base, off, n, hd, o); break;
    }
}

/* End of the run of slots from t0 (< n) whose pages are all of t0's tier. */
static int32_t tier_run_end(const hive_kv_cache *kv, const int32_t *bt, int32_t t0, int32_t n) {
    uint32_t bs = kv->desc.block_size, nb = kv->desc.n_blocks;
    int store = (uint32_t)bt[(uint32_t)t0 / bs] >= nb;
    int32_t t = (int32_t)(((uint32_t)t0 / bs + 1) * bs);
    while (t < n && ((uint32_t)bt[(uint32_t)t / bs] >= nb) == store) t += (int32_t)bs;
    return t < n ? t : n;
}

static void typed_head(const typed_ctx *c, int64_t r, uint32_t h, const typed_scratch *w) {
    const cpu_kernels *k = &c->dev->kern;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim, bs = kv->desc.block_size, kvh = h / c->group;
    int32_t s = c->batch->row_seq[r], n = c->batch->row_pos[r] + 1;
    const int32_t *bt = c->batch->block_table + (size_t)s * c->batch->max_blocks;
    int tiers = kv->desc.n_store_blocks != 0;
    /* [tier][K, V] bases of this layer and KV head; types likewise */
    size_t head_row = cpu_kv_row_index(kv, kv->desc.n_blocks, 0, kvh, 0);
    const uint8_t *base[2][2] = {{kv->k + c->layer * kv->layer_bytes + head_row * kv->row_bytes,
                                  kv->v + c->layer * kv->v_layer_bytes + head_row * kv->v_row_bytes},
                                 {NULL, NULL}};
    if (tiers) {
        size_t s_head_row = cpu_kv_row_index(kv, kv->desc.n_store_blocks, 0, kvh, 0);
        base[1][0] = kv->sk + c->layer * kv->s_layer_bytes + s_head_row * kv->s_row_bytes;
        base[1][1] = kv->sv + c->layer * kv->s_v_layer_bytes + s_head_row * kv->s_v_row_bytes;
    }
    const uint32_t types[2][2] = {{kv->k_dtype, kv->v_dtype}, {kv->s_k_dtype, kv->s_v_dtype}};
    const float *q = cpu_row(c->q, r) + (size_t)h * hd;
    const float *q_rot = c->q_rot ? cpu_row(c->q_rot, r) + (size_t)h * hd : q;
    float *o = cpu_row(c->out, r) + (size_t)h * hd;
    if (kv->k_dtype == HIVE_DTYPE_F16) {
        k->f32_to_f16(q, w->half, hd);
        k->dequant[HIVE_DTYPE_F16](w->half, w->q16, hd);
    }
    for (int32_t t0 = 0, t1; t0 < n; t0 = t1) {
        t1 = tiers ? tier_run_end(kv, bt, t0, n) : n;
        int tier = tiers && (uint32_t)bt[(uint32_t)t0 / bs] >= kv->desc.n_blocks;
        run_scores(k, types[tier][0], cpu_kv_rotated(types[tier][0]) ? q_rot : q, w->q16, base[tier][0],
                   c->k_off[s] + t0, t1 - t0, hd, w->sc + t0);
    }
    /* ggml's soft_max, as ops_attention.c's att_softmax */
    float m = k->scale_max_f32(c->scale, w->sc, n);
    double sum = k->exp_sum(w->sc, m, w->sc, n);
    k->scale_f32((float)(1.0 / sum), w->sc, n);
    if (kv->v_dtype == HIVE_DTYPE_F16) {
        k->f32_to_f16(w->sc, w->half, n);
        k->dequant[HIVE_DTYPE_F16](w->half, w->p16, n);
    }
    /* p.V by runs into two sums, V as stored and V stored rotated; the
     * first run of each writes its sum, later ones add to it */
    float *pv[2] = {o, w->v_rot};
    int had[2] = {0, 0};
    for (int32_t t0 = 0, t1; t0 < n; t0 = t1) {
        t1 = tiers ? tier_run_end(kv, bt, t0, n) : n;
        int tier = tiers && (uint32_t)bt[(uint32_t)t0 / bs] >= kv->desc.n_blocks, rot = cpu_kv_rotated(types[tier][1]);
        run_values(k, types[tier][1], w->sc + t0, w->p16 + t0, base[tier][1], c->v_off[s] + t0, t1 - t0, hd,
                   had[rot] ? w->part : pv[rot], w->cls);
        if (had[rot])
            for (uint32_t i = 0; i < hd; i++) pv[rot][i] += w->part[i];
        had[rot] = 1;
    }
    if (!had[1]) return;
    cpu_kv_unrotate(w->v_rot, had[0] ? w->part : o, hd, cpu_kv_rotate_block(hd));
    if (had[0])
        for (uint32_t i = 0; i < hd; i++) o[i] += w->part[i];
}

static void typed_task(void *ctx, int64_t i0, int64_t i1) {
    const typed_ctx *c = ctx;
    size_t hd = c->kv->desc.head_dim, P = (size_t)c->max_ctx, nh = P > hd ? P : hd;
    float *mem = malloc((2 * P + 11 * hd) * sizeof(float) + nh * sizeof(uint16_t));
    if (!mem) {
        c->failed[0] = 1;
        return;
    }
    typed_scratch w = {mem, mem + P, mem + 2 * P, mem + 2 * P + hd, mem + 2 * P + 9 * hd, mem + 2 * P + 10 * hd,
                       (uint16_t *)(mem + 2 * P + 11 * hd)};
    for (int64_t i = i0; i < i1; i++) typed_head(c, i / c->n_heads, (uint32_t)(i % c->n_heads), &w);
    free(mem);
}

/* cpu_attention_slot_offsets with store pages (1.9): a store page's rows are
 * store_row_bytes long and counted from its own array's start. */
static size_t **tier_slot_offsets(const hive_kv_cache *kv, const hive_batch *b, size_t row_bytes,
                                  size_t store_row_bytes) {
    size_t **offs = cpu_attention_slot_offsets(kv, b, row_bytes);
    uint32_t bs = kv->desc.block_size, nb = kv->desc.n_blocks;
    if (!offs || !kv->desc.n_store_blocks) return offs;
    for (uint32_t r = 0; r < b->n_rows; r++) { /* each sequence's longest row covers its slots */
        int32_t s = b->row_seq[r];
        const int32_t *bt = b->block_table + (size_t)s * b->max_blocks;
        for (int32_t t = 0; t <= b->row_pos[r]; t++)
            if ((uint32_t)bt[(uint32_t)t / bs] >= nb)
                offs[s][t] = cpu_kv_row_index(kv, kv->desc.n_store_blocks, (size_t)bt[(uint32_t)t / bs] - nb, 0,
                                              (uint32_t)t % bs) *
                             store_row_bytes;
    }
    return offs;
}

int cpu_kv_batch_reads_store(const hive_kv_cache *kv, const hive_batch *b) {
    if (!kv->desc.n_store_blocks) return 0;
    for (uint32_t r = 0; r < b->n_rows; r++) {
        const int32_t *bt = b->block_table + (size_t)b->row_seq[r] * b->max_blocks;
        for (uint32_t i = 0; i <= (uint32_t)b->row_pos[r] / kv->desc.block_size; i++)
            if ((uint32_t)bt[i] >= kv->desc.n_blocks) return 1;
    }
    return 0;
}

/* Called by cpu_op_attention once the arguments are checked. */
hive_status cpu_attention_typed(hive_device *dev, hive_kv_cache *kv, uint32_t layer, const hive_tensor *q,
                                const hive_tensor *q_rot, uint32_t n_heads, float scale, const hive_batch *batch,
                                const hive_tensor *out, hive_error **err) {
    int64_t max_ctx = 1;
    for (int64_t r = 0; r < q->rows; r++)
        if (batch->row_pos[r] + 1 > max_ctx) max_ctx = batch->row_pos[r] + 1;
    volatile int failed = 0;
    typed_ctx c = {dev, kv, layer, n_heads, n_heads / kv->desc.n_kv_heads, scale, q, q_rot, out, batch, max_ctx, &failed,
                   tier_slot_offsets(kv, batch, kv->row_bytes, kv->s_row_bytes),
                   tier_slot_offsets(kv, batch, kv->v_row_bytes, kv->s_v_row_bytes)};
    if (!c.k_off || !c.v_off) {
        free(c.k_off);
        free(c.v_off);
        return cpu_fail(err, HIVE_E_NOMEM, "attention: cannot allocate the slot offsets of %u sequences",
                        batch->n_seqs);
    }
    uint32_t hd = kv->desc.head_dim;
    cpu_parallel_for(dev, q->rows * n_heads, 16384 / (max_ctx * hd) + 1, typed_task, &c);
    free(c.k_off);
    free(c.v_off);
    if (failed) return cpu_fail(err, HIVE_E_NOMEM, "attention: cannot allocate %lld scores", (long long)max_ctx);
    return HIVE_OK;
}
