/* op_matmul against a double-precision reference over the exact weight values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "reference.h"
#include "tests.h"

typedef struct {
    uint32_t dtype;
    int64_t rows, n, k;
    float alpha, beta;
    int bias;
    int64_t x_pad, out_pad; /* extra elements per row (row_stride - cols) */
} mm_case;

/* Quantized weights see 8-bit activations; the error is relative to sum |w||x|. */
static double mm_tolerance(uint32_t dtype) {
    switch (dtype) {
    case HIVE_DTYPE_F32: case HIVE_DTYPE_F16: return 2e-5;
    case HIVE_DTYPE_BF16: return 4e-3; /* oneDNN may round x to bf16 */
    default: return 4e-3;
    }
}

static void run_case(const mm_case *c) {
    void *wdata;
    float *wref;
    ref_make_weight(c->dtype, c->n, c->k, &wdata, &wref);
    hive_weight *w = tw_upload(c->dtype, c->n, c->k, wdata);
    assert_non_null(w);
    float *bias_v = malloc((size_t)c->n * sizeof(float));
    for (int64_t j = 0; j < c->n; j++) bias_v[j] = rnd_uniform(-1.0f, 1.0f);
    hive_weight *bias = c->bias ? tw_upload(HIVE_DTYPE_F32, 1, c->n, bias_v) : NULL;
    test_tensor x = tt_new(c->rows, c->k, c->k + c->x_pad, 3);
    test_tensor out = tt_new(c->rows, c->n, c->n + c->out_pad, 5);
    size_t out_elems = (size_t)((c->rows - 1) * out.t.row_stride + c->n);
    float *out0 = malloc(out_elems * sizeof(float));
    if (c->beta == 0.0f) /* beta == 0 means out is not read: NaN must not leak */
        for (int64_t r = 0; r < c->rows; r++)
            for (int64_t j = 0; j < c->n; j++) tt_row(&out, r)[j] = NAN;
    memcpy(out0, out.host, out_elems * sizeof(float));

    hive_error *err = NULL;
    assert_int_equal(api->op_matmul(dev, &x.t, w, bias, c->alpha, c->beta, &out.t, &err), HIVE_OK);

    double tol = mm_tolerance(c->dtype);
    for (int64_t r = 0; r < c->rows; r++) {
        const float *xr = tt_row(&x, r);
        for (int64_t j = 0; j < c->n; j++) {
            double dot = 0.0, mag = 0.0;
            for (int64_t i = 0; i < c->k; i++) {
                dot += (double)wref[j * c->k + i] * xr[i];
                mag += fabs((double)wref[j * c->k + i] * xr[i]);
            }
            double want = c->alpha * (dot + (c->bias ? bias_v[j] : 0.0));
            if (c->beta != 0.0f) want += c->beta * out0[r * out.t.row_stride + j];
            double got = tt_row(&out, r)[j];
            double lim = fabs(c->alpha) * tol * mag + 1e-5 * fabs(want) + 1e-5;
            if (!(fabs(got - want) <= lim)) {
                fprintf(stderr, "matmul %s rows=%lld n=%lld k=%lld: out[%lld][%lld] = %g, want %g (tol %g)\n",
                        ref_dtype_name(c->dtype), (long long)c->rows, (long long)c->n,
                        (long long)c->k, (long long)r, (long long)j, got, want, lim);
                fail();
            }
        }
        /* the padding between rows is not written */
        for (int64_t j = c->n; r + 1 < c->rows && j < out.t.row_stride; j++)
            assert_memory_equal(&tt_row(&out, r)[j], &out0[r * out.t.row_stride + j], sizeof(float));
    }
    tt_free(&x);
    tt_free(&out);
    api->weight_free(dev, w);
    if (bias) api->weight_free(dev, bias);
    free(out0);
    free(bias_v);
    free(wdata);
    free(wref);
}

static const uint32_t all_dtypes[] = {HIVE_DTYPE_F32,  HIVE_DTYPE_F16,  HIVE_DTYPE_BF16,
                                      HIVE_DTYPE_Q8_0, HIVE_DTYPE_Q4_0, HIVE_DTYPE_Q4_1,
                                      HIVE_DTYPE_Q4_K, HIVE_DTYPE_Q6_K};

void test_matmul_all_dtypes(void **state) {
    (void)state;
    static const int64_t rows[] = {1, 3, 64};
    for (size_t d = 0; d < sizeof all_dtypes / sizeof *all_dtypes; d++) {
        assert_true(api->weight_supported(dev, all_dtypes[d]) != 0);
        for (size_t r = 0; r < 3; r++) {
            mm_case full = {all_dtypes[d], rows[r], 37, 512, 0.75f, 0.5f, 1, 5, 3};
            run_case(&full);
            mm_case plain = {all_dtypes[d], rows[r], 42, 512, 1.0f, 0.0f, 0, 0, 0};
            run_case(&plain);
        }
    }
}

void test_matmul_float_tails(void **state) {
    (void)state;
    for (uint32_t d = HIVE_DTYPE_F32; d <= HIVE_DTYPE_BF16; d++) {
        mm_case a = {d, 1, 9, 77, 1.0f, 1.0f, 0, 1, 2};
        run_case(&a);
        mm_case b = {d, 20, 9, 77, -2.0f, 0.0f, 1, 0, 1};
        run_case(&b);
    }
    /* an odd number of 32-blocks per row: the paired kernels' tail */
    for (uint32_t d = HIVE_DTYPE_Q8_0; d <= HIVE_DTYPE_Q4_1; d++)
        for (int64_t rows = 1; rows <= 3; rows += 2) {
            mm_case c = {d, rows, 11, 544, 1.0f, 0.5f, 1, 0, 0};
            run_case(&c);
        }
}

void test_matmul_parallel_decode_shape(void **state) {
    (void)state;
    /* SmolLM2-135M shapes: enough groups to split across both threads */
    mm_case up = {HIVE_DTYPE_Q4_1, 1, 1536, 576, 1.0f, 0.0f, 0, 0, 0};
    run_case(&up);
    mm_case down = {HIVE_DTYPE_Q4_1, 2, 576, 1536, 1.0f, 1.0f, 0, 0, 0};
    run_case(&down);
    mm_case head = {HIVE_DTYPE_Q8_0, 1, 4099, 576, 1.0f, 0.0f, 0, 0, 0};
    run_case(&head);
}

void test_matmul_shape_errors(void **state) {
    (void)state;
    void *wdata;
    float *wref;
    ref_make_weight(HIVE_DTYPE_Q8_0, 8, 64, &wdata, &wref);
    hive_weight *w = tw_upload(HIVE_DTYPE_Q8_0, 8, 64, wdata);
    assert_non_null(w);
    test_tensor x = tt_new(3, 96, 96, 0), xok = tt_new(3, 64, 64, 0), out = tt_new(3, 8, 8, 0);
    test_tensor bad_out = tt_new(3, 9, 9, 0);
    hive_error *err = NULL;
    last_error[0] = 0;
    assert_int_equal(api->op_matmul(dev, &x.t, w, NULL, 1.0f, 0.0f, &out.t, &err), HIVE_E_SHAPE);
    assert_non_null(err);
    assert_non_null(strstr(last_error, "matmul"));
    assert_non_null(strstr(last_error, "[3 x 96]"));
    assert_non_null(strstr(last_error, "[8 x 64]"));
    err = NULL;
    assert_int_equal(api->op_matmul(dev, &xok.t, w, NULL, 1.0f, 0.0f, &bad_out.t, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "out is [3 x 9]"));
    /* a bias of the wrong length */
    float b[5] = {0};
    hive_weight *bias = tw_upload(HIVE_DTYPE_F32, 1, 5, b);
    assert_int_equal(api->op_matmul(dev, &xok.t, w, bias, 1.0f, 0.0f, &out.t, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "bias"));
    /* a view that runs past its buffer */
    hive_tensor over = xok.t;
    over.rows = 4;
    test_tensor out4 = tt_new(4, 8, 8, 0);
    assert_int_equal(api->op_matmul(dev, &over, w, NULL, 1.0f, 0.0f, &out4.t, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "exceeds its buffer"));
    /* quantized weight with cols not a multiple of the block */
    hive_weight_desc d = {sizeof d, HIVE_DTYPE_Q4_K, 2, 100, "bad.q4k"};
    hive_weight *wk = NULL;
    assert_int_equal(api->weight_upload(dev, &d, wdata, &wk, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "bad.q4k"));
    assert_int_equal(api->weight_supported(dev, HIVE_DTYPE_I32), 0);
    tt_free(&x); tt_free(&xok); tt_free(&out); tt_free(&bad_out); tt_free(&out4);
    api->weight_free(dev, w);
    api->weight_free(dev, bias);
    free(wdata);
    free(wref);
}
