/* Expert weights (host/experts/weight.h): two LoRA experts of the tiny llama
 * at weights other than 1, loaded through the expert cache as `--expert
 * PATH:W` loads them, match PEFT's add_weighted_adapter(..., "cat")
 * (scripts/make-weighted-lora-golden.py) to the adapter goldens' 1e-4
 * relative, with LoRA as per-segment hooks and as segmented calls. The same
 * experts at weight 1 must miss the golden (an ignored weight fails), and
 * DoRA, IA3 and soft-prompt experts refuse a weight other than 1, naming the
 * expert and its type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experts/cache.h"
#include "experts/compose.h"
#include "golden_util.h"
#include "util/error.h"

#define TOL 1e-4               /* as test_golden_adapters */
#define MIN_WEIGHT_EFFECT 1e-2 /* weights 1 vs the golden's must differ by at least this */

static char g_dir[512];

/* Prompt (rows at the fixture's positions) + greedy decode with `set`; the
 * worst relative error against the weighted fixture; *tokens_ok as golden_run. */
static double run_weighted(golden_env *env, const cJSON *fx, const hive_adapter_set *set, int *tokens_ok) {
    uint32_t V = (uint32_t)cJSON_GetObjectItem(fx, "n_vocab")->valueint;
    int32_t prompt[64], decode[64], seqs[64], pos[16], seq;
    uint8_t want[64];
    int np = golden_json_ints(cJSON_GetObjectItem(fx, "prompt_ids"), prompt, 64);
    int nd = golden_json_ints(cJSON_GetObjectItem(fx, "decode_tokens"), decode, 64);
    int npos = golden_json_ints(cJSON_GetObjectItem(fx, "prefill_positions"), pos, 16);
    assert_true(np > 0 && nd > 0 && npos > 0);
    assert_int_equal(hive_engine_seq_new(env->eng, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_set_adapters(env->eng, seq, set, NULL), HIVE_OK);
    for (int i = 0; i < np; i++) seqs[i] = seq, want[i] = 1;
    float *lg = malloc((size_t)np * V * sizeof *lg);
    assert_non_null(lg);
    hive_fwd_batch b = {(uint32_t)np, prompt, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(env->eng, &b, lg, NULL), HIVE_OK);
    double worst = 0;
    const cJSON *rows = cJSON_GetObjectItem(fx, "prefill_logits");
    for (int j = 0; j < npos; j++) {
        double e = golden_row_rel_err(lg + (size_t)pos[j] * V, cJSON_GetArrayItem(rows, j), V);
        if (e > worst) worst = e;
    }
    int ok = golden_argmax(lg + (size_t)(np - 1) * V, V) == decode[0];
    for (int k = 0; k < nd; k++) {
        hive_fwd_batch one = {1, &decode[k], &seq, NULL, NULL};
        assert_int_equal(hive_engine_forward(env->eng, &one, lg, NULL), HIVE_OK);
        int32_t next = k + 1 < nd ? decode[k + 1] : cJSON_GetObjectItem(fx, "next_token")->valueint;
        ok &= golden_argmax(lg, V) == next;
    }
    double e = golden_row_rel_err(lg, cJSON_GetArrayItem(cJSON_GetObjectItem(fx, "last_decode_logits"), 0), V);
    if (e > worst) worst = e;
    *tokens_ok = ok;
    free(lg);
    hive_engine_seq_free(env->eng, seq);
    return worst;
}

static void weighted(int batched) {
    char path[1024];
    snprintf(path, sizeof path, "%s/weighted/lora+lora_rs.json", g_dir);
    cJSON *fx = golden_load_json(path);
    assert_non_null(fx);
    double w[2];
    const cJSON *wj = cJSON_GetObjectItem(fx, "weights");
    assert_int_equal(cJSON_GetArraySize(wj), 2);
    for (int i = 0; i < 2; i++) w[i] = cJSON_GetArrayItem(wj, i)->valuedouble;
    assert_true(w[0] != 1.0 && w[1] != 1.0);

    golden_env env;
    golden_next.batched_lora = batched;
    int opened = golden_env_open(&env, g_dir, 256, -1, 1);
    golden_next.batched_lora = 1;
    assert_int_equal(opened, 0);
    hive_expert_target t;
    hive_expert_target_init(&t, &env.reg, env.eng, env.model);
    hive_expert_cache *cache = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(1ull << 30, &t, &cache, &err), HIVE_OK);
    char p0[700], p1[700];
    snprintf(p0, sizeof p0, "%s/adapters/lora", g_dir);
    snprintf(p1, sizeof p1, "%s/adapters/lora_rs", g_dir);
    const char *paths[2] = {p0, p1};
    hive_expert_set ws, ones;
    if (hive_expert_set_acquire_weighted(cache, paths, w, 2, &ws, &err) != HIVE_OK)
        fail_msg("weighted set: %s", hive_error_message(err));
    assert_int_equal(hive_expert_set_acquire(cache, paths, 2, &ones, &err), HIVE_OK);
    /* a weighted expert is its own load, with its own identity (KV and prefix caches key on it) */
    assert_ptr_not_equal(ws.members[0], ones.members[0]);
    assert_true(ws.set.id != ones.set.id);

    int tok_ok = 0;
    double e = run_weighted(&env, fx, &ws.set, &tok_ok);
    if (e > TOL || !tok_ok)
        fail_msg("weights %g, %g: relative error %.3g, greedy tokens %s", w[0], w[1], e, tok_ok ? "equal" : "DIFFER");
    uint64_t calls = hive_engine_lora_batched_calls(env.eng);
    if (batched) assert_true(calls > 0);
    else assert_int_equal(calls, 0);
    double e1 = run_weighted(&env, fx, &ones.set, &tok_ok);
    if (e1 < MIN_WEIGHT_EFFECT) fail_msg("the experts at weight 1 match the weighted golden (%.3g): the test cannot fail", e1);

    /* weight 1 still matches PEFT's unweighted two-adapter composition */
    snprintf(path, sizeof path, "%s/compositions/lora+lora_rs.json", g_dir);
    cJSON *comp = golden_load_json(path);
    assert_non_null(comp);
    char why[128];
    double e_comp = golden_run(&env, comp, &ones.set, &tok_ok, why, sizeof why);
    if (e_comp > TOL || !tok_ok) fail_msg("weights 1: relative error %.3g (%s) against the composition", e_comp, why);
    printf("  lora:%g + lora_rs:%g (%s): worst rel err %.2e vs PEFT add_weighted_adapter; at weights 1: %.2e vs "
           "PEFT's composition, %.2e vs the weighted golden\n",
           w[0], w[1], batched ? "segmented LoRA" : "LoRA hooks", e, e_comp, e1);
    cJSON_Delete(comp);
    hive_expert_set_release(&ones);
    hive_expert_set_release(&ws);
    hive_expert_cache_free(cache);
    cJSON_Delete(fx);
    golden_env_close(&env);
}

static void test_weighted_lora_hooks(void **s) {
    (void)s;
    weighted(0);
}

static void test_weighted_lora_segmented(void **s) {
    (void)s;
    weighted(1);
}

/* A weight other than 1 means nothing PEFT defines for DoRA, IA3 or a soft
 * prompt: refused at load, naming the expert and its type; weight 1 loads. */
static void test_other_types_refuse_weights(void **s) {
    (void)s;
    golden_env env;
    assert_int_equal(golden_env_open(&env, g_dir, 256, -1, 1), 0);
    hive_expert_target t;
    hive_expert_target_init(&t, &env.reg, env.eng, env.model);
    static const char *const names[] = {"dora", "ia3", "prompt"}, *const types[] = {"dora", "ia3", "soft-prompt"};
    for (int i = 0; i < 3; i++) {
        char path[700], want_name[64], want_type[64];
        snprintf(path, sizeof path, "%s/adapters/%s", g_dir, names[i]);
        hive_expert *x = NULL;
        hive_error *err = NULL;
        assert_int_equal(hive_expert_load_weighted(path, 0.5, &t, &x, &err), HIVE_E_UNSUPPORTED);
        assert_null(x);
        snprintf(want_name, sizeof want_name, "expert '%s'", names[i]);
        snprintf(want_type, sizeof want_type, "its type is %s", types[i]);
        const char *m = hive_error_message(err);
        if (!strstr(m, want_name) || !strstr(m, want_type) || !strstr(m, "weight 0.5"))
            fail_msg("%s: unclear refusal: %s", names[i], m);
        printf("  %s\n", m);
        hive_error_free(err);
        assert_int_equal(hive_expert_load_weighted(path, 1.0, &t, &x, NULL), HIVE_OK);
        hive_expert_free(x);
    }
    golden_env_close(&env);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s/tests/golden/data/llama", HIVE_SOURCE_DIR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weighted_lora_hooks),
        cmocka_unit_test(test_weighted_lora_segmented),
        cmocka_unit_test(test_other_types_refuse_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
