/* The example experts (examples/experts/NAME.expert, trained by
 * scripts/train-example-experts.py) on the real SmolLM2 model, loaded the way
 * hive-host loads them (package -> manifest -> base check -> adapter plugins
 * -> LRU cache -> set): with the weights dequantized to f32, as PEFT ran
 * them, the greedy continuation of each eval prompt equals PEFT's token for
 * token up to and including its end of turn (<|im_end|>: what generation
 * outputs), the base model's likewise without the expert, and the two differ.
 * (The goldens run 48 tokens past end of turn; beyond it the model
 * free-runs into near-ties, so those tokens are not compared.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experts/cache.h"
#include "experts/compose.h"
#include "experts/expert.h"
#include "golden_util.h"
#include "util/dtype.h"
#include "util/error.h"

/* Greedy continuation of n tokens (EOS not special, as the golden ran). */
static void greedy(golden_env *g, const hive_adapter_set *set, const int32_t *prompt, int np, int32_t *out, int n) {
    uint32_t V = hive_engine_hparams(g->eng)->vocab;
    int32_t seq, seqs[512];
    hive_error *err = NULL;
    assert_int_equal(hive_engine_seq_new(g->eng, &seq, NULL), HIVE_OK);
    if (hive_engine_seq_set_adapters(g->eng, seq, set, &err) != HIVE_OK) fail_msg("%s", hive_error_message(err));
    for (int i = 0; i < np; i++) seqs[i] = seq;
    float *lg = malloc((size_t)V * sizeof *lg);
    hive_fwd_batch b = {(uint32_t)np, prompt, seqs, NULL, NULL};
    assert_int_equal(hive_engine_forward(g->eng, &b, lg, NULL), HIVE_OK);
    for (int k = 0; k < n; k++) {
        out[k] = golden_argmax(lg, V);
        if (k + 1 == n) break;
        hive_fwd_batch one = {1, &out[k], &seq, NULL, NULL};
        assert_int_equal(hive_engine_forward(g->eng, &one, lg, NULL), HIVE_OK);
    }
    free(lg);
    hive_engine_seq_free(g->eng, seq);
}

/* First index where a and the golden b differ, up to b's first end of turn. */
static int first_diff(const int32_t *a, const cJSON *b, int n, int32_t eot) {
    for (int i = 0; i < n; i++) {
        int32_t want = cJSON_GetArrayItem(b, i)->valueint;
        if (a[i] != want) return i;
        if (want == eot) break;
    }
    return -1;
}

static void test_example_experts(void **s) {
    (void)s;
    const char *m = golden_model_path();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    cJSON *g = golden_load_json(HIVE_SOURCE_DIR "/examples/experts/golden.json");
    assert_non_null(g);
    golden_env env;
    assert_int_equal(golden_env_open(&env, m, 512, HIVE_DTYPE_F32, 1), 0);
    hive_expert_target target;
    hive_expert_target_init(&target, &env.reg, env.eng, env.model);
    hive_expert_cache *cache = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(256ull << 20, &target, &cache, &err), HIVE_OK);
    int n_new = cJSON_GetObjectItem(g, "n_new_tokens")->valueint, n_checked = 0;
    int32_t eot = env.model->vocab.eot_id >= 0 ? env.model->vocab.eot_id : env.model->vocab.eos_id;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(g, "experts")) {
        char path[1024];
        snprintf(path, sizeof path, "%s/examples/experts/%s.expert", HIVE_SOURCE_DIR, x->string);
        const char *paths[1] = {path};
        hive_expert_set set;
        if (hive_expert_set_acquire(cache, paths, 1, &set, &err) != HIVE_OK) fail_msg("%s: %s", path, hive_error_message(err));
        const cJSON *row;
        int k = 0;
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(x, "eval")) {
            int32_t prompt[512], got[256];
            int np = golden_json_ints(cJSON_GetObjectItem(row, "prompt_ids"), prompt, 512);
            assert_true(np > 0 && n_new <= 256);
            greedy(&env, &set.set, prompt, np, got, n_new);
            int d = first_diff(got, cJSON_GetObjectItem(row, "expert_ids"), n_new, eot);
            if (d >= 0)
                fail_msg("%s prompt %d: token %d is %d, PEFT %d (PEFT answer: %s)", x->string, k, d, got[d],
                         cJSON_GetArrayItem(cJSON_GetObjectItem(row, "expert_ids"), d)->valueint,
                         cJSON_GetObjectItem(row, "expert_answer")->valuestring);
            greedy(&env, NULL, prompt, np, got, n_new);
            d = first_diff(got, cJSON_GetObjectItem(row, "base_ids"), n_new, eot);
            if (d >= 0) fail_msg("%s prompt %d: base model token %d differs from transformers", x->string, k, d);
            if (first_diff(got, cJSON_GetObjectItem(row, "expert_ids"), n_new, eot) < 0)
                fail_msg("%s prompt %d: the expert does not change the output", x->string, k);
            printf("  %-12s prompt %d: equal to PEFT through end of turn: %s\n", x->string,  k,
                   cJSON_GetObjectItem(row, "expert_answer")->valuestring);
            k++;
            n_checked++;
        }
        hive_expert_set_release(&set);
    }
    assert_true(n_checked >= 4 * 3);
    hive_expert_cache_free(cache);
    golden_env_close(&env);
    cJSON_Delete(g);
}

/* An engine that keeps the GGUF's permuted q/k rows (llama.cpp's layout, the
 * default without experts) refuses an adapter that hooks q_proj/k_proj
 * rather than applying it to the wrong rows. */
static void test_qk_adapter_needs_hf_order(void **s) {
    (void)s;
    const char *m = golden_model_path();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    golden_env env;
    assert_int_equal(golden_env_open(&env, m, 256, -1, 0), 0);
    hive_expert_target target;
    hive_expert_target_init(&target, &env.reg, env.eng, env.model);
    hive_expert_cache *cache = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(64ull << 20, &target, &cache, &err), HIVE_OK);
    const char *paths[1] = {HIVE_SOURCE_DIR "/examples/experts/json.expert"}; /* LoRA on q/k/v/o */
    hive_expert_set set;
    assert_int_equal(hive_expert_set_acquire(cache, paths, 1, &set, &err), HIVE_OK);
    int32_t seq;
    assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_set_adapters(env.eng, seq, &set.set, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(hive_error_message(err), "hooks q_proj/k_proj"));
    hive_error_free(err);
    hive_expert_set_release(&set);
    hive_expert_cache_free(cache);
    golden_env_close(&env);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_example_experts),
                                       cmocka_unit_test(test_qk_adapter_needs_hf_order)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
