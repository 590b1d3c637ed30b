/* op_attention: causal attention of each (row, head) over its sequence's KV
 * slots 0..pos, read through the block table; one task per (row, query
 * head). An f32 cache runs an online softmax in chunks (one head_dim
 * accumulator per task); an f16 cache computes what llama.cpp does, and a
 * q8_0 cache reads its blocks in place (att_head). Prefill chunks of f16 and
 * q8_0 caches are tiled (att_tiled), q8_0 decode is split by KV head
 * (att_split_q8_0); both give att_head's bits. A q8_0 cache holds its rows
 * rotated (cpu_kv_rotated): the queries are rotated before and the outputs
 * rotated back after, once per call. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "batch_check.h"

#define ATT_CHUNK 64

typedef struct {
    const hive_device *dev;
    const hive_kv_cache *kv;
    uint32_t layer, n_heads, group;
    float scale;
    const hive_tensor *q, *out;
    const hive_batch *batch;
    int64_t max_ctx;  /* longest context of a row */
    volatile int *failed; /* a task could not allocate its scores */
    size_t **slot_off;    /* f16 and q8_0: [seq][slot] byte offsets (att_slot_offsets) */
} att_ctx;

/* The start (bytes) of slot t of a sequence (block table bt) in a layer's K
 * or V pages, for KV head 0; head h is att_head_off(h) further. */
static inline size_t att_slot_off(const att_ctx *c, const int32_t *bt, int32_t t) {
    uint32_t bs = c->kv->desc.block_size;
    return cpu_kv_row_off(c->kv, (size_t)bt[(uint32_t)t / bs], 0, (uint32_t)t % bs);
}
static inline size_t att_head_off(const att_ctx *c, uint32_t kvh) { return cpu_kv_row_off(c->kv, 0, kvh, 0); }
/* Slots from t0 on that are contiguous (one block, at most ATT_CHUNK). */
static inline int att_run(const att_ctx *c, int32_t t0, int32_t p) {
    uint32_t in_block = c->kv->desc.block_size - (uint32_t)t0 % c->kv->desc.block_size;
    int n = p + 1 - t0;
    if ((uint32_t)n > in_block) n = (int)in_block;
    return n > ATT_CHUNK ? ATT_CHUNK : n;
}

/* f32 cache: online softmax in chunks, one head_dim accumulator. */
static void att_one_f32(const att_ctx *c, const float *qv, const uint8_t *kbase, const uint8_t *vbase,
                        const int32_t *bt, int32_t p, float *o) {
    const cpu_kernels *k = &c->dev->kern;
    uint32_t hd = c->kv->desc.head_dim;
    float acc[CPU_MAX_HEAD_DIM], sc[ATT_CHUNK];
    float m = -INFINITY, l = 0.0f;
    for (uint32_t i = 0; i < hd; i++) acc[i] = 0.0f;
    for (int32_t t0 = 0; t0 <= p;) {
        int n = att_run(c, t0, p);
        size_t off = att_slot_off(c, bt, t0);
        k->dot_slots_f32(qv, (const float *)(kbase + off), hd, n, hd, sc);
        float cm = -INFINITY;
        for (int i = 0; i < n; i++) {
            sc[i] *= c->scale;
            cm = fmaxf(cm, sc[i]);
        }
        if (cm > m) { /* rescale what was accumulated under the old maximum */
            float f = expf(m - cm);
            l *= f;
            k->scale_f32(f, acc, hd);
            m = cm;
        }
        l += (float)k->exp_sum(sc, m, sc, n);
        k->axpy_slots_f32(sc, (const float *)(vbase + off), hd, n, hd, acc);
        t0 += n;
    }
    float inv = 1.0f / l;
    for (uint32_t i = 0; i < hd; i++) o[i] = acc[i] * inv;
}

/* y = x rounded to f16 values, through the vector conversions; tmp holds n
 * halves */
static void round_f16(const cpu_kernels *k, const float *x, float *y, int64_t n, uint16_t *tmp) {
    k->f32_to_f16(x, tmp, n);
    k->dequant[HIVE_DTYPE_F16](tmp, y, n);
}

/* f16 cache: what llama.cpp's CPU build computes over its f16 cache when it
 * evaluates a batch (ggml's soft_max and the f16 GEMM, kernels.h). q is
 * rounded to f16 before q.k, the softmax is normalized before V (its sum in
 * double), and its weights are rounded to f16 before they multiply V. One
 * task per (row, query head): at decode that is 9-32 tasks rather than 3-8
 * per KV head, so two threads stay busy; the K and V rows a KV head's query
 * heads share come from L2 for all but the first. A q8_0 cache takes the
 * same path with its own kernels (blocks dequantized in registers) and no
 * f16 rounding of q or the weights. */
/* Scores -> normalized softmax weights in place: ggml's soft_max (the max,
 * e^x with the sum in double, one scale by its inverse). */
static void att_softmax(const cpu_kernels *k, float scale, float *sc, int64_t n) {
    float m = k->scale_max_f32(scale, sc, n);
    double sum = k->exp_sum(sc, m, sc, n);
    k->scale_f32((float)(1.0 / sum), sc, n);
}

typedef struct {
    float *sc;            /* [max_ctx] scores, then weights */
    uint16_t *half;       /* max(max_ctx, head_dim) halves for the f16 rounding */
    float *q16;           /* [head_dim] */
    float *cls;           /* [8][head_dim] p.V class sums */
} att_scratch;

static void att_head(const att_ctx *c, int64_t r, uint32_t h, const att_scratch *w) {
    const cpu_kernels *k = &c->dev->kern;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim;
    int32_t s = c->batch->row_seq[r], n = c->batch->row_pos[r] + 1;
    size_t head_off = att_head_off(c, h / c->group);
    const uint8_t *kbase = kv->k + c->layer * kv->layer_bytes + head_off;
    const uint8_t *vbase = kv->v + c->layer * kv->layer_bytes + head_off;
    const size_t *off = c->slot_off[s];
    const float *q = cpu_row(c->q, r) + (size_t)h * hd;
    int f16 = kv->elem_size == 2; /* else q8_0: q and the weights stay f32 */
    if (f16) round_f16(k, q, w->q16, hd, w->half);
    (f16 ? k->dot_slots_f16 : k->dot_slots_q8_0)(f16 ? w->q16 : q, kbase, off, n, hd, w->sc);
    att_softmax(k, c->scale, w->sc, n);
    float *o = cpu_row(c->out, r) + (size_t)h * hd;
    if (!f16) {
        k->pv_q8_0(w->sc, vbase, off, n, hd, o);
        return;
    }
    round_f16(k, w->sc, w->sc, n, w->half);
    k->pv_f16(w->sc, vbase, off, n, hd, o, w->cls);
}

static void att_one_f32_task(const att_ctx *c, int64_t r, uint32_t h) {
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim, kvh = h / c->group;
    int32_t s = c->batch->row_seq[r], p = c->batch->row_pos[r];
    const int32_t *bt = c->batch->block_table + (size_t)s * c->batch->max_blocks;
    size_t head_off = att_head_off(c, kvh);
    const uint8_t *kbase = kv->k + c->layer * kv->layer_bytes + head_off;
    const uint8_t *vbase = kv->v + c->layer * kv->layer_bytes + head_off;
    att_one_f32(c, cpu_row(c->q, r) + (size_t)h * hd, kbase, vbase, bt, p, cpu_row(c->out, r) + (size_t)h * hd);
}

/* tasks are (row, head) */
static void att_task(void *ctx, int64_t i0, int64_t i1) {
    const att_ctx *c = ctx;
    if (c->kv->elem_size == 4) {
        for (int64_t i = i0; i < i1; i++) att_one_f32_task(c, i / c->n_heads, (uint32_t)(i % c->n_heads));
        return;
    }
    size_t hd = c->kv->desc.head_dim, P = (size_t)c->max_ctx, nh = P > hd ? P : hd;
    att_scratch w;
    float *mem = malloc((P + hd + 8 * hd) * sizeof(float) + nh * sizeof(uint16_t));
    if (!mem) {
        c->failed[0] = 1;
        return;
    }
    w.sc = mem;
    w.q16 = w.sc + P;
    w.cls = w.q16 + hd;
    w.half = (uint16_t *)(w.cls + 8 * hd);
    for (int64_t i = i0; i < i1; i++) att_head(c, i / c->n_heads, (uint32_t)(i % c->n_heads), &w);
    free(mem);
}

/* Decode with fewer (row, head) tasks than twice the threads (SmolLM2 has 9
 * heads; a server has 16+ cores): each head's work is split so every thread
 * works (flash-decoding), in three passes that keep att_head's bits: q.k
 * by ranges of slots (every dot is on its own), the softmax whole per head,
 * p.V by ranges of dims (every dim's eight class sums are on their own). */
#define SPLIT_SLOTS 256 /* slots per q.k task */
#define SPLIT_DIMS 16   /* dims per p.V task */
#define MQ_MIN_SLOTS 512 /* GQA decode by KV head from this context on (measured, docs/PERFORMANCE.md) */
#define MQ_DIMS 32       /* dims per GQA p.V task: one 64-byte line of each f16 V row */
typedef struct {
    const att_ctx *c;
    float *sc;      /* [row * heads + head][max_ctx]: scores, then weights */
    float *q16;     /* [row * heads + head][head_dim] */
    uint16_t *half; /* [row * heads + head][max_ctx] */
    int64_t chunks; /* q.k tasks per head, p.V tasks per head */
    int64_t dchunks;
} att_split;

static void split_qk_task(void *ctx, int64_t i0, int64_t i1) {
    const att_split *sp = ctx;
    const att_ctx *c = sp->c;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim;
    for (int64_t i = i0; i < i1; i++) {
        int64_t rh = i / sp->chunks, t0 = (i % sp->chunks) * SPLIT_SLOTS, r = rh / c->n_heads;
        uint32_t h = (uint32_t)(rh % c->n_heads);
        int64_t n = c->batch->row_pos[r] + 1;
        if (t0 >= n) continue;
        int64_t t1 = n - t0 < SPLIT_SLOTS ? n : t0 + SPLIT_SLOTS;
        const uint8_t *kbase = kv->k + c->layer * kv->layer_bytes + att_head_off(c, h / c->group);
        c->dev->kern.dot_slots_f16(sp->q16 + rh * hd, kbase, c->slot_off[c->batch->row_seq[r]] + t0, (int)(t1 - t0),
                                   hd, sp->sc + rh * c->max_ctx + t0);
    }
}

static void split_softmax_task(void *ctx, int64_t i0, int64_t i1) {
    const att_split *sp = ctx;
    const att_ctx *c = sp->c;
    const cpu_kernels *k = &c->dev->kern;
    for (int64_t rh = i0; rh < i1; rh++) {
        int64_t n = c->batch->row_pos[rh / c->n_heads] + 1;
        float *sc = sp->sc + rh * c->max_ctx;
        att_softmax(k, c->scale, sc, n);
        round_f16(k, sc, sc, n, sp->half + rh * c->max_ctx);
    }
}

static void split_pv_task(void *ctx, int64_t i0, int64_t i1) {
    const att_split *sp = ctx;
    const att_ctx *c = sp->c;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim;
    float cls[8 * SPLIT_DIMS];
    for (int64_t i = i0; i < i1; i++) {
        int64_t rh = i / sp->dchunks, d0 = (i % sp->dchunks) * SPLIT_DIMS, r = rh / c->n_heads;
        uint32_t h = (uint32_t)(rh % c->n_heads);
        int64_t nd = hd - d0 < SPLIT_DIMS ? hd - d0 : SPLIT_DIMS;
        const uint8_t *vbase = kv->v + c->layer * kv->layer_bytes + att_head_off(c, h / c->group) + d0 * kv->elem_size;
        c->dev->kern.pv_f16(sp->sc + rh * c->max_ctx, vbase, c->slot_off[c->batch->row_seq[r]],
                            c->batch->row_pos[r] + 1, nd, cpu_row(c->out, r) + (size_t)h * hd + d0, cls);
    }
}

/* A q8_0 cache at decode: the same three passes, by KV head, so its query
 * heads share each slot's int8 -> f32 conversions (dot_slots_q8_0_mq,
 * pv_q8_0_acc_mq): q.k by (row, KV head, 256 slots), the softmax per head,
 * p.V by (row, KV head, block of 32 dims); every query's bits are
 * att_head's. The q.k pass serves the f16 GQA split below too: a q8_0
 * cache reads q as it is, an f16 one its f16-rounded copy (sp->q16). */
static void split_qk_mq_task(void *ctx, int64_t i0, int64_t i1) {
    const att_split *sp = ctx;
    const att_ctx *c = sp->c;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim, nkv = kv->desc.n_kv_heads;
    const int f16 = kv->elem_size == 2;
    for (int64_t i = i0; i < i1; i++) {
        int64_t rk = i / sp->chunks, t0 = (i % sp->chunks) * SPLIT_SLOTS, r = rk / nkv;
        uint32_t kvh = (uint32_t)(rk % nkv);
        int64_t n = c->batch->row_pos[r] + 1, rh = r * c->n_heads + kvh * c->group;
        if (t0 >= n) continue;
        int64_t t1 = n - t0 < SPLIT_SLOTS ? n : t0 + SPLIT_SLOTS;
        (f16 ? c->dev->kern.dot_slots_f16_mq : c->dev->kern.dot_slots_q8_0_mq)(
            f16 ? sp->q16 + rh * hd : cpu_row(c->q, r) + (size_t)kvh * c->group * hd, hd, (int)c->group,
            kv->k + c->layer * kv->layer_bytes + att_head_off(c, kvh), c->slot_off[c->batch->row_seq[r]] + t0,
            (int)(t1 - t0), hd, sp->sc + rh * c->max_ctx + t0, (size_t)c->max_ctx);
    }
}
static void split_softmax_q8_0_task(void *ctx, int64_t i0, int64_t i1) {
    const att_split *sp = ctx;
    const att_ctx *c = sp->c;
    for (int64_t rh = i0; rh < i1; rh++)
        att_softmax(&c->dev->kern, c->scale, sp->sc + rh * c->max_ctx, c->batch->row_pos[rh / c->n_heads] + 1);
}
static void split_pv_q8_0_task(void *ctx, int64_t i0, int64_t i1) {
    const att_split *sp = ctx;
    const att_ctx *c = sp->c;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim, nkv = kv->desc.n_kv_heads;
    for (int64_t i = i0; i < i1; i++) {
        int64_t rk = i / sp->dchunks, b = i % sp->dchunks, r = rk / nkv;
        uint32_t kvh = (uint32_t)(rk % nkv);
        int64_t rh = r * c->n_heads + kvh * c->group;
        float *o = cpu_row(c->out, r) + (size_t)kvh * c->group * hd + b * 32;
        for (uint32_t j = 0; j < c->group; j++) memset(o + j * hd, 0, 32 * sizeof *o);
        c->dev->kern.pv_q8_0_acc_mq(sp->sc + rh * c->max_ctx, (size_t)c->max_ctx, (int)c->group,
                                    kv->v + c->layer * kv->layer_bytes + att_head_off(c, kvh) + b * sizeof(blk_q8_0),
                                    c->slot_off[c->batch->row_seq[r]], c->batch->row_pos[r] + 1, 32, o, hd);
    }
}
/* 1 when it ran, 0 when it could not allocate */
static int att_split_q8_0(const att_ctx *c) {
    uint32_t hd = c->kv->desc.head_dim, nkv = c->kv->desc.n_kv_heads;
    int64_t rows = c->q->rows, P = c->max_ctx;
    att_split sp = {c, malloc((size_t)(rows * c->n_heads * P) * sizeof(float)), NULL, NULL,
                    (P + SPLIT_SLOTS - 1) / SPLIT_SLOTS, hd / 32};
    if (!sp.sc) return 0;
    cpu_parallel_for(c->dev, rows * nkv * sp.chunks, 1, split_qk_mq_task, &sp);
    cpu_parallel_for(c->dev, rows * c->n_heads, 1, split_softmax_q8_0_task, &sp);
    cpu_parallel_for(c->dev, rows * nkv * sp.dchunks, 1, split_pv_q8_0_task, &sp);
    free(sp.sc);
    return 1;
}

/* An f16 cache whose query heads share KV heads (GQA) at decode: q.k by
 * (row, KV head, 256 slots) and p.V by (row, KV head, 32 dims), the query
 * heads of a KV head sharing each K and V row's conversion
 * (dot_slots_f16_mq in split_qk_mq_task, pv_f16_mq); the softmax as above.
 * Every query's bits are att_head's. */
static void split_pv_f16_mq_task(void *ctx, int64_t i0, int64_t i1) {
    const att_split *sp = ctx;
    const att_ctx *c = sp->c;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim, nkv = kv->desc.n_kv_heads;
    float cls[3 * 8 * MQ_DIMS];
    for (int64_t i = i0; i < i1; i++) {
        int64_t rk = i / sp->dchunks, d0 = (i % sp->dchunks) * MQ_DIMS, r = rk / nkv;
        uint32_t kvh = (uint32_t)(rk % nkv);
        int64_t rh = r * c->n_heads + kvh * c->group;
        c->dev->kern.pv_f16_mq(sp->sc + rh * c->max_ctx, (size_t)c->max_ctx, (int)c->group,
                               kv->v + c->layer * kv->layer_bytes + att_head_off(c, kvh) + d0 * kv->elem_size,
                               c->slot_off[c->batch->row_seq[r]], c->batch->row_pos[r] + 1, MQ_DIMS,
                               cpu_row(c->out, r) + (size_t)kvh * c->group * hd + d0, hd, cls);
    }
}

/* 1 when it ran, 0 when it could not allocate (the caller runs the tasks per
 * head). mq: by KV head with the shared-row kernels (hd % MQ_DIMS == 0). */
static int att_split_f16(const att_ctx *c, int mq) {
    uint32_t hd = c->kv->desc.head_dim;
    int64_t rh = c->q->rows * c->n_heads, P = c->max_ctx;
    att_split sp = {c, malloc((size_t)(rh * P + rh * hd) * sizeof(float)), NULL,
                    malloc((size_t)(rh * (P > hd ? P : hd)) * sizeof(uint16_t)), (P + SPLIT_SLOTS - 1) / SPLIT_SLOTS,
                    (hd + SPLIT_DIMS - 1) / SPLIT_DIMS};
    if (!sp.sc || !sp.half) {
        free(sp.sc);
        free(sp.half);
        return 0;
    }
    sp.q16 = sp.sc + rh * P;
    for (int64_t i = 0; i < rh; i++)
        round_f16(&c->dev->kern, cpu_row(c->q, i / c->n_heads) + (size_t)(i % c->n_heads) * hd, sp.q16 + i * hd, hd,
                  sp.half);
    int64_t rk = c->q->rows * c->kv->desc.n_kv_heads;
    if (mq) sp.dchunks = hd / MQ_DIMS;
    if (mq) cpu_parallel_for(c->dev, rk * sp.chunks, 1, split_qk_mq_task, &sp);
    else cpu_parallel_for(c->dev, rh * sp.chunks, 1, split_qk_task, &sp);
    cpu_parallel_for(c->dev, rh, 1, split_softmax_task, &sp);
    if (mq) cpu_parallel_for(c->dev, rk * sp.dchunks, 1, split_pv_f16_mq_task, &sp);
    else cpu_parallel_for(c->dev, rh * sp.dchunks, 1, split_pv_task, &sp);
    free(sp.sc);
    free(sp.half);
    return 1;
}

/* Prefill: the rows of one sequence in a batch (a prompt chunk, a draft
 * being verified) share K/V tiles. A task is (block of consecutive rows of
 * one sequence, KV head); its rows x the KV head's query heads read each tile
 * of TILE_SLOTS slots once while it is in L1/L2, where a (row, head) task
 * streams the whole context from L3 or DRAM for itself (8192 slots: 1 MiB of
 * K and of V per KV head and layer). Every query runs att_head's kernels on
 * slot ranges starting at multiples of 8 (their own grouping, and p.V's
 * class sums carried between tiles), so the output is att_head's bits. */
#define TILE_ROWS 16          /* rows per block at most */
#define TILE_SLOTS 128        /* 16 KiB of f16 K at head_dim 64 */
#define TILE_SCORES (1 << 20) /* floats of scores a task may hold (4 MiB) */
_Static_assert(TILE_SLOTS % 8 == 0, "tiles start at multiples of 8: the f16 kernels' slot classes");
typedef struct {
    const att_ctx *c;
    const int32_t *r0, *nr; /* per block: first row, rows */
    int64_t n_blocks;
} att_tiles;

/* n f16 rows of a head (slots off[0..n-1]) -> f32, hd apart: exact, once
 * for all the tile's queries */
static void to_tile(const cpu_kernels *k, const uint8_t *base, const size_t *off, int32_t n, int64_t hd, float *tile) {
    for (int32_t t = 0; t < n; t++) k->dequant[HIVE_DTYPE_F16](base + off[t], tile + t * hd, hd);
}

static void att_tile(const att_ctx *c, int32_t r0, int nr, uint32_t kvh, float *mem) {
    const cpu_kernels *k = &c->dev->kern;
    const hive_kv_cache *kv = c->kv;
    const int64_t hd = kv->desc.head_dim, P = c->max_ctx, nq = (int64_t)nr * c->group;
    const int f16 = kv->elem_size == 2;
    const uint8_t *kbase = kv->k + c->layer * kv->layer_bytes + att_head_off(c, kvh);
    const uint8_t *vbase = kv->v + c->layer * kv->layer_bytes + att_head_off(c, kvh);
    const size_t *off = c->slot_off[c->batch->row_seq[r0]];
    float *sc = mem, *q16 = sc + nq * P, *cls = q16 + nq * hd; /* query j = row r0 + j / group, head j % group */
    float *tile = cls + nq * 8 * hd;                              /* f16: a tile of K or V rows in f32 */
    uint16_t *half = (uint16_t *)(tile + TILE_SLOTS * hd);
    int32_t nmax = 0;
    for (int64_t j = 0; j < nq; j++) {
        int64_t r = r0 + j / c->group;
        const float *q = cpu_row(c->q, r) + (size_t)(kvh * c->group + j % c->group) * hd;
        if (f16) round_f16(k, q, q16 + j * hd, hd, half);
        else memcpy(q16 + j * hd, q, (size_t)hd * sizeof *q16);
        if (c->batch->row_pos[r] + 1 > nmax) nmax = c->batch->row_pos[r] + 1;
    }
#define N_OF(j) (c->batch->row_pos[r0 + (j) / c->group] + 1)
    for (int32_t t0 = 0; t0 < nmax; t0 += TILE_SLOTS) {
        if (f16) to_tile(k, kbase, off + t0, nmax - t0 < TILE_SLOTS ? nmax - t0 : TILE_SLOTS, hd, tile);
        for (int64_t j = 0; j < nq; j += c->group) { /* a row's query heads */
            int32_t n = N_OF(j) - t0 < TILE_SLOTS ? N_OF(j) - t0 : TILE_SLOTS;
            if (n <= 0) continue;
            if (!f16)
                k->dot_slots_q8_0_mq(q16 + j * hd, hd, (int)c->group, kbase, off + t0, n, hd, sc + j * P + t0, P);
            else
                for (int64_t h = j; h < j + c->group; h++) k->dot_tile_f16(q16 + h * hd, tile, hd, n, hd, sc + h * P + t0);
        }
    }
    for (int64_t j = 0; j < nq; j++) {
        att_softmax(k, c->scale, sc + j * P, N_OF(j));
        if (f16) round_f16(k, sc + j * P, sc + j * P, N_OF(j), half);
    }
    /* p.V sums: f16 into each query's class sums, q8_0 straight into out */
#define OUT_OF(j) (cpu_row(c->out, r0 + (j) / c->group) + (size_t)(kvh * c->group + (j) % c->group) * hd)
    for (int64_t j = 0; j < nq; j++) memset(f16 ? cls + j * 8 * hd : OUT_OF(j), 0, (f16 ? 8 : 1) * hd * sizeof(float));
    for (int32_t t0 = 0; t0 < nmax; t0 += TILE_SLOTS) {
        if (f16) to_tile(k, vbase, off + t0, nmax - t0 < TILE_SLOTS ? nmax - t0 : TILE_SLOTS, hd, tile);
        for (int64_t j = 0; j < nq; j += c->group) {
            int32_t n = N_OF(j) - t0 < TILE_SLOTS ? N_OF(j) - t0 : TILE_SLOTS;
            if (n <= 0) continue;
            if (!f16)
                k->pv_q8_0_acc_mq(sc + j * P + t0, P, (int)c->group, vbase, off + t0, n, hd, OUT_OF(j), hd);
            else
                for (int64_t h = j; h < j + c->group; h++)
                    k->pv_tile_f16_acc(sc + h * P + t0, tile, hd, n, hd, cls + h * 8 * hd);
        }
    }
    if (f16)
        for (int64_t j = 0; j < nq; j++) k->pv_f16_sum(cls + j * 8 * hd, hd, OUT_OF(j));
#undef OUT_OF
#undef N_OF
}

/* tasks are (block, KV head); blocks taken from both ends in turn (0, last,
 * 1, last - 1, ...) so each thread's contiguous range holds as much causal
 * work as the other's */
static void att_tile_task(void *ctx, int64_t i0, int64_t i1) {
    const att_tiles *at = ctx;
    const att_ctx *c = at->c;
    uint32_t nkv = c->kv->desc.n_kv_heads;
    int64_t nq = 0, hd = c->kv->desc.head_dim, P = c->max_ctx;
    for (int64_t b = 0; b < at->n_blocks; b++)
        if (at->nr[b] * (int64_t)c->group > nq) nq = at->nr[b] * (int64_t)c->group;
    float *mem = malloc((size_t)(nq * (P + hd + 8 * hd) + TILE_SLOTS * hd) * sizeof(float) +
                        (size_t)(P > hd ? P : hd) * sizeof(uint16_t));
    if (!mem) {
        c->failed[0] = 1;
        return;
    }
    for (int64_t i = i0; i < i1; i++) {
        int64_t j = i / nkv, b = j % 2 ? at->n_blocks - 1 - j / 2 : j / 2;
        att_tile(c, at->r0[b], at->nr[b], (uint32_t)(i % nkv), mem);
    }
    free(mem);
}

/* 1 when it ran; 0 when the batch is not worth tiling (too few rows of a
 * sequence for the threads, too long a context for the scratch) or out of
 * memory: the caller runs the (row, head) tasks */
static int att_tiled(const att_ctx *c) {
    const hive_batch *b = c->batch;
    int64_t rows = c->q->rows, nkv = c->kv->desc.n_kv_heads, threads = c->dev->threads;
    /* at least 4 tasks a thread; at most TILE_SCORES scores a task */
    int64_t per = rows * nkv / (4 * threads), cap = TILE_SCORES / ((int64_t)c->group * c->max_ctx);
    if (per > TILE_ROWS) per = TILE_ROWS;
    if (per > cap) per = cap;
    if (per < 2) return 0;
    int32_t *r0 = malloc((size_t)rows * 2 * sizeof *r0);
    if (!r0) return 0;
    att_tiles at = {c, r0, r0 + rows, 0};
    int32_t *nr = r0 + rows;
    int multi = 0; /* some block has 2+ rows */
    for (int32_t r = 0; r < (int32_t)rows; r++) {
        int64_t n = at.n_blocks;
        if (n && nr[n - 1] < per && b->row_seq[r] == b->row_seq[r0[n - 1]]) {
            nr[n - 1]++;
            multi = 1;
        } else {
            r0[n] = r, nr[n] = 1, at.n_blocks++;
        }
    }
    if (multi) cpu_parallel_for(c->dev, at.n_blocks * nkv, 1, att_tile_task, &at);
    free(r0);
    return multi;
}

/* Byte offsets of every slot each sequence of the batch reads, within a
 * layer's pages of rows row_bytes long (KV head 0): computed once per call
 * for all its heads. Returns NULL when out of memory. */
size_t **cpu_attention_slot_offsets(const hive_kv_cache *kv, const hive_batch *b, size_t row_bytes) {
    int64_t *need = calloc(b->n_seqs ? b->n_seqs : 1, sizeof *need);
    if (!need) return NULL;
    for (uint32_t r = 0; r < b->n_rows; r++)
        if (b->row_pos[r] + 1 > need[b->row_seq[r]]) need[b->row_seq[r]] = b->row_pos[r] + 1;
    size_t total = 0;
    for (uint32_t s = 0; s < b->n_seqs; s++) total += (size_t)need[s];
    size_t **offs = malloc(b->n_seqs * sizeof *offs + total * sizeof **offs + 1);
    uint32_t bs = kv->desc.block_size;
    if (offs) {
        size_t *flat = (size_t *)(offs + b->n_seqs);
        for (uint32_t s = 0; s < b->n_seqs; s++) {
            const int32_t *bt = b->block_table + (size_t)s * b->max_blocks;
            offs[s] = flat;
            for (int32_t t = 0; t < need[s]; t++)
                flat[t] = cpu_kv_row_index(kv, kv->desc.n_blocks, (size_t)bt[(uint32_t)t / bs], 0, (uint32_t)t % bs) *
                          row_bytes;
            flat += need[s];
        }
    }
    free(need);
    return offs;
}

hive_status cpu_op_attention(hive_device *dev, hive_kv_cache *kv, uint32_t layer,
                             const hive_tensor *q, uint32_t n_heads, float scale,
                             const hive_batch *batch, const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev || !kv) return cpu_fail(err, HIVE_E_INVALID, "attention: device or cache is NULL");
    if (layer >= kv->desc.n_layers)
        return cpu_fail(err, HIVE_E_INVALID, "attention: layer %u of %u", layer, kv->desc.n_layers);
    if ((st = cpu_check_tensor(q, "attention", "q", err)) != HIVE_OK) return st;
    if ((st = cpu_check_tensor(out, "attention", "out", err)) != HIVE_OK) return st;
    uint32_t hd = kv->desc.head_dim, nkv = kv->desc.n_kv_heads;
    if (!n_heads || n_heads % nkv || q->cols != (int64_t)n_heads * hd || out->rows != q->rows ||
        out->cols != q->cols)
        return cpu_fail(err, HIVE_E_SHAPE,
                        "attention: q [%lld x %lld], out [%lld x %lld] with %u heads; cache has "
                        "%u kv heads x %u dims (heads must be a multiple of kv heads, q.cols = "
                        "heads x head_dim)",
                        (long long)q->rows, (long long)q->cols, (long long)out->rows,
                        (long long)out->cols, n_heads, nkv, hd);
    if ((st = cpu_check_batch(batch, q->rows, kv, "attention", err)) != HIVE_OK) return st;
    /* queries for K rows stored rotated (cpu_kv_rotated) that this batch
     * reads, rotated alike once per call */
    int reads_store = cpu_kv_batch_reads_store(kv, batch);
    hive_buffer q_rot_buf = {0};
    hive_tensor q_rot = {sizeof q_rot, HIVE_DTYPE_F32, &q_rot_buf, 0, q->rows, q->cols, q->cols};
    if (cpu_kv_rotated(kv->k_dtype) || (reads_store && cpu_kv_rotated(kv->s_k_dtype))) {
        q_rot_buf.size = (uint64_t)q->rows * (uint64_t)q->cols * sizeof(float);
        if (!(q_rot_buf.ptr = malloc(q_rot_buf.size)))
            return cpu_fail(err, HIVE_E_NOMEM, "attention: cannot allocate %lld rotated queries", (long long)q->rows);
        for (int64_t r = 0; r < q->rows; r++)
            cpu_kv_rotate(cpu_row(q, r), cpu_row(&q_rot, r), q->cols, cpu_kv_rotate_block(hd));
    }
    if (cpu_kv_typed(kv) || reads_store) {
        st = cpu_attention_typed(dev, kv, layer, q, q_rot_buf.ptr ? &q_rot : NULL, n_heads, scale, batch, out, err);
        free(q_rot_buf.ptr);
        return st;
    }
    if (cpu_kv_rotated(kv->k_dtype)) q = &q_rot; /* q8_0 K and V */
    int64_t max_ctx = 1;
    for (int64_t r = 0; r < q->rows; r++)
        if (batch->row_pos[r] + 1 > max_ctx) max_ctx = batch->row_pos[r] + 1;
    volatile int failed = 0;
    att_ctx c = {dev, kv, layer, n_heads, n_heads / nkv, scale, q, out, batch, max_ctx, &failed, NULL};
    if (kv->elem_size != 4 && !(c.slot_off = cpu_attention_slot_offsets(kv, batch, kv->row_bytes))) {
        free(q_rot_buf.ptr);
        return cpu_fail(err, HIVE_E_NOMEM, "attention: cannot allocate the slot offsets of %u sequences",
                        batch->n_seqs);
    }
    int64_t tasks = q->rows * n_heads;
    int done = kv->elem_size != 4 && att_tiled(&c); /* prefill chunks */
    if (!done && kv->elem_size != 2 && kv->elem_size != 4 && max_ctx >= 2 * SPLIT_SLOTS &&
        q->rows * n_heads * max_ctx <= ((int64_t)1 << 24))
        done = att_split_q8_0(&c); /* q8_0 at decode */
    /* f16 decode by passes: when the heads are too few for the threads, or
     * (GQA) when query heads can share K and V rows over a long context */
    int mq = c.group > 1 && dev->kern.dot_slots_f16_mq && hd % MQ_DIMS == 0 && max_ctx >= MQ_MIN_SLOTS;
    if (!done && !(kv->elem_size == 2 && (mq || tasks < 2 * (int64_t)dev->threads) && max_ctx >= 2 * SPLIT_SLOTS &&
                   tasks * max_ctx <= ((int64_t)1 << 24) && att_split_f16(&c, mq)))
        cpu_parallel_for(dev, tasks, 16384 / (max_ctx * hd) + 1, att_task, &c);
    free(c.slot_off);
    free(q_rot_buf.ptr);
    if (cpu_kv_rotated(kv->v_dtype)) /* q8_0 V: the p.V sums back from the rotated basis */
        for (int64_t r = 0; r < out->rows; r++)
            cpu_kv_unrotate(cpu_row(out, r), cpu_row(out, r), out->cols, cpu_kv_rotate_block(hd));
    if (failed)
        return cpu_fail(err, HIVE_E_NOMEM, "attention: cannot allocate %lld scores", (long long)max_ctx);
    return HIVE_OK;
}
