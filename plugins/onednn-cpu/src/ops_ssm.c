/* Mamba2's recurrent ops: the causal depthwise convolution and the selective
 * scan, each sequence continuing the state row it owns. Rows of a sequence
 * are consumed in batch order; the work inside a row (channels, heads) is
 * split across threads. */
#include <math.h>
#include <string.h>

#include "cpu_internal.h"

/* The state row of each batch row's sequence, checked once per call. */
static hive_status state_rows(const hive_batch *b, const int32_t *slots, const hive_tensor *state, int64_t n,
                              const char *op, hive_error **err) {
    if (!b || !slots || !b->row_seq) return cpu_fail(err, HIVE_E_INVALID, "%s: batch, row_seq or slots is NULL", op);
    if ((int64_t)b->n_rows != n)
        return cpu_fail(err, HIVE_E_SHAPE, "%s: batch has %u rows, x %lld", op, b->n_rows, (long long)n);
    for (int64_t r = 0; r < n; r++) {
        int32_t j = b->row_seq[r];
        if (j < 0 || (uint32_t)j >= b->n_seqs)
            return cpu_fail(err, HIVE_E_INVALID, "%s: row %lld names sequence %d of %u", op, (long long)r, j, b->n_seqs);
        if (slots[j] < 0 || slots[j] >= state->rows)
            return cpu_fail(err, HIVE_E_INVALID, "%s: sequence %d owns state row %d, outside %lld rows", op, j, slots[j],
                            (long long)state->rows);
    }
    return HIVE_OK;
}

static float silu(float v) { return v / (1.0f + expf(-v)); }

typedef struct {
    const hive_tensor *x, *state, *out;
    const float *w, *bias;
    int64_t row;
    int32_t slot;
    uint32_t K;
} conv_ctx;

static void conv_task(void *ctx, int64_t c0, int64_t c1) {
    const conv_ctx *c = ctx;
    const float *in = cpu_row(c->x, c->row);
    float *out = cpu_row(c->out, c->row), *st = cpu_row(c->state, c->slot);
    uint32_t K = c->K;
    for (int64_t ch = c0; ch < c1; ch++) {
        float *hist = st + ch * (K - 1); /* the last K - 1 inputs, oldest first */
        const float *w = c->w + ch * K;
        float acc = c->bias ? c->bias[ch] : 0.0f;
        for (uint32_t k = 0; k + 1 < K; k++) acc += w[k] * hist[k];
        acc += w[K - 1] * in[ch];
        if (K > 1) {
            memmove(hist, hist + 1, (K - 2) * sizeof *hist);
            hist[K - 2] = in[ch];
        }
        out[ch] = silu(acc);
    }
}

hive_status cpu_op_ssm_conv(hive_device *dev, const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                            uint32_t kernel, const hive_batch *batch, const int32_t *slots, const hive_tensor *state,
                            const hive_tensor *out, hive_error **err) {
    hive_status st;
    if (!dev || !w) return cpu_fail(err, HIVE_E_INVALID, "ssm_conv: device or weight is NULL");
    if ((st = cpu_check_tensor(x, "ssm_conv", "x", err)) || (st = cpu_check_tensor(out, "ssm_conv", "out", err)) ||
        (st = cpu_check_tensor(state, "ssm_conv", "state", err)))
        return st;
    int64_t C = x->cols;
    if (kernel < 1 || kernel > 64 || out->cols != C || out->rows != x->rows || state->cols != C * (int64_t)(kernel - 1))
        return cpu_fail(err, HIVE_E_SHAPE,
                        "ssm_conv: x [%lld x %lld], out [%lld x %lld], state cols %lld, kernel %u must agree "
                        "(state cols = channels * (kernel - 1), kernel 1 to 64)",
                        (long long)x->rows, (long long)C, (long long)out->rows, (long long)out->cols,
                        (long long)state->cols, kernel);
    if (!w->vec_f32 || w->rows != 1 || w->cols != C * (int64_t)kernel || (bias && (!bias->vec_f32 || bias->cols != C)))
        return cpu_fail(err, HIVE_E_SHAPE, "ssm_conv: weight %s must be [1 x %lld] and bias [1 x %lld], f32",
                        w->name, (long long)(C * kernel), (long long)C);
    if ((st = state_rows(batch, slots, state, x->rows, "ssm_conv", err))) return st;
    for (int64_t r = 0; r < x->rows; r++) {
        conv_ctx c = {x, state, out, w->vec_f32, bias ? bias->vec_f32 : NULL, r, slots[batch->row_seq[r]], kernel};
        cpu_parallel_for(dev, C, 256, conv_task, &c);
    }
    return HIVE_OK;
}

typedef struct {
    const hive_tensor *x, *dt, *B, *C, *state, *y;
    const float *A, *D, *dt_bias;
    const hive_ssm_desc *d;
    int64_t row;
    int32_t slot;
} scan_ctx;

static void scan_task(void *ctx, int64_t h0, int64_t h1) {
    const scan_ctx *c = ctx;
    const hive_ssm_desc *d = c->d;
    uint32_t P = d->head_dim, N = d->state_size, heads_per_group = d->n_heads / d->n_groups;
    const float *x = cpu_row(c->x, c->row), *dt = cpu_row(c->dt, c->row);
    const float *Bm = cpu_row(c->B, c->row), *Cm = cpu_row(c->C, c->row);
    float *y = cpu_row(c->y, c->row), *st = cpu_row(c->state, c->slot);
    for (int64_t h = h0; h < h1; h++) {
        float v = dt[h] + c->dt_bias[h];
        float dth = v > 20.0f ? v : log1pf(expf(v)); /* softplus, as torch's (threshold 20) */
        if (dth < d->dt_min) dth = d->dt_min;
        if (dth > d->dt_max) dth = d->dt_max;
        float decay = expf(dth * c->A[h]);
        const float *b = Bm + (h / heads_per_group) * N, *cc = Cm + (h / heads_per_group) * N;
        for (uint32_t p = 0; p < P; p++) {
            float xv = x[h * P + p], *s = st + ((size_t)h * P + p) * N, acc = 0.0f;
            for (uint32_t n = 0; n < N; n++) {
                s[n] = s[n] * decay + dth * b[n] * xv;
                acc += s[n] * cc[n];
            }
            y[h * P + p] = acc + c->D[h] * xv;
        }
    }
}

static int vec_of(const hive_weight *w, uint32_t n) { return w && w->vec_f32 && w->rows == 1 && w->cols == n; }

hive_status cpu_op_ssm_scan(hive_device *dev, const hive_tensor *x, const hive_tensor *dt, const hive_tensor *B,
                            const hive_tensor *C, const hive_weight *A, const hive_weight *D, const hive_weight *dt_bias,
                            const hive_ssm_desc *d, const hive_batch *batch, const int32_t *slots,
                            const hive_tensor *state, const hive_tensor *y, hive_error **err) {
    hive_status st;
    if (!dev || !d || d->struct_size < sizeof *d) return cpu_fail(err, HIVE_E_INVALID, "ssm_scan: device or desc missing");
    const hive_tensor *all[] = {x, dt, B, C, state, y};
    static const char *const names[] = {"x", "dt", "B", "C", "state", "y"};
    for (int i = 0; i < 6; i++)
        if ((st = cpu_check_tensor(all[i], "ssm_scan", names[i], err))) return st;
    uint32_t H = d->n_heads, P = d->head_dim, G = d->n_groups, N = d->state_size;
    int64_t n = x->rows, hp = (int64_t)H * P;
    if (!H || !P || !G || !N || H % G || x->cols != hp || y->cols != hp || dt->cols != H || B->cols != (int64_t)G * N ||
        C->cols != (int64_t)G * N || state->cols != hp * N || dt->rows != n || B->rows != n || C->rows != n || y->rows != n)
        return cpu_fail(err, HIVE_E_SHAPE,
                        "ssm_scan: %u heads x %u dims, %u groups x %u states: x [%lld x %lld], dt [%lld x %lld], "
                        "B/C [%lld x %lld], y [%lld x %lld], state cols %lld do not agree",
                        H, P, G, N, (long long)n, (long long)x->cols, (long long)dt->rows, (long long)dt->cols,
                        (long long)B->rows, (long long)B->cols, (long long)y->rows, (long long)y->cols,
                        (long long)state->cols);
    if (!vec_of(A, H) || !vec_of(D, H) || !vec_of(dt_bias, H))
        return cpu_fail(err, HIVE_E_SHAPE, "ssm_scan: A, D and dt_bias must be [1 x %u] f32 weights", H);
    if ((st = state_rows(batch, slots, state, n, "ssm_scan", err))) return st;
    for (int64_t r = 0; r < n; r++) {
        scan_ctx c = {x, dt, B, C, state, y, A->vec_f32, D->vec_f32, dt_bias->vec_f32, d, r, slots[batch->row_seq[r]]};
        cpu_parallel_for(dev, H, (int64_t)(4096 / ((int64_t)P * N + 1)) + 1, scan_task, &c);
    }
    return HIVE_OK;
}
