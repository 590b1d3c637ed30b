/* op_attention over a cache whose K and V are not one of the pairs
 * ops_attention.c runs (f16/f16, f32/f32, q8_0/q8_0): a q4_0 or bf16 half, or
 * K and V of different types. One task per (row, query head), each half read
 * in place by its own kernels: an f16 K takes q rounded to f16 and an f16 V
 * the softmax weights rounded to f16, as ops_attention.c's f16 path (and
 * llama.cpp) does; q8_0, q4_0 and bf16 keep them f32. */
#include <stdlib.h>
#include "cpu_internal.h"

typedef struct {
    const hive_device *dev;
    const hive_kv_cache *kv;
    uint32_t layer, n_heads, group;
    float scale;
    const hive_tensor *q, *out;
    const hive_batch *batch;
    int64_t max_ctx;
    volatile int *failed;
    size_t **k_off, **v_off; /* [seq][slot] byte offsets of KV head 0's rows in K and in V */
} typed_ctx;

typedef struct {
    float *sc;      /* [max_ctx] scores, then weights */
    float *q16;     /* [head_dim] q rounded to f16 */
    float *cls;     /* [8][head_dim] f16 p.V class sums */
    uint16_t *half; /* max(max_ctx, head_dim) halves */
} typed_scratch;

static void typed_head(const typed_ctx *c, int64_t r, uint32_t h, const typed_scratch *w) {
    const cpu_kernels *k = &c->dev->kern;
    const hive_kv_cache *kv = c->kv;
    uint32_t hd = kv->desc.head_dim, bs = kv->desc.block_size, kvh = h / c->group;
    int32_t s = c->batch->row_seq[r], n = c->batch->row_pos[r] + 1;
    const uint8_t *kbase = kv->k + c->layer * kv->layer_bytes + (size_t)kvh * bs * kv->row_bytes;
    const uint8_t *vbase = kv->v + c->layer * kv->v_layer_bytes + (size_t)kvh * bs * kv->v_row_bytes;
    const float *q = cpu_row(c->q, r) + (size_t)h * hd;
    float *o = cpu_row(c->out, r) + (size_t)h * hd;
    switch (kv->k_dtype) {
    case HIVE_DTYPE_F16:
        k->f32_to_f16(q, w->half, hd);
        k->dequant[HIVE_DTYPE_F16](w->half, w->q16, hd);
        k->dot_slots_f16(w->q16, kbase, c->k_off[s], n, hd, w->sc);
        break;
    case HIVE_DTYPE_Q8_0: k->dot_slots_q8_0(q, kbase, c->k_off[s], n, hd, w->sc); break;
    case HIVE_DTYPE_Q4_0: k->dot_slots_q4_0(q, kbase, c->k_off[s], n, hd, w->sc); break;
    default: k->dot_slots_bf16(q, kbase, c->k_off[s], n, hd, w->sc); break;
    }
    /* ggml's soft_max, as ops_attention.c's att_softmax */
    float m = k->scale_max_f32(c->scale, w->sc, n);
    double sum = k->exp_sum(w->sc, m, w->sc, n);
    k->scale_f32((float)(1.0 / sum), w->sc, n);
    switch (kv->v_dtype) {
    case HIVE_DTYPE_F16:
        k->f32_to_f16(w->sc, w->half, n);
        k->dequant[HIVE_DTYPE_F16](w->half, w->sc, n);
        k->pv_f16(w->sc, vbase, c->v_off[s], n, hd, o, w->cls);
        break;
    case HIVE_DTYPE_Q8_0: k->pv_q8_0(w->sc, vbase, c->v_off[s], n, hd, o); break;
    case HIVE_DTYPE_Q4_0: k->pv_q4_0(w->sc, vbase, c->v_off[s], n, hd, o); break;
    default: k->pv_bf16(w->sc, vbase, c->v_off[s], n, hd, o); break;
    }
}

static void typed_task(void *ctx, int64_t i0, int64_t i1) {
    const typed_ctx *c = ctx;
    size_t hd = c->kv->desc.head_dim, P = (size_t)c->max_ctx, nh = P > hd ? P : hd;
    float *mem = malloc((P + hd + 8 * hd) * sizeof(float) + nh * sizeof(uint16_t));
    if (!mem) {
        c->failed[0] = 1;
        return;
    }
    typed_scratch w = {mem, mem + P, mem + P + hd, (uint16_t *)(mem + P + 9 * hd)};
    for (int64_t i = i0; i < i1; i++) typed_head(c, i / c->n_heads, (uint32_t)(i % c->n_heads), &w);
    free(mem);
}

/* Called by cpu_op_attention once the arguments are checked. */
hive_status cpu_attention_typed(hive_device *dev, hive_kv_cache *kv, uint32_t layer, const hive_tensor *q,
                                uint32_t n_heads, float scale, const hive_batch *batch, const hive_tensor *out,
                                hive_error **err) {
    int64_t max_ctx = 1;
    for (int64_t r = 0; r < q->rows; r++)
        if (batch->row_pos[r] + 1 > max_ctx) max_ctx = batch->row_pos[r] + 1;
    volatile int failed = 0;
    typed_ctx c = {dev, kv, layer, n_heads, n_heads / kv->desc.n_kv_heads, scale, q, out, batch, max_ctx, &failed,
                   cpu_attention_slot_offsets(kv, batch, kv->row_bytes), cpu_attention_slot_offsets(kv, batch, kv->v_row_bytes)};
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
