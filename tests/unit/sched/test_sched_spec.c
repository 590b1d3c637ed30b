/* Speculative decoding in the scheduler (lookup; docs/SPECULATIVE.md, "serve"),
 * on the real model: greedy output is byte-identical with and without it,
 * alone, under experts, under a grammar and in a batch that mixes speculating
 * and plain requests over different expert sets (drafts are both accepted and
 * rejected); a later request reusing a speculated sequence's KV (prefix cache)
 * gives what a fresh one gives and every page is free afterwards; max_tokens
 * and the context end stop where plain decoding stops; sampled requests with
 * n > 1 run; the drafters and models the scheduler cannot speculate with are
 * refused at submit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "grammar/grammar_config.h"
#include "sched/scheduler.h"
#include "util/error.h"
#include "sched_session.h"

#define PARALLEL 6
#define CACHE_SLOTS 4
#define MAXTOK 48


static int setup(void **state) {
    (void)state;
    return sched_session_open_vocab(PARALLEL + CACHE_SLOTS);
}

static int teardown(void **state) {
    (void)state;
    sched_session_close();
    return 0;
}

/* small chunks: prefill interleaves with verify passes */
static hive_sched *new_sched(void) { return sched_new(PARALLEL, CACHE_SLOTS, 16, 0); }

static const char *k_expert_paths[] = {NULL, HIVE_SOURCE_DIR "/examples/experts/json",
                                       HIVE_SOURCE_DIR "/examples/experts/sql.expert"};

/* copy-heavy prompts (drafts accepted) and open ones (drafts rejected), with an expert index */
static const struct {
    const char *user;
    int expert;
} k_cases[] = {
    {"Repeat this list exactly, twice: alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu.", 0},
    {"Copy this text exactly: The quick brown fox jumps over the lazy dog near the river bank on a sunny day.", 0},
    {"Extract the person as JSON: Oliver is 29 years old and lives in Toronto.", 1},
    {"Schema: users(id, name, age, city); orders(id, user_id, product, amount)\nQuestion: Which users live in Toronto?", 2},
    {"Write a short story about a dragon who learns to bake bread.", 0},
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])


typedef struct spec_req {
    const char *draft;       /* NULL: plain decoding */
    uint32_t k;
    int expert;
    uint32_t max_tokens, n;
    float temperature;
    const hive_grammar *grammar;
} spec_req;

static hive_sched_submit_rc submit_rc(hive_sched *s, const int32_t *ids, size_t n, const spec_req *q, sched_result *r,
                                      hive_error **err) {
    hive_sched_request rq;
    memset(&rq, 0, sizeof rq);
    rq.prompt = ids;
    rq.n_prompt = n;
    rq.experts = q->expert ? &k_expert_paths[q->expert] : NULL;
    rq.n_experts = q->expert ? 1 : 0;
    hive_sampling_defaults(&rq.params.sampling);
    rq.params.sampling.temperature = q->temperature;
    rq.params.sampling.seed = 7;
    rq.params.max_tokens = q->max_tokens ? q->max_tokens : MAXTOK;
    rq.params.n = q->n ? q->n : 1;
    rq.params.grammar = q->grammar;
    rq.params.grammar_vocab = q->grammar ? g_vocab : NULL;
    if (q->draft) {
        hive_error *perr = NULL;
        assert_int_equal(hive_spec_parse(q->draft, q->k ? q->k : 8, &rq.params.spec, &perr), HIVE_OK);
        rq.params.spec.keep_on = 1; /* every step verifies: the meter's timing never decides what is tested */
    }
    rq.cb = sched_on_event;
    rq.ud = r;
    return hive_sched_submit(s, &rq, NULL, err);
}

static void submit(hive_sched *s, const int32_t *ids, size_t n, const spec_req *q, sched_result *r) {
    hive_error *err = NULL;
    hive_sched_submit_rc rc = submit_rc(s, ids, n, q, r, &err);
    if (rc != HIVE_SCHED_ACCEPTED) fail_msg("submit: %d %s", rc, hive_error_message(err));
}

static void drain(hive_sched *s) {
    for (int i = 0; i < 20000 && !hive_sched_idle(s); i++) hive_sched_step(s);
    assert_true(hive_sched_idle(s));
}

static void run_one(hive_sched *s, const int32_t *ids, size_t n, const spec_req *q, sched_result *r) {
    memset(r, 0, sizeof *r);
    submit(s, ids, n, q, r);
    drain(s);
    assert_true(r->finished);
    assert_int_equal(r->status, HIVE_OK);
}

static void assert_same(const sched_result *plain, const sched_result *spec, const char *what) {
    if (strcmp(plain->text, spec->text) != 0 || plain->finish != spec->finish || plain->completion != spec->completion)
        fail_msg("%s: plain '%s' (finish %d, %u tokens) vs speculative '%s' (finish %d, %u tokens)", what, plain->text,
                 plain->finish, plain->completion, spec->text, spec->finish, spec->completion);
}

static void all_pages_free(hive_sched *s) {
    hive_sched_drop_cache(s);
    hive_sched_stats st;
    hive_sched_get_stats(s, &st);
    assert_int_equal(st.kv_pages_free, st.kv_pages_total);
    hive_sched_stats_free(&st);
}

/* Each case alone: plain, then lookup:3 k 8, lookup:1 k 14 and lookup k 2;
 * then all of them at once, plain and speculating side by side. */
static void test_greedy_equals_plain(void **state) {
    (void)state;
    hive_sched *s = new_sched();
    static const struct { const char *draft; uint32_t k; } specs[] = {{"lookup", 8}, {"lookup:1", 14}, {"lookup:3", 2}};
    int32_t *ids[N_CASES];
    size_t n[N_CASES];
    sched_result plain[N_CASES], r;
    uint64_t drafted = 0, accepted = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        sched_encode(k_cases[i].user, &ids[i], &n[i]);
        spec_req q = {NULL, 0, k_cases[i].expert, 0, 0, 0.0f, NULL};
        run_one(s, ids[i], n[i], &q, &plain[i]);
        assert_int_equal(plain[i].drafted, 0);
        for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
            hive_sched_drop_cache(s); /* the speculative run computes its prompt afresh too */
            spec_req sq = {specs[k].draft, specs[k].k, k_cases[i].expert, 0, 0, 0.0f, NULL};
            run_one(s, ids[i], n[i], &sq, &r);
            assert_same(&plain[i], &r, k_cases[i].user);
            assert_true(r.accepted <= r.drafted);
            drafted += r.drafted;
            accepted += r.accepted;
        }
    }
    /* the test can fail: drafts were verified, some taken, some not */
    assert_true(accepted > 0);
    assert_true(accepted < drafted);
    hive_sched_stats st;
    hive_sched_get_stats(s, &st);
    assert_true(st.spec_verify_total > 0 && st.spec_drafted_total == drafted && st.spec_accepted_total == accepted);
    hive_sched_stats_free(&st);
    hive_sched_drop_cache(s);
    /* a batch of both (more than PARALLEL: some wait, and join mid-run) */
    sched_result mixed[2 * N_CASES];
    memset(mixed, 0, sizeof mixed);
    for (size_t i = 0; i < 2 * N_CASES; i++) {
        spec_req q = {i % 2 ? "lookup" : NULL, 6, k_cases[i / 2].expert, 0, 0, 0.0f, NULL};
        submit(s, ids[i / 2], n[i / 2], &q, &mixed[i]);
    }
    drain(s);
    for (size_t i = 0; i < 2 * N_CASES; i++) {
        assert_int_equal(mixed[i].status, HIVE_OK);
        assert_same(&plain[i / 2], &mixed[i], i % 2 ? "speculating in a batch" : "plain beside speculation");
    }
    all_pages_free(s);
    for (size_t i = 0; i < N_CASES; i++) free(ids[i]);
    hive_sched_free(s);
}

/* A second turn reuses the speculated first turn's cached KV: its output
 * equals the same turn computed from nothing. */
static void test_prefix_cache_after_speculation(void **state) {
    (void)state;
    hive_sched *s = new_sched();
    int32_t *a, *b;
    size_t na, nb;
    sched_encode(k_cases[0].user, &a, &na);
    sched_result first, again, fresh;
    spec_req q = {"lookup:1", 8, 0, 0, 0, 0.0f, NULL}; /* this prompt's drafts are single-token matches */
    run_one(s, a, na, &q, &first);
    assert_true(first.accepted > 0);
    hive_chat_msg m[3] = {{"user", k_cases[0].user}, {"assistant", first.text}, {"user", "Now once more, backwards."}};
    sched_encode_chat(m, 3, &b, &nb);
    run_one(s, b, nb, &q, &again);
    assert_true(again.cached >= na - 1); /* the first turn's sequence was taken over */
    hive_sched_drop_cache(s);
    spec_req plain = {NULL, 0, 0, 0, 0, 0.0f, NULL};
    run_one(s, b, nb, &plain, &fresh);
    assert_int_equal(fresh.cached, 0);
    assert_same(&fresh, &again, "second turn");
    all_pages_free(s);
    free(a);
    free(b);
    hive_sched_free(s);
}

/* Drafts never run past max_tokens nor the context end (512 here): a long
 * repetitive prompt speculates up to the last position. */
static void test_limits(void **state) {
    (void)state;
    hive_sched *s = new_sched();
    int32_t *ids;
    size_t n;
    sched_result plain, spec;
    sched_encode(k_cases[0].user, &ids, &n);
    for (uint32_t max = 1; max <= 9; max += 4) {
        spec_req p = {NULL, 0, 0, max, 0, 0.0f, NULL}, q = {"lookup:1", 14, 0, max, 0, 0.0f, NULL};
        run_one(s, ids, n, &p, &plain);
        hive_sched_drop_cache(s);
        run_one(s, ids, n, &q, &spec);
        hive_sched_drop_cache(s);
        assert_same(&plain, &spec, "max_tokens");
        assert_int_equal(spec.finish, HIVE_FINISH_LENGTH);
    }
    free(ids);
    char text[8192] = "";
    for (int i = 0; i < 150; i++) strcat(text, "one two three four ");
    hive_error *err = NULL;
    assert_int_equal(hive_tokenizer_encode(g_s.tok, text, strlen(text), 1, HIVE_ADD_BOS_DEFAULT, &ids, &n, &err), HIVE_OK);
    assert_true(n > 490);
    n = 490;
    spec_req p = {NULL, 0, 0, 100, 0, 0.0f, NULL}, q = {"lookup", 14, 0, 100, 0, 0.0f, NULL};
    run_one(s, ids, n, &p, &plain);
    hive_sched_drop_cache(s);
    run_one(s, ids, n, &q, &spec);
    assert_same(&plain, &spec, "context end");
    assert_int_equal(spec.finish, HIVE_FINISH_CONTEXT);
    assert_true(spec.accepted > 0);
    all_pages_free(s);
    free(ids);
    hive_sched_free(s);
}

/* Under a grammar the draft is cut where the grammar refuses and each draft
 * row is masked after the tokens before it: the same bytes as plain. */
static void test_grammar(void **state) {
    (void)state;
    hive_sched *s = new_sched();
    hive_grammar_opts o;
    hive_grammar_opts_default(&o);
    hive_grammar *g = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_grammar_compile("builtin", "json-object", &o, &g, &err), HIVE_OK);
    int32_t *ids;
    size_t n;
    sched_encode("Give a JSON object about a cat named Tom: its name, its name again, and its name once more.", &ids, &n);
    sched_result plain, spec;
    spec_req p = {NULL, 0, 0, 64, 0, 0.0f, g}, q = {"lookup:2", 8, 0, 64, 0, 0.0f, g};
    run_one(s, ids, n, &p, &plain);
    hive_sched_drop_cache(s);
    run_one(s, ids, n, &q, &spec);
    assert_same(&plain, &spec, "json-object grammar");
    assert_true(spec.drafted > 0);
    all_pages_free(s);
    hive_grammar_free(g);
    free(ids);
    hive_sched_free(s);
}

/* Sampled rows go through rejection sampling (its distribution is tested in
 * tests/unit/speculate): n choices each speculate and finish. */
static void test_sampled_choices(void **state) {
    (void)state;
    hive_sched *s = new_sched();
    int32_t *ids;
    size_t n;
    sched_encode(k_cases[1].user, &ids, &n);
    sched_result r;
    spec_req q = {"lookup", 8, 0, 32, 3, 0.7f, NULL};
    run_one(s, ids, n, &q, &r);
    assert_int_equal(r.n_done, 3);
    assert_true(r.drafted > 0 && r.completion > 0);
    all_pages_free(s);
    free(ids);
    hive_sched_free(s);
}

static void test_refusals(void **state) {
    (void)state;
    hive_sched *s = new_sched();
    int32_t ids[4] = {1, 2, 3, 4};
    sched_result r;
    static const char *const bad[] = {"base", "model"};
    for (size_t i = 0; i < 2; i++) {
        hive_error *err = NULL;
        spec_req q = {bad[i], 8, 0, 4, 0, 0.0f, NULL};
        assert_int_equal(submit_rc(s, ids, 4, &q, &r, &err), HIVE_SCHED_REFUSED);
        assert_non_null(strstr(hive_error_message(err), "lookup only"));
        hive_error_free(err);
    }
    hive_sched_request rq;
    memset(&rq, 0, sizeof rq);
    rq.prompt = ids;
    rq.n_prompt = 4;
    hive_sampling_defaults(&rq.params.sampling);
    rq.params.max_tokens = 4;
    rq.params.n = 1;
    rq.params.spec.kind = HIVE_DRAFT_LOOKUP;
    rq.params.spec.ngram = 3;
    rq.params.spec.k = HIVE_DRAFT_MAX_K + 1;
    hive_error *err = NULL;
    assert_int_equal(hive_sched_submit(s, &rq, NULL, &err), HIVE_SCHED_REFUSED);
    hive_error_free(err);
    hive_sched_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_equals_plain), cmocka_unit_test(test_prefix_cache_after_speculation),
        cmocka_unit_test(test_limits),              cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_sampled_choices),     cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
