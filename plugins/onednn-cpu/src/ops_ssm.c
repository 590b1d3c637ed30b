/* Mamba2's recurrent ops: the causal depthwise convolution and the selective
 * scan, each sequence continuing the state row it owns. Rows of a sequence
 * are consumed in batch order; the work inside a row (channels, heads) is
 * split across threads. The scan runs a sequence's prefill rows by chunks
 * (ops_ssm_chunked.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops_ssm_internal.h"

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

void cpu_ssm_step_heads(const cpu_ssm_args *a, int64_t r, int32_t slot, int64_t h0, int64_t h1) {
    const hive_ssm_desc *d = a->d;
    uint32_t P = d->head_dim, N = d->state_size, heads_per_group = d->n_heads / d->n_groups;
    const float *x = cpu_row(a->x, r), *Bm = cpu_row(a->B, r), *Cm = cpu_row(a->C, r);
    float *y = cpu_row(a->y, r), *st = cpu_row(a->state, slot);
    for (int64_t h = h0; h < h1; h++) {
        float dth = cpu_ssm_dt(a, r, h), decay = expf(dth * a->A[h]);
        const float *b = Bm + (h / heads_per_group) * N, *cc = Cm + (h / heads_per_group) * N;
        for (uint32_t p = 0; p < P; p++) {
            float xv = x[h * P + p], *s = st + ((size_t)h * P + p) * N, acc = 0.0f;
            for (uint32_t n = 0; n < N; n++) {
                s[n] = s[n] * decay + dth * b[n] * xv;
                acc += s[n] * cc[n];
            }
            y[h * P + p] = acc + a->D[h] * xv;
        }
    }
}

typedef struct {
    const cpu_ssm_args *a;
    int64_t row;
    int32_t slot;
} step_ctx;

static void step_task(void *ctx, int64_t h0, int64_t h1) {
    const step_ctx *c = ctx;
    cpu_ssm_step_heads(c->a, c->row, c->slot, h0, h1);
}

static void step_row(const hive_device *dev, const cpu_ssm_args *a, int64_t r, int32_t slot) {
    step_ctx c = {a, r, slot};
    const hive_ssm_desc *d = a->d;
    cpu_parallel_for(dev, d->n_heads, (int64_t)(4096 / ((int64_t)d->head_dim * d->state_size + 1)) + 1, step_task, &c);
}

/* Runs of at least SSM_CHUNKED_MIN_ROWS rows of one sequence take the chunked
 * form, shorter ones (decode) step token by token. The chunk is SSM_CHUNK_CPU
 * tokens, or the model's (desc->chunk_size) when smaller: here the state
 * terms cost the same per token for any chunk and only the within-chunk term
 * grows with it (Q (P + N) / 2 per token and head): the 256 a GPU trains
 * with ran 2.7x slower than 16. Both measured with onednn-cpu-bench ssm_scan
 * (docs/HYBRID.md). HIVE_CPU_SSM_CHUNKED=0 never chunks, =1 chunks every run
 * of 2 rows or more (tests, benchmarks). */
#define SSM_CHUNKED_MIN_ROWS 4
#define SSM_CHUNK_CPU 16

static int64_t chunked_min_rows(void) {
    const char *v = getenv("HIVE_CPU_SSM_CHUNKED");
    if (v && v[0] == '0') return INT64_MAX;
    if (v && v[0] == '1') return 2;
    return SSM_CHUNKED_MIN_ROWS;
}

/* The chunked scan built for the device's ISA level (HIVE_CPU_ISA caps it). */
static void scan_chunked(const hive_device *dev, const cpu_ssm_args *a, const int64_t *rows, int64_t L, int32_t slot,
                         uint32_t Q) {
#ifdef HIVE_CPU_HAVE_AVX512
    if (!strncmp(dev->kern.isa, "avx512", 6)) cpu_ssm_scan_chunked_avx512(dev, a, rows, L, slot, Q);
    else
#endif
    if (!strcmp(dev->kern.isa, "avx2") || !strcmp(dev->kern.isa, "avxvnni"))
        cpu_ssm_scan_chunked_avx2(dev, a, rows, L, slot, Q);
    else
        cpu_ssm_scan_chunked_base(dev, a, rows, L, slot, Q);
}

/* Groups the rows by sequence (batch order kept within each) and scans each
 * sequence on its own: its long runs chunked, its short ones stepped.
 * Returns 0, having done nothing, when two sequences share a state row (their
 * rows must then interleave as the batch orders them) or memory is short. */
static int scan_by_sequence(const hive_device *dev, const cpu_ssm_args *a, const hive_batch *b, const int32_t *slots,
                            int64_t n, int64_t min_rows) {
    uint32_t S = b->n_seqs;
    int64_t *count = calloc((size_t)S + 1, sizeof *count), *order = malloc((size_t)n * sizeof *order);
    unsigned char *taken = calloc((size_t)a->state->rows, 1);
    int ok = count && order && taken;
    for (int64_t r = 0; ok && r < n; r++) count[b->row_seq[r] + 1]++;
    for (uint32_t j = 0; ok && j < S; j++) {
        if (count[j + 1] && taken[slots[j]]++) ok = 0;
        count[j + 1] += count[j]; /* count[j]: where sequence j's rows start in order */
    }
    if (ok) {
        for (int64_t r = 0; r < n; r++) order[count[b->row_seq[r]]++] = r; /* count[j] moves to j's end */
        uint32_t Q = a->d->chunk_size && a->d->chunk_size < SSM_CHUNK_CPU ? a->d->chunk_size : SSM_CHUNK_CPU;
        for (uint32_t j = 0; j < S; j++) {
            int64_t begin = j ? count[j - 1] : 0, L = count[j] - begin;
            if (L >= min_rows) scan_chunked(dev, a, order + begin, L, slots[j], Q);
            else
                for (int64_t t = 0; t < L; t++) step_row(dev, a, order[begin + t], slots[j]);
        }
    }
    free(count);
    free(order);
    free(taken);
    return ok;
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
    cpu_ssm_args a = {x, dt, B, C, state, y, A->vec_f32, D->vec_f32, dt_bias->vec_f32, d};
    int64_t min_rows = chunked_min_rows();
    if (n >= min_rows && scan_by_sequence(dev, &a, batch, slots, n, min_rows)) return HIVE_OK;
    for (int64_t r = 0; r < n; r++) step_row(dev, &a, r, slots[batch->row_seq[r]]);
    return HIVE_OK;
}
