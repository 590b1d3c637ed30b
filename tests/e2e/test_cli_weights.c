/* Expert weights from the command line (docs/EXPERTS.md, "Weights"):
 * `--expert PATH:W` changes a LoRA's output and `:1` does not; the config
 * file's experts.paths takes the same syntax; --merge folds the weighted
 * delta; a path containing ':' still works; every bad weight, a weighted
 * DoRA expert, `serve --expert PATH:W` and a weighted `--expert auto`
 * candidate exit with a clear error. Numerics against PEFT:
 * tests/golden/test_golden_weights.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL HIVE_SOURCE_DIR "/tests/golden/data/llama"
#define ADAPTERS MODEL "/adapters"
#define GEN "--cpu generate --model " MODEL " --ctx 256 --greedy --max-tokens 12 --prompt 'Hello, Hive!'"

static char g_tmp[] = "/tmp/hive-e2e-weights-XXXXXX";

#include "cli_run.h"

static char g_plain[sizeof g_out], g_weighted[sizeof g_out];

static void gen(const char *expert, char *out) {
    if (runf(GEN " --expert %s", expert) != 0) fail_msg("--expert %s:\n%s", expert, g_out);
    if (out) snprintf(out, sizeof g_out, "%s", g_out);
}

static void test_weight_changes_lora(void **s) {
    (void)s;
    gen(ADAPTERS "/lora", g_plain);
    gen(ADAPTERS "/lora:1.5", g_weighted);
    if (!strcmp(g_plain, g_weighted)) fail_msg("weight 1.5 did not change the output:\n%s", g_plain);
    gen(ADAPTERS "/lora:1", NULL);
    assert_string_equal(g_out, g_plain);
    /* the config file's experts.paths: the same syntax */
    char cfg[256];
    snprintf(cfg, sizeof cfg, "%s/w.cfg", g_tmp);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "experts = { paths = [\"%s/lora:1.5\"]; };\n", ADAPTERS);
    fclose(f);
    if (runf("--config %s " GEN, cfg) != 0) fail_msg("config:\n%s", g_out);
    assert_string_equal(g_out, g_weighted);
    /* --merge folds w * s * B A into the base weights: the same greedy text */
    if (runf(GEN " --expert " ADAPTERS "/lora:1.5 --merge") != 0) fail_msg("--merge:\n%s", g_out);
    assert_string_equal(g_out, g_weighted);
    /* two weighted experts, and bench */
    gen(ADAPTERS "/lora:0.5 --expert " ADAPTERS "/lora_rs:2", NULL);
    EXPECT(0, "--cpu bench --model " MODEL " -p 8 -n 4 --expert " ADAPTERS "/lora:1.5", "tok/s");
}

static void test_paths_with_colons(void **s) {
    (void)s;
    char cmd[1024], spec[300];
    snprintf(cmd, sizeof cmd, "cp -r %s/lora '%s/my:lora'", ADAPTERS, g_tmp);
    assert_int_equal(system(cmd), 0);
    snprintf(spec, sizeof spec, "'%s/my:lora'", g_tmp); /* exists as written: a path, weight 1 */
    gen(spec, NULL);
    assert_string_equal(g_out, g_plain);
    snprintf(spec, sizeof spec, "'%s/my:lora:1.5'", g_tmp); /* the last ':' starts the weight */
    gen(spec, NULL);
    assert_string_equal(g_out, g_weighted);
}

static void test_bad_weights(void **s) {
    (void)s;
    static const struct { const char *w, *needle; } bad[] = {
        {"abc", "'abc' is not a weight"}, {"-1", "negative"}, {"", "nothing after ':'"}, {"nan", "'nan' is not a weight"},
        {"inf", "'inf' is not a weight"}, {"0", "weight 0"},  {"1000", "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECTF(2, bad[i].needle, GEN " --expert " ADAPTERS "/lora:%s", bad[i].w);
        assert_non_null(strstr(g_out, "(0, 100]"));
    }
    EXPECT(1, GEN " --expert " ADAPTERS "/dora:0.5", "expert 'dora': weight 0.5 given, but its type is dora");
    EXPECT(1, GEN " --expert " ADAPTERS "/ia3:2", "its type is ia3");
    EXPECT(1, GEN " --expert " ADAPTERS "/prompt:0.5", "its type is soft-prompt");
    EXPECT(0, GEN " --expert " ADAPTERS "/dora:1", ""); /* weight 1 is every type's own */
    EXPECT(2, "--cpu serve --model " MODEL " --expert " ADAPTERS "/lora:0.5", "serve takes weights per request");
    EXPECT(2, GEN " --expert auto --expert " ADAPTERS "/lora:0.5", "routed experts run at weight 1");
}

static int setup(void **s) {
    (void)s;
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown(void **s) {
    (void)s;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    return system(cmd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weight_changes_lora),
        cmocka_unit_test(test_paths_with_colons),
        cmocka_unit_test(test_bad_weights),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
