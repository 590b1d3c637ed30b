/* Expert weights (host/experts/weight.c): the `PATH:W` spec parser, including
 * paths that contain ':', every bad weight, and the weight folded into a LoRA
 * adapter_config.json's lora_alpha / alpha_pattern. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experts/weight.h"

static char g_tmp[] = "/tmp/hive-weight-XXXXXX";

static void expect_spec(const char *spec, const char *path, double w) {
    char got[1024];
    double gw = -1;
    hive_error *err = NULL;
    if (hive_expert_spec_parse(spec, got, sizeof got, &gw, &err) != HIVE_OK)
        fail_msg("%s: refused: %s", spec, hive_error_message(err));
    assert_string_equal(got, path);
    if (gw != w) fail_msg("%s: weight %g, expected %g", spec, gw, w);
}

/* Refused, with a message that quotes `needle`. */
static void expect_bad(const char *spec, const char *needle) {
    char got[1024];
    double gw = 1;
    hive_error *err = NULL;
    if (hive_expert_spec_parse(spec, got, sizeof got, &gw, &err) == HIVE_OK) fail_msg("%s: accepted (weight %g)", spec, gw);
    if (!strstr(hive_error_message(err), needle)) fail_msg("%s: message lacks '%s': %s", spec, needle, hive_error_message(err));
    hive_error_free(err);
}

static void test_specs(void **s) {
    (void)s;
    char d[256], spec[700], file[600];
    snprintf(d, sizeof d, "%s/sql", g_tmp);
    assert_int_equal(mkdir(d, 0755), 0);
    expect_spec(d, d, 1.0);
    snprintf(spec, sizeof spec, "%s:0.5", d);
    expect_spec(spec, d, 0.5);
    snprintf(spec, sizeof spec, "%s:1.5", d);
    expect_spec(spec, d, 1.5);
    snprintf(spec, sizeof spec, "%s:2", d);
    expect_spec(spec, d, 2.0);
    snprintf(spec, sizeof spec, "%s:1e-1", d);
    expect_spec(spec, d, 0.1);
    expect_spec("missing/expert", "missing/expert", 1.0); /* not found later, by the loader */
    expect_spec("models:v2/expert", "models:v2/expert", 1.0); /* ':' in a directory: no weight after it */
    expect_spec("auto", "auto", 1.0);
    /* a file whose name ends like a weight: as written it exists, so it is a path */
    snprintf(file, sizeof file, "%s/odd:0.5", g_tmp);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    expect_spec(file, file, 1.0);
    snprintf(spec, sizeof spec, "%s:0.25", file); /* ...and takes a weight after one more ':' */
    expect_spec(spec, file, 0.25);

    static const struct { const char *w, *needle; } bad[] = {
        {"abc", "'abc' is not a weight"}, {"-1", "negative"},     {"", "nothing after ':'"},
        {"nan", "not a weight"},          {"NaN", "not a weight"}, {"inf", "not a weight"},
        {"1e400", "not a finite"},        {"0", "weight 0"},       {"0.0", "weight 0"},
        {"101", "too large"},             {" 0.5", "not a weight"}, {"0x1p-1", "not a weight"},
        {"0.5.1", "not a weight"},        {"1e", "not a weight"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(spec, sizeof spec, "%s:%s", d, bad[i].w);
        expect_bad(spec, bad[i].needle);
        expect_bad(spec, "(0, 100]"); /* every refusal says what a weight is */
    }
    expect_bad(":0.5", "no path before the weight");
}

static double num(const cJSON *o, const char *k) { return cJSON_GetObjectItem(o, k)->valuedouble; }

static void test_config_weighted(void **s) {
    (void)s;
    hive_error *err = NULL;
    char *t = hive_lora_config_weighted(
        "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"alpha_pattern\":{\"v_proj\":16,\"layers.1.mlp.up_proj\":4}}",
        1.5, &err);
    assert_non_null(t);
    cJSON *c = cJSON_Parse(t);
    assert_true(num(c, "lora_alpha") == 12.0 && num(c, "r") == 4.0);
    const cJSON *p = cJSON_GetObjectItem(c, "alpha_pattern");
    assert_true(num(p, "v_proj") == 24.0 && num(p, "layers.1.mlp.up_proj") == 6.0);
    cJSON_Delete(c);
    free(t);
    /* no lora_alpha: PEFT's default 8 */
    assert_non_null(t = hive_lora_config_weighted("{\"peft_type\":\"LORA\",\"r\":4}", 0.5, &err));
    assert_non_null(c = cJSON_Parse(t));
    assert_true(num(c, "lora_alpha") == 4.0);
    cJSON_Delete(c);
    free(t);
    assert_null(hive_lora_config_weighted("{\"lora_alpha\":\"8\"}", 0.5, &err));
    assert_non_null(strstr(hive_error_message(err), "lora_alpha"));
    hive_error_free(err);
    err = NULL;
    assert_null(hive_lora_config_weighted("[1]", 0.5, &err));
    hive_error_free(err);
    /* a product that overflows would print as null, which the adapter reads as
     * "absent" (alpha 8): an error instead (found by tests/fuzz/fuzz_expert_weight) */
    static const char *const k_overflow[] = {"{\"lora_alpha\":1e308}", "{\"lora_alpha\":1e999}",
                                             "{\"alpha_pattern\":{\"q_proj\":1e308}}"};
    for (size_t i = 0; i < sizeof k_overflow / sizeof k_overflow[0]; i++) {
        err = NULL;
        assert_null(hive_lora_config_weighted(k_overflow[i], 2.0, &err));
        assert_non_null(strstr(hive_error_message(err), "is not a finite number"));
        hive_error_free(err);
    }
    assert_true(hive_adapter_type_weightable("lora"));
    assert_false(hive_adapter_type_weightable("dora") || hive_adapter_type_weightable("ia3") ||
                 hive_adapter_type_weightable("soft-prompt"));
}

static int setup(void **s) {
    (void)s;
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown(void **s) {
    (void)s;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    return system(cmd);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_specs), cmocka_unit_test(test_config_weighted)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
