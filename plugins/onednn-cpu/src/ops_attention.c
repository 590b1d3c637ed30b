/* op_attention: causal attention of each (row, head) over its sequence's KV
 * slots 0..pos, read through the block table. Online softmax in chunks keeps
 * memory per task to one head_dim accumulator. */
#include <math.h>
#include <stdlib.h>
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
} att_ctx;

/* The start (bytes) of slot t of sequence s in a layer's K or V pages. */
static inline size_t att_slot_off(const att_ctx *c, const int32_t *bt, int32_t t) {
    uint32_t bs = c->kv->desc.block_size;
    return ((size_t)bt[(uint32_t)t / bs] * bs + (uint32_t)t % bs) * c->kv->slot_elems * c->kv->elem_size;
}
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
        k->dot_slots_f32(qv, (const float *)(kbase + off), c->kv->slot_elems, n, hd, sc);
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
        k->axpy_slots_f32(sc, (const float *)(vbase + off), c->kv->slot_elems, n, hd, acc);
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
 * call per (row, KV head) does the group of query heads that share it, so
 * each K and V row is read once for all of them. */
typedef struct {
    float *sc;            /* [group][max_ctx] scores, then weights */
    uint16_t *half;       /* max(max_ctx, group * head_dim) halves for the f16 rounding */
    const uint16_t **kp;  /* [max_ctx] K rows of the slots */
    const uint16_t **vp;  /* [max_ctx] V rows */
    float *q16;           /* [group][head_dim] */
    float *cls;           /* [group][8][head_dim] p.V class sums */
} att_scratch;

static void att_group_f16(const att_ctx *c, int64_t r, uint32_t kvh, const att_scratch *w) {
    const cpu_kernels *k = &c->dev->kern;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim, g = c->group;
    int32_t s = c->batch->row_seq[r], p = c->batch->row_pos[r];
    const int32_t *bt = c->batch->block_table + (size_t)s * c->batch->max_blocks;
    size_t head_off = (size_t)kvh * hd * kv->elem_size, row = kv->slot_elems * kv->elem_size;
    const uint8_t *kbase = kv->k + c->layer * kv->layer_bytes + head_off;
    const uint8_t *vbase = kv->v + c->layer * kv->layer_bytes + head_off;
    for (int32_t t0 = 0; t0 <= p;) {
        int n = att_run(c, t0, p);
        size_t off = att_slot_off(c, bt, t0);
        for (int i = 0; i < n; i++, off += row)
            w->kp[t0 + i] = (const uint16_t *)(kbase + off), w->vp[t0 + i] = (const uint16_t *)(vbase + off);
        t0 += n;
    }
    const float *q = cpu_row(c->q, r) + (size_t)kvh * g * hd;
    round_f16(k, q, w->q16, (int64_t)g * hd, w->half);
    size_t P = (size_t)c->max_ctx;
    k->dot_slots_f16(w->q16, (int)g, w->kp, p + 1, hd, w->sc, P);
    for (uint32_t j = 0; j < g; j++) {
        float *sc = w->sc + j * P, m = -INFINITY;
        for (int32_t t = 0; t <= p; t++) {
            sc[t] *= c->scale;
            m = fmaxf(m, sc[t]);
        }
        double sum = k->exp_sum(sc, m, sc, p + 1);
        k->scale_f32((float)(1.0 / sum), sc, p + 1);
        round_f16(k, sc, sc, p + 1, w->half);
    }
    k->pv_f16(w->sc, P, (int)g, w->vp, p + 1, hd, cpu_row(c->out, r) + (size_t)kvh * g * hd, hd, w->cls);
}

static void att_one_f32_task(const att_ctx *c, int64_t r, uint32_t h) {
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim, kvh = h / c->group;
    int32_t s = c->batch->row_seq[r], p = c->batch->row_pos[r];
    const int32_t *bt = c->batch->block_table + (size_t)s * c->batch->max_blocks;
    size_t head_off = (size_t)kvh * hd * kv->elem_size;
    const uint8_t *kbase = kv->k + c->layer * kv->layer_bytes + head_off;
    const uint8_t *vbase = kv->v + c->layer * kv->layer_bytes + head_off;
    att_one_f32(c, cpu_row(c->q, r) + (size_t)h * hd, kbase, vbase, bt, p, cpu_row(c->out, r) + (size_t)h * hd);
}

/* f32 cache: tasks are (row, head); f16: (row, KV head) */
static void att_task(void *ctx, int64_t i0, int64_t i1) {
    const att_ctx *c = ctx;
    if (c->kv->elem_size != 2) {
        for (int64_t i = i0; i < i1; i++) att_one_f32_task(c, i / c->n_heads, (uint32_t)(i % c->n_heads));
        return;
    }
    uint32_t g = c->group, hd = c->kv->desc.head_dim, nkv = c->n_heads / g;
    size_t P = (size_t)c->max_ctx, nh = P > (size_t)g * hd ? P : (size_t)g * hd;
    att_scratch w;
    char *mem = malloc(g * P * sizeof(float) + nh * sizeof(uint16_t) + 2 * P * sizeof(void *) +
                       (size_t)g * hd * sizeof(float) + (size_t)g * 8 * hd * sizeof(float) + 64);
    if (!mem) {
        c->failed[0] = 1;
        return;
    }
    /* pointers first (their alignment), then floats, then halves */
    w.kp = (const uint16_t **)mem;
    w.vp = w.kp + P;
    w.sc = (float *)(w.vp + P);
    w.q16 = w.sc + g * P;
    w.cls = w.q16 + (size_t)g * hd;
    w.half = (uint16_t *)(w.cls + (size_t)g * 8 * hd);
    for (int64_t i = i0; i < i1; i++) att_group_f16(c, i / nkv, (uint32_t)(i % nkv), &w);
    free(mem);
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
    int64_t max_ctx = 1;
    for (int64_t r = 0; r < q->rows; r++)
        if (batch->row_pos[r] + 1 > max_ctx) max_ctx = batch->row_pos[r] + 1;
    volatile int failed = 0;
    att_ctx c = {dev, kv, layer, n_heads, n_heads / nkv, scale, q, out, batch, max_ctx, &failed};
    int64_t tasks = q->rows * (kv->elem_size == 2 ? nkv : n_heads);
    cpu_parallel_for(dev, tasks, 16384 / (max_ctx * hd) + 1, att_task, &c);
    if (failed)
        return cpu_fail(err, HIVE_E_NOMEM, "attention: cannot allocate %lld scores", (long long)max_ctx);
    return HIVE_OK;
}
