/* Composition of experts into one adapter set. */
#include <stdio.h>
#include <string.h>

#include "experts/compose.h"
#include "tests.h"
#include "util/error.h"
#include "util.h"

static void test_twelve(void **state) {
    (void)state;
    hive_expert_target t;
    tu_target(&t);
    hive_expert_cache *c = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(1u << 30, &t, &c, &err), HIVE_OK);
    char names[12][32];
    const char *paths[12];
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof names[i], "cx%02d", i);
        if (i == 5) { /* one expert with two adapters (LoRA + IA3) */
            tu_adapter(names[i], "lora", "LORA", 0, 4, 8, NULL);
            tu_adapter(names[i], "ia3", "IA3", 0, 4, 8, NULL);
            paths[i] = tu_package(names[i], names[i], "SmolLM2-135M",
                                  "[{\"type\": \"lora\", \"path\": \"lora\"}, {\"type\": \"ia3\", \"path\": \"ia3\"}]", NULL);
        } else {
            paths[i] = tu_simple_expert(names[i], 100 + (uint64_t)i, NULL);
        }
    }
    hive_expert_set s;
    assert_int_equal(hive_expert_set_acquire(c, paths, 12, &s, &err), HIVE_OK);
    assert_int_equal(s.n, 12);
    assert_int_equal(s.set.n, 13);
    /* refs in the order given; the two-adapter expert in manifest order */
    assert_int_equal(s.set.refs[0].desc.device_bytes, 100);
    assert_int_equal(s.set.refs[4].desc.device_bytes, 104);
    assert_int_equal(s.set.refs[5].desc.hooks, HIVE_HOOK_LINEAR_OUTPUT);
    assert_int_equal(s.set.refs[6].desc.hooks, HIVE_HOOK_OUTPUT_SCALE);
    assert_int_equal(s.set.refs[7].desc.device_bytes, 106);
    assert_int_equal(s.set.refs[12].desc.device_bytes, 111);
    assert_ptr_equal(s.set.refs[5].adapter, s.members[5]->refs[0].adapter);
    uint64_t id = s.set.id;
    assert_int_not_equal(id, 0);
    hive_expert_cache_stats st;
    hive_expert_cache_get_stats(c, &st);
    assert_int_equal(st.n_pinned, 12);
    /* the same experts again: same id (all cache hits); another order: another id */
    hive_expert_set s2;
    assert_int_equal(hive_expert_set_acquire(c, paths, 12, &s2, &err), HIVE_OK);
    assert_int_equal(s2.set.id, id);
    hive_expert_set_release(&s2);
    const char *rev[12];
    for (int i = 0; i < 12; i++) rev[i] = paths[11 - i];
    assert_int_equal(hive_expert_set_acquire(c, rev, 12, &s2, &err), HIVE_OK);
    assert_int_not_equal(s2.set.id, id);
    hive_expert_set_release(&s2);
    hive_expert_set_release(&s);
    hive_expert_cache_get_stats(c, &st);
    assert_int_equal(st.n_pinned, 0);
    /* the same expert twice */
    const char *twice[] = {paths[0], paths[1], paths[0]};
    assert_int_equal(hive_expert_set_acquire(c, twice, 3, &s, &err), HIVE_E_INVALID);
    assert_err_contains(err, "expert 'cx00'");
    hive_expert_cache_get_stats(c, &st);
    assert_int_equal(st.n_pinned, 0);
    hive_expert_cache_free(c);
    assert_int_equal(g_live_adapters, 0);
}

static void test_rules(void **state) {
    (void)state;
    hive_expert_target t;
    tu_target(&t);
    hive_expert_cache *c = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(1u << 30, &t, &c, &err), HIVE_OK);
    /* two soft prompts */
    for (int i = 0; i < 2; i++) {
        char n[16];
        snprintf(n, sizeof n, "sp%d", i);
        tu_adapter(n, "p", "PROMPT_TUNING", 0, 4, 8, "\"num_virtual_tokens\": 8");
        tu_package(n, n, "SmolLM2-135M", "[{\"type\": \"soft-prompt\", \"path\": \"p\"}]", NULL);
    }
    const char *sp[] = {tu_path("sp0"), tu_simple_expert("plain", 1, NULL), tu_path("sp1")};
    hive_expert_set s;
    assert_int_equal(hive_expert_set_acquire(c, sp, 2, &s, &err), HIVE_OK);
    assert_int_equal(s.set.refs[0].desc.n_virtual_tokens, 8);
    hive_expert_set_release(&s);
    assert_int_equal(hive_expert_set_acquire(c, sp, 3, &s, &err), HIVE_E_INVALID);
    assert_err_contains(err, "experts 'sp0' and 'sp1' both carry a soft prompt");
    /* constraints */
    const char *j = tu_simple_expert("expert-json", 1, NULL);
    const char *q = tu_simple_expert("expert-sql", 1, "\"constraints\": {\"incompatible_with\": [\"json\"], \"requires\": []}");
    const char *r = tu_simple_expert("needs", 1, "\"constraints\": {\"requires\": [\"expert-sql\"], \"max_chain\": 2}");
    const char *bad1[] = {q, j};
    assert_int_equal(hive_expert_set_acquire(c, bad1, 2, &s, &err), HIVE_E_INVALID);
    assert_err_contains(err, "expert 'expert-sql' cannot be combined with expert 'expert-json'");
    const char *bad2[] = {r, j};
    assert_int_equal(hive_expert_set_acquire(c, bad2, 2, &s, &err), HIVE_E_INVALID);
    assert_err_contains(err, "expert 'needs' requires expert 'expert-sql'");
    const char *bad3[] = {r, q, j};
    assert_int_equal(hive_expert_set_acquire(c, bad3, 3, &s, &err), HIVE_E_INVALID);
    assert_err_contains(err, "at most 2 experts");
    const char *ok[] = {r, q};
    assert_int_equal(hive_expert_set_acquire(c, ok, 2, &s, &err), HIVE_OK);
    hive_expert_set_release(&s);
    /* the empty set is the base model */
    assert_int_equal(hive_expert_set_acquire(c, NULL, 0, &s, &err), HIVE_OK);
    assert_int_equal(s.set.id, 0);
    assert_int_equal(s.set.n, 0);
    hive_expert_cache_free(c);
}

static void test_too_many_adapters(void **state) {
    (void)state;
    hive_expert_target t;
    tu_target(&t);
    hive_expert_cache *c = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(1u << 30, &t, &c, &err), HIVE_OK);
    char adapters[4096] = "[";
    for (int i = 0; i < 17; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "a%d", i);
        tu_adapter("many1", sub, "LORA", 0, 4, 8, NULL);
        tu_adapter("many2", sub, "LORA", 0, 4, 8, NULL);
        size_t l = strlen(adapters);
        snprintf(adapters + l, sizeof adapters - l, "%s{\"type\": \"lora\", \"path\": \"%s\"}", i ? ", " : "", sub);
    }
    strcat(adapters, "]");
    const char *p[] = {tu_package("many1", "many1", "SmolLM2-135M", adapters, NULL),
                       tu_package("many2", "many2", "SmolLM2-135M", adapters, NULL)};
    hive_expert_set s;
    assert_int_equal(hive_expert_set_acquire(c, p, 2, &s, &err), HIVE_E_INVALID);
    assert_err_contains(err, "2 experts bring 34 adapters; a set holds at most 32");
    hive_expert_cache_free(c);
    assert_int_equal(g_live_adapters, 0);
}

int run_compose_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twelve),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_too_many_adapters),
    };
    return cmocka_run_group_tests_name("compose", tests, tu_fake_registry_setup, tu_fake_registry_teardown);
}
