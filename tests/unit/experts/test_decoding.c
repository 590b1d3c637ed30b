/* Manifest decoding defaults: CLI > first manifest > later manifests > file > default. */
#include <stdio.h>
#include <string.h>

#include "experts/decoding.h"
#include "tests.h"
#include "util/error.h"
#include "util.h"

static void load(const char *pkg, hive_manifest *m) {
    hive_problems p = {0};
    hive_error *err = NULL;
    char file[1024];
    snprintf(file, sizeof file, "%s/manifest.json", tu_path(pkg));
    assert_int_equal(hive_manifest_load(tu_path(pkg), file, m, &p, &err), HIVE_OK);
    assert_int_equal(p.n, 0);
    hive_problems_free(&p);
}

static void test_priority(void **state) {
    (void)state;
    tu_simple_expert("decA", 10, "\"training\": {\"decoding\": {\"temperature\": 0.1, \"top_p\": 0.9, \"top_k\": 50,"
                                 " \"stop_sequences\": [\";\", \"\\n\\n\", \"a,b\"], \"max_tokens\": 64}}");
    tu_simple_expert("decB", 10, "\"training\": {\"decoding\": {\"top_k\": 10, \"min_p\": 0.2, \"repetition_penalty\": 1.1}}");
    hive_manifest a, b;
    load("decA", &a);
    load("decB", &b);
    hive_config *c = hive_config_new();
    hive_error *err = NULL;
    assert_int_equal(hive_config_set(c, "sampling.temperature", "0.3", HIVE_SRC_CLI, "--temperature", &err), HIVE_OK);
    assert_int_equal(hive_config_set(c, "sampling.top_p", "0.5", HIVE_SRC_FILE, "hive.cfg:3", &err), HIVE_OK);
    assert_int_equal(hive_manifest_apply_decoding(&a, c, &err), HIVE_OK);
    assert_int_equal(hive_manifest_apply_decoding(&b, c, &err), HIVE_OK);
    assert_float_equal(hive_config_float(c, "sampling.temperature"), 0.3, 1e-9); /* CLI kept */
    assert_int_equal(hive_config_source(c, "sampling.temperature"), HIVE_SRC_CLI);
    assert_float_equal(hive_config_float(c, "sampling.top_p"), 0.9, 1e-9); /* manifest beats file */
    assert_int_equal(hive_config_source(c, "sampling.top_p"), HIVE_SRC_MANIFEST);
    assert_string_equal(hive_config_origin(c, "sampling.top_p"), a.file);
    assert_int_equal(hive_config_int(c, "sampling.top_k"), 50); /* first expert wins */
    assert_float_equal(hive_config_float(c, "sampling.min_p"), 0.2, 1e-9); /* beats default */
    assert_string_equal(hive_config_origin(c, "sampling.min_p"), b.file);
    assert_float_equal(hive_config_float(c, "sampling.repetition_penalty"), 1.1, 1e-6);
    assert_int_equal(hive_config_int(c, "sampling.max_tokens"), 64);
    assert_int_equal(hive_config_list_len(c, "sampling.stop"), 2);
    assert_string_equal(hive_config_list_item(c, "sampling.stop", 0), ";");
    assert_string_equal(hive_config_list_item(c, "sampling.stop", 1), "\n\n");
    int dropped = 0;
    for (size_t i = 0; i < a.ignored.n; i++) dropped |= strstr(a.ignored.v[i], "stop_sequences[2]") != NULL;
    assert_true(dropped);
    hive_config_free(c);
    hive_manifest_free(&a);
    hive_manifest_free(&b);
}

int run_decoding_tests(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_priority)};
    return cmocka_run_group_tests_name("decoding", tests, NULL, NULL);
}
