/* test_gpu_sgmv.c — the segmented multi-LoRA extension (HIVE_EXT_LORA_SEGMENTS)
 * of each built GPU backend plugin against a scalar reference: segments of
 * different ranks and odd row counts, rows that belong to no segment (must not
 * change), and bad inputs that must fail with the right code. Without a device
 * every test skips after printing the plugin's reason. */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu_harness.h"
#include "gpu_ref.h"

/* The extension table of the opened device (skips without a device). */
static const hive_ext_lora_segments *ext_of(gpu_fx *fx) {
    gpu_fx_need_device(fx);
    assert_true(HIVE_HAS_FIELD(hive_backend_api, fx->api->struct_size, get_extension));
    assert_non_null(fx->api->get_extension);
    const hive_ext_lora_segments *e = fx->api->get_extension(fx->dev, HIVE_EXT_LORA_SEGMENTS, 1);
    assert_non_null(e);
    return e;
}

/* ------------------------------------------------------------- probing -- */
static void test_extension(void **state) {
    gpu_fx *fx = *state;
    const hive_ext_lora_segments *e = ext_of(fx);
    fprintf(stderr, "%s: lora_segments v%u, max_rank %u\n", fx->file, e->version, e->max_rank);
    assert_true(e->version >= 1);
    assert_true(e->struct_size >= sizeof(hive_ext_lora_segments));
    assert_true(e->max_rank >= 64);
    assert_non_null(e->op_lora_segments);
    assert_null(fx->api->get_extension(fx->dev, 0xdeadu, 1));
    assert_null(fx->api->get_extension(fx->dev, HIVE_EXT_LORA_SEGMENTS, 99));
}

/* ------------------------------------------------------------ reference -- */
/* y[row0 .. row0 + rows) += B (A x) for each segment; A [rank, k], B [ncols, rank]. */
static void ref_sgmv(const float *x, float *y, int64_t k, int64_t ncols, uint32_t n, const int32_t *row0,
                     const int32_t *rows, const int32_t *rank, float *const *A, float *const *B) {
    for (uint32_t s = 0; s < n; s++) {
        double *t = malloc((size_t)(rank[s] > 0 ? rank[s] : 1) * sizeof(double));
        assert_non_null(t);
        for (int32_t i = row0[s]; i < row0[s] + rows[s]; i++) {
            for (int32_t j = 0; j < rank[s]; j++) {
                double acc = 0.0;
                for (int64_t c = 0; c < k; c++) acc += (double)x[i * k + c] * A[s][j * k + c];
                t[j] = acc;
            }
            for (int64_t c = 0; c < ncols; c++) {
                double acc = 0.0;
                for (int32_t j = 0; j < rank[s]; j++) acc += (double)B[s][c * rank[s] + j] * t[j];
                y[i * ncols + c] = (float)((double)y[i * ncols + c] + acc);
            }
        }
        free(t);
    }
}

/* -------------------------------------------------------------- values -- */
#define MAX_SEG 4

/* total rows x k input, total rows x ncols output pre-filled non-zero. */
static void sgmv_case(gpu_fx *fx, const hive_ext_lora_segments *e, int64_t total, int64_t k, int64_t ncols,
                      uint32_t n, const int32_t *row0, const int32_t *rows, const int32_t *rank, uint32_t *seed) {
    assert_true(n <= MAX_SEG);
    float *x = malloc((size_t)(total * k) * 4), *y0 = malloc((size_t)(total * ncols) * 4);
    float *got = malloc((size_t)(total * ncols) * 4), *ref = malloc((size_t)(total * ncols) * 4);
    assert_true(x && y0 && got && ref);
    ref_fill(x, total * k, seed, 1.0f);
    ref_fill(y0, total * ncols, seed, 1.0f);
    for (int64_t i = 0; i < total * ncols; i++)
        if (y0[i] == 0.0f) y0[i] = 0.5f; /* strictly non-zero */
    float *A[MAX_SEG], *B[MAX_SEG];
    hive_weight *wa[MAX_SEG], *wb[MAX_SEG];
    for (uint32_t s = 0; s < n; s++) {
        A[s] = malloc((size_t)(rank[s] * k) * 4);
        B[s] = malloc((size_t)(ncols * rank[s]) * 4);
        assert_true(A[s] && B[s]);
        ref_fill(A[s], rank[s] * k, seed, 0.5f);
        ref_fill(B[s], ncols * rank[s], seed, 0.5f);
        wa[s] = gpu_weight_new(fx, HIVE_DTYPE_F32, rank[s], k, A[s]);
        wb[s] = gpu_weight_new(fx, HIVE_DTYPE_F32, ncols, rank[s], B[s]);
    }
    gpu_mat gx = gpu_mat_new(fx, total, k, 3, x), gy = gpu_mat_new(fx, total, ncols, 5, y0);
    hive_error *err = NULL;
    gpu_check(e->op_lora_segments(fx->dev, &gx.t, &gy.t, n, row0, rows, (const hive_weight *const *)wa,
                                  (const hive_weight *const *)wb, &err),
              err, "op_lora_segments");
    gpu_mat_read(fx, &gy, got);
    memcpy(ref, y0, (size_t)(total * ncols) * 4);
    ref_sgmv(x, ref, k, ncols, n, row0, rows, rank, A, B);

    /* rows of no segment are bit-for-bit unchanged */
    for (int64_t r = 0; r < total; r++) {
        int covered = 0;
        for (uint32_t s = 0; s < n; s++) covered |= r >= row0[s] && r < row0[s] + rows[s];
        if (!covered) assert_memory_equal(got + r * ncols, y0 + r * ncols, (size_t)ncols * 4);
    }
    const double rel = gpu_rel_err(got, ref, total * ncols, 1e-3);
    if (!(rel <= 1e-4))
        fprintf(stderr, "sgmv k %lld ncols %lld: rel err %g > 1e-4\n", (long long)k, (long long)ncols, rel);
    assert_true(rel <= 1e-4);

    gpu_mat_free(fx, &gx);
    gpu_mat_free(fx, &gy);
    for (uint32_t s = 0; s < n; s++) {
        fx->api->weight_free(fx->dev, wa[s]);
        fx->api->weight_free(fx->dev, wb[s]);
        free(A[s]);
        free(B[s]);
    }
    free(x);
    free(y0);
    free(got);
    free(ref);
}

static void test_values(void **state) {
    gpu_fx *fx = *state;
    const hive_ext_lora_segments *e = ext_of(fx);
    uint32_t seed = 4242;
    {
        /* segments out of row order; rows 7..11 and 40 belong to no segment */
        const int32_t row0[3] = {25, 0, 12}, rows[3] = {15, 7, 13}, rank[3] = {64, 8, 16};
        sgmv_case(fx, e, 41, 200, 150, 3, row0, rows, rank, &seed);
    }
    {
        /* a segment of 37 rows (two row tiles), rank 1 and the max rank, an
         * empty segment, long k (split reduction), a gap of rows 38..39 */
        const int32_t row0[4] = {0, 37, 40, 45}, rows[4] = {37, 1, 0, 5};
        const int32_t rank[4] = {(int32_t)e->max_rank, 1, 8, 33};
        sgmv_case(fx, e, 52, 1000, 300, 4, row0, rows, rank, &seed);
    }
    {
        /* decode-like: one row per segment, wide k and ncols */
        const int32_t row0[3] = {0, 1, 2}, rows[3] = {1, 1, 1}, rank[3] = {16, 64, 8};
        sgmv_case(fx, e, 4, 2048, 1024, 3, row0, rows, rank, &seed);
    }
    /* n == 0: no-op */
    gpu_mat gx = gpu_mat_new(fx, 3, 8, 0, NULL), gy = gpu_mat_new(fx, 3, 8, 0, NULL);
    hive_error *err = NULL;
    gpu_check(e->op_lora_segments(fx->dev, &gx.t, &gy.t, 0, NULL, NULL, NULL, NULL, &err), err,
              "op_lora_segments n=0");
    gpu_mat_free(fx, &gx);
    gpu_mat_free(fx, &gy);
}

/* ---------------------------------------------------------- bad inputs -- */
static void expect_fail(const hive_ext_lora_segments *e, gpu_fx *fx, hive_device *dev, const gpu_mat *gx,
                        const gpu_mat *gy, uint32_t n, const int32_t *row0, const int32_t *rows,
                        hive_weight *const *A, hive_weight *const *B, hive_status want, const char *what) {
    hive_error *err = NULL;
    const hive_status st = e->op_lora_segments(dev, &gx->t, &gy->t, n, row0, rows, (const hive_weight *const *)A,
                                               (const hive_weight *const *)B, &err);
    fprintf(stderr, "%s %s: status %d (%s)\n", fx->file, what, st, err ? err->msg : "no message");
    assert_int_equal(st, want);
    assert_non_null(err);
    assert_int_equal(err->code, want);
    free(err);
}

static void test_bad_inputs(void **state) {
    gpu_fx *fx = *state;
    const hive_ext_lora_segments *e = ext_of(fx);
    enum { T = 10, K = 24, N = 20, R = 4 };
    uint32_t seed = 7;
    float x[T * K], y[T * N], got[T * N];
    ref_fill(x, T * K, &seed, 1.0f);
    ref_fill(y, T * N, &seed, 1.0f);
    const int64_t big = (int64_t)e->max_rank + 1;
    float *a = calloc((size_t)(big * (K + 1)), 4), *b = calloc((size_t)(N * big), 4);
    assert_true(a && b);
    ref_fill(a, big * (K + 1), &seed, 1.0f);
    ref_fill(b, N * big, &seed, 1.0f);
    hive_weight *A = gpu_weight_new(fx, HIVE_DTYPE_F32, R, K, a);
    hive_weight *B = gpu_weight_new(fx, HIVE_DTYPE_F32, N, R, b);
    hive_weight *A_cols = gpu_weight_new(fx, HIVE_DTYPE_F32, R, K + 1, a);  /* cols != cols(x) */
    hive_weight *A_big = gpu_weight_new(fx, HIVE_DTYPE_F32, big, K, a);     /* rank > max_rank */
    hive_weight *B_big = gpu_weight_new(fx, HIVE_DTYPE_F32, N, big, b);
    hive_weight *B_rows = gpu_weight_new(fx, HIVE_DTYPE_F32, N + 1, R, b);  /* rows != cols(y) */
    hive_weight *A_f16 = gpu_weight_new(fx, HIVE_DTYPE_F16, R, K, a);       /* not f32 (bytes do not matter) */
    gpu_mat gx = gpu_mat_new(fx, T, K, 1, x), gy = gpu_mat_new(fx, T, N, 2, y);
    gpu_mat gy_short = gpu_mat_new(fx, T - 1, N, 0, y);

    hive_weight *AA[2] = {A, A}, *BB[2] = {B, B};
    {
        const int32_t row0[2] = {0, 4}, rows[2] = {5, 3}; /* [0,5) and [4,7) overlap */
        expect_fail(e, fx, fx->dev, &gx, &gy, 2, row0, rows, AA, BB, HIVE_E_INVALID, "overlap");
    }
    {
        const int32_t row0[2] = {6, 0}, rows[2] = {4, 7}; /* unsorted, [0,7) and [6,10) overlap */
        expect_fail(e, fx, fx->dev, &gx, &gy, 2, row0, rows, AA, BB, HIVE_E_INVALID, "overlap unsorted");
    }
    const int32_t row0[1] = {2}, rows[1] = {3};
    hive_weight *a1[1] = {A_cols}, *b1[1] = {B};
    expect_fail(e, fx, fx->dev, &gx, &gy, 1, row0, rows, a1, b1, HIVE_E_SHAPE, "A cols");
    a1[0] = A_big;
    b1[0] = B_big;
    expect_fail(e, fx, fx->dev, &gx, &gy, 1, row0, rows, a1, b1, HIVE_E_SHAPE, "rank > max_rank");
    a1[0] = A;
    b1[0] = B_rows;
    expect_fail(e, fx, fx->dev, &gx, &gy, 1, row0, rows, a1, b1, HIVE_E_SHAPE, "B rows");
    b1[0] = A; /* B with cols != rank: A is [R, K] */
    expect_fail(e, fx, fx->dev, &gx, &gy, 1, row0, rows, a1, b1, HIVE_E_SHAPE, "B shape");
    a1[0] = A_f16;
    b1[0] = B;
    expect_fail(e, fx, fx->dev, &gx, &gy, 1, row0, rows, a1, b1, HIVE_E_UNSUPPORTED, "A f16");
    a1[0] = NULL;
    expect_fail(e, fx, fx->dev, &gx, &gy, 1, row0, rows, a1, b1, HIVE_E_INVALID, "A missing");
    a1[0] = A;
    {
        const int32_t r0[1] = {8}, rr[1] = {3}; /* [8, 11) past 10 rows */
        expect_fail(e, fx, fx->dev, &gx, &gy, 1, r0, rr, a1, b1, HIVE_E_INVALID, "rows past end");
        const int32_t r1[1] = {-1}, r2[1] = {2};
        expect_fail(e, fx, fx->dev, &gx, &gy, 1, r1, r2, a1, b1, HIVE_E_INVALID, "negative row0");
    }
    expect_fail(e, fx, fx->dev, &gx, &gy_short, 1, row0, rows, a1, b1, HIVE_E_SHAPE, "x/y rows");
    expect_fail(e, fx, NULL, &gx, &gy, 1, row0, rows, a1, b1, HIVE_E_INVALID, "null device");

    /* nothing above touched y */
    gpu_mat_read(fx, &gy, got);
    assert_memory_equal(got, y, sizeof y);

    gpu_mat_free(fx, &gx);
    gpu_mat_free(fx, &gy);
    gpu_mat_free(fx, &gy_short);
    hive_weight *all[] = {A, B, A_cols, A_big, B_big, B_rows, A_f16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) fx->api->weight_free(fx->dev, all[i]);
    free(a);
    free(b);
}

/* ---------------------------------------------------------------- main -- */
int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extension), cmocka_unit_test(test_values), cmocka_unit_test(test_bad_inputs)
    };
    return gpu_run_per_plugin(tests, sizeof tests / sizeof tests[0]);
}
