/* op_ssm_scan's chunked prefill (ops_ssm_chunked.c) against the exact
 * recurrence, computed here in double: three sequences with random states
 * carried in, rows interleaved in the batch, lengths that are and are not
 * multiples of the chunk (and one below it), several chunk sizes, two heads
 * per group, dt driven past both clamp limits and A from -0.3 to -1e4. A
 * decode step after the prefill then checks the state rows written back.
 * Tolerance: |got - want| <= 1e-4 * max(1, |want|) for y and the states:
 * the chunked form sums in another order (measured error ~1e-6). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "tests.h"

enum { H = 4, P = 8, G = 2, N = 16, S = 3, SLOT_ROWS = 4 };
#define SSM_TOL 1e-4

static double ref_state[S][H * P * N];

/* The recurrence over batch rows [r0, r1), in double, as ABI 1.5 writes it. */
static void reference(const test_tensor *x, const test_tensor *dt, const test_tensor *Bm, const test_tensor *Cm,
                      const float *A, const float *D, const float *dtb, float dt_min, float dt_max,
                      const int32_t *row_seq, int64_t r0, int64_t r1, double *y) {
    for (int64_t r = r0; r < r1; r++) {
        double *s = ref_state[row_seq[r]];
        for (int h = 0; h < H; h++) {
            double v = (double)tt_row(dt, r)[h] + dtb[h], dth = v > 20.0 ? v : log1p(exp(v));
            dth = dth < dt_min ? dt_min : dth > dt_max ? dt_max : dth;
            double decay = exp(dth * A[h]);
            int g = h / (H / G);
            for (int p = 0; p < P; p++) {
                double xv = tt_row(x, r)[h * P + p], acc = 0.0;
                for (int n = 0; n < N; n++) {
                    double *sv = &s[(h * P + p) * N + n];
                    *sv = *sv * decay + dth * tt_row(Bm, r)[g * N + n] * xv;
                    acc += *sv * tt_row(Cm, r)[g * N + n];
                }
                y[(r - r0) * H * P + h * P + p] = acc + D[h] * xv;
            }
        }
    }
}

static double rel_err(double got, double want) { return fabs(got - want) / fmax(1.0, fabs(want)); }

void test_ssm_scan_chunked(void **state) {
    (void)state;
    uint32_t saved = rnd_state();
    rnd_seed(0x55d);
    enum { LEN0 = 37, LEN1 = 5, LEN2 = 70, R = LEN0 + LEN1 + LEN2 };
    static const uint32_t chunks[] = {0, 1, 7, 16, 256}; /* 0: the plugin's choice (16, as 256 gives) */
    static const char *const modes[] = {"1", NULL};          /* forced; the default threshold (70 rows chunk) */
    float A[H] = {-0.3f, -4.0f, -90.0f, -1.0e4f}, D[H] = {0.5f, -0.25f, 1.0f, 0.0f}, dtb[H] = {0.0f, -1.0f, 1.5f, -3.0f};
    const float dt_min = 0.002f, dt_max = 0.2f;
    hive_weight *Aw = tw_upload(HIVE_DTYPE_F32, 1, H, A), *Dw = tw_upload(HIVE_DTYPE_F32, 1, H, D),
                *bw = tw_upload(HIVE_DTYPE_F32, 1, H, dtb);
    test_tensor x = tt_new(R, H * P, H * P, 0), dt = tt_new(R, H, H, 0), Bm = tt_new(R, G * N, G * N, 0),
                Cm = tt_new(R, G * N, G * N, 0), y = tt_new(R, H * P, H * P, 0),
                st = tt_new(SLOT_ROWS, H * P * N, H * P * N, 0);
    /* rows: sequence 1's five first, then 0 and 2 interleaved until 0 ends */
    int32_t row_seq[R], pos[R] = {0}, slots[S] = {2, 0, 3};
    int64_t r = 0;
    for (int t = 0; t < LEN1; t++) row_seq[r++] = 1;
    for (int t = 0; t < LEN2; t++) {
        if (t < LEN0) row_seq[r++] = 0;
        row_seq[r++] = 2;
    }
    for (r = 0; r < R; r++) {
        for (int c = 0; c < H * P; c++) tt_row(&x, r)[c] = rnd_uniform(-1.0f, 1.0f);
        for (int h = 0; h < H; h++) tt_row(&dt, r)[h] = rnd_uniform(-9.0f, 4.0f); /* softplus 1e-4 .. 4: both clamps */
        for (int c = 0; c < G * N; c++) tt_row(&Bm, r)[c] = rnd_uniform(-1.0f, 1.0f);
        for (int c = 0; c < G * N; c++) tt_row(&Cm, r)[c] = rnd_uniform(-1.0f, 1.0f);
    }
    float st0[SLOT_ROWS][H * P * N];
    for (int k = 0; k < SLOT_ROWS; k++)
        for (int c = 0; c < H * P * N; c++) st0[k][c] = rnd_uniform(-2.0f, 2.0f);
    hive_batch b = {sizeof b, R, row_seq, pos, S, 0, NULL};
    static double want[R * H * P];
    int bad = 0; /* asserted after HIVE_CPU_SSM_CHUNKED is unset, so a failure leaves no setting behind */
    for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++)
        for (int mi = 0; mi < 2; mi++) {
            if (modes[mi]) setenv("HIVE_CPU_SSM_CHUNKED", modes[mi], 1);
            else unsetenv("HIVE_CPU_SSM_CHUNKED");
            memcpy(tt_row(&st, 0), st0, sizeof st0);
            for (int j = 0; j < S; j++)
                for (int c = 0; c < H * P * N; c++) ref_state[j][c] = st0[slots[j]][c];
            hive_ssm_desc d = {sizeof d, H, P, G, N, chunks[ci], dt_min, dt_max};
            bad |= api->op_ssm_scan(dev, &x.t, &dt.t, &Bm.t, &Cm.t, Aw, Dw, bw, &d, &b, slots, &st.t, &y.t, NULL) !=
                   HIVE_OK;
            reference(&x, &dt, &Bm, &Cm, A, D, dtb, dt_min, dt_max, row_seq, 0, R, want);
            double worst = 0.0;
            for (int64_t i = 0; i < (int64_t)R * H * P; i++) worst = fmax(worst, rel_err(tt_row(&y, 0)[i], want[i]));
            for (int j = 0; j < S; j++)
                for (int c = 0; c < H * P * N; c++)
                    worst = fmax(worst, rel_err(tt_row(&st, slots[j])[c], ref_state[j][c]));
            if (worst > SSM_TOL) print_error("chunk %u, HIVE_CPU_SSM_CHUNKED=%s: error %g\n", chunks[ci],
                                             modes[mi] ? modes[mi] : "(unset)", worst);
            bad |= worst > SSM_TOL;
            bad |= memcmp(tt_row(&st, 1), st0[1], sizeof st0[1]) != 0; /* no sequence's row: untouched */
            /* decode: one more row of each sequence continues the state written back */
            int32_t seq1[S] = {0, 1, 2}, pos1[S] = {0};
            hive_batch b1 = {sizeof b1, S, seq1, pos1, S, 0, NULL};
            hive_tensor x1 = x.t, dt1 = dt.t, B1 = Bm.t, C1 = Cm.t, y1 = y.t;
            x1.rows = dt1.rows = B1.rows = C1.rows = y1.rows = S;
            bad |= api->op_ssm_scan(dev, &x1, &dt1, &B1, &C1, Aw, Dw, bw, &d, &b1, slots, &st.t, &y1, NULL) != HIVE_OK;
            reference(&x, &dt, &Bm, &Cm, A, D, dtb, dt_min, dt_max, seq1, 0, S, want);
            for (int64_t i = 0; i < (int64_t)S * H * P; i++) bad |= rel_err(tt_row(&y, 0)[i], want[i]) > SSM_TOL;
        }
    unsetenv("HIVE_CPU_SSM_CHUNKED");
    assert_false(bad);
    test_tensor *all[] = {&x, &dt, &Bm, &Cm, &y, &st};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tt_free(all[i]);
    api->weight_free(dev, Aw), api->weight_free(dev, Dw), api->weight_free(dev, bw);
    rnd_seed(saved);
}
