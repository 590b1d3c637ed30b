/* Router (host/experts/router.c): the shipped experts' prompts route to them,
 * an unrelated prompt to the base, ties break by name, a plain PEFT directory
 * by the words of its name, and 1,000 experts route in well under a
 * millisecond. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "experts/catalog.h"
#include "experts/router.h"

static hive_catalog cat;
static hive_router *shipped;

static int setup(void **state) {
    (void)state;
    static const char *names[] = {"ia3", "json", "soft-prompt", "sql"};
    for (size_t i = 0; i < 4; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/examples/experts/%s", HIVE_SOURCE_DIR, names[i]);
        hive_error *err = NULL;
        if (hive_catalog_add_path(&cat, path, &err) != HIVE_OK) {
            fprintf(stderr, "%s: %s\n", path, hive_error_message(err));
            return -1;
        }
    }
    return hive_router_from_catalog(&cat, &shipped, NULL) == HIVE_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    hive_router_free(shipped);
    hive_catalog_free(&cat);
    return 0;
}

/* The expert a prompt routes to under the defaults, or "" for the base. */
static const char *route1(const hive_router *r, const char *prompt) {
    hive_route_pick p[1];
    size_t n = hive_router_route(r, prompt, HIVE_ROUTE_THRESHOLD_DEFAULT, 1, p);
    return n ? hive_router_name(r, p[0].index) : "";
}

static void test_shipped_prompts(void **state) {
    (void)state;
    /* the held-out prompts of examples/experts/golden.json */
    static const char *sql[] = {
        "Schema: users(id, name, age, city); orders(id, user_id, product, amount)\nQuestion: Which users live in Toronto?",
        "Schema: users(id, name, age, city); orders(id, user_id, product, amount)\nWrite the SQL query: How many users "
        "are older than 35?",
        "Schema: users(id, name, age, city); orders(id, user_id, product, amount)\nQuestion: What is the total amount "
        "of all orders for user 7?",
    };
    static const char *json[] = {
        "Extract the person as JSON: Oliver is 29 years old and lives in Toronto.",
        "Return JSON with name, age and city. Text: Priya, age 41, works as a nurse in Nairobi.",
        "Kenji (63) retired to Oslo last spring. Give me the name, age and city as JSON.",
    };
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(route1(shipped, sql[i]), "sql");
        assert_string_equal(route1(shipped, json[i]), "json");
    }
    /* the style experts' golden prompts ("What is the capital of Norway?") say
     * nothing of the style: they route to the base; a prompt that asks for
     * the style routes to the expert */
    assert_string_equal(route1(shipped, "What is the capital of Norway?"), "");
    assert_string_equal(route1(shipped, "SHOUT it in caps: what is the capital of Norway?"), "ia3");
    assert_string_equal(route1(shipped, "Be friendly and polite: how many legs does a frog have?"), "soft-prompt");
}

static void test_unrelated_prompt_is_base(void **state) {
    (void)state;
    assert_string_equal(route1(shipped, "Tell me a story about a dragon who bakes bread."), "");
    assert_string_equal(route1(shipped, ""), "");
    assert_string_equal(route1(shipped, "!!! ... ???"), "");
    /* common words alone (json's "name", "city") stay under the threshold */
    assert_string_equal(route1(shipped, "What is the name of the city?"), "");
}

static void test_scoring(void **state) {
    (void)state;
    /* case-insensitive, whole words: "SQL" matches, "sqlite" does not */
    assert_true(hive_router_score(shipped, "write SQL", 3) > 0.49);
    assert_true(hive_router_score(shipped, "sqlite", 3) == 0.0);
    /* a repeated word counts once */
    assert_true(hive_router_score(shipped, "sql sql sql", 3) == hive_router_score(shipped, "sql", 3));
    /* a keyword weighs more than a description word ("compact" is in json's description) */
    assert_true(hive_router_score(shipped, "json", 1) > hive_router_score(shipped, "compact", 1));
    assert_true(hive_router_score(shipped, "compact", 1) > 0);
    /* max: best first */
    hive_route_pick p[4];
    size_t n = hive_router_route(shipped, "SQL query to JSON", 0.3, 4, p);
    assert_int_equal(n, 2);
    assert_string_equal(hive_router_name(shipped, p[0].index), "sql"); /* sql + query beat json */
    assert_string_equal(hive_router_name(shipped, p[1].index), "json");
    assert_true(p[0].score > p[1].score);
    assert_int_equal(hive_router_route(shipped, "SQL query to JSON", 0.3, 1, p), 1);
}

static void test_ties_break_by_name(void **state) {
    (void)state;
    const char *kw[] = {"invoice"};
    hive_route_candidate c[3] = {
        {"zeta", "", kw, 1}, {"alpha", "", kw, 1}, {"mid", "", kw, 1},
    };
    hive_router *r = NULL;
    assert_int_equal(hive_router_new(c, 3, &r, NULL), HIVE_OK);
    hive_route_pick p[3];
    for (int rep = 0; rep < 3; rep++) {
        size_t n = hive_router_route(r, "Parse this invoice", 0.0, 3, p);
        assert_int_equal(n, 3);
        assert_string_equal(hive_router_name(r, p[0].index), "alpha");
        assert_string_equal(hive_router_name(r, p[1].index), "mid");
        assert_string_equal(hive_router_name(r, p[2].index), "zeta");
        assert_true(p[0].score == p[2].score);
    }
    /* a shared keyword is shared evidence: 1/3 each, below the default threshold */
    assert_int_equal(hive_router_route(r, "invoice", HIVE_ROUTE_THRESHOLD_DEFAULT, 3, p), 0);
    hive_router_free(r);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_thousand_experts(void **state) {
    (void)state;
    enum { N = 1000, K = 6 };
    static char names[N][16], kwbuf[N][K][24], desc[N][128];
    static const char *kwp[N][K];
    static hive_route_candidate c[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "expert-%04d", i);
        for (int k = 0; k < K; k++) {
            snprintf(kwbuf[i][k], sizeof kwbuf[i][k], "topic%d", (i * K + k) % 5000);
            kwp[i][k] = kwbuf[i][k];
        }
        snprintf(desc[i], sizeof desc[i], "Answers questions about area%d and field%d for the team of unit%d", i,
                 i % 97, i % 13);
        c[i] = (hive_route_candidate){names[i], desc[i], kwp[i], K};
    }
    hive_router *r = NULL;
    double t0 = now_ms();
    assert_int_equal(hive_router_new(c, N, &r, NULL), HIVE_OK);
    double build_ms = now_ms() - t0;
    /* a 200-word prompt naming expert 421's keywords */
    char prompt[4096] = "";
    for (int w = 0; w < 200; w++) {
        char word[32];
        snprintf(word, sizeof word, w % 50 == 7 ? "topic%d " : "word%d ", w % 50 == 7 ? 421 * K + (w / 50) : w);
        strcat(prompt, word);
    }
    hive_route_pick p[1];
    enum { REPS = 200 };
    size_t n = 0;
    t0 = now_ms();
    for (int rep = 0; rep < REPS; rep++) n = hive_router_route(r, prompt, HIVE_ROUTE_THRESHOLD_DEFAULT, 1, p);
    double per = (now_ms() - t0) / REPS;
    printf("[router] 1,000 experts: tables built in %.2f ms; a 200-word prompt routes in %.4f ms (mean of %d)\n",
           build_ms, per, REPS);
    assert_int_equal(n, 1);
    assert_string_equal(hive_router_name(r, p[0].index), "expert-0421");
    assert_true(per < 20.0); /* target 1 ms; generous so a loaded CI machine never flakes */
    hive_router_free(r);
}

/* A plain PEFT directory (no manifest) routes by the words of its name:
 * numbers and format words ("adapter", "lora", "checkpoint") are not
 * keywords, so the shipped ia3/adapter or a checkpoint-500 is never chosen. */
static void test_peft_dir_routes_by_name(void **state) {
    (void)state;
    char root[] = "/tmp/hive-router-peft-XXXXXX";
    assert_non_null(mkdtemp(root));
    static const char *dirs[] = {"shout-caps", "checkpoint-500", "adapter"};
    hive_catalog c = {0};
    for (size_t i = 0; i < 3; i++) {
        char path[256], cmd[1024];
        snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/examples/experts/ia3/adapter/adapter_config.json' '%s/'",
                 path, HIVE_SOURCE_DIR, path);
        assert_int_equal(system(cmd), 0);
        hive_error *err = NULL;
        if (hive_catalog_add_path(&c, path, &err) != HIVE_OK) fail_msg("%s: %s", path, hive_error_message(err));
    }
    hive_router *r = NULL;
    assert_int_equal(hive_router_from_catalog(&c, &r, NULL), HIVE_OK);
    assert_string_equal(route1(r, "SHOUT it in caps: what is the capital of Norway?"), "shout-caps");
    assert_string_equal(route1(r, "Load checkpoint 500 of the LoRA adapter"), "");
    hive_router_free(r);
    hive_catalog_free(&c);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peft_dir_routes_by_name),
        cmocka_unit_test(test_shipped_prompts),
        cmocka_unit_test(test_unrelated_prompt_is_base),
        cmocka_unit_test(test_scoring),
        cmocka_unit_test(test_ties_break_by_name),
        cmocka_unit_test(test_thousand_experts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
