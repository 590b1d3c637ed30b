/* Two-tier KV (--kv-tail) on SmolLM2 through the engine, CPU backend:
 *  (a) quality: teacher-forced logits with a q8_0 store and a 32-token f16
 *      tail are nearer the f16 cache's than a q8_0-only cache's are, and not
 *      the f16 cache's bits (store pages are read);
 *  (b) pages migrate as decoding goes: a sequence of len tokens holds
 *      (len - tail) / block store pages, and the pools add up;
 *  (c) prefix sharing across migrated pages: a sequence sharing another's
 *      pages predicts as it does; shared f16 pages stay f16 until one holder
 *      lets go, then migrate;
 *  (d) rollback into a migrated page: the cut sequence, fed the same tokens
 *      again, predicts as before (its cut page takes rows in the store type);
 *      every page comes back to its pool at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/generate.h"
#include "golden_util.h"

enum { CTX = 256, TAIL = 32, BLOCK = 16, PROMPT = 100, STEPS = 40, TOTAL = PROMPT + STEPS };

static void fill_tokens(int32_t *t, int n, uint32_t V) {
    for (int i = 0; i < n; i++) t[i] = (int32_t)((7919u + (uint32_t)i * 104729u + 13u) % V);
}

/* The prompt in one pass, then STEPS single-token passes; logits of those steps into out. */
static void run_sequence(hive_engine *e, const int32_t *tokens, float *out, int32_t *seq_out, int tiers) {
    const uint32_t V = hive_engine_hparams(e)->vocab;
    int32_t seq, seqs[PROMPT];
    assert_int_equal(hive_engine_seq_new(e, &seq, NULL), HIVE_OK);
    for (int i = 0; i < PROMPT; i++) seqs[i] = seq;
    float *scratch = malloc(V * sizeof(float));
    hive_fwd_batch p = {PROMPT, tokens, seqs, NULL, NULL};
    assert_int_equal(hive_engine_forward(e, &p, scratch, NULL), HIVE_OK);
    for (int i = 0; i < STEPS; i++) {
        hive_fwd_batch s = {1, tokens + PROMPT + i, &seq, NULL, NULL};
        assert_int_equal(hive_engine_forward(e, &s, out + (size_t)i * V, NULL), HIVE_OK);
        uint32_t len = PROMPT + i + 1;
        /* (b) with tiers, the pages wholly past the tail are store pages */
        assert_int_equal(hive_engine_seq_store_pages(e, seq), tiers ? (len - TAIL) / BLOCK : 0);
    }
    free(scratch);
    *seq_out = seq;
}

static double mean_abs_diff(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)a[i] - b[i]);
    return s / (double)n;
}

static int open_engine(golden_env *g, const char *m, uint32_t kv, uint32_t tail) {
    golden_next.kv_dtype = kv;
    golden_next.kv_tail = tail;
    golden_next.max_rows = 128;
    int rc = golden_env_open(g, m, CTX, -1, 0);
    golden_next.kv_dtype = 0, golden_next.kv_tail = 0, golden_next.max_rows = 0;
    return rc;
}

/* Max |a - b| / max |b| over a row of logits */
static double row_rel(const float *a, const float *b, uint32_t n) {
    double d = 0, m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
        if (fabs((double)b[i]) > m) m = fabs((double)b[i]);
    }
    return d / (m > 0 ? m : 1);
}

static void test_kv_tail_smollm2(void **state) {
    (void)state;
    const char *m = golden_model_path();
    if (!m) {
        printf("[ SKIPPED ] SmolLM2 GGUF absent: run scripts/fetch-models.sh\n");
        skip();
    }
    golden_env f16, q8, tiers;
    assert_int_equal(open_engine(&f16, m, HIVE_DTYPE_F16, 0), 0);
    const uint32_t V = hive_engine_hparams(f16.eng)->vocab;
    int32_t tokens[TOTAL];
    fill_tokens(tokens, TOTAL, V);
    size_t n = (size_t)STEPS * V;
    float *lf = malloc(n * sizeof(float)), *lq = malloc(n * sizeof(float)), *lt = malloc(n * sizeof(float));
    float *row = malloc(V * sizeof(float)), *row2 = malloc(V * sizeof(float));
    assert_non_null(lf), assert_non_null(lq), assert_non_null(lt), assert_non_null(row), assert_non_null(row2);
    int32_t unused;
    run_sequence(f16.eng, tokens, lf, &unused, 0);
    golden_env_close(&f16);
    assert_int_equal(open_engine(&q8, m, HIVE_DTYPE_Q8_0, 0), 0);
    run_sequence(q8.eng, tokens, lq, &unused, 0);
    golden_env_close(&q8);

    /* (a), (b) */
    assert_int_equal(open_engine(&tiers, m, HIVE_DTYPE_Q8_0, TAIL), 0);
    hive_engine *e = tiers.eng;
    hive_kv_tier_stats st0, st;
    hive_engine_kv_tier_stats(e, &st0);
    assert_true(st0.store_pages > 0 && st0.tail_pages < st0.store_pages);
    int32_t a;
    run_sequence(e, tokens, lt, &a, 1);
    double d_q8 = mean_abs_diff(lq, lf, n), d_tiers = mean_abs_diff(lt, lf, n);
    printf("mean |logit - f16 cache's| over %d steps: q8_0 %.5f, q8_0 + f16 tail %d: %.5f\n", STEPS, d_q8, TAIL,
           d_tiers);
    double q8_rel = 0; /* the q8_0 cache's worst relative error: the scale of (d)'s tolerance */
    for (int i = 0; i < STEPS; i++) {
        double r = row_rel(lq + (size_t)i * V, lf + (size_t)i * V, V);
        if (r > q8_rel) q8_rel = r;
    }
    printf("worst relative logit difference of the q8_0 cache to the f16 cache's: %.4g\n", q8_rel);
    assert_true(d_tiers > 0);      /* store pages are read */
    assert_true(d_tiers < d_q8);   /* and the f16 tail helps */
    assert_int_equal(hive_engine_seq_store_pages(e, a), (TOTAL - TAIL) / BLOCK);
    hive_engine_kv_tier_stats(e, &st);
    assert_int_equal(st.migrations, (TOTAL - TAIL) / BLOCK);
    assert_int_equal(st.store_free, st.store_pages - (TOTAL - TAIL) / BLOCK);
    assert_int_equal(st.tail_free + st.store_free + hive_engine_seq_pages(e, a), st.tail_pages + st.store_pages);

    /* (c) b shares a's whole pages (store ones and f16 ones), then both take the same tokens */
    int32_t b, next[8];
    fill_tokens(next, 8, V / 3);
    assert_int_equal(hive_engine_seq_new(e, &b, NULL), HIVE_OK);
    uint32_t shared = hive_engine_seq_share_prefix(e, b, a, TOTAL);
    assert_int_equal(shared, TOTAL / BLOCK * BLOCK);
    int32_t rest[TOTAL], rseq[TOTAL];
    for (uint32_t i = shared; i < TOTAL; i++) rest[i - shared] = tokens[i], rseq[i - shared] = b;
    hive_fwd_batch rb = {TOTAL - shared, rest, rseq, NULL, NULL};
    assert_int_equal(hive_engine_forward(e, &rb, row, NULL), HIVE_OK);
    uint32_t a_store = hive_engine_seq_store_pages(e, a);
    double worst_c = 0;
    for (int i = 0; i < 8 * (BLOCK / 4); i++) { /* 32 tokens: a's shared f16 pages grow old */
        hive_fwd_batch sa = {1, &next[i % 8], &a, NULL, NULL}, sb = {1, &next[i % 8], &b, NULL, NULL};
        assert_int_equal(hive_engine_forward(e, &sa, row, NULL), HIVE_OK);
        assert_int_equal(hive_engine_forward(e, &sb, row2, NULL), HIVE_OK);
        double r = row_rel(row2, row, V);
        if (r > worst_c) worst_c = r;
        assert_int_equal(golden_argmax(row2, V), golden_argmax(row, V));
    }
    printf("(c) shared prefix across migrated pages: worst relative logit difference %.4g\n", worst_c);
    /* b's own rows saw the same pages as a's did (a had migrated them by then): the same bits */
    assert_true(worst_c == 0);
    /* the shared pages past a's tail stayed f16 */
    assert_int_equal(hive_engine_seq_store_pages(e, a), a_store);
    hive_engine_seq_free(e, b);
    hive_fwd_batch sa = {1, &next[0], &a, NULL, NULL};
    assert_int_equal(hive_engine_forward(e, &sa, row, NULL), HIVE_OK);
    uint32_t len_a = hive_engine_seq_len(e, a);
    assert_int_equal(hive_engine_seq_store_pages(e, a), (len_a - TAIL) / BLOCK); /* now they migrated */

    /* (d) cut a back into a store page (5 rows into page 3), feed its tokens again */
    const int32_t *held = hive_engine_seq_tokens(e, a);
    int32_t again[CTX], aseq[CTX];
    uint32_t cut = 3 * BLOCK + 5;
    memcpy(again, held + cut, (len_a - cut) * sizeof *again);
    hive_fwd_batch last = {1, &again[len_a - cut - 1], &a, NULL, NULL};
    assert_int_equal(hive_engine_seq_truncate(e, a, len_a - 1, NULL), HIVE_OK);
    assert_int_equal(hive_engine_forward(e, &last, row, NULL), HIVE_OK); /* the reference: no cut */
    assert_int_equal(hive_engine_seq_truncate(e, a, cut, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_store_pages(e, a), 4); /* pages 0..3, the cut one still a store page */
    for (uint32_t i = 0; i < len_a - cut; i++) aseq[i] = a;
    hive_fwd_batch ra = {len_a - cut, again, aseq, NULL, NULL};
    assert_int_equal(hive_engine_forward(e, &ra, row2, NULL), HIVE_OK);
    double r_d = row_rel(row2, row, V);
    printf("(d) rollback into a store page: relative logit difference %.4g\n", r_d);
    /* the re-fed rows saw f16 pages where the first run saw store pages: a q8_0-sized difference */
    assert_true(r_d < q8_rel);
    assert_int_equal(golden_argmax(row2, V), golden_argmax(row, V));
    assert_int_equal(hive_engine_seq_store_pages(e, a), (len_a - TAIL) / BLOCK);
    hive_engine_seq_free(e, a);
    hive_engine_kv_tier_stats(e, &st);
    assert_int_equal(st.tail_free, st.tail_pages);
    assert_int_equal(st.store_free, st.store_pages);
    golden_env_close(&tiers);
    free(lf), free(lq), free(lt), free(row), free(row2);
}

/* The refusals the engine makes (the CLI's are test_cli's). */
static void test_kv_tail_refusals(void **state) {
    (void)state;
    const char *m = golden_model_path();
    if (!m) skip();
    golden_env g;
    golden_next.kv_tail = TAIL; /* the store type must be q8_0 / q4_0 */
    golden_next.kv_dtype = HIVE_DTYPE_F16;
    golden_next.cpu = 1;
    int rc = golden_env_open(&g, m, CTX, -1, 0);
    golden_next.kv_tail = 0, golden_next.kv_dtype = 0, golden_next.cpu = 0;
    assert_int_not_equal(rc, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_tail_smollm2),
        cmocka_unit_test(test_kv_tail_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
