/* op_attention: causal attention of each (row, head) over its sequence's KV
 * slots 0..pos, read through the block table. Online softmax in chunks keeps
 * memory per task to one head_dim accumulator. */
#include <math.h>
#include "batch_check.h"

#define ATT_CHUNK 64

typedef struct {
    const hive_device *dev;
    const hive_kv_cache *kv;
    uint32_t layer, n_heads, group;
    float scale;
    const hive_tensor *q, *out;
    const hive_batch *batch;
} att_ctx;

static void att_one(const att_ctx *c, int64_t r, uint32_t h) {
    const cpu_kernels *k = &c->dev->kern;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim, bs = kv->desc.block_size, kvh = h / c->group;
    int32_t s = c->batch->row_seq[r], p = c->batch->row_pos[r];
    const int32_t *bt = c->batch->block_table + (size_t)s * c->batch->max_blocks;
    size_t slot_bytes = kv->slot_elems * kv->elem_size, head_off = (size_t)kvh * hd * kv->elem_size;
    const uint8_t *kbase = kv->k + c->layer * kv->layer_bytes + head_off;
    const uint8_t *vbase = kv->v + c->layer * kv->layer_bytes + head_off;
    const float *qv = cpu_row(c->q, r) + (size_t)h * hd;
    float acc[CPU_MAX_HEAD_DIM], sc[ATT_CHUNK];
    float m = -INFINITY, l = 0.0f;
    for (uint32_t i = 0; i < hd; i++) acc[i] = 0.0f;
    int f16 = kv->elem_size == 2;
    /* one chunk = the slots of one physical block (at most ATT_CHUNK) */
    for (int32_t t0 = 0; t0 <= p;) {
        uint32_t in_block = bs - (uint32_t)t0 % bs;
        int n = p + 1 - t0;
        if ((uint32_t)n > in_block) n = (int)in_block;
        if (n > ATT_CHUNK) n = ATT_CHUNK;
        size_t off = ((size_t)bt[(uint32_t)t0 / bs] * bs + (uint32_t)t0 % bs) * slot_bytes;
        if (f16) k->dot_slots_f16(qv, (const uint16_t *)(kbase + off), kv->slot_elems, n, hd, sc);
        else k->dot_slots_f32(qv, (const float *)(kbase + off), kv->slot_elems, n, hd, sc);
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
        l += k->exp_sum(sc, m, sc, n);
        if (f16) k->axpy_slots_f16(sc, (const uint16_t *)(vbase + off), kv->slot_elems, n, hd, acc);
        else k->axpy_slots_f32(sc, (const float *)(vbase + off), kv->slot_elems, n, hd, acc);
        t0 += n;
    }
    float *o = cpu_row(c->out, r) + (size_t)h * hd, inv = 1.0f / l;
    for (uint32_t i = 0; i < hd; i++) o[i] = acc[i] * inv;
}

static void att_task(void *ctx, int64_t i0, int64_t i1) {
    const att_ctx *c = ctx;
    for (int64_t i = i0; i < i1; i++) att_one(c, i / c->n_heads, (uint32_t)(i % c->n_heads));
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
    att_ctx c = {dev, kv, layer, n_heads, n_heads / nkv, scale, q, out, batch};
    int64_t max_ctx = 1;
    for (int64_t r = 0; r < q->rows; r++)
        if (batch->row_pos[r] + 1 > max_ctx) max_ctx = batch->row_pos[r] + 1;
    int64_t tasks = q->rows * n_heads;
    cpu_parallel_for(dev, tasks, 16384 / (max_ctx * hd) + 1, att_task, &c);
    return HIVE_OK;
}
