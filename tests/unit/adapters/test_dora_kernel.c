/* DoRA norm kernels (adapters/dora/dora_kernel.h) against the straightforward
 * loop Hive used before them (dora_row_sumsq_ref): every ISA level this CPU
 * runs, with and without helper threads, over shapes that reach every tile
 * and tail path, and one module of the shipped SQL expert's size. A kernel
 * that computes wrong norms fails here before any golden test runs. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dora_kernel.h"
#include "tests.h"

static uint32_t g_seed = 12345;
static float rnd(float scale) { /* deterministic, in [-scale, scale) */
    g_seed = g_seed * 1664525u + 1013904223u;
    return ((float)(g_seed >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
}

typedef struct mod {
    uint32_t out, in, r;
    float *W, *A, *B;
} mod;

/* Magnitudes like a trained adapter's: W ~ 0.05, A ~ 0.05, B ~ 0.01. */
static mod mod_new(uint32_t out, uint32_t in, uint32_t r) {
    mod m = {out, in, r, malloc((size_t)out * in * 4 + 4), malloc((size_t)r * in * 4 + 4),
             malloc((size_t)out * r * 4 + 4)};
    assert_non_null(m.W);
    assert_non_null(m.A);
    assert_non_null(m.B);
    for (size_t i = 0; i < (size_t)out * in; i++) m.W[i] = rnd(0.05f);
    for (size_t i = 0; i < (size_t)r * in; i++) m.A[i] = rnd(0.05f);
    for (size_t i = 0; i < (size_t)out * r; i++) m.B[i] = rnd(0.01f);
    return m;
}

static void mod_free(mod *m) {
    free(m->W);
    free(m->A);
    free(m->B);
}

/* The f32 factor the plugin keeps: m / sqrt(sumsq), with m = 1. */
static float factor(double sumsq) { return (float)(1.0 / sqrt(sumsq)); }

static int ulps_apart(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    return ia > ib ? ia - ib : ib - ia;
}

/* Compares level (with the pool) against the reference on m; returns the
 * number of rows whose f32 factor differs (by at most one ulp, asserted). */
static int check(const mod *m, double s, int level, dora_pool *pool) {
    double *want = malloc((size_t)m->out * sizeof *want), *got = malloc((size_t)m->out * sizeof *got),
           *serial = malloc((size_t)m->out * sizeof *serial);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(serial);
    assert_int_equal(dora_row_sumsq_ref(m->W, m->A, m->B, m->out, m->in, m->r, s, want), 0);
    assert_int_equal(dora_row_sumsq(level, pool, m->W, m->A, m->B, m->out, m->in, m->r, s, got), 0);
    assert_int_equal(dora_row_sumsq(level, NULL, m->W, m->A, m->B, m->out, m->in, m->r, s, serial), 0);
    int differ = 0;
    for (uint32_t o = 0; o < m->out; o++) {
        double rel = fabs(got[o] - want[o]) / want[o];
        if (!(rel <= 64 * DBL_EPSILON) || memcmp(&got[o], &serial[o], sizeof got[o]) != 0)
            fprintf(stderr, "dora kernel %s, %u x %u r %u, row %u: %.17g, reference %.17g (serial %.17g)\n",
                    dora_kernel_name(level), m->out, m->in, m->r, o, got[o], want[o], serial[o]);
        assert_true(rel <= 64 * DBL_EPSILON);                         /* a few f64 ulps, no more */
        assert_memory_equal(&got[o], &serial[o], sizeof got[o]);      /* threads change nothing */
        int u = ulps_apart(factor(got[o]), factor(want[o]));
        assert_true(u <= 1);
        differ += u != 0;
    }
    free(want);
    free(got);
    free(serial);
    return differ;
}

void test_dora_kernel_shapes(void **state) {
    (void)state;
    static const uint32_t outs[] = {1, 3, 8, 9, 31, 33, 70};
    static const uint32_t ins[] = {1, 2, 5, 8, 15, 16, 17, 31, 32, 33, 40, 100};
    static const uint32_t rs[] = {1, 2, 12, 17};
    dora_pool *pool = dora_pool_new(3);
    int levels = 0;
    for (int level = DORA_LEVEL_GENERIC; level < DORA_LEVEL_COUNT; level++) {
        if (!dora_kernel_available(level)) continue;
        levels++;
        for (size_t a = 0; a < sizeof outs / sizeof *outs; a++)
            for (size_t b = 0; b < sizeof ins / sizeof *ins; b++)
                for (size_t c = 0; c < sizeof rs / sizeof *rs; c++) {
                    mod m = mod_new(outs[a], ins[b], rs[c]);
                    check(&m, 2.0, level, outs[a] & 1 ? pool : NULL);
                    mod_free(&m);
                }
    }
    assert_true(levels >= 1);
    assert_true(dora_kernel_available(dora_kernel_best()));
    dora_pool_free(pool);
}

/* One module the size of the SQL expert's up_proj (1536 x 576, r 12, s 2),
 * on every level and on 1, 2 and 4 threads: how many f32 factors move. */
void test_dora_kernel_module(void **state) {
    (void)state;
    mod m = mod_new(1536, 576, 12);
    for (uint32_t threads = 1; threads <= 4; threads *= 2) {
        dora_pool *pool = dora_pool_new(threads);
        assert_true(dora_pool_threads(pool) >= 1 && dora_pool_threads(pool) <= threads);
        for (int level = DORA_LEVEL_GENERIC; level < DORA_LEVEL_COUNT; level++) {
            if (!dora_kernel_available(level)) continue;
            int differ = check(&m, 2.0, level, pool);
            if (threads == 1) printf("dora kernel %s: %d of %u f32 factors one ulp from the reference\n",
                                     dora_kernel_name(level), differ, m.out);
        }
        dora_pool_free(pool);
    }
    mod_free(&m);
}

/* A wrong B row, a wrong scale or a row left out must show. */
void test_dora_kernel_detects_errors(void **state) {
    (void)state;
    mod m = mod_new(40, 96, 8);
    double *want = malloc(40 * sizeof *want), *got = malloc(40 * sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    assert_int_equal(dora_row_sumsq_ref(m.W, m.A, m.B, 40, 96, 8, 2.0, want), 0);
    int level = dora_kernel_best();
    assert_int_equal(dora_row_sumsq(level, NULL, m.W, m.A, m.B, 40, 96, 8, 2.5, got), 0); /* scale */
    int bad = 0;
    for (int o = 0; o < 40; o++) bad += ulps_apart(factor(got[o]), factor(want[o])) > 1;
    assert_true(bad > 30);
    m.B[17 * 8 + 3] += 0.01f; /* one element of B row 17 */
    assert_int_equal(dora_row_sumsq(level, NULL, m.W, m.A, m.B, 40, 96, 8, 2.0, got), 0);
    for (int o = 0; o < 40; o++) assert_true((ulps_apart(factor(got[o]), factor(want[o])) > 1) == (o == 17));
    free(want);
    free(got);
    mod_free(&m);
}
