/* op_layernorm (ABI 1.8): against a double-precision reference, with and
 * without a bias, in place, rows with a large common offset (where a one-pass
 * variance loses its digits), and shape errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "tests.h"

static void assert_close(double got, double want, double tol, const char *what, int64_t i) {
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want)))) {
        fprintf(stderr, "%s[%lld]: got %.8g, want %.8g\n", what, (long long)i, got, want);
        fail();
    }
}

void test_layernorm(void **state) {
    (void)state;
    assert_non_null(api->op_layernorm);
    const int64_t rows = 3, cols = 100, stride = 104;
    float gain[100], bias[100];
    for (int i = 0; i < cols; i++) gain[i] = rnd_uniform(0.5f, 1.5f), bias[i] = rnd_uniform(-0.5f, 0.5f);
    hive_weight *g = tw_upload(HIVE_DTYPE_F32, 1, cols, gain), *b = tw_upload(HIVE_DTYPE_F32, 1, cols, bias);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        test_tensor x = tt_new(rows, cols, stride, 2);
        for (int i = 0; i < cols; i++) tt_row(&x, 2)[i] += 1000.0f; /* std ~0.6 around 1000 */
        float *x0 = malloc(sizeof(float) * stride * rows);
        for (int64_t r = 0; r < rows; r++) memcpy(x0 + r * stride, tt_row(&x, r), sizeof(float) * cols);
        /* out aliases x */
        assert_int_equal(api->op_layernorm(dev, &x.t, g, with_bias ? b : NULL, 1e-6f, &x.t, NULL), HIVE_OK);
        for (int64_t r = 0; r < rows; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < cols; i++) mean += x0[r * stride + i];
            mean /= cols;
            for (int i = 0; i < cols; i++) var += (x0[r * stride + i] - mean) * (x0[r * stride + i] - mean);
            double inv = 1.0 / sqrt(var / cols + 1e-6);
            for (int i = 0; i < cols; i++) {
                double want = (x0[r * stride + i] - mean) * inv * gain[i] + (with_bias ? bias[i] : 0.0);
                /* row 2's inputs are ~1000 in f32 (ulp 6e-5 over a std of 0.6): compare at that resolution */
                assert_close(tt_row(&x, r)[i], (float)want, r == 2 ? 1e-3 : 1e-5, "layernorm", i);
            }
        }
        free(x0);
        tt_free(&x);
    }
    /* a bias of the wrong width, and eps < 0 */
    float small[8] = {0};
    hive_weight *b8 = tw_upload(HIVE_DTYPE_F32, 1, 8, small);
    test_tensor x = tt_new(2, cols, cols, 0);
    hive_error *err = NULL;
    assert_int_equal(api->op_layernorm(dev, &x.t, g, b8, 1e-6f, &x.t, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "layernorm"));
    assert_int_equal(api->op_layernorm(dev, &x.t, g, b, -1.0f, &x.t, &err), HIVE_E_INVALID);
    tt_free(&x);
    api->weight_free(dev, b8);
    api->weight_free(dev, g);
    api->weight_free(dev, b);
}
