/* Batches and sequence state on the layer types whose rows interact with
 * more than their own KV: mixture-of-experts routing (per row), latent
 * attention (a cache of latents, per-head absorbed projections) and Mamba2
 * (a recurrent state per sequence). The references are the transformers
 * goldens of scripts/make-fixtures.py; a row that took another sequence's
 * experts or state would miss them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"
#include "util/error.h"

#define TOL 1e-4

typedef struct fixture {
    cJSON *g;
    golden_env env;
    uint32_t V;
    int32_t prompt[64], decode[64];
    int np, nd;
} fixture;

static void fixture_open(fixture *f, const char *arch) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, arch);
    snprintf(path, sizeof path, "%s/golden.json", dir);
    f->g = golden_load_json(path);
    assert_non_null(f->g);
    assert_int_equal(golden_env_open(&f->env, dir, 256, -1, 1), 0);
    f->V = (uint32_t)cJSON_GetObjectItem(f->g, "n_vocab")->valueint;
    f->np = golden_json_ints(cJSON_GetObjectItem(f->g, "prompt_ids"), f->prompt, 64);
    f->nd = golden_json_ints(cJSON_GetObjectItem(f->g, "decode_tokens"), f->decode, 64);
    assert_true(f->np > 0 && f->nd > 0 && f->np + 9 <= 64);
}

static void fixture_close(fixture *f) {
    golden_env_close(&f->env);
    cJSON_Delete(f->g);
}

static double prefill_err(const fixture *f, const float *row, int pos) {
    return golden_row_rel_err(row, cJSON_GetArrayItem(cJSON_GetObjectItem(f->g, "prefill_logits"), pos), f->V);
}
static double decode_err(const fixture *f, const float *row, int k) {
    return golden_row_rel_err(row, cJSON_GetArrayItem(cJSON_GetObjectItem(f->g, "decode_logits"), k), f->V);
}

/* Rows of two sequences interleaved in one batch (a, b, a, b, ..., then the
 * rest of a), then decode steps carrying both: the golden sequence's rows
 * still match transformers. */
static void mixed_batch(const char *arch) {
    fixture f;
    fixture_open(&f, arch);
    hive_engine *eng = f.env.eng;
    const int32_t other[9] = {80, 81, 200, 3, 17, 99, 101, 250, 7};
    int32_t a, b, toks[64], seqs[64];
    uint8_t want[64];
    assert_int_equal(hive_engine_seq_new(eng, &a, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(eng, &b, NULL), HIVE_OK);
    int n = 0, ia = 0, ib = 0;
    while (ia < f.np || ib < 9) {
        if (ia < f.np) toks[n] = f.prompt[ia++], seqs[n] = a, want[n++] = 1;
        if (ib < 9) toks[n] = other[ib++], seqs[n] = b, want[n++] = 1;
    }
    float *logits = malloc((size_t)n * f.V * sizeof *logits);
    hive_fwd_batch batch = {(uint32_t)n, toks, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(eng, &batch, logits, NULL), HIVE_OK);
    double worst = 0;
    for (int i = 0, pos = 0; i < n; i++) {
        if (seqs[i] != a) continue;
        double e = prefill_err(&f, logits + (size_t)i * f.V, pos);
        if (e > TOL) fail_msg("%s mixed batch: prefill position %d (batch row %d): relative error %.3g", arch, pos, i, e);
        worst = e > worst ? e : worst;
        pos++;
    }
    int last_b = n - 1;
    while (seqs[last_b] != b) last_b--;
    int32_t other_next = golden_argmax(logits + (size_t)last_b * f.V, f.V);
    for (int k = 0; k < f.nd; k++) { /* row 0 b, row 1 a */
        int32_t two[2] = {other_next, f.decode[k]}, two_seqs[2] = {b, a};
        uint8_t both[2] = {1, 1};
        hive_fwd_batch step = {2, two, two_seqs, both, NULL};
        assert_int_equal(hive_engine_forward(eng, &step, logits, NULL), HIVE_OK);
        double e = decode_err(&f, logits + f.V, k);
        if (e > TOL) fail_msg("%s mixed batch: decode step %d: relative error %.3g", arch, k, e);
        worst = e > worst ? e : worst;
        other_next = golden_argmax(logits, f.V);
    }
    printf("%s mixed batch: %d rows of two sequences + %d two-row decode steps, worst relative error %.2e\n", arch, n,
           f.nd, worst);
    free(logits);
    fixture_close(&f);
}

static void test_qwen3_moe_mixed_batch(void **s) {
    (void)s;
    mixed_batch("qwen3_moe");
}

static void test_deepseek_v2_mixed_batch(void **s) {
    (void)s;
    mixed_batch("deepseek_v2_qlora");
}

/* a hybrid: Mamba2 state and attention KV side by side */
static void test_granitemoehybrid_mixed_batch(void **s) {
    (void)s;
    mixed_batch("granitemoehybrid");
}

/* and its routed experts: rows of two sequences through the same experts */
static void test_granitemoehybrid_moe_mixed_batch(void **s) {
    (void)s;
    mixed_batch("granitemoehybrid_moe");
}

static void test_mamba2_mixed_batch(void **s) {
    (void)s;
    mixed_batch("mamba2");
}

/* Feeds rows [from, to) of the prompt to seq; the last row's logits in out. */
static void feed(fixture *f, int32_t seq, int from, int to, float *out) {
    int32_t seqs[64];
    for (int i = from; i < to; i++) seqs[i - from] = seq;
    hive_fwd_batch b = {(uint32_t)(to - from), f->prompt + from, seqs, NULL, NULL};
    assert_int_equal(hive_engine_forward(f->env.eng, &b, out, NULL), HIVE_OK);
}

/* A Mamba2 sequence's state: a prompt fed in two calls continues the state
 * (equal to transformers' prefill), a sequence is kept whole or restarted
 * (truncating to 0 and feeding again gives the same logits; cutting back
 * to a middle length is refused, naming why, and leaves the sequence as it
 * was), a freed slot starts clean for the next sequence, and adapters are
 * refused. */
static void test_mamba2_sequence_state(void **s) {
    (void)s;
    fixture f;
    fixture_open(&f, "mamba2");
    hive_engine *eng = f.env.eng;
    float *row = malloc(f.V * sizeof *row);
    int32_t seq;
    assert_int_equal(hive_engine_seq_new(eng, &seq, NULL), HIVE_OK);
    feed(&f, seq, 0, 5, row);
    assert_true(prefill_err(&f, row, 4) <= TOL);
    feed(&f, seq, 5, f.np, row);
    double e = prefill_err(&f, row, f.np - 1);
    if (e > TOL) fail_msg("prompt in two calls: relative error %.3g at the last position", e);

    hive_error *err = NULL;
    assert_int_equal(hive_engine_seq_truncate(eng, seq, 3, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(hive_error_message(err), "cannot be cut back to 3 of 12 tokens"));
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_engine_seq_len(eng, seq), (uint32_t)f.np);
    assert_int_equal(hive_engine_seq_reusable_len(eng, seq, 7), 0);
    assert_int_equal(hive_engine_seq_reusable_len(eng, seq, (uint32_t)f.np + 3), (uint32_t)f.np);
    /* the state continues after the refusal: the first decode step matches */
    int32_t one = f.decode[0];
    hive_fwd_batch step = {1, &one, &seq, NULL, NULL};
    assert_int_equal(hive_engine_forward(eng, &step, row, NULL), HIVE_OK);
    assert_true(decode_err(&f, row, 0) <= TOL);

    assert_int_equal(hive_engine_seq_truncate(eng, seq, 0, NULL), HIVE_OK);
    feed(&f, seq, 0, f.np, row);
    e = prefill_err(&f, row, f.np - 1);
    if (e > TOL) fail_msg("after truncating to 0: relative error %.3g (the state was not reset)", e);

    hive_engine_seq_free(eng, seq);
    int32_t again;
    assert_int_equal(hive_engine_seq_new(eng, &again, NULL), HIVE_OK);
    assert_int_equal(again, seq); /* the same slot, whose state must start from zero */
    feed(&f, again, 0, f.np, row);
    e = prefill_err(&f, row, f.np - 1);
    if (e > TOL) fail_msg("a reused slot: relative error %.3g (the old state leaked)", e);

    uint32_t hooks[2 * HIVE_MODULE_COUNT] = {0};
    hive_adapter_set set = {.id = 5, .n = 1};
    set.refs[0].desc.hooks_at = hooks;
    hooks[HIVE_MODULE_Q] = HIVE_HOOK_LINEAR_OUTPUT; /* a Mamba2 layer has no attention (in_proj: test_golden_hybrid_lora) */
    assert_int_equal(hive_engine_seq_set_adapters(eng, again, &set, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(hive_error_message(err), "layer 0 has no q_proj"));
    hive_error_free(err);
    free(row);
    fixture_close(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3_moe_mixed_batch),
        cmocka_unit_test(test_deepseek_v2_mixed_batch),
        cmocka_unit_test(test_mamba2_mixed_batch),
        cmocka_unit_test(test_granitemoehybrid_mixed_batch),
        cmocka_unit_test(test_granitemoehybrid_moe_mixed_batch),
        cmocka_unit_test(test_mamba2_sequence_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
