/* backend_ssm.cu — Mamba2's recurrent ops (ABI 1.5): the causal depthwise
 * conv1d and the selective scan, each batch row continuing the state row of
 * its sequence. One thread per channel (conv) or per (head, dim) (scan)
 * walks the batch rows in order, so a sequence's rows stay sequential. The
 * scan is the per-token recurrence, not a chunked form: correct first, fast
 * later (docs/HYBRID.md). Not capturable (backend_api.cu refuses). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gpu_backend.h"
#include "gpu_impl.h"

#define SSM_THREADS 128

static const float *row_vector(const hive_weight *w, int64_t cols, const char *what) {
    if (!w || w->rows != 1 || w->cols != cols || !w->f32)
        gpu_throw(HIVE_E_SHAPE, "%s: weight must be [1, %lld] f32", what, (long long)cols);
    return w->f32;
}

/* The batch's row -> local sequence map and the sequences' state rows on the
 * device, after checking them on the host. */
static void stage_rows(hive_device *d, const hive_batch *b, const int32_t *slots, const hive_tensor *state, int64_t n,
                       const char *op, void **dptr) {
    if (!b || !b->row_seq || !slots) gpu_throw(HIVE_E_INVALID, "%s: batch, row_seq or slots missing", op);
    if ((int64_t)b->n_rows != n) gpu_throw(HIVE_E_SHAPE, "%s: batch has %u rows, x %lld", op, b->n_rows, (long long)n);
    for (int64_t r = 0; r < n; r++)
        if (b->row_seq[r] < 0 || (uint32_t)b->row_seq[r] >= b->n_seqs)
            gpu_throw(HIVE_E_INVALID, "%s: row %lld names sequence %d of %u", op, (long long)r, b->row_seq[r], b->n_seqs);
    for (uint32_t j = 0; j < b->n_seqs; j++)
        if (slots[j] < 0 || slots[j] >= state->rows)
            gpu_throw(HIVE_E_INVALID, "%s: sequence %u owns state row %d, outside %lld rows", op, j, slots[j],
                      (long long)state->rows);
    gpu_stage_part p[2] = {{b->row_seq, (size_t)n * sizeof(int32_t)}, {slots, (size_t)b->n_seqs * sizeof(int32_t)}};
    gpu_stage(d, p, 2, dptr);
}

__global__ static void k_ssm_conv(const float *x, int64_t sx, const float *w, const float *bias, int K, int64_t n,
                                  const int32_t *row_seq, const int32_t *slots, float *state, int64_t sst, float *out,
                                  int64_t so, int64_t C) {
    const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const float *wc = w + c * K;
    for (int64_t r = 0; r < n; r++) {
        float *hist = state + (int64_t)slots[row_seq[r]] * sst + c * (K - 1);
        const float in = x[r * sx + c];
        float acc = bias ? bias[c] : 0.0f;
        for (int k = 0; k + 1 < K; k++) acc += wc[k] * hist[k];
        acc += wc[K - 1] * in;
        for (int k = 0; k + 2 < K; k++) hist[k] = hist[k + 1];
        if (K > 1) hist[K - 2] = in;
        out[r * so + c] = acc / (1.0f + expf(-acc));
    }
}

void gpu_impl_ssm_conv(hive_device *d, const hive_tensor *x, const hive_weight *w, const hive_weight *bias,
                       uint32_t kernel, const hive_batch *b, const int32_t *slots, const hive_tensor *state,
                       const hive_tensor *out) {
    const float *xp = gpu_tensor_ptr(x, "ssm_conv x");
    float *op = gpu_tensor_ptr(out, "ssm_conv out"), *sp = gpu_tensor_ptr(state, "ssm_conv state");
    const int64_t C = x->cols;
    if (kernel < 1 || kernel > 64 || out->cols != C || out->rows != x->rows || state->cols != C * (int64_t)(kernel - 1))
        gpu_throw(HIVE_E_SHAPE, "ssm_conv: x %lldx%lld, out %lldx%lld, state cols %lld, kernel %u do not agree",
                  (long long)x->rows, (long long)C, (long long)out->rows, (long long)out->cols, (long long)state->cols,
                  kernel);
    const float *wp = row_vector(w, C * (int64_t)kernel, "ssm_conv weight");
    const float *bp = bias ? row_vector(bias, C, "ssm_conv bias") : nullptr;
    if (x->rows == 0) return;
    void *dp[2];
    stage_rows(d, b, slots, state, x->rows, "ssm_conv", dp);
    GPU_CHECK(gpuSetDevice(d->index));
    const unsigned blocks = (unsigned)((C + SSM_THREADS - 1) / SSM_THREADS);
    k_ssm_conv<<<blocks, SSM_THREADS, 0, d->stream>>>(xp, x->row_stride, wp, bp, (int)kernel, x->rows,
                                                      (const int32_t *)dp[0], (const int32_t *)dp[1], sp,
                                                      state->row_stride, op, out->row_stride, C);
    GPU_CHECK_LAUNCH("ssm_conv");
}

struct ssm_args {
    const float *x, *dt, *B, *C, *A, *D, *dt_bias;
    int64_t sx, sdt, sB, sC, sy, sst;
    float *y, *state;
    int H, P, G, N;
    float dt_min, dt_max;
};

__global__ static void k_ssm_scan(ssm_args a, int64_t n, const int32_t *row_seq, const int32_t *slots) {
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (int64_t)a.H * a.P) return;
    const int h = (int)(t / a.P), g = h / (a.H / a.G);
    for (int64_t r = 0; r < n; r++) {
        const float v = a.dt[r * a.sdt + h] + a.dt_bias[h];
        float dth = v > 20.0f ? v : log1pf(expf(v));
        dth = fminf(fmaxf(dth, a.dt_min), a.dt_max);
        const float decay = expf(dth * a.A[h]), xv = a.x[r * a.sx + t];
        const float *b = a.B + r * a.sB + (int64_t)g * a.N, *c = a.C + r * a.sC + (int64_t)g * a.N;
        float *s = a.state + (int64_t)slots[row_seq[r]] * a.sst + t * a.N, acc = 0.0f;
        for (int i = 0; i < a.N; i++) {
            s[i] = s[i] * decay + dth * b[i] * xv;
            acc += s[i] * c[i];
        }
        a.y[r * a.sy + t] = acc + a.D[h] * xv;
    }
}

void gpu_impl_ssm_scan(hive_device *d, const hive_tensor *x, const hive_tensor *dt, const hive_tensor *B,
                       const hive_tensor *C, const hive_weight *A, const hive_weight *D, const hive_weight *dt_bias,
                       const hive_ssm_desc *desc, const hive_batch *b, const int32_t *slots, const hive_tensor *state,
                       const hive_tensor *y) {
    if (!desc || desc->struct_size < sizeof *desc) gpu_throw(HIVE_E_INVALID, "ssm_scan: desc missing");
    const int H = (int)desc->n_heads, P = (int)desc->head_dim, G = (int)desc->n_groups, N = (int)desc->state_size;
    const int64_t n = x->rows, hp = (int64_t)H * P;
    if (H <= 0 || P <= 0 || G <= 0 || N <= 0 || H % G || x->cols != hp || y->cols != hp || dt->cols != H ||
        B->cols != (int64_t)G * N || C->cols != (int64_t)G * N || state->cols != hp * N || dt->rows != n ||
        B->rows != n || C->rows != n || y->rows != n)
        gpu_throw(HIVE_E_SHAPE, "ssm_scan: %d heads x %d dims, %d groups x %d states: tensor shapes do not agree", H, P,
                  G, N);
    ssm_args a;
    a.x = gpu_tensor_ptr(x, "ssm_scan x"), a.dt = gpu_tensor_ptr(dt, "ssm_scan dt");
    a.B = gpu_tensor_ptr(B, "ssm_scan B"), a.C = gpu_tensor_ptr(C, "ssm_scan C");
    a.y = gpu_tensor_ptr(y, "ssm_scan y"), a.state = gpu_tensor_ptr(state, "ssm_scan state");
    a.A = row_vector(A, H, "ssm_scan A"), a.D = row_vector(D, H, "ssm_scan D");
    a.dt_bias = row_vector(dt_bias, H, "ssm_scan dt_bias");
    a.sx = x->row_stride, a.sdt = dt->row_stride, a.sB = B->row_stride, a.sC = C->row_stride, a.sy = y->row_stride;
    a.sst = state->row_stride;
    a.H = H, a.P = P, a.G = G, a.N = N, a.dt_min = desc->dt_min, a.dt_max = desc->dt_max;
    if (n == 0) return;
    void *dp[2];
    stage_rows(d, b, slots, state, n, "ssm_scan", dp);
    GPU_CHECK(gpuSetDevice(d->index));
    const unsigned blocks = (unsigned)((hp + SSM_THREADS - 1) / SSM_THREADS);
    k_ssm_scan<<<blocks, SSM_THREADS, 0, d->stream>>>(a, n, (const int32_t *)dp[0], (const int32_t *)dp[1]);
    GPU_CHECK_LAUNCH("ssm_scan");
}
