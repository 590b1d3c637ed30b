/* Loading experts through a (fake) adapter plugin, and the LRU cache. */
#include <stdio.h>
#include <string.h>

#include "experts/cache.h"
#include "tests.h"
#include "util/error.h"
#include "util.h"

static void test_load_and_rollback(void **state) {
    (void)state;
    hive_expert_target t;
    tu_target(&t);
    hive_expert *x = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_load(tu_simple_expert("one", 123, NULL), &t, &x, &err), HIVE_OK);
    assert_int_equal(x->n_refs, 1);
    assert_int_equal(x->device_bytes, 123);
    assert_int_equal(g_live_adapters, 1);
    assert_ptr_equal(x->refs[0].api, &g_reg.all->adapter);
    hive_expert_free(x);
    assert_int_equal(g_live_adapters, 0);
    /* third adapter fails: the first two are destroyed, last loaded first */
    tu_adapter("roll", "a1", "LORA", 0, 4, 8, "\"fake_tag\": \"a1\"");
    tu_adapter("roll", "a2", "IA3", 0, 4, 8, "\"fake_tag\": \"a2\"");
    tu_adapter("roll", "a3", "LORA", 0, 4, 8, "\"fake_fail\": true");
    tu_package("roll", "roll", "SmolLM2-135M",
               "[{\"type\": \"lora\", \"path\": \"a1\"}, {\"type\": \"ia3\", \"path\": \"a2\"}, {\"type\": \"lora\", \"path\": \"a3\"}]",
               NULL);
    g_destroy_log[0] = 0;
    assert_int_not_equal(hive_expert_load(tu_path("roll"), &t, &x, &err), HIVE_OK);
    assert_err_contains(err, "expert 'roll': adapter a3 (plugin fake-lora): fake load failure");
    assert_int_equal(g_live_adapters, 0);
    assert_null(x);
    /* destroyed in reverse order: a2 before a1 */
    const char *a2 = strstr(g_destroy_log, "a2"), *a1 = strstr(g_destroy_log, "a1");
    assert_non_null(a1);
    assert_non_null(a2);
    assert_true(a2 < a1);
    /* nobody claims it */
    tu_adapter("lokr", "w", "LOKR", 0, 4, 8, NULL);
    tu_package("lokr", "lokr", "SmolLM2-135M", "[{\"type\": \"lora\", \"path\": \"w\"}]", NULL);
    assert_int_not_equal(hive_expert_load(tu_path("lokr"), &t, &x, &err), HIVE_OK);
    assert_err_contains(err, "peft_type 'LOKR'"); /* found by the manifest check first */
    /* base mismatch */
    tu_adapter("qwen", "w", "LORA", 0, 4, 8, NULL);
    tu_package("qwen", "qwen-only", "Qwen/Qwen3-0.6B", "[{\"type\": \"lora\", \"path\": \"w\"}]", NULL);
    assert_int_equal(hive_expert_load(tu_path("qwen"), &t, &x, &err), HIVE_E_INVALID);
    assert_err_contains(err, "expert 'qwen-only' targets base model(s) Qwen/Qwen3-0.6B, but the loaded model is SmolLM2 135M");
}

static void test_no_plugin(void **state) {
    (void)state;
    hive_expert_target t;
    tu_target(&t);
    hive_registry empty = {0};
    t.registry = &empty;
    hive_expert *x = NULL;
    hive_error *err = NULL;
    assert_int_not_equal(hive_expert_load(tu_simple_expert("orphan", 1, NULL), &t, &x, &err), HIVE_OK);
    assert_err_contains(err, "no adapter plugin claims");
    t.registry = &g_reg;
}

static int in_cache(hive_expert_cache *c, const char *name) {
    for (hive_expert *x = hive_expert_cache_first(c); x; x = x->next)
        if (!strcmp(x->manifest.name, name)) return 1;
    return 0;
}

static void test_lru(void **state) {
    (void)state;
    hive_expert_target t;
    tu_target(&t);
    hive_expert_cache *c = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(1000, &t, &c, &err), HIVE_OK);
    const char *pa = tu_simple_expert("lru-a", 400, NULL), *pb = tu_simple_expert("lru-b", 400, NULL);
    const char *pc = tu_simple_expert("lru-c", 400, NULL), *pd = tu_simple_expert("lru-d", 400, NULL);
    hive_expert *a, *b, *x;
    assert_int_equal(hive_expert_cache_get(c, pa, &a, &err), HIVE_OK);
    hive_expert_cache_release(c, a);
    assert_int_equal(hive_expert_cache_get(c, pb, &b, &err), HIVE_OK);
    hive_expert_cache_release(c, b);
    hive_expert_cache_stats s;
    hive_expert_cache_get_stats(c, &s);
    assert_int_equal(s.loads, 2);
    assert_false(s.last_hit);
    /* hit on a: cheap, a becomes most recent */
    assert_int_equal(hive_expert_cache_get(c, pa, &x, &err), HIVE_OK);
    assert_ptr_equal(x, a);
    hive_expert_cache_get_stats(c, &s);
    assert_int_equal(s.hits, 1);
    assert_true(s.last_hit);
    assert_true(s.last_ns < 5000000); /* well under the 10 ms hot-load target */
    fprintf(stderr, "  expert cache hit: %.1f us, cold load: %.1f us\n", s.last_ns / 1e3, s.load_ns_total / 2e3);
    hive_expert_cache_release(c, a);
    /* c: 1200 > 1000 -> evict the least recently used: b */
    assert_int_equal(hive_expert_cache_get(c, pc, &x, &err), HIVE_OK);
    hive_expert_cache_release(c, x);
    assert_false(in_cache(c, "lru-b"));
    assert_true(in_cache(c, "lru-a"));
    assert_true(in_cache(c, "lru-c"));
    /* pin a and c, load d: nothing unpinned to evict -> over budget for now */
    hive_expert *pa_pin, *pc_pin, *d;
    assert_int_equal(hive_expert_cache_get(c, pa, &pa_pin, &err), HIVE_OK);
    assert_int_equal(hive_expert_cache_get(c, pc, &pc_pin, &err), HIVE_OK);
    assert_int_equal(hive_expert_cache_get(c, pd, &d, &err), HIVE_OK);
    hive_expert_cache_get_stats(c, &s);
    assert_int_equal(s.n_experts, 3);
    assert_int_equal(s.bytes, 1200);
    assert_int_equal(s.n_pinned, 3);
    /* releasing a (the least recent now) lets it go */
    hive_expert_cache_release(c, pa_pin);
    assert_false(in_cache(c, "lru-a"));
    assert_true(in_cache(c, "lru-c"));
    hive_expert_cache_release(c, pc_pin);
    hive_expert_cache_release(c, d);
    /* an expert larger than the whole budget loads, then goes first */
    hive_expert *big;
    assert_int_equal(hive_expert_cache_get(c, tu_simple_expert("lru-big", 5000, NULL), &big, &err), HIVE_OK);
    assert_true(in_cache(c, "lru-big"));
    assert_true(in_cache(c, "lru-c") && in_cache(c, "lru-d"));
    hive_expert_cache_release(c, big);
    assert_false(in_cache(c, "lru-big"));
    assert_true(in_cache(c, "lru-c") && in_cache(c, "lru-d"));
    hive_expert_cache_get_stats(c, &s);
    assert_int_equal(s.evictions, 3);
    assert_int_equal(s.bytes, 800);
    hive_expert_cache_free(c);
    assert_int_equal(g_live_adapters, 0);
}

int run_cache_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_rollback),
        cmocka_unit_test(test_no_plugin),
        cmocka_unit_test(test_lru),
    };
    return cmocka_run_group_tests_name("cache", tests, tu_fake_registry_setup, tu_fake_registry_teardown);
}
