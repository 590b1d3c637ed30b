/* HIVE_EXT_LORA_SEGMENTS on the CPU: every LoRA delta of one linear, for all
 * row segments, in two parallel passes (shrink t = x A^T, expand y += t B^T)
 * instead of two matmul calls per segment: with many experts in a decode
 * batch each segment is a few rows, and waking the threads twice per segment
 * cost more than the arithmetic. */
#include <string.h>

#include "cpu_internal.h"

#define LORA_OUT_CHUNK 64 /* output features per expand work item */

typedef struct lora_ctx {
    const hive_device *dev;
    const hive_tensor *x, *y;
    const int32_t *row0, *rows;
    const hive_weight *const *A, *const *B;
    float *t;           /* [rows of x, max rank]: row i's x A^T of its segment */
    int32_t *seg_of;    /* [rows of x]: segment of each row, -1 for none */
    int64_t t_stride, out_chunks;
} lora_ctx;

static void shrink_task(void *p, int64_t begin, int64_t end) {
    const lora_ctx *c = p;
    for (int64_t i = begin; i < end; i++) {
        int32_t s = c->seg_of[i];
        if (s < 0) continue;
        const hive_weight *a = c->A[s];
        const float *xi = cpu_row(c->x, i);
        float *ti = c->t + i * c->t_stride;
        for (int64_t j = 0; j < a->rows; j++)
            ti[j] = c->dev->kern.dot_f32(xi, (const float *)((const char *)a->data + j * a->row_bytes), a->cols);
    }
}

/* item = (row, chunk of LORA_OUT_CHUNK output features) so one decode row
 * still spreads over the threads */
static void expand_task(void *p, int64_t begin, int64_t end) {
    const lora_ctx *c = p;
    for (int64_t it = begin; it < end; it++) {
        int64_t i = it / c->out_chunks, o0 = (it % c->out_chunks) * LORA_OUT_CHUNK;
        int32_t s = c->seg_of[i];
        if (s < 0) continue;
        const hive_weight *b = c->B[s];
        int64_t o1 = o0 + LORA_OUT_CHUNK < b->rows ? o0 + LORA_OUT_CHUNK : b->rows;
        const float *ti = c->t + i * c->t_stride;
        float *yi = cpu_row(c->y, i);
        for (int64_t o = o0; o < o1; o++)
            yi[o] += c->dev->kern.dot_f32(ti, (const float *)((const char *)b->data + o * b->row_bytes), b->cols);
    }
}

static hive_status check_segment(const lora_ctx *c, uint32_t s, hive_error **err) {
    const hive_weight *a = c->A ? c->A[s] : NULL, *b = c->B ? c->B[s] : NULL;
    if (!a || !b) return cpu_fail(err, HIVE_E_INVALID, "lora_segments: segment %u has no A or B weight", s);
    if (a->dtype != HIVE_DTYPE_F32 || b->dtype != HIVE_DTYPE_F32)
        return cpu_fail(err, HIVE_E_UNSUPPORTED, "lora_segments: segment %u: A and B must be f32 (got %s, %s)", s,
                        cpu_dtype_name(a->dtype), cpu_dtype_name(b->dtype));
    if (a->cols != c->x->cols || b->rows != c->y->cols || b->cols != a->rows || a->rows < 1 ||
        a->rows > CPU_LORA_MAX_RANK)
        return cpu_fail(err, HIVE_E_SHAPE,
                        "lora_segments: segment %u: A [%lld x %lld], B [%lld x %lld] do not fit x cols %lld, y cols "
                        "%lld (rank 1..%d)",
                        s, (long long)a->rows, (long long)a->cols, (long long)b->rows, (long long)b->cols,
                        (long long)c->x->cols, (long long)c->y->cols, CPU_LORA_MAX_RANK);
    int64_t r0 = c->row0[s], n = c->rows[s];
    if (r0 < 0 || n < 0 || r0 + n > c->x->rows)
        return cpu_fail(err, HIVE_E_SHAPE, "lora_segments: segment %u: rows [%lld, %lld) outside [0, %lld)", s,
                        (long long)r0, (long long)(r0 + n), (long long)c->x->rows);
    for (int64_t i = r0; i < r0 + n; i++) {
        if (c->seg_of[i] >= 0)
            return cpu_fail(err, HIVE_E_INVALID, "lora_segments: segments %d and %u overlap at row %lld",
                            c->seg_of[i], s, (long long)i);
        c->seg_of[i] = (int32_t)s;
    }
    return HIVE_OK;
}

static hive_status cpu_op_lora_segments(hive_device *dev, const hive_tensor *x, const hive_tensor *y, uint32_t n,
                                        const int32_t *row0, const int32_t *rows, const hive_weight *const *A,
                                        const hive_weight *const *B, hive_error **err) {
    if (!dev) return cpu_fail(err, HIVE_E_INVALID, "lora_segments: device is NULL");
    hive_status st;
    if ((st = cpu_check_tensor(x, "lora_segments", "x", err)) || (st = cpu_check_tensor(y, "lora_segments", "y", err)))
        return st;
    if (x->rows != y->rows)
        return cpu_fail(err, HIVE_E_SHAPE, "lora_segments: x has %lld rows, y %lld", (long long)x->rows,
                        (long long)y->rows);
    if (n == 0 || x->rows == 0) return HIVE_OK;
    if (!row0 || !rows) return cpu_fail(err, HIVE_E_INVALID, "lora_segments: segment arrays are NULL");

    /* scratch: seg_of [rows] then t [rows, max rank], 64-byte aligned */
    int64_t max_rank = 1;
    for (uint32_t s = 0; s < n; s++)
        if (A && A[s] && A[s]->rows > max_rank && A[s]->rows <= CPU_LORA_MAX_RANK) max_rank = A[s]->rows;
    size_t seg_bytes = ((size_t)x->rows * sizeof(int32_t) + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    char *scratch = cpu_scratch(dev, seg_bytes + (size_t)x->rows * (size_t)max_rank * sizeof(float));
    if (!scratch) return cpu_fail(err, HIVE_E_NOMEM, "lora_segments: cannot allocate scratch");
    lora_ctx c = {dev, x, y, row0, rows, A, B, (float *)(scratch + seg_bytes), (int32_t *)scratch, max_rank,
                  (y->cols + LORA_OUT_CHUNK - 1) / LORA_OUT_CHUNK};
    memset(c.seg_of, 0xff, (size_t)x->rows * sizeof(int32_t)); /* -1: no segment */
    for (uint32_t s = 0; s < n; s++)
        if ((st = check_segment(&c, s, err))) return st;

    /* ~8k multiply-adds per thread before another one pays */
    int64_t min_rows = 8192 / (x->cols * max_rank) + 1;
    cpu_parallel_for(dev, x->rows, min_rows, shrink_task, &c);
    int64_t min_items = 8192 / (LORA_OUT_CHUNK * max_rank) + 1;
    cpu_parallel_for(dev, x->rows * c.out_chunks, min_items, expand_task, &c);
    return HIVE_OK;
}

const hive_ext_lora_segments cpu_ext_lora_segments = {
    sizeof(hive_ext_lora_segments), 1, CPU_LORA_MAX_RANK, 0, cpu_op_lora_segments,
};
