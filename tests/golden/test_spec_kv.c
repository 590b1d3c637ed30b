/* What speculative decoding needs from the engine, checked on the CPU backend:
 *  - batch invariance: a row's logits do not depend on how many rows of its
 *    sequence share the pass (tokens fed one at a time == fed as one batch,
 *    bit for bit), else a verified draft could differ from plain decoding;
 *  - rollback: a verify pass that is cut back (hive_engine_seq_truncate),
 *    across KV page boundaries, leaves the KV as if the rejected rows had
 *    never been fed (the next logits equal a fresh run's, bit for bit);
 *  - a draft that would run into the context end is shortened, and the
 *    sequence ends exactly where plain decoding ends.
 * On the tiny llama fixture (f32) and, when present, SmolLM2 (Q4_1, f16 KV). */
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
#include "engine/speculate.h"
#include "golden_util.h"
#include "util/error.h"

#define PROMPT 21
#define STEPS 19

static void fill_tokens(int32_t *t, int n, uint32_t V, uint32_t salt) {
    for (int i = 0; i < n; i++) t[i] = (int32_t)((salt * 7919u + (uint32_t)i * 104729u + 13u) % V);
}

/* Prompt, then `steps` tokens one at a time on sequence a and as one batch on
 * sequence b: every row's logits must be the same bits. */
static int batch_differences(golden_env *g, int n_steps, double *worst_out) {
    const uint32_t V = hive_engine_hparams(g->eng)->vocab;
    int32_t prompt[PROMPT], steps[STEPS], seqs[PROMPT + STEPS], a, b;
    uint8_t want[STEPS];
    fill_tokens(prompt, PROMPT, V, 1);
    fill_tokens(steps, STEPS, V, 2);
    float *one = malloc((size_t)STEPS * V * sizeof(float)), *batch = malloc((size_t)STEPS * V * sizeof(float));
    assert_non_null(one);
    assert_non_null(batch);
    assert_int_equal(hive_engine_seq_new(g->eng, &a, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(g->eng, &b, NULL), HIVE_OK);
    for (int i = 0; i < PROMPT; i++) seqs[i] = a;
    hive_fwd_batch pa = {PROMPT, prompt, seqs, NULL, NULL};
    assert_int_equal(hive_engine_forward(g->eng, &pa, one, NULL), HIVE_OK);
    for (int i = 0; i < PROMPT; i++) seqs[i] = b;
    hive_fwd_batch pb = {PROMPT, prompt, seqs, NULL, NULL};
    assert_int_equal(hive_engine_forward(g->eng, &pb, batch, NULL), HIVE_OK);
    for (int i = 0; i < n_steps; i++) {
        hive_fwd_batch s1 = {1, &steps[i], &a, NULL, NULL};
        assert_int_equal(hive_engine_forward(g->eng, &s1, one + (size_t)i * V, NULL), HIVE_OK);
    }
    for (int i = 0; i < n_steps; i++) seqs[i] = b, want[i] = 1;
    hive_fwd_batch sb = {(uint32_t)n_steps, steps, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(g->eng, &sb, batch, NULL), HIVE_OK);
    int differ = 0;
    double worst = 0;
    for (int i = 0; i < n_steps; i++)
        for (uint32_t j = 0; j < V; j++) {
            float x = one[(size_t)i * V + j], y = batch[(size_t)i * V + j];
            if (memcmp(&x, &y, sizeof x)) {
                differ++;
                if (fabsf(x - y) > worst) worst = fabsf(x - y);
            }
        }
    hive_engine_seq_free(g->eng, a);
    hive_engine_seq_free(g->eng, b);
    free(one);
    free(batch);
    *worst_out = worst;
    return differ;
}

static void check_batch_invariance(golden_env *g, const char *what) {
    const uint32_t V = hive_engine_hparams(g->eng)->vocab;
    /* a small verify pass, the default one (--draft-max 8), the longest (--draft-max 14) */
    static const int sizes[] = {2, 9, 1 + HIVE_DRAFT_MAX_K};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double worst = 0;
        int differ = batch_differences(g, sizes[i], &worst);
        if (differ)
            fail_msg("%s: %d of %d logits differ between one-at-a-time and a batch of %d rows (max |diff| %g)", what,
                     differ, sizes[i] * (int)V, sizes[i], worst);
    }
    /* past that, onednn-cpu multiplies float weights through oneDNN (16 rows
     * and more), whose sums differ in the last bits: reported, not required */
    double worst = 0;
    int differ = batch_differences(g, STEPS, &worst);
    printf("[ NOTE ] %s: a batch of %d rows: %d logits differ from one-at-a-time (max |diff| %g)\n", what, STEPS,
           differ, worst);
}

/* Feed a prompt, then verify-like passes of 1 + k rows that are cut back to
 * 1 + m rows (m < k), crossing 16-token pages; the logits of the row after
 * the kept ones must equal a fresh sequence fed only the kept tokens. */
static void check_rollback(golden_env *g, const char *what) {
    const uint32_t V = hive_engine_hparams(g->eng)->vocab;
    int32_t kept[256], spec, fresh, seqs[64], rows[16];
    uint8_t want[16];
    int n = PROMPT;
    fill_tokens(kept, n, V, 3);
    float *lg = malloc((size_t)16 * V * sizeof(float)), *ref = malloc((size_t)V * sizeof(float));
    assert_non_null(lg);
    assert_non_null(ref);
    assert_int_equal(hive_engine_seq_new(g->eng, &spec, NULL), HIVE_OK);
    for (int i = 0; i < n; i++) seqs[i] = spec;
    hive_fwd_batch p = {(uint32_t)n, kept, seqs, NULL, NULL};
    assert_int_equal(hive_engine_forward(g->eng, &p, lg, NULL), HIVE_OK);
    uint32_t salt = 100;
    int kept_pass[8]; /* rows kept of each pass, so the fresh run feeds the same passes */
    for (int round = 0; round < 6; round++) {
        int k = 9, m = round % 3 == 0 ? 0 : (round * 3) % k; /* rows kept after the first */
        fill_tokens(rows, 1 + k, V, salt++);
        for (int i = 0; i <= k; i++) seqs[i] = spec, want[i] = 1;
        hive_fwd_batch v = {(uint32_t)(1 + k), rows, seqs, want, NULL};
        uint32_t before = hive_engine_seq_len(g->eng, spec);
        assert_int_equal(hive_engine_forward(g->eng, &v, lg, NULL), HIVE_OK);
        assert_int_equal(hive_engine_seq_truncate(g->eng, spec, before + 1 + (uint32_t)m, NULL), HIVE_OK);
        for (int i = 0; i <= m; i++) kept[n++] = rows[i];
        kept_pass[round] = 1 + m;
    }
    /* the next token on the rolled-back sequence vs a fresh run of the kept tokens */
    int32_t probe = 7 % (int32_t)V;
    hive_fwd_batch s = {1, &probe, &spec, NULL, NULL};
    assert_int_equal(hive_engine_forward(g->eng, &s, lg, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(g->eng, &fresh, NULL), HIVE_OK);
    kept[n] = probe;
    int32_t *fs = malloc((size_t)(n + 1) * sizeof *fs);
    for (int i = 0; i <= n; i++) fs[i] = fresh;
    /* the fresh run feeds the kept tokens in passes of the same sizes (a pass
     * of 16 rows or more may sum differently on float weights), then the probe */
    int at = 0, pass_len[8] = {PROMPT};
    for (int r = 0; r < 6; r++) pass_len[r + 1] = kept_pass[r];
    for (int r = 0; r < 7; r++) {
        hive_fwd_batch f = {(uint32_t)pass_len[r], kept + at, fs, NULL, NULL};
        assert_int_equal(hive_engine_forward(g->eng, &f, ref, NULL), HIVE_OK);
        at += pass_len[r];
    }
    assert_int_equal(at, n);
    hive_fwd_batch f = {1, kept + n, fs, NULL, NULL};
    assert_int_equal(hive_engine_forward(g->eng, &f, ref, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_len(g->eng, spec), hive_engine_seq_len(g->eng, fresh));
    assert_memory_equal(hive_engine_seq_tokens(g->eng, spec), hive_engine_seq_tokens(g->eng, fresh),
                        (size_t)(n + 1) * sizeof(int32_t));
    int differ = 0;
    for (uint32_t j = 0; j < V; j++) differ += memcmp(&lg[j], &ref[j], sizeof(float)) != 0;
    if (differ) fail_msg("%s: after rollbacks, %d of %u next-token logits differ from a fresh run", what, differ, V);
    assert_true(n > 2 * 16); /* the rounds crossed page boundaries */
    free(fs);
    free(lg);
    free(ref);
    hive_engine_seq_free(g->eng, spec);
    hive_engine_seq_free(g->eng, fresh);
}

/* Greedy generation with the lookup drafter into a short context: the same
 * tokens and finish reason as plain decoding, and the KV holds exactly what
 * plain decoding leaves (every token but the last). A prompt that repeats
 * itself makes the drafter propose long drafts right up to the end. */
typedef struct {
    int32_t ids[512];
    uint32_t n;
} collected;

static void check_context_end(golden_env *g, const char *what) {
    const uint32_t V = hive_engine_hparams(g->eng)->vocab, ctx = hive_engine_ctx(g->eng);
    int32_t prompt[64];
    for (int i = 0; i < 64; i++) prompt[i] = (int32_t)((uint32_t)(i % 5) * 31u % V);
    int32_t got_tokens[2][512];
    uint32_t got_len[2], kv_len[2];
    hive_finish fin[2];
    for (int spec = 0; spec < 2; spec++) {
        int32_t seq;
        assert_int_equal(hive_engine_seq_new(g->eng, &seq, NULL), HIVE_OK);
        hive_gen_params gp;
        memset(&gp, 0, sizeof gp);
        hive_sampling_defaults(&gp.sampling);
        gp.sampling.temperature = 0;
        gp.max_tokens = 1000;
        gp.ignore_eos = 1;
        hive_spec_opts so = {HIVE_DRAFT_LOOKUP, 3, 8, -1, 1, NULL, NULL, 0}; /* keep_on: drafts up to the end */
        gp.spec = spec ? &so : NULL;
        hive_gen_stats st;
        hive_error *err = NULL;
        if (hive_generate(g->eng, NULL, seq, prompt, 64, &gp, NULL, NULL, &st, &err) != HIVE_OK)
            fail_msg("%s: generate: %s", what, hive_error_message(err));
        fin[spec] = st.finish;
        kv_len[spec] = hive_engine_seq_len(g->eng, seq);
        got_len[spec] = kv_len[spec];
        memcpy(got_tokens[spec], hive_engine_seq_tokens(g->eng, seq), kv_len[spec] * sizeof(int32_t));
        if (spec) assert_true(st.n_drafted > 0);
        assert_int_equal(st.n_gen + 64 - 1, kv_len[spec]);
        hive_engine_seq_free(g->eng, seq);
    }
    assert_int_equal(fin[0], HIVE_FINISH_CONTEXT);
    assert_int_equal(fin[1], HIVE_FINISH_CONTEXT);
    assert_int_equal(kv_len[0], ctx);
    assert_int_equal(got_len[0], got_len[1]);
    assert_memory_equal(got_tokens[0], got_tokens[1], got_len[0] * sizeof(int32_t));
}

static void run_all(golden_env *g, const char *what) {
    check_batch_invariance(g, what);
    check_rollback(g, what);
    check_context_end(g, what);
}

static void test_tiny_llama(void **state) {
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/llama", HIVE_SOURCE_DIR);
    golden_env g;
    golden_next.max_rows = 64;
    assert_int_equal(golden_env_open(&g, dir, 160, -1, 1), 0);
    run_all(&g, "tiny llama f32");
    golden_env_close(&g);
}

static void test_smollm2(void **state) {
    (void)state;
    const char *m = golden_model_path();
#ifdef HIVE_TEST_SANITIZED
    printf("[ SKIPPED ] SmolLM2 under sanitizers (too slow): the optimized build runs it\n");
    skip();
#endif
    if (!m) {
        printf("[ SKIPPED ] SmolLM2 GGUF absent: run scripts/fetch-models.sh\n");
        skip();
    }
    for (int hf = 0; hf < 2; hf++) { /* llama.cpp's q/k layout (no experts) and HF order (experts) */
        golden_env g;
        golden_next.kv_dtype = HIVE_DTYPE_F16;
        golden_next.max_rows = 64;
        int rc = golden_env_open(&g, m, 160, -1, hf);
        golden_next.kv_dtype = 0;
        assert_int_equal(rc, 0);
        run_all(&g, hf ? "SmolLM2 Q4_1 (HF q/k order)" : "SmolLM2 Q4_1");
        golden_env_close(&g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_llama),
        cmocka_unit_test(test_smollm2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
