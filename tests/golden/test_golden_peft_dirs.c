/* Plain PEFT directories as experts (host/experts/peft_dir.c): each golden
 * adapter of the tiny llama, loaded through the expert loader as a bare PEFT
 * directory and again as the .expert that hive_expert_pack makes of it,
 * matches PEFT's logits and greedy tokens (the goldens of test_golden_adapters),
 * and a directory of them is scanned by the server's catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experts/catalog.h"
#include "experts/expert.h"
#include "experts/pack.h"
#include "golden_util.h"
#include "util/error.h"

#define TOL 1e-4
#define MIN_ADAPTER_EFFECT 1e-2

static char g_tmp[] = "/tmp/hive-golden-peft-XXXXXX";

/* Loads `path` as an expert and checks it against the adapter's golden. */
static void check_expert(golden_env *env, const char *path, const char *name, const cJSON *fx) {
    hive_expert_target t;
    hive_expert_target_init(&t, &env->reg, env->eng, env->model);
    hive_expert *x = NULL;
    hive_error *err = NULL;
    if (hive_expert_load(path, &t, &x, &err) != HIVE_OK) fail_msg("%s: %s", path, hive_error_message(err));
    assert_string_equal(x->manifest.name, name);
    assert_int_equal(x->n_refs, 1);
    hive_adapter_set set = {x->identity, 1, {x->refs[0]}};
    char why[256];
    int tok_ok = 0;
    double e = golden_run(env, fx, &set, &tok_ok, why, sizeof why);
    if (e > TOL || !tok_ok) fail_msg("%s: relative error %.3g (%s), greedy tokens %s", path, e, why, tok_ok ? "equal" : "DIFFER");
    double base_e = golden_run(env, fx, NULL, &tok_ok, why, sizeof why);
    if (base_e < MIN_ADAPTER_EFFECT) fail_msg("%s: the base model alone matches the golden: the test cannot fail", path);
    printf("  %-60s worst rel err %.2e; base %.2e\n", path, e, base_e);
    hive_expert_free(x);
}

static void test_llama_dirs_and_packages(void **s) {
    (void)s;
    char dir[512], path[1024], out[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/llama", HIVE_SOURCE_DIR);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 256, -1, 1), 0);
    static const char *const k_adapters[] = {"lora", "lora_rs", "dora", "ia3", "prompt"};
    for (size_t i = 0; i < sizeof k_adapters / sizeof k_adapters[0]; i++) {
        snprintf(path, sizeof path, "%s/adapters/%s/golden.json", dir, k_adapters[i]);
        cJSON *fx = golden_load_json(path);
        assert_non_null(fx);
        snprintf(path, sizeof path, "%s/adapters/%s", dir, k_adapters[i]);
        check_expert(&env, path, k_adapters[i], fx);
        snprintf(out, sizeof out, "%s/%s.expert", g_tmp, k_adapters[i]);
        hive_expert_pack_opts o = {path, out, NULL, NULL, NULL, 0, NULL};
        hive_problems probs = {0};
        hive_error *err = NULL;
        if (hive_expert_pack(&o, &probs, &err) != HIVE_OK) fail_msg("pack %s: %s", path, hive_error_message(err));
        hive_problems_free(&probs);
        check_expert(&env, out, k_adapters[i], fx);
        cJSON_Delete(fx);
    }
    golden_env_close(&env);
}

/* serve --expert-dir: PEFT subdirectories count, by their directory names. */
static void test_catalog_scans_peft_dirs(void **s) {
    (void)s;
    char cmd[2048], d[200];
    snprintf(d, sizeof d, "%s/catalog", g_tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/empty && cp -r %s/tests/golden/data/llama/adapters/dora %s/my-dora", d,
             HIVE_SOURCE_DIR, d);
    assert_int_equal(system(cmd), 0);
    hive_catalog c = {0};
    hive_error *err = NULL;
    assert_int_equal(hive_catalog_scan_dir(&c, d, &err), HIVE_OK);
    assert_int_equal(c.n, 1);
    assert_non_null(hive_catalog_find(&c, "my-dora"));
    assert_int_equal(c.v[0].n_decoding, 0);
    hive_catalog_free(&c);
}

static int setup(void **s) {
    (void)s;
    if (!mkdtemp(g_tmp)) return -1;
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache", g_tmp);
    return setenv("HIVE_CACHE", cache, 1); /* archives unpack here, not into ~/.cache */
}

static int teardown(void **s) {
    (void)s;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    return system(cmd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_dirs_and_packages),
        cmocka_unit_test(test_catalog_scans_peft_dirs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
