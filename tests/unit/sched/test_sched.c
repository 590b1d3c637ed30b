/* Scheduler on the real model: greedy output of a request is the same alone,
 * in a mixed batch of expert sets with chunked prefill, and as `generate`
 * gives it; cancellation frees KV at once; the prefix cache is hit only under
 * the same expert set; a full queue refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sched/scheduler.h"
#include "util/error.h"
#include "sched_session.h"


#define PARALLEL 8
#define CACHE_SLOTS 4


static int setup(void **state) {
    (void)state;
    return sched_session_open(PARALLEL + CACHE_SLOTS);
}

static int teardown(void **state) {
    (void)state;
    sched_session_close();
    return 0;
}

static hive_sched *new_sched(uint32_t chunk, uint32_t max_queue) { return sched_new(PARALLEL, CACHE_SLOTS, chunk, max_queue); }

static const char *k_expert_paths[] = {NULL, HIVE_SOURCE_DIR "/examples/experts/json",
                                       HIVE_SOURCE_DIR "/examples/experts/sql.expert",
                                       HIVE_SOURCE_DIR "/examples/experts/ia3", HIVE_SOURCE_DIR "/examples/experts/soft-prompt"};
static const char *k_prompts[] = {
    "What is the capital of France?", "Extract the person as JSON: Oliver is 29 years old and lives in Toronto.",
    "Schema: users(id, name, age, city)\nQuestion: Which users live in Toronto?", "Tell me about the sea.",
    "Give me a tip for learning to cook."};


static uint64_t submit(hive_sched *s, const int32_t *ids, size_t n, int expert, uint32_t max_tokens, sched_result *r) {
    hive_sched_request q;
    memset(&q, 0, sizeof q);
    q.prompt = ids;
    q.n_prompt = n;
    q.experts = expert ? &k_expert_paths[expert] : NULL;
    q.n_experts = expert ? 1 : 0;
    hive_sampling_defaults(&q.params.sampling);
    q.params.sampling.temperature = 0;
    q.params.max_tokens = max_tokens;
    q.params.n = 1;
    q.cb = sched_on_event;
    q.ud = r;
    uint64_t id = 0;
    hive_error *err = NULL;
    hive_sched_submit_rc rc = hive_sched_submit(s, &q, &id, &err);
    if (rc != HIVE_SCHED_ACCEPTED) fprintf(stderr, "submit: %d %s\n", rc, hive_error_message(err));
    assert_int_equal(rc, HIVE_SCHED_ACCEPTED);
    return id;
}

static void drain(hive_sched *s) {
    for (int i = 0; i < 10000 && !hive_sched_idle(s); i++) hive_sched_step(s);
    assert_true(hive_sched_idle(s));
}

static void test_mixed_batch_equals_solo(void **state) {
    (void)state;
    hive_sched *s = new_sched(16, 0); /* small chunks: prefill interleaves with decode */
    enum { N = 5, MAXTOK = 24 };
    int32_t *ids[N];
    size_t n[N];
    sched_result solo[N], mixed[2 * N];
    memset(solo, 0, sizeof solo);
    memset(mixed, 0, sizeof mixed);
    for (int i = 0; i < N; i++) sched_encode(k_prompts[i], &ids[i], &n[i]);
    for (int i = 0; i < N; i++) {
        submit(s, ids[i], n[i], i, MAXTOK, &solo[i]);
        drain(s);
        assert_int_equal(solo[i].status, HIVE_OK);
        assert_true(solo[i].len > 0);
    }
    hive_sched_drop_cache(s); /* the mixed run computes everything again (soft-prompt KV too) */
    hive_soft_prompt_stats sp0, sp1;
    hive_engine_soft_prompt_stats(g_s.eng, &sp0);
    assert_int_equal(sp0.templates, 0);
    /* 8 running (the parallel limit), 2 more wait for a slot; the same
     * prompt under different experts, and the same expert twice */
    for (int i = 0; i < 2 * N; i++) submit(s, ids[i % N], n[i % N], i % N, MAXTOK, &mixed[i]);
    drain(s);
    /* the soft prompt's two requests: one prefill of its virtual tokens (the
     * other shares them, or takes the first one's cached sequence) */
    hive_engine_soft_prompt_stats(g_s.eng, &sp1);
    assert_int_equal(sp1.prefills, sp0.prefills + 1);
    for (int i = 0; i < 2 * N; i++) {
        assert_int_equal(mixed[i].status, HIVE_OK);
        if (strcmp(mixed[i].text, solo[i % N].text) != 0)
            fail_msg("request %d (expert %d): solo '%s' vs mixed '%s'", i, i % N, solo[i % N].text, mixed[i].text);
    }
    hive_sched_free(s); /* frees every slot: generate below needs one */
    /* `generate` (one sequence, the whole prompt in one pass) gives the same */
    for (int i = 0; i < N; i++) {
        hive_expert_set xs;
        hive_error *err = NULL;
        int32_t seq = -1;
        assert_int_equal(hive_engine_seq_new(g_s.eng, &seq, &err), HIVE_OK);
        if (i) assert_int_equal(hive_expert_set_acquire(g_s.experts, &k_expert_paths[i], 1, &xs, &err), HIVE_OK);
        assert_int_equal(hive_engine_seq_set_adapters(g_s.eng, seq, i ? &xs.set : NULL, &err), HIVE_OK);
        hive_gen_params gp;
        memset(&gp, 0, sizeof gp);
        hive_sampling_defaults(&gp.sampling);
        gp.sampling.temperature = 0;
        gp.max_tokens = MAXTOK;
        sched_result g;
        memset(&g, 0, sizeof g);
        hive_gen_stats st;
        assert_int_equal(hive_generate(g_s.eng, g_s.tok, seq, ids[i], n[i], &gp, sched_collect, &g, &st, &err), HIVE_OK);
        if (strcmp(g.text, solo[i].text) != 0)
            fail_msg("expert %d: generate '%s' vs scheduler '%s'", i, g.text, solo[i].text);
        hive_engine_seq_free(g_s.eng, seq);
        if (i) hive_expert_set_release(&xs);
        free(ids[i]);
    }
}

static void test_cancel_frees_kv(void **state) {
    (void)state;
    hive_sched *s = new_sched(64, 0);
    int32_t *ids;
    size_t n;
    sched_encode(k_prompts[0], &ids, &n);
    sched_result r[3];
    memset(r, 0, sizeof r);
    uint64_t a = submit(s, ids, n, 0, 400, &r[0]);
    submit(s, ids, n, 1, 400, &r[1]);
    uint64_t c = submit(s, ids, n, 2, 400, &r[2]);
    for (int i = 0; i < 4; i++) hive_sched_step(s);
    hive_sched_cancel(s, a);
    hive_sched_cancel(s, c);
    hive_sched_step(s); /* within one step */
    assert_true(r[0].finished && r[0].cancelled);
    assert_true(r[2].finished && r[2].cancelled);
    assert_false(r[1].finished);
    hive_sched_stats st;
    hive_sched_get_stats(s, &st);
    assert_int_equal(st.running, 1);
    hive_sched_stats_free(&st);
    hive_sched_cancel(s, 2);
    hive_sched_step(s);
    assert_true(r[1].finished && r[1].cancelled);
    hive_sched_get_stats(s, &st);
    assert_int_equal(st.running, 0);
    /* nothing cached from cancelled work: every page is free */
    assert_int_equal(st.kv_pages_cached, 0);
    assert_int_equal(st.kv_pages_free, st.kv_pages_total);
    assert_int_equal(st.cancelled_total, 3);
    hive_sched_stats_free(&st);
    free(ids);
    hive_sched_free(s);
}

static void test_prefix_cache(void **state) {
    (void)state;
    hive_sched *s = new_sched(64, 0);
    hive_chat_msg turn1[1] = {{"user", "Name a color."}};
    hive_error *err = NULL;
    int32_t *ids1, *ids2;
    size_t n1, n2;
    assert_int_equal(hive_render_chat_ids(g_s.tok, g_s.model->chat_template, turn1, 1, -1, &ids1, &n1, &err), HIVE_OK);
    sched_result r1, r2, r3;
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    memset(&r3, 0, sizeof r3);
    submit(s, ids1, n1, 0, 8, &r1);
    drain(s);
    assert_int_equal(r1.cached, 0);
    hive_chat_msg turn2[3] = {{"user", "Name a color."}, {"assistant", r1.text}, {"user", "Another one."}};
    assert_int_equal(hive_render_chat_ids(g_s.tok, g_s.model->chat_template, turn2, 3, -1, &ids2, &n2, &err), HIVE_OK);
    /* another expert set never reuses the base model's KV */
    submit(s, ids2, n2, 1, 8, &r3);
    drain(s);
    assert_int_equal(r3.cached, 0);
    submit(s, ids2, n2, 0, 8, &r2);
    drain(s);
    assert_true(r2.cached >= n1 - 1);
    hive_sched_stats st;
    hive_sched_get_stats(s, &st);
    assert_int_equal(st.prefix_hits, 1);
    assert_true(st.kv_pages_cached > 0);
    hive_sched_stats_free(&st);
    hive_sched_drop_cache(s);
    hive_sched_get_stats(s, &st);
    assert_int_equal(st.kv_pages_free, st.kv_pages_total);
    hive_sched_stats_free(&st);
    free(ids1);
    free(ids2);
    hive_sched_free(s);
}

static void test_queue_full_and_refusals(void **state) {
    (void)state;
    hive_sched *s = new_sched(64, 1);
    int32_t *ids;
    size_t n;
    sched_encode(k_prompts[0], &ids, &n);
    sched_result r[2];
    memset(r, 0, sizeof r);
    submit(s, ids, n, 0, 4, &r[0]);
    hive_sched_request q;
    memset(&q, 0, sizeof q);
    q.prompt = ids;
    q.n_prompt = n;
    hive_sampling_defaults(&q.params.sampling);
    q.params.max_tokens = 4;
    q.params.n = 1;
    q.cb = sched_on_event;
    q.ud = &r[1];
    hive_error *err = NULL;
    assert_int_equal(hive_sched_submit(s, &q, NULL, &err), HIVE_SCHED_QUEUE_FULL);
    q.params.n = 9;
    assert_int_equal(hive_sched_submit(s, &q, NULL, &err), HIVE_SCHED_REFUSED);
    hive_error_free(err);
    err = NULL;
    q.params.n = 1;
    q.params.sampling.top_p = 2;
    assert_int_equal(hive_sched_submit(s, &q, NULL, &err), HIVE_SCHED_REFUSED);
    hive_error_free(err);
    drain(s);
    assert_true(r[0].finished);
    /* an expert that is not a package fails the request, not the scheduler */
    const char *bad = "/nonexistent/expert";
    q.params.sampling.top_p = 0.9f;
    q.experts = &bad;
    q.n_experts = 1;
    assert_int_equal(hive_sched_submit(s, &q, NULL, &err), HIVE_SCHED_ACCEPTED);
    drain(s);
    assert_true(r[1].finished);
    assert_int_not_equal(r[1].status, HIVE_OK);
    assert_false(r[1].started);
    free(ids);
    hive_sched_free(s);
}

static void test_n_choices_and_stop(void **state) {
    (void)state;
    hive_sched *s = new_sched(64, 0);
    int32_t *ids;
    size_t n;
    sched_encode(k_prompts[3], &ids, &n);
    sched_result r;
    memset(&r, 0, sizeof r);
    hive_sched_request q;
    memset(&q, 0, sizeof q);
    q.prompt = ids;
    q.n_prompt = n;
    hive_sampling_defaults(&q.params.sampling);
    q.params.sampling.seed = 7;
    q.params.max_tokens = 12;
    q.params.n = 3;
    const char *stop[] = {"\n"};
    q.params.stop = stop;
    q.params.n_stop = 1;
    q.cb = sched_on_event;
    q.ud = &r;
    hive_error *err = NULL;
    assert_int_equal(hive_sched_submit(s, &q, NULL, &err), HIVE_SCHED_ACCEPTED);
    drain(s);
    assert_int_equal(r.n_done, 3);
    assert_true(r.completion >= 3);
    assert_null(strchr(r.text, '\n'));
    free(ids);
    hive_sched_free(s);
}

typedef struct multi {
    char text[HIVE_SCHED_MAX_N][512];
    size_t len[HIVE_SCHED_MAX_N];
    int finished;
} multi;

static void on_multi(void *ud, const hive_sched_event *ev) {
    multi *m = ud;
    if (ev->kind == HIVE_SCHED_TOKEN && m->len[ev->choice] + ev->len < sizeof m->text[0]) {
        memcpy(m->text[ev->choice] + m->len[ev->choice], ev->text, ev->len);
        m->len[ev->choice] += ev->len;
        m->text[ev->choice][m->len[ev->choice]] = 0;
    }
    if (ev->kind == HIVE_SCHED_FINISHED) m->finished = 1;
}

/* n greedy choices share the prompt's whole KV pages and all equal the n = 1
 * answer: the shared pages hold exactly what a prefill would have written. */
static void test_n_choices_share_prompt(void **state) {
    (void)state;
    hive_sched *s = new_sched(64, 0);
    for (int expert = 0; expert < 5; expert += 4) { /* the base model, and a soft prompt (virtual rows first) */
        int32_t *ids;
        size_t n;
        sched_encode(k_prompts[1], &ids, &n);
        sched_result one;
        memset(&one, 0, sizeof one);
        submit(s, ids, n, expert, 16, &one);
        drain(s);
        hive_sched_drop_cache(s);
        hive_sched_stats st0, st1;
        hive_sched_get_stats(s, &st0);
        multi m;
        memset(&m, 0, sizeof m);
        hive_sched_request q;
        memset(&q, 0, sizeof q);
        q.prompt = ids;
        q.n_prompt = n;
        q.experts = expert ? &k_expert_paths[expert] : NULL;
        q.n_experts = expert ? 1 : 0;
        hive_sampling_defaults(&q.params.sampling);
        q.params.sampling.temperature = 0;
        q.params.max_tokens = 16;
        q.params.n = 3;
        q.cb = on_multi;
        q.ud = &m;
        hive_error *err = NULL;
        assert_int_equal(hive_sched_submit(s, &q, NULL, &err), HIVE_SCHED_ACCEPTED);
        drain(s);
        assert_true(m.finished);
        for (int i = 0; i < 3; i++)
            if (strcmp(m.text[i], one.text) != 0) fail_msg("expert %d choice %d: '%s' vs n=1 '%s'", expert, i, m.text[i], one.text);
        hive_sched_get_stats(s, &st1);
        /* two siblings, each taking the prompt's whole pages (page size 16) */
        assert_true(st1.shared_prompt_tokens_total - st0.shared_prompt_tokens_total >= 2 * ((n - 1) / 16) * 16 - 32);
        assert_true(st1.shared_prompt_tokens_total > st0.shared_prompt_tokens_total);
        hive_sched_stats_free(&st0);
        hive_sched_stats_free(&st1);
        hive_sched_drop_cache(s);
        hive_sched_get_stats(s, &st1);
        assert_int_equal(st1.kv_pages_free, st1.kv_pages_total); /* shared pages were freed exactly once */
        hive_sched_stats_free(&st1);
        free(ids);
    }
    hive_sched_free(s);
}

/* A second request with the same long system prompt, arriving while the
 * first still runs, shares its whole pages and answers as it would alone. */
static void test_running_prefix_shared(void **state) {
    (void)state;
    hive_sched *s = new_sched(64, 0);
    const char *sys = "You are Hive, a careful assistant. Answer in one short sentence, use plain words, and never "
                      "make up facts you do not know. If a question is unclear, say so briefly.";
    hive_chat_msg m1[2] = {{"system", sys}, {"user", "What is the capital of France?"}};
    hive_chat_msg m2[2] = {{"system", sys}, {"user", "Name a large animal."}};
    int32_t *a, *b;
    size_t na, nb;
    hive_error *err = NULL;
    assert_int_equal(hive_render_chat_ids(g_s.tok, g_s.model->chat_template, m1, 2, -1, &a, &na, &err), HIVE_OK);
    assert_int_equal(hive_render_chat_ids(g_s.tok, g_s.model->chat_template, m2, 2, -1, &b, &nb, &err), HIVE_OK);
    sched_result solo, r1, r2;
    memset(&solo, 0, sizeof solo);
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    submit(s, b, nb, 0, 12, &solo);
    drain(s);
    hive_sched_drop_cache(s);
    submit(s, a, na, 0, 40, &r1);
    for (int i = 0; i < 3; i++) hive_sched_step(s); /* the first prompt is in */
    assert_false(r1.finished);
    submit(s, b, nb, 0, 12, &r2);
    drain(s);
    assert_true(r2.cached >= 32);
    assert_string_equal(r2.text, solo.text);
    hive_sched_drop_cache(s);
    hive_sched_stats st;
    hive_sched_get_stats(s, &st);
    assert_int_equal(st.kv_pages_free, st.kv_pages_total);
    hive_sched_stats_free(&st);
    free(a);
    free(b);
    hive_sched_free(s);
}

/* Two requests with the soft-prompt expert admitted in one step: the first
 * runs its virtual tokens, the second shares their KV (no forward pass) and
 * each answers as it does alone; dropping the cache gives every page back. */
static void test_soft_prompt_shared(void **state) {
    (void)state;
    hive_sched *s = new_sched(64, 0);
    enum { MAXTOK = 16 };
    const int which[2] = {0, 3};
    int32_t *ids[2];
    size_t n[2];
    sched_result solo[2], both[2];
    memset(solo, 0, sizeof solo);
    memset(both, 0, sizeof both);
    hive_soft_prompt_stats sp0, sp1;
    for (int k = 0; k < 2; k++) {
        sched_encode(k_prompts[which[k]], &ids[k], &n[k]);
        hive_sched_drop_cache(s); /* each alone prefills its virtual tokens */
        hive_engine_soft_prompt_stats(g_s.eng, &sp0);
        submit(s, ids[k], n[k], 4, MAXTOK, &solo[k]);
        drain(s);
        hive_engine_soft_prompt_stats(g_s.eng, &sp1);
        assert_int_equal(sp1.prefills, sp0.prefills + 1);
        assert_int_equal(solo[k].status, HIVE_OK);
    }
    hive_sched_drop_cache(s);
    hive_engine_soft_prompt_stats(g_s.eng, &sp0);
    for (int k = 0; k < 2; k++) submit(s, ids[k], n[k], 4, MAXTOK, &both[k]);
    drain(s);
    hive_engine_soft_prompt_stats(g_s.eng, &sp1);
    assert_int_equal(sp1.prefills, sp0.prefills + 1);
    assert_int_equal(sp1.shared_attaches, sp0.shared_attaches + 1);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(both[k].status, HIVE_OK);
        if (strcmp(both[k].text, solo[k].text) != 0) fail_msg("request %d: shared '%s' vs alone '%s'", k, both[k].text, solo[k].text);
        free(ids[k]);
    }
    hive_sched_drop_cache(s);
    hive_sched_stats st;
    hive_sched_get_stats(s, &st);
    assert_int_equal(st.kv_pages_free, st.kv_pages_total);
    hive_sched_stats_free(&st);
    hive_sched_free(s);
}

/* Shared pages are never written again: a cut inside one is refused, and
 * reusable_len moves it back to the page start. */
static void test_shared_pages_are_immutable(void **state) {
    (void)state;
    if (!g_open) skip();
    hive_engine *e = g_s.eng;
    hive_error *err = NULL;
    int32_t a = -1, b = -1, toks[40], seqs[40];
    for (int i = 0; i < 40; i++) toks[i] = 100 + i;
    assert_int_equal(hive_engine_seq_new(e, &a, &err), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(e, &b, &err), HIVE_OK);
    for (int i = 0; i < 40; i++) seqs[i] = a;
    hive_fwd_batch fb = {40, toks, seqs, NULL, NULL};
    float *logits = malloc(hive_engine_hparams(e)->vocab * sizeof *logits);
    assert_int_equal(hive_engine_forward(e, &fb, logits, &err), HIVE_OK);
    uint32_t total, free0, free1;
    hive_engine_kv_pages(e, &total, &free0);
    assert_int_equal(hive_engine_seq_share_prefix(e, b, a, 39), 32); /* two whole pages of 16 */
    hive_engine_kv_pages(e, &total, &free1);
    assert_int_equal(free1, free0); /* shared, not copied */
    assert_int_equal(hive_engine_seq_reusable_len(e, a, 20), 16);
    assert_int_equal(hive_engine_seq_reusable_len(e, a, 32), 32);
    assert_int_not_equal(hive_engine_seq_truncate(e, a, 20, &err), HIVE_OK);
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_engine_seq_truncate(e, a, 16, &err), HIVE_OK);
    hive_engine_seq_free(e, a);
    hive_engine_seq_free(e, b);
    hive_engine_kv_pages(e, &total, &free1);
    assert_int_equal(free1, total);
    free(logits);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_batch_equals_solo), cmocka_unit_test(test_cancel_frees_kv),
        cmocka_unit_test(test_prefix_cache), cmocka_unit_test(test_queue_full_and_refusals),
        cmocka_unit_test(test_n_choices_and_stop), cmocka_unit_test(test_n_choices_share_prompt),
        cmocka_unit_test(test_shared_pages_are_immutable), cmocka_unit_test(test_running_prefix_shared),
        cmocka_unit_test(test_soft_prompt_shared),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
