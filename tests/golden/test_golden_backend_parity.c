/* The backend named by $HIVE_TEST_BACKEND (cuda, hip) against onednn-cpu on
 * the tiny llama / qwen2 / qwen3 models: the same prompt and teacher-forced
 * decode tokens, logits compared row by row, with and without a LoRA+DoRA
 * expert set. Skips (saying why) when the variable is unset or the backend
 * has no usable device, as on CI machines without a GPU.
 *
 * Tolerances, relative to the row's largest |logit| (docs/TESTING.md):
 *   f32   1e-4  both sides compute in f32; only summation order differs
 *   bf16  2e-2  identical bf16 weights, but the GPU rounds activations to
 *               bf16 before each GEMM (8-bit significand: 2^-8 = 3.9e-3 per
 *               element) while the CPU's decode kernels keep them f32; the
 *               differences add over layers and the output head
 *   q8_0  3e-2  the CPU quantizes activations to int8 blocks (as llama.cpp
 *               does, up to 1/254 of a block's max per element), the GPU
 *               keeps them f32 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_util.h"

typedef struct parity_case {
    int32_t weights; /* -1 = as stored (f32) */
    double tol;
    const char *name;
} parity_case;

static const parity_case k_cases[] = {{-1, 1e-4, "f32"}, {HIVE_DTYPE_BF16, 2e-2, "bf16"}, {HIVE_DTYPE_Q8_0, 3e-2, "q8_0"}};

static double row_rel(const float *a, const float *b, uint32_t n) {
    double mx = 0, d = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
    }
    return d / (mx > 1e-6 ? mx : 1e-6);
}

/* prefill + decode of the fixture's tokens; logits of every row into out */
static int run_rows(golden_env *g, const cJSON *fx, const hive_adapter_set *set, float *out) {
    int32_t prompt[256], decode[256], seqs[256], seq;
    uint8_t want[256];
    int np = golden_json_ints(cJSON_GetObjectItem(fx, "prompt_ids"), prompt, 256);
    int nd = golden_json_ints(cJSON_GetObjectItem(fx, "decode_tokens"), decode, 256);
    uint32_t V = hive_engine_hparams(g->eng)->vocab;
    assert_int_equal(hive_engine_seq_new(g->eng, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_set_adapters(g->eng, seq, set, NULL), HIVE_OK);
    for (int i = 0; i < np; i++) seqs[i] = seq, want[i] = 1;
    hive_fwd_batch b = {(uint32_t)np, prompt, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(g->eng, &b, out, NULL), HIVE_OK);
    for (int k = 0; k < nd; k++) {
        hive_fwd_batch one = {1, &decode[k], &seq, NULL, NULL};
        assert_int_equal(hive_engine_forward(g->eng, &one, out + (size_t)(np + k) * V, NULL), HIVE_OK);
    }
    hive_engine_seq_free(g->eng, seq);
    return np + nd;
}

static void parity(const char *arch) {
    if (!golden_backend()) {
        printf("[ SKIPPED ] set HIVE_TEST_BACKEND=cuda (or hip) to compare a GPU backend with onednn-cpu\n");
        skip();
    }
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, arch);
    snprintf(path, sizeof path, "%s/golden.json", dir);
    cJSON *fx = golden_load_json(path);
    assert_non_null(fx);
    for (size_t c = 0; c < sizeof k_cases / sizeof k_cases[0]; c++) {
        golden_env env[2]; /* 0: the GPU, 1: onednn-cpu */
        assert_int_equal(golden_env_open(&env[0], dir, 256, k_cases[c].weights, 1), 0);
        golden_next.cpu = 1;
        int rc = golden_env_open(&env[1], dir, 256, k_cases[c].weights, 1);
        golden_next.cpu = 0;
        assert_int_equal(rc, 0);
        hive_adapter_ref lora[2], dora[2];
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/adapters/lora", dir);
            assert_int_equal(golden_load_adapter(&env[k], path, &lora[k]), 0);
            snprintf(path, sizeof path, "%s/adapters/dora", dir);
            assert_int_equal(golden_load_adapter(&env[k], path, &dora[k]), 0);
        }
        uint32_t V = hive_engine_hparams(env[0].eng)->vocab;
        float *lg[2];
        for (int k = 0; k < 2; k++) lg[k] = malloc((size_t)512 * V * sizeof(float));
        for (int with = 0; with < 2; with++) {
            int rows = 0;
            for (int k = 0; k < 2; k++) {
                hive_adapter_set set = {7, 2, {dora[k], lora[k]}};
                rows = run_rows(&env[k], fx, with ? &set : NULL, lg[k]);
            }
            double worst = 0;
            int agree = 0;
            for (int r = 0; r < rows; r++) {
                double e = row_rel(lg[0] + (size_t)r * V, lg[1] + (size_t)r * V, V);
                if (e > worst) worst = e;
                agree += golden_argmax(lg[0] + (size_t)r * V, V) == golden_argmax(lg[1] + (size_t)r * V, V);
            }
            printf("  %s %-5s %-14s %s vs onednn-cpu: worst rel err %.2e (tol %.0e), top-1 agrees %d/%d\n", arch,
                   k_cases[c].name, with ? "dora+lora" : "base", golden_backend(), worst, k_cases[c].tol, agree, rows);
            if (worst > k_cases[c].tol)
                fail_msg("%s %s %s: relative error %.3g > %.0e", arch, k_cases[c].name, with ? "dora+lora" : "base",
                         worst, k_cases[c].tol);
        }
        for (int k = 0; k < 2; k++) {
            golden_free_adapter(&lora[k]);
            golden_free_adapter(&dora[k]);
            free(lg[k]);
            golden_env_close(&env[k]);
        }
    }
    cJSON_Delete(fx);
}

static void test_llama(void **s) { (void)s; parity("llama"); }
static void test_qwen2(void **s) { (void)s; parity("qwen2"); }
static void test_qwen3(void **s) { (void)s; parity("qwen3"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_qwen3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
