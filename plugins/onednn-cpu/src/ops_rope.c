/* op_rope: rotate (2i, 2i+1) or (i, i + rot/2) pairs of every head in place. */
#include <math.h>
#include "batch_check.h"

#define ROPE_MAX_PAIRS 1024

hive_status cpu_check_batch(const hive_batch *b, int64_t rows, const hive_kv_cache *kv,
                            const char *op, hive_error **err) {
    if (!b || b->struct_size < offsetof(hive_batch, block_table) + sizeof(b->block_table) ||
        !b->row_pos)
        return cpu_fail(err, HIVE_E_INVALID, "%s: batch is missing or incomplete", op);
    if ((int64_t)b->n_rows != rows)
        return cpu_fail(err, HIVE_E_SHAPE, "%s: batch has %u rows, tensor has %lld", op,
                        b->n_rows, (long long)rows);
    for (uint32_t r = 0; r < b->n_rows; r++)
        if (b->row_pos[r] < 0)
            return cpu_fail(err, HIVE_E_INVALID, "%s: row %u has negative position %d", op, r,
                            b->row_pos[r]);
    if (!kv) return HIVE_OK;
    if (!b->row_seq || !b->block_table)
        return cpu_fail(err, HIVE_E_INVALID, "%s: batch lacks row_seq or block_table", op);
    uint32_t bs = kv->desc.block_size;
    for (uint32_t r = 0; r < b->n_rows; r++) {
        int32_t s = b->row_seq[r], p = b->row_pos[r];
        if (s < 0 || (uint32_t)s >= b->n_seqs)
            return cpu_fail(err, HIVE_E_INVALID, "%s: row %u has sequence %d of %u", op, r, s,
                            b->n_seqs);
        uint32_t last = (uint32_t)p / bs;
        if (last >= b->max_blocks)
            return cpu_fail(err, HIVE_E_INVALID,
                            "%s: row %u position %d needs block %u, table holds %u", op, r, p,
                            last, b->max_blocks);
        const int32_t *bt = b->block_table + (size_t)s * b->max_blocks;
        uint32_t pages = kv->desc.n_blocks + kv->desc.n_store_blocks; /* store pages follow (1.9) */
        for (uint32_t i = 0; i <= last; i++)
            if (bt[i] < 0 || (uint32_t)bt[i] >= pages)
                return cpu_fail(err, HIVE_E_INVALID,
                                "%s: sequence %d block %u maps to %d, cache has %u blocks", op, s,
                                i, bt[i], pages);
    }
    return HIVE_OK;
}

hive_status cpu_op_rope(hive_device *dev, const hive_tensor *x, const hive_rope_desc *rope,
                        const hive_batch *batch, hive_error **err) {
    hive_status st;
    if (!dev || !rope || !HIVE_HAS_FIELD(hive_rope_desc, rope->struct_size, inv_freq))
        return cpu_fail(err, HIVE_E_INVALID, "rope: device or rope descriptor missing");
    if ((st = cpu_check_tensor(x, "rope", "x", err)) != HIVE_OK) return st;
    if ((st = cpu_check_batch(batch, x->rows, NULL, "rope", err)) != HIVE_OK) return st;
    uint32_t hd = rope->head_dim, rot = rope->rot_dims, half = rot / 2;
    if (rope->mode != HIVE_ROPE_NORMAL && rope->mode != HIVE_ROPE_NEOX)
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "rope: unknown mode %u", rope->mode);
    if ((int64_t)rope->n_heads * hd != x->cols || rot > hd || rot % 2 || half > ROPE_MAX_PAIRS ||
        (half && !rope->inv_freq))
        return cpu_fail(err, HIVE_E_SHAPE,
                        "rope: x has %lld cols, rope says %u heads x %u dims, %u rotated "
                        "(rot_dims must be even, <= head_dim, inv_freq set)",
                        (long long)x->cols, rope->n_heads, hd, rot);
    float cs[ROPE_MAX_PAIRS], sn[ROPE_MAX_PAIRS];
    /* NORMAL: pair i is (2i, 2i+1); NEOX: pair i is (i, i + rot/2) */
    uint32_t stride = rope->mode == HIVE_ROPE_NORMAL ? 2 : 1;
    uint32_t other = rope->mode == HIVE_ROPE_NORMAL ? 1 : half;
    int ggml = HIVE_HAS_FIELD(hive_rope_desc, rope->struct_size, theta_scale) &&
               rope->angles == HIVE_ROPE_ANGLES_GGML;
    if (HIVE_HAS_FIELD(hive_rope_desc, rope->struct_size, theta_scale) && rope->angles > HIVE_ROPE_ANGLES_GGML)
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "rope: unknown angles %u", rope->angles);
    for (int64_t r = 0; r < x->rows; r++) {
        float pos = (float)batch->row_pos[r], theta = pos;
        for (uint32_t i = 0; i < half; i++) {
            if (!ggml) theta = pos * rope->inv_freq[i];
            cs[i] = cosf(theta) * rope->attn_factor;
            sn[i] = sinf(theta) * rope->attn_factor;
            if (ggml) theta *= rope->theta_scale;
        }
        float *row = cpu_row(x, r);
        for (uint32_t h = 0; h < rope->n_heads; h++) {
            float *v = row + (size_t)h * hd;
            for (uint32_t i = 0; i < half; i++) {
                float *a = v + i * stride, *b = a + other;
                float x0 = *a, x1 = *b;
                if (ggml) { /* as ggml's build contracts them */
                    *a = fmaf(x0, cs[i], -(x1 * sn[i]));
                    *b = fmaf(x0, sn[i], x1 * cs[i]);
                } else {
                    *a = x0 * cs[i] - x1 * sn[i];
                    *b = x0 * sn[i] + x1 * cs[i];
                }
            }
        }
    }
    return HIVE_OK;
}
