/* backend_attn_ops.cu — rope, kv_store and attention: batch validation on the
 * host (arrays are host memory), work-list construction for attention, staging
 * of positions / block tables, split-K choice (flash-decoding). */
#include <algorithm>
#include <string.h>
#include <vector>

#include "gpu_backend.h"
#include "gpu_impl.h"
#include "gpu_kernels.h"

/* Checks rows/positions; with kv, also sequences and the block table entries
 * used. The structure (sizes, pointers) is checked here; the array contents by
 * gpu_host_check, which a graph capture records and re-runs before each replay. */
static void check_batch(hive_device *d, const hive_batch *b, int64_t rows, const hive_kv_cache *kv,
                        const char *what) {
    if (!b || !HIVE_HAS_FIELD(hive_batch, b->struct_size, block_table))
        gpu_throw(HIVE_E_INVALID, "%s: missing or short batch", what);
    if ((int64_t)b->n_rows != rows)
        gpu_throw(HIVE_E_SHAPE, "%s: batch has %u rows, tensor %lld", what, b->n_rows, (long long)rows);
    if (rows && !b->row_pos) gpu_throw(HIVE_E_INVALID, "%s: missing row_pos", what);
    if (kv && rows && (!b->row_seq || !b->block_table))
        gpu_throw(HIVE_E_INVALID, "%s: missing row_seq/block_table", what);
    if (!rows) return;
    gpu_host_check c;
    memset(&c, 0, sizeof c); /* graphs compare checks field by field; keep padding defined */
    c.kind = GPU_HOST_CHECK_BATCH;
    c.what = what;
    c.n = b->n_rows;
    c.row_pos = b->row_pos;
    if (kv) {
        c.row_seq = b->row_seq;
        c.block_table = b->block_table;
        c.n_seqs = b->n_seqs;
        c.max_blocks = b->max_blocks;
        c.block_size = kv->desc.block_size;
        c.n_blocks = kv->desc.n_blocks;
    }
    gpu_host_check_apply(d, &c);
}

static gpu_kv_view layer_view(const hive_kv_cache *kv, uint32_t layer) {
    if (!kv || layer >= kv->desc.n_layers)
        gpu_throw(HIVE_E_INVALID, "kv: layer %u outside %u", layer, kv ? kv->desc.n_layers : 0);
    const int f16 = kv->desc.dtype == HIVE_DTYPE_F16;
    const size_t off = (size_t)layer * kv->layer_elems * (f16 ? 2 : 4);
    gpu_kv_view v;
    v.k = (char *)kv->k + off;
    v.v = (char *)kv->v + off;
    v.f16 = (uint32_t)f16;
    v.block_size = kv->desc.block_size;
    v.n_kv_heads = kv->desc.n_kv_heads;
    v.head_dim = kv->desc.head_dim;
    return v;
}

void gpu_impl_rope(hive_device *d, const hive_tensor *x, const hive_rope_desc *rope, const hive_batch *b) {
    float *xp = gpu_tensor_ptr(x, "rope x");
    if (!rope || !HIVE_HAS_FIELD(hive_rope_desc, rope->struct_size, inv_freq))
        gpu_throw(HIVE_E_INVALID, "rope: missing or short desc");
    if (rope->mode != HIVE_ROPE_NORMAL && rope->mode != HIVE_ROPE_NEOX)
        gpu_throw(HIVE_E_UNSUPPORTED, "rope: mode %u", rope->mode);
    if (rope->rot_dims > rope->head_dim || (rope->rot_dims & 1) ||
        (int64_t)rope->n_heads * rope->head_dim > x->cols)
        gpu_throw(HIVE_E_SHAPE, "rope: %u heads x %u dims (rot %u) in %lld cols", rope->n_heads, rope->head_dim,
                  rope->rot_dims, (long long)x->cols);
    check_batch(d, b, x->rows, nullptr, "rope");
    if (x->rows == 0 || rope->rot_dims == 0) return;
    if (!rope->inv_freq) gpu_throw(HIVE_E_INVALID, "rope: missing inv_freq");
    GPU_CHECK(gpuSetDevice(d->index));
    /* row_pos re-read at every graph replay; inv_freq fixed at capture */
    gpu_stage_part parts[2] = {{b->row_pos, (size_t)x->rows * 4, 1},
                               {rope->inv_freq, (size_t)rope->rot_dims / 2 * 4, 0}};
    void *dp[2];
    gpu_stage(d, parts, 2, dp);
    gpu_rope(d->stream, xp, x->row_stride, x->rows, rope->mode, rope->n_heads, rope->head_dim, rope->rot_dims,
             rope->attn_factor, (const float *)dp[1], (const int32_t *)dp[0]);
}

void gpu_impl_kv_store(hive_device *d, hive_kv_cache *kv, uint32_t layer, const hive_tensor *k,
                       const hive_tensor *v, const hive_batch *b) {
    const gpu_kv_view view = layer_view(kv, layer);
    const float *kp = gpu_tensor_ptr(k, "kv_store k");
    const float *vp = gpu_tensor_ptr(v, "kv_store v");
    const int64_t width = (int64_t)view.n_kv_heads * view.head_dim;
    if (k->cols != width || v->cols != width || v->rows != k->rows)
        gpu_throw(HIVE_E_SHAPE, "kv_store: k %lldx%lld, v %lldx%lld, cache rows %lld wide", (long long)k->rows,
                  (long long)k->cols, (long long)v->rows, (long long)v->cols, (long long)width);
    check_batch(d, b, k->rows, kv, "kv_store");
    if (k->rows == 0) return;
    GPU_CHECK(gpuSetDevice(d->index));
    /* all three re-read at every graph replay */
    gpu_stage_part parts[3] = {{b->row_seq, (size_t)k->rows * 4, 1},
                               {b->row_pos, (size_t)k->rows * 4, 1},
                               {b->block_table, (size_t)b->n_seqs * b->max_blocks * 4, 1}};
    void *dp[3];
    gpu_stage(d, parts, 3, dp);
    gpu_kv_store(d->stream, &view, kp, k->row_stride, vp, v->row_stride, k->rows, (const int32_t *)dp[0],
                 (const int32_t *)dp[1], (const int32_t *)dp[2], b->max_blocks);
}

/* Work items, eager: (row, head) pairs of one sequence sharing a kv head,
 * GPU_ATT_PAIRS at a time; rows of a sequence share K/V tiles (prefill). The
 * grouping and max_pos come from the contents of row_seq / row_pos. */
static void build_items(const hive_batch *b, uint32_t n_heads, uint32_t n_kv, std::vector<gpu_att_item> &items) {
    std::vector<int32_t> order(b->n_rows);
    for (uint32_t r = 0; r < b->n_rows; r++) order[r] = (int32_t)r;
    std::stable_sort(order.begin(), order.end(),
                     [b](int32_t x, int32_t y) { return b->row_seq[x] < b->row_seq[y]; });
    const uint32_t g = n_heads / n_kv;
    size_t i = 0;
    while (i < order.size()) {
        size_t e = i;
        while (e < order.size() && b->row_seq[order[e]] == b->row_seq[order[i]]) e++;
        for (uint32_t kh = 0; kh < n_kv; kh++) {
            gpu_att_item it = {};
            it.seq = b->row_seq[order[i]];
            it.kv_head = (int32_t)kh;
            for (size_t r = i; r < e; r++) {
                for (uint32_t h = kh * g; h < (kh + 1) * g; h++) {
                    const int32_t row = order[r];
                    it.row[it.n_pairs] = row;
                    it.head[it.n_pairs] = (int32_t)h;
                    it.max_pos = it.n_pairs == 0 ? b->row_pos[row] : std::max(it.max_pos, b->row_pos[row]);
                    if (++it.n_pairs == GPU_ATT_PAIRS) {
                        items.push_back(it);
                        it.n_pairs = 0;
                    }
                }
            }
            if (it.n_pairs) items.push_back(it);
        }
        i = e;
    }
}

/* Work items, graph capture: the launch shape may not depend on array contents
 * (the host rewrites row_seq / row_pos between replays), so items come from
 * indices only: one item per (row, kv head) holding that row's GQA heads
 * (GPU_ATT_PAIRS at a time). seq and max_pos are left at -1: the kernel reads
 * them per row from the staged row_seq / row_pos (gpu_att_args.row_seq set). */
static void build_items_by_index(uint32_t n_rows, uint32_t n_heads, uint32_t n_kv,
                                 std::vector<gpu_att_item> &items) {
    const uint32_t g = n_heads / n_kv;
    for (uint32_t r = 0; r < n_rows; r++)
        for (uint32_t kh = 0; kh < n_kv; kh++)
            for (uint32_t h0 = kh * g; h0 < (kh + 1) * g; h0 += GPU_ATT_PAIRS) {
                gpu_att_item it = {};
                it.seq = -1;
                it.max_pos = -1;
                it.kv_head = (int32_t)kh;
                for (uint32_t h = h0; h < (kh + 1) * g && h < h0 + GPU_ATT_PAIRS; h++) {
                    it.row[it.n_pairs] = (int32_t)r;
                    it.head[it.n_pairs] = (int32_t)h;
                    it.n_pairs++;
                }
                items.push_back(it);
            }
}

/* Flash-decoding: split the `span` positions when the items alone cannot fill
 * the device. items * splits < 2 * (4 * SMs) and pairs <= 4 * items, so the
 * partials never exceed the 32 * SMs rows kv_alloc reserves. */
static void choose_splits(int64_t n_items, int64_t span, int sm_count, int64_t *splits_out, int64_t *len_out) {
    const int64_t want = 4LL * sm_count;
    int64_t splits = 1;
    if (n_items < want) splits = (want + n_items - 1) / n_items;
    splits = std::min<int64_t>(splits, std::max<int64_t>(1, span / 64));
    splits = std::min<int64_t>(splits, 64);
    int64_t split_len = (span + splits - 1) / splits;
    split_len = (split_len + 15) & ~(int64_t)15;
    splits = (span + split_len - 1) / split_len;
    *splits_out = splits;
    *len_out = split_len;
}

void gpu_impl_attention(hive_device *d, hive_kv_cache *kv, uint32_t layer, const hive_tensor *q,
                        uint32_t n_heads, float scale, const hive_batch *b, const hive_tensor *out) {
    const gpu_kv_view view = layer_view(kv, layer);
    const float *qp = gpu_tensor_ptr(q, "attention q");
    float *op = gpu_tensor_ptr(out, "attention out");
    const int64_t width = (int64_t)n_heads * view.head_dim;
    if (!n_heads || n_heads % view.n_kv_heads || q->cols != width || out->cols != width || out->rows != q->rows)
        gpu_throw(HIVE_E_SHAPE, "attention: %u heads (kv %u) x %u, q %lldx%lld, out %lldx%lld", n_heads,
                  view.n_kv_heads, view.head_dim, (long long)q->rows, (long long)q->cols, (long long)out->rows,
                  (long long)out->cols);
    check_batch(d, b, q->rows, kv, "attention");
    if (q->rows == 0) return;
    GPU_CHECK(gpuSetDevice(d->index));

    /* Eager: items grouped by sequence, split-K sized for the longest row.
     * Capture: items by index, split-K sized for the longest context the block
     * table can address (max_blocks * block_size); splits past a row's length
     * find no positions and leave l = 0, which the combine step skips. */
    const bool capture = d->capture != nullptr;
    std::vector<gpu_att_item> items;
    int64_t span;
    if (capture) {
        build_items_by_index(b->n_rows, n_heads, view.n_kv_heads, items);
        span = (int64_t)b->max_blocks * view.block_size;
    } else {
        build_items(b, n_heads, view.n_kv_heads, items);
        int32_t max_pos = 0;
        for (uint32_t r = 0; r < b->n_rows; r++) max_pos = std::max(max_pos, b->row_pos[r]);
        span = (int64_t)max_pos + 1;
    }
    if (span > INT32_MAX) gpu_throw(HIVE_E_SHAPE, "attention: %lld positions", (long long)span);
    int64_t splits, split_len;
    choose_splits((int64_t)items.size(), span, d->sm_count, &splits, &split_len);

    /* items fixed (index-only under capture); row_pos, block_table (and row_seq
     * under capture) re-read at every graph replay */
    gpu_stage_part parts[4] = {{items.data(), items.size() * sizeof(gpu_att_item), 0},
                               {b->row_pos, (size_t)q->rows * 4, 1},
                               {b->block_table, (size_t)b->n_seqs * b->max_blocks * 4, 1},
                               {b->row_seq, (size_t)q->rows * 4, 1}};
    void *dp[4];
    gpu_stage(d, parts, capture ? 4 : 3, dp);
    gpu_att_args a;
    a.items = (const gpu_att_item *)dp[0];
    a.n_items = (int32_t)items.size();
    a.n_splits = (int32_t)splits;
    a.split_len = (int32_t)split_len;
    a.row_pos = (const int32_t *)dp[1];
    a.block_table = (const int32_t *)dp[2];
    a.row_seq = capture ? (const int32_t *)dp[3] : nullptr;
    a.max_blocks = b->max_blocks;
    a.q = qp;
    a.sq = q->row_stride;
    a.out = op;
    a.so = out->row_stride;
    a.n_heads = n_heads;
    a.scale = scale;
    a.rows = q->rows;
    a.part = nullptr;
    if (splits > 1) {
        gpu_scratch_ensure(d, &d->attn, (size_t)q->rows * n_heads * splits * (view.head_dim + 2) * sizeof(float));
        a.part = (float *)d->attn.ptr;
    }
    gpu_attention(d->stream, &view, &a);
}
