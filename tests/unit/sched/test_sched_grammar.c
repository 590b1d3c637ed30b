/* Structured output in the scheduler, on the real model: a greedy request
 * under a grammar gives what `generate` gives under the same grammar, alone,
 * in a batch of rows with other grammars and none, and as each of n choices;
 * logprobs are those of the constrained distribution; a grammar that allows
 * no token fails its request (every choice) and nothing else. */
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

#define PARALLEL 8
#define CACHE_SLOTS 2
#define MAXTOK 64

typedef struct result {
    char text[HIVE_SCHED_MAX_N][1024];
    size_t len[HIVE_SCHED_MAX_N];
    hive_finish finish[HIVE_SCHED_MAX_N];
    int finished, n_done, n_tokens, top_ok;
    hive_status status;
    char error[512];
} result;

static void on_event(void *ud, const hive_sched_event *ev) {
    result *r = ud;
    switch (ev->kind) {
    case HIVE_SCHED_STARTED: break;
    case HIVE_SCHED_TOKEN: {
        uint32_t c = ev->choice;
        if (r->len[c] + ev->len < sizeof r->text[c]) memcpy(r->text[c] + r->len[c], ev->text, ev->len), r->len[c] += ev->len;
        r->text[c][r->len[c]] = 0;
        if (ev->token >= 0) r->n_tokens++;
        /* logprobs: every alternative is a token the grammar allows (digits here) */
        for (uint32_t k = 0; k < ev->n_top; k++) {
            if (ev->top[k].token < 0) continue;
            char b[64];
            size_t n = 0;
            hive_tokenizer_token_bytes(g_s.tok, ev->top[k].token, b, sizeof b, &n);
            for (size_t i = 0; i < n; i++)
                if ((b[i] < '0' || b[i] > '9') && b[i] != '-') r->top_ok = -1;
            if (r->top_ok == 0) r->top_ok = 1;
        }
        break;
    }
    case HIVE_SCHED_CHOICE_DONE: r->n_done++; r->finish[ev->choice] = ev->finish; break;
    case HIVE_SCHED_FINISHED:
        r->finished = 1;
        r->status = ev->status;
        snprintf(r->error, sizeof r->error, "%s", ev->error ? ev->error : "");
        break;
    }
}

static int collect(void *ud, const char *text, size_t len) {
    result *r = ud;
    if (r->len[0] + len < sizeof r->text[0]) memcpy(r->text[0] + r->len[0], text, len), r->len[0] += len;
    r->text[0][r->len[0]] = 0;
    return 0;
}

static int setup(void **state) {
    (void)state;
    return sched_session_open_vocab(PARALLEL + CACHE_SLOTS);
}

static int teardown(void **state) {
    (void)state;
    sched_session_close();
    return 0;
}

/* small chunks: prefill interleaves with decode */
static hive_sched *new_sched(void) { return sched_new(PARALLEL, CACHE_SLOTS, 16, 0); }

static hive_grammar *compile(const char *kind, const char *text) {
    hive_grammar_opts o;
    hive_grammar_opts_default(&o);
    hive_grammar *g = NULL;
    hive_error *err = NULL;
    if (hive_grammar_compile(kind, text, &o, &g, &err) != HIVE_OK) fail_msg("%s: %s", text, hive_error_message(err));
    return g;
}

static void submit(hive_sched *s, const int32_t *ids, size_t n, const hive_grammar *g, const hive_grammar_vocab *v,
                   uint32_t n_choices, int top, result *r) {
    hive_sched_request q;
    memset(&q, 0, sizeof q);
    q.prompt = ids;
    q.n_prompt = n;
    hive_sampling_defaults(&q.params.sampling);
    q.params.sampling.temperature = 0;
    q.params.max_tokens = MAXTOK;
    q.params.n = n_choices;
    q.params.logprobs = top > 0;
    q.params.top_logprobs = (uint32_t)top;
    q.params.grammar = g;
    q.params.grammar_vocab = v;
    q.cb = on_event;
    q.ud = r;
    hive_error *err = NULL;
    hive_sched_submit_rc rc = hive_sched_submit(s, &q, NULL, &err);
    if (rc != HIVE_SCHED_ACCEPTED) fail_msg("submit: %d %s", rc, hive_error_message(err));
}

static void drain(hive_sched *s) {
    for (int i = 0; i < 10000 && !hive_sched_idle(s); i++) hive_sched_step(s);
    assert_true(hive_sched_idle(s));
}

static void assert_all_pages_free(hive_sched *s) {
    hive_sched_drop_cache(s);
    hive_sched_stats st;
    hive_sched_get_stats(s, &st);
    assert_int_equal(st.kv_pages_free, st.kv_pages_total);
    hive_sched_stats_free(&st);
}

enum { N = 4 };
static const char *k_prompts[N] = {"Describe a cat.", "Tell me about a famous movie.", "List three fruits.",
                                   "Describe a cat."};
static const char *k_kinds[N][2] = {
    {"builtin", "json-object"},
    {"json-schema", "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\",\"maxLength\":30},"
                    "\"year\":{\"type\":\"integer\",\"minimum\":1900,\"maximum\":2100}},\"required\":[\"title\",\"year\"],"
                    "\"additionalProperties\":false}"},
    {"gbnf", "root ::= item (\", \" item){2}\nitem ::= [A-Z][a-z]{2,12}"},
    {NULL, NULL}, /* no grammar: its rows share the batch */
};

static void test_grammar_equals_generate_and_batch(void **state) {
    (void)state;
    sched_need_model();
    int32_t *ids[N];
    size_t n[N];
    hive_grammar *g[N] = {0};
    result gen[N], solo[N], batch[2 * N], multi;
    memset(gen, 0, sizeof gen);
    memset(solo, 0, sizeof solo);
    memset(batch, 0, sizeof batch);
    memset(&multi, 0, sizeof multi);
    for (int i = 0; i < N; i++) {
        sched_encode(k_prompts[i], &ids[i], &n[i]);
        if (k_kinds[i][0]) g[i] = compile(k_kinds[i][0], k_kinds[i][1]);
    }
    /* `generate` with a matcher: the reference */
    for (int i = 0; i < N; i++) {
        hive_error *err = NULL;
        int32_t seq = -1;
        assert_int_equal(hive_engine_seq_new(g_s.eng, &seq, &err), HIVE_OK);
        hive_gen_params gp;
        memset(&gp, 0, sizeof gp);
        hive_sampling_defaults(&gp.sampling);
        gp.sampling.temperature = 0;
        gp.max_tokens = MAXTOK;
        if (g[i]) gp.grammar = hive_grammar_matcher_new(g[i], g_vocab, &err);
        hive_gen_stats st;
        assert_int_equal(hive_generate(g_s.eng, g_s.tok, seq, ids[i], n[i], &gp, collect, &gen[i], &st, &err), HIVE_OK);
        hive_grammar_matcher_free(gp.grammar);
        hive_engine_seq_free(g_s.eng, seq);
    }
    /* the unconstrained answer is prose: the grammars change the output */
    assert_true(gen[3].text[0][0] != '{' && gen[0].text[0][0] == '{');
    hive_sched *s = new_sched();
    for (int i = 0; i < N; i++) {
        submit(s, ids[i], n[i], g[i], g_vocab, 1, 0, &solo[i]);
        drain(s);
        assert_int_equal(solo[i].status, HIVE_OK);
        if (strcmp(solo[i].text[0], gen[i].text[0]) != 0)
            fail_msg("grammar %d: scheduler '%s' vs generate '%s'", i, solo[i].text[0], gen[i].text[0]);
        if (g[i]) assert_int_equal(solo[i].finish[0], HIVE_FINISH_STOP); /* complete, not cut */
    }
    hive_sched_drop_cache(s);
    /* all together, twice each (8 rows: the parallel limit), and n = 3 under the schema waiting for room */
    for (int i = 0; i < 2 * N; i++) submit(s, ids[i % N], n[i % N], g[i % N], g_vocab, 1, 0, &batch[i]);
    submit(s, ids[1], n[1], g[1], g_vocab, 3, 0, &multi);
    drain(s);
    for (int i = 0; i < 2 * N; i++) {
        assert_int_equal(batch[i].status, HIVE_OK);
        if (strcmp(batch[i].text[0], solo[i % N].text[0]) != 0)
            fail_msg("request %d: batch '%s' vs solo '%s'", i, batch[i].text[0], solo[i % N].text[0]);
    }
    assert_int_equal(multi.status, HIVE_OK);
    for (int c = 0; c < 3; c++)
        if (strcmp(multi.text[c], solo[1].text[0]) != 0) fail_msg("choice %d: '%s' vs '%s'", c, multi.text[c], solo[1].text[0]);
    assert_all_pages_free(s);
    hive_sched_free(s);
    for (int i = 0; i < N; i++) {
        hive_grammar_free(g[i]);
        free(ids[i]);
    }
}

static void test_logprobs_constrained(void **state) {
    (void)state;
    sched_need_model();
    int32_t *ids;
    size_t n;
    sched_encode("Phone?", &ids, &n);
    hive_grammar *g = compile("regex", "[0-9]{3}-[0-9]{4}");
    hive_sched *s = new_sched();
    result r;
    memset(&r, 0, sizeof r);
    submit(s, ids, n, g, g_vocab, 1, 5, &r);
    drain(s);
    assert_int_equal(r.status, HIVE_OK);
    assert_int_equal(r.len[0], 8);
    assert_int_equal(r.text[0][3], '-');
    assert_int_equal(r.top_ok, 1); /* alternatives were reported, and all of them allowed */
    hive_sched_free(s);
    hive_grammar_free(g);
    free(ids);
}

/* A vocabulary view in which only "a" can be written, and a grammar that wants
 * "aaa" then "b": after three tokens nothing is allowed. The request (both of
 * its choices) fails once, with the reason; a request beside it finishes. */
static void test_no_token_allowed_fails_request(void **state) {
    (void)state;
    sched_need_model();
    uint32_t nv = hive_grammar_vocab_size(g_vocab);
    const char **toks = calloc(nv, sizeof *toks);
    uint32_t *lens = calloc(nv, sizeof *lens);
    int32_t *a_ids = NULL;
    size_t na = 0;
    hive_error *err = NULL;
    assert_int_equal(hive_tokenizer_encode(g_s.tok, "a", 1, 0, 0, &a_ids, &na, &err), HIVE_OK);
    assert_int_equal(na, 1);
    toks[a_ids[0]] = "a";
    lens[a_ids[0]] = 1;
    int32_t ends[1] = {hive_tokenizer_eos(g_s.tok)};
    hive_grammar_vocab *only_a = NULL;
    assert_int_equal(hive_grammar_vocab_new(nv, toks, lens, ends, 1, &only_a, &err), HIVE_OK);
    hive_grammar *g = compile("gbnf", "root ::= \"aaab\"");
    int32_t *ids;
    size_t n;
    sched_encode("Say something.", &ids, &n);
    hive_sched *s = new_sched();
    result bad, good;
    memset(&bad, 0, sizeof bad);
    memset(&good, 0, sizeof good);
    submit(s, ids, n, g, only_a, 2, 0, &bad);
    submit(s, ids, n, NULL, NULL, 1, 0, &good);
    drain(s);
    assert_true(bad.finished);
    assert_int_equal(bad.status, HIVE_E_INVALID);
    if (!strstr(bad.error, "grammar")) fail_msg("error: %s", bad.error);
    assert_string_equal(bad.text[0], "aaa");
    assert_int_equal(bad.n_done, 0);
    assert_true(good.finished && good.status == HIVE_OK && good.len[0] > 0);
    hive_sched_stats st;
    hive_sched_get_stats(s, &st);
    assert_int_equal(st.failed_total, 1);
    assert_int_equal(st.running, 0);
    hive_sched_stats_free(&st);
    assert_all_pages_free(s);
    /* a grammar without a vocabulary view is refused at submit */
    hive_sched_request q;
    memset(&q, 0, sizeof q);
    q.prompt = ids;
    q.n_prompt = n;
    hive_sampling_defaults(&q.params.sampling);
    q.params.max_tokens = 4;
    q.params.n = 1;
    q.params.grammar = g;
    assert_int_equal(hive_sched_submit(s, &q, NULL, &err), HIVE_SCHED_REFUSED);
    hive_error_free(err);
    hive_sched_free(s);
    hive_grammar_free(g);
    hive_grammar_vocab_free(only_a);
    free(toks);
    free(lens);
    free(a_ids);
    free(ids);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar_equals_generate_and_batch),
        cmocka_unit_test(test_logprobs_constrained),
        cmocka_unit_test(test_no_token_allowed_fails_request),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
