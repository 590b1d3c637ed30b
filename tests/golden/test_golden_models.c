/* Tiny random llama / qwen2 / qwen3 models against Hugging Face transformers
 * (scripts/make-fixtures.py): prefill logits at every prompt position and 20
 * greedy decode steps with the KV cache match to 1e-4 relative in f32, and
 * the greedy tokens are identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "golden_util.h"
#include "util/dtype.h"

#define TOL 1e-4

static void run_arch(const char *arch) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, arch);
    snprintf(path, sizeof path, "%s/golden.json", dir);
    cJSON *g = golden_load_json(path);
    assert_non_null(g);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 256, -1, 1), 0);
    uint32_t V = (uint32_t)cJSON_GetObjectItem(g, "n_vocab")->valueint;
    assert_int_equal(hive_engine_hparams(env.eng)->vocab, V);

    int32_t prompt[256], decode[256];
    int np = golden_json_ints(cJSON_GetObjectItem(g, "prompt_ids"), prompt, 256);
    int nd = golden_json_ints(cJSON_GetObjectItem(g, "decode_tokens"), decode, 256);
    assert_true(np > 0 && nd > 0);

    int32_t seq, seqs[256];
    assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
    uint8_t want[256];
    for (int i = 0; i < np; i++) seqs[i] = seq, want[i] = 1;
    float *logits = malloc((size_t)np * V * sizeof *logits);
    hive_fwd_batch b = {(uint32_t)np, prompt, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(env.eng, &b, logits, NULL), HIVE_OK);
    const cJSON *pre = cJSON_GetObjectItem(g, "prefill_logits");
    double worst = 0;
    for (int i = 0; i < np; i++) {
        double e = golden_row_rel_err(logits + (size_t)i * V, cJSON_GetArrayItem(pre, i), V);
        if (e > worst) worst = e;
        if (e > TOL) fail_msg("%s: prefill position %d: relative error %.3g > %.0e", arch, i, e, TOL);
    }
    int32_t next = golden_argmax(logits + (size_t)(np - 1) * V, V);
    assert_int_equal(next, decode[0]);

    const cJSON *dec = cJSON_GetObjectItem(g, "decode_logits");
    for (int k = 0; k < nd; k++) {
        hive_fwd_batch one = {1, &decode[k], &seq, NULL, NULL};
        assert_int_equal(hive_engine_forward(env.eng, &one, logits, NULL), HIVE_OK);
        double e = golden_row_rel_err(logits, cJSON_GetArrayItem(dec, k), V);
        if (e > worst) worst = e;
        if (e > TOL) fail_msg("%s: decode step %d: relative error %.3g > %.0e", arch, k, e, TOL);
        int32_t want_next = k + 1 < nd ? decode[k + 1] : cJSON_GetObjectItem(g, "next_token")->valueint;
        if (golden_argmax(logits, V) != want_next)
            fail_msg("%s: decode step %d: greedy token %d, transformers %d", arch, k, golden_argmax(logits, V), want_next);
    }
    printf("%s: %d prefill rows + %d decode steps, worst relative error %.2e\n", arch, np, nd, worst);
    free(logits);
    golden_env_close(&env);
    cJSON_Delete(g);
}

/* --weights: f32 safetensors requantized at load run natively in the
 * requested format; logits stay close to transformers' and memory shrinks.
 * Bounds are loose for 4-bit: this model's rows are 64 wide (two blocks), so
 * 4-bit rounding noise is large; the kernels themselves are checked exactly
 * against scalar references in tests/unit/cpu-backend. A broken conversion
 * (wrong layout, wrong scale) gives errors near or above 1. */
static void test_requantized_weights(void **s) {
    (void)s;
    static const struct {
        int32_t dtype;
        double tol;
    } k[] = {{HIVE_DTYPE_BF16, 3e-2}, {HIVE_DTYPE_Q8_0, 1e-1}, {HIVE_DTYPE_Q4_0, 6e-1}, {HIVE_DTYPE_Q4_1, 6e-1}};
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/qwen3", HIVE_SOURCE_DIR);
    snprintf(path, sizeof path, "%s/golden.json", dir);
    cJSON *g = golden_load_json(path);
    assert_non_null(g);
    golden_env f32;
    assert_int_equal(golden_env_open(&f32, dir, 256, -1, 1), 0);
    uint64_t f32_bytes = hive_engine_weight_bytes(f32.eng);
    golden_env_close(&f32);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        golden_env env;
        assert_int_equal(golden_env_open(&env, dir, 256, k[i].dtype, 1), 0);
        int ok;
        char why[128];
        double e = golden_run(&env, g, NULL, &ok, why, sizeof why);
        uint64_t bytes = hive_engine_weight_bytes(env.eng);
        printf("  --weights %s: worst relative error %.6g (%s), weights %llu bytes (f32: %llu)\n",
               hive_dtype_name((uint32_t)k[i].dtype), e, why, (unsigned long long)bytes, (unsigned long long)f32_bytes);
        if (e > k[i].tol) fail_msg("--weights %s: relative error %.3g > %.3g (%s)", hive_dtype_name((uint32_t)k[i].dtype), e, k[i].tol, why);
        if (e < 1e-7) fail_msg("--weights %s: bit-exact with f32: the weights were not converted", hive_dtype_name((uint32_t)k[i].dtype));
        if (bytes >= f32_bytes) fail_msg("--weights %s did not shrink the weights", hive_dtype_name((uint32_t)k[i].dtype));
        golden_env_close(&env);
    }
    cJSON_Delete(g);
}

static void test_llama(void **s) { (void)s; run_arch("llama"); }
static void test_qwen2(void **s) { (void)s; run_arch("qwen2"); }
static void test_qwen3(void **s) { (void)s; run_arch("qwen3"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_requantized_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
