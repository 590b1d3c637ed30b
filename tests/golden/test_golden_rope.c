/* RoPE scaling against transformers (scripts/make-rope-fixtures.py): tiny
 * models whose original context is 64 tokens, prompted with 200 tokens (one
 * forward pass, as transformers ran it) and 8 greedy decode steps, for every
 * scaling type. f32 weights and KV: 1e-4 relative, greedy tokens identical.
 * Each case must also miss its golden when the scaling is switched off, the
 * command line's settings must win over the model's, and llama.cpp's GGUF
 * form of llama3 (default RoPE + a rope_freqs tensor) must match llama3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden_util.h"
#include "util/error.h"

#define TOL 1e-4
#define MISS 1e-2 /* an ignored scaling misses by far more (logits differ by ~20) */

static const struct {
    const char *arch, *name;
} k_cases[] = {
    {"llama", "default"}, {"llama", "linear"}, {"llama", "dynamic"}, {"llama", "yarn"},
    {"llama", "yarn-mscale"}, {"llama", "yarn-attention-factor"}, {"llama", "longrope"}, {"llama", "llama3"},
    {"qwen2", "yarn-legacy"}, {"qwen2", "dynamic-legacy"},
};

/* A model directory for one case: its config.json beside the arch's weights. */
static void case_dir(const char *arch, const char *name, char *dir, size_t cap) {
    char src[1024], dst[1200];
    snprintf(dir, cap, "/tmp/hive-rope-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/tests/golden/data/rope/%s/%s.config.json", HIVE_SOURCE_DIR, arch, name);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    assert_int_equal(symlink(src, dst), 0);
    snprintf(src, sizeof src, "%s/tests/golden/data/rope/%s/model.safetensors", HIVE_SOURCE_DIR, arch);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    assert_int_equal(symlink(src, dst), 0);
}

static void case_dir_free(const char *dir) {
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
}

static cJSON *golden_of(const char *arch, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/data/rope/%s/%s.golden.json", HIVE_SOURCE_DIR, arch, name);
    cJSON *g = golden_load_json(path);
    assert_non_null(g);
    return g;
}

/* Worst relative error of model_path (with golden_next's knobs) against the golden. */
static double run_case(const char *model_path, const cJSON *g, int qk_hf_order, int *tokens_ok, char *why,
                       size_t cap) {
    golden_next.max_rows = 256; /* the prompt in one pass, as transformers ran it */
    golden_env env;
    assert_int_equal(golden_env_open(&env, model_path, 256, -1, qk_hf_order), 0);
    double e = golden_run(&env, g, NULL, tokens_ok, why, cap);
    golden_env_close(&env);
    memset(&golden_next.rope, 0, sizeof golden_next.rope);
    golden_next.max_rows = 0;
    return e;
}

static void test_every_type(void **s) {
    (void)s;
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        char dir[64], why[128];
        case_dir(k_cases[i].arch, k_cases[i].name, dir, sizeof dir);
        cJSON *g = golden_of(k_cases[i].arch, k_cases[i].name);
        int ok = 0;
        double e = run_case(dir, g, 1, &ok, why, sizeof why);
        printf("  %s/%s: worst relative error %.2e (%s), greedy tokens %s\n", k_cases[i].arch, k_cases[i].name, e,
               why, ok ? "identical" : "DIFFER");
        if (!(e <= TOL)) fail_msg("%s/%s: relative error %.3g > %.0e at %s", k_cases[i].arch, k_cases[i].name, e, TOL, why);
        if (!ok) fail_msg("%s/%s: greedy tokens differ from transformers'", k_cases[i].arch, k_cases[i].name);
        if (strcmp(k_cases[i].name, "default") != 0) { /* the same model with its scaling switched off */
            snprintf(golden_next.rope.scaling, sizeof golden_next.rope.scaling, "none");
            double off = run_case(dir, g, 1, &ok, why, sizeof why);
            printf("  %s/%s with --rope-scaling none: relative error %.2e\n", k_cases[i].arch, k_cases[i].name, off);
            if (!(off > MISS)) fail_msg("%s/%s: matches its golden without its scaling", k_cases[i].arch, k_cases[i].name);
        }
        cJSON_Delete(g);
        case_dir_free(dir);
    }
}

/* --rope-scaling linear --rope-scale 4 on an unscaled model gives the linear golden. */
static void test_cli_over_model(void **s) {
    (void)s;
    char dir[64], why[128];
    case_dir("llama", "default", dir, sizeof dir);
    cJSON *g = golden_of("llama", "linear");
    snprintf(golden_next.rope.scaling, sizeof golden_next.rope.scaling, "linear");
    golden_next.rope.factor = 4;
    int ok = 0;
    double e = run_case(dir, g, 1, &ok, why, sizeof why);
    printf("  default model + --rope-scaling linear --rope-scale 4 vs linear golden: %.2e (%s)\n", e, why);
    assert_true(e <= TOL && ok);
    cJSON_Delete(g);
    case_dir_free(dir);
}

/* llama.cpp writes llama3 scaling as a rope_freqs tensor of divisors. */
static void test_gguf_rope_freqs(void **s) {
    (void)s;
    char path[1024], why[128];
    snprintf(path, sizeof path, "%s/tests/golden/data/rope/llama/llama3-rope-freqs.gguf", HIVE_SOURCE_DIR);
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_model_open(path, &m, &err), HIVE_OK);
    assert_int_equal(m->hp.rope_n_freq_factors, m->hp.rope_dims / 2);
    assert_string_equal(m->hp.rope_scaling, "none");
    hive_model_close(m);
    cJSON *g = golden_of("llama", "llama3");
    for (int hf_order = 0; hf_order <= 1; hf_order++) { /* llama.cpp's interleaved layout, then HF order */
        int ok = 0;
        double e = run_case(path, g, hf_order, &ok, why, sizeof why);
        printf("  GGUF + rope_freqs (qk_hf_order %d) vs llama3 golden: %.2e (%s)\n", hf_order, e, why);
        if (!(e <= TOL) || !ok) fail_msg("GGUF rope_freqs, qk_hf_order %d: error %.3g at %s", hf_order, e, why);
    }
    cJSON_Delete(g);
}

/* An unknown type is an error naming it, from config.json and from the CLI. */
static void test_unknown_type(void **s) {
    (void)s;
    char dir[] = "/tmp/hive-rope-bad-XXXXXX", p[128];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("{\"model_type\": \"llama\", \"num_hidden_layers\": 1, \"hidden_size\": 32, \"intermediate_size\": 64,"
          " \"num_attention_heads\": 2, \"rope_scaling\": {\"rope_type\": \"su-turbo\", \"factor\": 2}}\n", f);
    fclose(f);
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    assert_int_not_equal(hive_model_open(dir, &m, &err), HIVE_OK);
    printf("  %s\n", hive_error_message(err));
    assert_non_null(strstr(hive_error_message(err), "'su-turbo'"));
    hive_error_free(err);
    unlink(p);
    rmdir(dir);

    hive_hparams hp;
    memset(&hp, 0, sizeof hp);
    hive_rope_override o;
    memset(&o, 0, sizeof o);
    snprintf(o.scaling, sizeof o.scaling, "ntk-turbo");
    err = NULL;
    assert_int_not_equal(hive_hparams_rope_override(&hp, &o, &err), HIVE_OK);
    assert_non_null(strstr(hive_error_message(err), "ntk-turbo"));
    hive_error_free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_cli_over_model),
        cmocka_unit_test(test_gguf_rope_freqs),
        cmocka_unit_test(test_unknown_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
