/* Mamba2's selective scan over a run of one sequence's rows, by chunks of Q
 * tokens (the SSD form of the recurrence in op_ssm_scan). For head h, with
 * a_t = dt_t * A[h] and cs_i = sum of a_t over the chunk up to token i:
 *   y_i  = D x_i + exp(cs_i) C_i . s0                                  (state in)
 *        + sum_{j <= i} (C_i . B_j) exp(cs_i - cs_j) dt_j x_j            (within)
 *   s1   = exp(cs_last) s0 + sum_j exp(cs_last - cs_j) dt_j B_j x_j^T    (state out)
 * Only differences cs_i - cs_j (i >= j) and cs_i are exponentiated: all <= 0,
 * so a large negative A underflows to 0 instead of overflowing. The state is
 * held transposed, [n][p], for the whole run, so every term is a dense loop
 * over head_dim that vectorises (the recurrence's C . s reduction does not);
 * per token and head it costs 2 P N like the recurrence, plus Q (P + N) / 2
 * within the chunk. The result differs from the token-by-token recurrence by
 * summation order (and FMA contraction in the AVX builds) only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_ssm_internal.h"

/* Compiled once per ISA width: ops_ssm_chunked_avx2.c and _avx512.c include
 * this file under their own name and flags; ops_ssm.c picks by device ISA. */
#ifndef SSM_CHUNKED_FN
#define SSM_CHUNKED_FN cpu_ssm_scan_chunked_base
#endif

typedef struct {
    const cpu_ssm_args *a;
    const int64_t *rows; /* the sequence's batch rows, in order */
    int64_t L;
    int32_t slot;
    uint32_t Q;
} chunk_ctx;

/* The head's workspace: the state transposed to [n][p] (rows over p are
 * contiguous, as x's are), and one chunk's decays, G = C B^T and outputs. */
typedef struct {
    float *sT, *dtv, *cs, *G, *BT, *Y;
} chunk_ws;

static float *ws_alloc(chunk_ws *w, uint32_t P, uint32_t N, uint32_t Q) {
    size_t floats = (size_t)N * P + 2 * (size_t)Q + (size_t)Q * Q + (size_t)N * Q + (size_t)Q * P;
    float *base = malloc(floats * sizeof *base);
    if (!base) return NULL;
    w->sT = base;
    w->dtv = w->sT + (size_t)N * P;
    w->cs = w->dtv + Q;
    w->G = w->cs + Q;
    w->BT = w->G + (size_t)Q * Q;
    w->Y = w->BT + (size_t)N * Q;
    return base;
}

static void chunk_head(const chunk_ctx *c, chunk_ws *w, int64_t h) {
    const cpu_ssm_args *a = c->a;
    const hive_ssm_desc *d = a->d;
    uint32_t P = d->head_dim, N = d->state_size, Q = c->Q;
    int64_t g = h / (d->n_heads / d->n_groups);
    float *st = cpu_row(a->state, c->slot) + (size_t)h * P * N, *sT = w->sT, *Y = w->Y;
    for (uint32_t p = 0; p < P; p++)
        for (uint32_t n = 0; n < N; n++) sT[(size_t)n * P + p] = st[(size_t)p * N + n];
    for (int64_t c0 = 0; c0 < c->L; c0 += Q) {
        uint32_t q = (uint32_t)(c->L - c0 < Q ? c->L - c0 : Q);
        const int64_t *rows = c->rows + c0;
        float run = 0.0f;
        for (uint32_t i = 0; i < q; i++) {
            float dth = cpu_ssm_dt(a, rows[i], h);
            w->dtv[i] = dth;
            run += dth * a->A[h];
            w->cs[i] = run;
            const float *b = cpu_row(a->B, rows[i]) + g * N;
            for (uint32_t n = 0; n < N; n++) w->BT[(size_t)n * Q + i] = b[n];
        }
        /* G[i][j] = C_i . B_j, j <= i; then y_i, state-in and within-chunk terms */
        for (uint32_t i = 0; i < q; i++) {
            const float *cc = cpu_row(a->C, rows[i]) + g * N, *x = cpu_row(a->x, rows[i]) + h * P;
            float *Gi = w->G + (size_t)i * Q, *yi = Y + (size_t)i * P, ein = expf(w->cs[i]);
            memset(Gi, 0, (i + 1) * sizeof *Gi);
            for (uint32_t n = 0; n < N; n++) {
                const float cn = cc[n], *bt = w->BT + (size_t)n * Q;
                for (uint32_t j = 0; j <= i; j++) Gi[j] += cn * bt[j];
            }
            for (uint32_t p = 0; p < P; p++) yi[p] = a->D[h] * x[p];
            for (uint32_t n = 0; n < N; n++) {
                const float cn = cc[n] * ein, *sn = sT + (size_t)n * P;
                for (uint32_t p = 0; p < P; p++) yi[p] += cn * sn[p];
            }
            for (uint32_t j = 0; j <= i; j++) {
                const float wj = Gi[j] * expf(w->cs[i] - w->cs[j]) * w->dtv[j];
                const float *xj = cpu_row(a->x, rows[j]) + h * P;
                for (uint32_t p = 0; p < P; p++) yi[p] += wj * xj[p];
            }
        }
        /* the state after the chunk */
        const float last = w->cs[q - 1], eout = expf(last);
        for (size_t k = 0; k < (size_t)N * P; k++) sT[k] *= eout;
        for (uint32_t j = 0; j < q; j++) {
            const float wj = expf(last - w->cs[j]) * w->dtv[j];
            const float *xj = cpu_row(a->x, rows[j]) + h * P;
            for (uint32_t n = 0; n < N; n++) {
                const float bn = wj * w->BT[(size_t)n * Q + j];
                float *sn = sT + (size_t)n * P;
                for (uint32_t p = 0; p < P; p++) sn[p] += bn * xj[p];
            }
        }
        /* y written last: x is read up to here */
        for (uint32_t i = 0; i < q; i++) memcpy(cpu_row(a->y, rows[i]) + h * P, Y + (size_t)i * P, P * sizeof *Y);
    }
    for (uint32_t p = 0; p < P; p++)
        for (uint32_t n = 0; n < N; n++) st[(size_t)p * N + n] = sT[(size_t)n * P + p];
}

static void chunk_task(void *ctx, int64_t h0, int64_t h1) {
    const chunk_ctx *c = ctx;
    chunk_ws w;
    float *base = ws_alloc(&w, c->a->d->head_dim, c->a->d->state_size, c->Q);
    if (!base) { /* out of memory: the exact recurrence needs no workspace */
        for (int64_t t = 0; t < c->L; t++) cpu_ssm_step_heads(c->a, c->rows[t], c->slot, h0, h1);
        return;
    }
    for (int64_t h = h0; h < h1; h++) chunk_head(c, &w, h);
    free(base);
}

void SSM_CHUNKED_FN(const hive_device *dev, const cpu_ssm_args *a, const int64_t *rows, int64_t L,
                          int32_t slot, uint32_t Q) {
    chunk_ctx c = {a, rows, L, slot, Q};
    cpu_parallel_for(dev, a->d->n_heads, 1, chunk_task, &c);
}
