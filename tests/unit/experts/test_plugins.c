/* With the real adapter plugins built (adapters/lora, adapters/dora): they
 * claim what the manifest check accepts. Skipped when lora.so is absent. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "experts/manifest.h"
#include "plugin/registry.h"
#include "tests.h"
#include "util/error.h"
#include "util.h"

static void test_real_claims(void **state) {
    (void)state;
    char so[1024];
    snprintf(so, sizeof so, "%s/lora.so", HIVE_PLUGIN_BUILD_DIR);
    if (access(so, R_OK) != 0) skip();
    hive_config *cfg = hive_config_new();
    hive_error *err = NULL;
    assert_int_equal(hive_config_set(cfg, "plugin_dirs", HIVE_PLUGIN_BUILD_DIR, HIVE_SRC_CLI, "test", &err), HIVE_OK);
    assert_int_equal(hive_config_set(cfg, "default_plugins", "false", HIVE_SRC_CLI, "test", &err), HIVE_OK);
    hive_registry reg;
    assert_int_equal(hive_registry_scan(&reg, cfg, &err), HIVE_OK);
    tu_adapter("real", "w", "LORA", 0, 4, 8, NULL);
    tu_package("real", "real", "SmolLM2-135M", "[{\"type\": \"lora\", \"path\": \"w\"}]", NULL);
    hive_manifest m;
    hive_problems p = {0};
    char file[1024];
    snprintf(file, sizeof file, "%s/manifest.json", tu_path("real"));
    assert_int_equal(hive_manifest_load(tu_path("real"), file, &m, &p, &err), HIVE_OK);
    assert_int_equal(p.n, 0);
    hive_plugin *pl = hive_registry_claim_adapter(&reg, m.bases[0].adapters[0].config_json, NULL);
    assert_non_null(pl);
    assert_string_equal(pl->name, "lora");
    hive_manifest_free(&m);
    hive_registry_free(&reg);
    hive_config_free(cfg);
}

int run_plugin_tests(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_real_claims)};
    return cmocka_run_group_tests_name("plugins", tests, NULL, NULL);
}
