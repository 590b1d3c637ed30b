/* HIVE_EXT_LORA_SEGMENTS (segmented multi-LoRA) against a double reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "tests.h"

static const hive_ext_lora_segments *lora_ext(void) {
    const hive_ext_lora_segments *e = api->get_extension(dev, HIVE_EXT_LORA_SEGMENTS, 1);
    assert_non_null(e);
    assert_true(e->struct_size >= sizeof *e && e->version >= 1 && e->max_rank >= 64);
    return e;
}

static float *rand_floats(int64_t n) {
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = rnd_uniform(-1.0f, 1.0f);
    return v;
}

void test_lora_segments(void **state) {
    (void)state;
    const hive_ext_lora_segments *e = lora_ext();
    assert_null(api->get_extension(dev, HIVE_EXT_LORA_SEGMENTS, 99));
    assert_null(api->get_extension(dev, 0xdead, 1));

    enum { ROWS = 23, IN = 96, OUT = 150, NSEG = 3 };
    /* rows 0-4 rank 8, 5-9 none (must stay as they were), 10-20 rank 16, 21-22 rank 64 */
    const int32_t row0[NSEG] = {0, 10, 21}, rows[NSEG] = {5, 11, 2}, rank[NSEG] = {8, 16, 64};
    float *a_host[NSEG], *b_host[NSEG];
    hive_weight *A[NSEG], *B[NSEG];
    for (int s = 0; s < NSEG; s++) {
        a_host[s] = rand_floats((int64_t)rank[s] * IN);
        b_host[s] = rand_floats((int64_t)OUT * rank[s]);
        A[s] = tw_upload(HIVE_DTYPE_F32, rank[s], IN, a_host[s]);
        B[s] = tw_upload(HIVE_DTYPE_F32, OUT, rank[s], b_host[s]);
        assert_non_null(A[s]);
        assert_non_null(B[s]);
    }
    test_tensor x = tt_new(ROWS, IN, IN + 3, 1), y = tt_new(ROWS, OUT, OUT + 5, 2);
    float *y0 = malloc((size_t)ROWS * OUT * sizeof *y0);
    for (int r = 0; r < ROWS; r++) memcpy(y0 + r * OUT, tt_row(&y, r), OUT * sizeof(float));

    hive_error *err = NULL;
    assert_int_equal(e->op_lora_segments(dev, &x.t, &y.t, NSEG, row0, rows, (const hive_weight *const *)A,
                                         (const hive_weight *const *)B, &err),
                     HIVE_OK);
    for (int r = 0; r < ROWS; r++) {
        int s = -1;
        for (int k = 0; k < NSEG; k++)
            if (r >= row0[k] && r < row0[k] + rows[k]) s = k;
        for (int o = 0; o < OUT; o++) {
            double want = y0[r * OUT + o], mag = fabs(want);
            for (int j = 0; s >= 0 && j < rank[s]; j++) {
                double t = 0.0;
                for (int i = 0; i < IN; i++) t += (double)a_host[s][j * IN + i] * tt_row(&x, r)[i];
                want += t * b_host[s][o * rank[s] + j];
                mag += fabs(t * b_host[s][o * rank[s] + j]);
            }
            double got = tt_row(&y, r)[o];
            if (s < 0) assert_true(got == want); /* untouched */
            else if (fabs(got - want) > 1e-5 * mag + 1e-6)
                fail_msg("row %d out %d: got %.7g want %.7g", r, o, got, want);
        }
    }
    for (int s = 0; s < NSEG; s++) {
        api->weight_free(dev, A[s]);
        api->weight_free(dev, B[s]);
        free(a_host[s]);
        free(b_host[s]);
    }
    free(y0);
    tt_free(&x);
    tt_free(&y);
}

void test_lora_segments_errors(void **state) {
    (void)state;
    const hive_ext_lora_segments *e = lora_ext();
    float *a = rand_floats(4 * 32), *b = rand_floats(16 * 4), *wide = rand_floats((int64_t)(e->max_rank + 1) * 32);
    hive_weight *A = tw_upload(HIVE_DTYPE_F32, 4, 32, a), *B = tw_upload(HIVE_DTYPE_F32, 16, 4, b);
    hive_weight *A_bad = tw_upload(HIVE_DTYPE_F32, 4, 31, a);
    hive_weight *A_big = tw_upload(HIVE_DTYPE_F32, e->max_rank + 1, 32, wide);
    test_tensor x = tt_new(6, 32, 32, 0), y = tt_new(6, 16, 16, 0);
    float before[6 * 16];
    memcpy(before, y.host, sizeof before);
    const hive_weight *As[2] = {A, A}, *Bs[2] = {B, B};
    hive_error *err = NULL;

    int32_t r0[2] = {0, 2}, n[2] = {3, 3}; /* rows 2 overlaps */
    assert_int_equal(e->op_lora_segments(dev, &x.t, &y.t, 2, r0, n, As, Bs, &err), HIVE_E_INVALID);
    assert_non_null(strstr(last_error, "overlap"));
    int32_t r1[1] = {4}, n1[1] = {3}; /* past the end */
    assert_int_equal(e->op_lora_segments(dev, &x.t, &y.t, 1, r1, n1, As, Bs, &err), HIVE_E_SHAPE);
    const hive_weight *Abad[1] = {A_bad}, *Abig[1] = {A_big};
    int32_t r2[1] = {0}, n2[1] = {6};
    assert_int_equal(e->op_lora_segments(dev, &x.t, &y.t, 1, r2, n2, Abad, Bs, &err), HIVE_E_SHAPE);
    assert_int_equal(e->op_lora_segments(dev, &x.t, &y.t, 1, r2, n2, Abig, Bs, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "rank"));
    /* refused calls lose nothing: y as it was */
    assert_memory_equal(before, y.host, sizeof before);
    /* nothing to do is fine */
    assert_int_equal(e->op_lora_segments(dev, &x.t, &y.t, 0, NULL, NULL, NULL, NULL, &err), HIVE_OK);

    api->weight_free(dev, A);
    api->weight_free(dev, B);
    api->weight_free(dev, A_bad);
    api->weight_free(dev, A_big);
    free(a);
    free(b);
    free(wide);
    tt_free(&x);
    tt_free(&y);
}
