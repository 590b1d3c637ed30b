/* PEFT adapters (scripts/make-peft-fixtures.py) on the tiny llama / qwen2 /
 * qwen3 models: LoRA, rsLoRA with rank/alpha patterns, DoRA, IA3, prompt
 * tuning, and compositions of several adapters on one sequence. Logits match
 * PEFT to 1e-4 relative in f32 and greedy tokens are identical; each golden
 * also FAILS against the base model, so an ignored adapter cannot pass. */
#include <dirent.h>
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
#include "st_writer.h"
#include "util/error.h"

#define TOL 1e-4
#define MIN_ADAPTER_EFFECT 1e-2 /* base vs adapter golden must differ by at least this */

static void check(golden_env *env, const char *what, const cJSON *fx, const hive_adapter_set *set) {
    char why[256];
    int tok_ok;
    double e = golden_run(env, fx, set, &tok_ok, why, sizeof why);
    if (e > TOL || !tok_ok) fail_msg("%s: relative error %.3g (%s), greedy tokens %s", what, e, why, tok_ok ? "equal" : "DIFFER");
    double base_e = golden_run(env, fx, NULL, &tok_ok, why, sizeof why);
    if (base_e < MIN_ADAPTER_EFFECT) fail_msg("%s: the base model alone matches the golden (%.3g): the test cannot fail", what, base_e);
    printf("  %-28s worst rel err %.2e; without the adapter(s): %.2e\n", what, e, base_e);
}

static void run_arch(const char *arch) {
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, arch);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 256, -1, 1), 0);
    static const char *const k_adapters[] = {"lora", "lora_rs", "dora", "ia3", "prompt"};
    enum { N = sizeof k_adapters / sizeof k_adapters[0] };
    hive_adapter_ref refs[N];
    memset(refs, 0, sizeof refs);
    /* HIVE_GOLDEN_ONLY=lora,dora narrows the run while debugging */
    const char *only = getenv("HIVE_GOLDEN_ONLY");
#define SKIPPED(name) (only && !strstr(only, name))
    for (int i = 0; i < N; i++) {
        if (SKIPPED(k_adapters[i])) continue;
        snprintf(path, sizeof path, "%s/adapters/%s", dir, k_adapters[i]);
        if (golden_load_adapter(&env, path, &refs[i]) != 0) fail_msg("%s: cannot load adapter %s", arch, k_adapters[i]);
    }
    for (int i = 0; i < N; i++) {
        if (SKIPPED(k_adapters[i])) continue;
        snprintf(path, sizeof path, "%s/adapters/%s/golden.json", dir, k_adapters[i]);
        cJSON *fx = golden_load_json(path);
        assert_non_null(fx);
        hive_adapter_set set = {(uint64_t)i + 1, 1, {refs[i]}};
        char what[64];
        snprintf(what, sizeof what, "%s/%s", arch, k_adapters[i]);
        check(&env, what, fx, &set);
        cJSON_Delete(fx);
    }
    /* compositions: the fixture lists its adapters in order */
    snprintf(path, sizeof path, "%s/compositions", dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    int n_comp = 0;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".json")) continue;
        char fpath[1400];
        snprintf(fpath, sizeof fpath, "%s/%s", path, de->d_name);
        cJSON *fx = golden_load_json(fpath);
        assert_non_null(fx);
        hive_adapter_set set = {100 + (uint64_t)n_comp, 0, {{0}}};
        const cJSON *a;
        int missing = 0;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(fx, "adapters")) {
            const char *name = strrchr(a->valuestring, '/') + 1;
            for (int i = 0; i < N; i++)
                if (!strcmp(name, k_adapters[i])) {
                    if (!refs[i].adapter) missing = 1;
                    set.refs[set.n++] = refs[i];
                }
        }
        if (missing) {
            cJSON_Delete(fx);
            continue;
        }
        char what[128];
        snprintf(what, sizeof what, "%s/%.*s", arch, (int)(strlen(de->d_name) - 5), de->d_name);
        assert_true(set.n >= 2);
        check(&env, what, fx, &set);
        cJSON_Delete(fx);
        n_comp++;
    }
    closedir(d);
    if (!only) assert_true(n_comp >= 2);
    for (int i = 0; i < N; i++) golden_free_adapter(&refs[i]);
    golden_env_close(&env);
}

/* One forward batch whose rows belong to three sequences with different
 * expert sets (base, lora, dora+lora), rows interleaved so segments are a
 * single row long: each sequence's prefill logits equal its own golden.
 * batched: LoRA deltas as one segmented call per linear (the backend's
 * HIVE_EXT_LORA_SEGMENTS), else one adapter hook per segment. */
static void mixed_batch(int batched) {
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/qwen2", HIVE_SOURCE_DIR);
    golden_env env;
    golden_next.batched_lora = batched;
    int opened = golden_env_open(&env, dir, 256, -1, 1);
    golden_next.batched_lora = 1;
    assert_int_equal(opened, 0);
    hive_adapter_ref lora, dora;
    snprintf(path, sizeof path, "%s/adapters/lora", dir);
    assert_int_equal(golden_load_adapter(&env, path, &lora), 0);
    snprintf(path, sizeof path, "%s/adapters/dora", dir);
    assert_int_equal(golden_load_adapter(&env, path, &dora), 0);
    hive_adapter_set s_lora = {1, 1, {lora}}, s_mix = {2, 2, {dora, lora}};
    const hive_adapter_set *sets[3] = {NULL, &s_lora, &s_mix};
    const char *fx_paths[3] = {"golden.json", "adapters/lora/golden.json", "compositions/dora+lora.json"};
    cJSON *fx[3];
    int32_t seq[3], prompt[3][64];
    int np = 0;
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, fx_paths[k]);
        assert_non_null(fx[k] = golden_load_json(path));
        np = golden_json_ints(cJSON_GetObjectItem(fx[k], "prompt_ids"), prompt[k], 64);
        assert_int_equal(hive_engine_seq_new(env.eng, &seq[k], NULL), HIVE_OK);
        assert_int_equal(hive_engine_seq_set_adapters(env.eng, seq[k], sets[k], NULL), HIVE_OK);
    }
    int32_t toks[192], seqs[192];
    uint8_t want[192];
    for (int i = 0; i < np; i++)
        for (int k = 0; k < 3; k++) toks[3 * i + k] = prompt[k][i], seqs[3 * i + k] = seq[k], want[3 * i + k] = 1;
    uint32_t V = hive_engine_hparams(env.eng)->vocab;
    float *lg = malloc((size_t)3 * np * V * sizeof *lg);
    hive_fwd_batch b = {(uint32_t)(3 * np), toks, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(env.eng, &b, lg, NULL), HIVE_OK);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < np; i++) {
            double e = golden_row_rel_err(lg + (size_t)(3 * i + k) * V,
                                          cJSON_GetArrayItem(cJSON_GetObjectItem(fx[k], "prefill_logits"), i), V);
            if (e > TOL) fail_msg("mixed batch: %s position %d: relative error %.3g", fx_paths[k], i, e);
        }
    /* the path asked for was the path taken: 7 modules x layers x 1 pass */
    uint64_t calls = hive_engine_lora_batched_calls(env.eng);
    if (batched) assert_int_equal(calls, 7u * hive_engine_hparams(env.eng)->n_layers);
    else assert_int_equal(calls, 0);
    printf("  mixed batch of 3 expert sets, %d interleaved rows (%s): all match\n", 3 * np,
           batched ? "LoRA as segmented calls" : "LoRA hook per segment");
    free(lg);
    for (int k = 0; k < 3; k++) cJSON_Delete(fx[k]);
    golden_free_adapter(&lora);
    golden_free_adapter(&dora);
    golden_env_close(&env);
}

static void test_mixed_batch(void **s) {
    (void)s;
    mixed_batch(1);
}
static void test_mixed_batch_hooks(void **s) {
    (void)s;
    mixed_batch(0);
}

/* merge (the single-expert fast path) folds the LoRA into the base weights,
 * which the engine keeps stacked (q|k|v, gate|up): the base model then gives
 * the LoRA golden, with no hooks. */
static void merged(const char *arch) {
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, arch);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 256, -1, 1), 0);
    hive_adapter_ref lora;
    snprintf(path, sizeof path, "%s/adapters/lora", dir);
    assert_int_equal(golden_load_adapter(&env, path, &lora), 0);
    hive_error *err = NULL;
    assert_non_null(lora.api->merge);
    if (lora.api->merge(lora.adapter, &err) != HIVE_OK) fail_msg("merge: %s", hive_error_message(err));
    snprintf(path, sizeof path, "%s/adapters/lora/golden.json", dir);
    cJSON *fx = golden_load_json(path);
    assert_non_null(fx);
    char why[256];
    int tok_ok = 0;
    double e = golden_run(&env, fx, NULL, &tok_ok, why, sizeof why);
    if (e > TOL || !tok_ok) fail_msg("%s merged lora: relative error %.3g (%s), tokens %s", arch, e, why, tok_ok ? "equal" : "DIFFER");
    printf("  %s/lora merged into the base: worst rel err %.2e\n", arch, e);
    cJSON_Delete(fx);
    golden_free_adapter(&lora);
    golden_env_close(&env);
}

static void test_merged(void **s) {
    (void)s;
    merged("llama");
    merged("qwen2"); /* q/k/v biases */
    merged("qwen3"); /* q/k/v apart (per-head norm) */
}

/* IA3 that scales the inputs of q_proj and up_proj (feed-forward modules) and
 * the outputs of k_proj and gate_proj: members of stacked weights (q|k|v,
 * gate|up) with input hooks. The stacked engine must equal the unstacked one. */
static void test_stacked_with_input_hooks(void **s) {
    (void)s;
    char dir[512], adir[] = "/tmp/hive-golden-ia3-XXXXXX", path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/qwen2", HIVE_SOURCE_DIR);
    assert_non_null(mkdtemp(adir));
    enum { L = 3, H = 64, KV = 32, FFN = 128 };
    static float vals[L][4][FFN];
    st_tensor t[L * 4];
    const char *mod[4] = {"self_attn.q_proj", "mlp.up_proj", "self_attn.k_proj", "mlp.gate_proj"};
    const int64_t shape[4][2] = {{1, H}, {1, H}, {KV, 1}, {FFN, 1}};
    uint32_t seed = 7;
    for (int l = 0; l < L; l++)
        for (int m = 0; m < 4; m++) {
            for (int i = 0; i < FFN; i++) {
                seed = seed * 1664525u + 1013904223u;
                vals[l][m][i] = 0.5f + (float)(seed >> 8) / (float)(1u << 24); /* [0.5, 1.5) */
            }
            st_tensor *x = &t[l * 4 + m];
            snprintf(x->name, sizeof x->name, "base_model.model.model.layers.%d.%s.ia3_l", l, mod[m]);
            x->dtype = "F32";
            x->n_dims = 2;
            x->shape[0] = shape[m][0];
            x->shape[1] = shape[m][1];
            x->data = vals[l][m];
        }
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", adir);
    assert_int_equal(st_write(path, t, L * 4), 0);
    snprintf(path, sizeof path, "%s/adapter_config.json", adir);
    assert_int_equal(write_text_file(path, "{\"peft_type\": \"IA3\", \"target_modules\": [\"q_proj\", \"up_proj\", "
                                           "\"k_proj\", \"gate_proj\"], \"feedforward_modules\": [\"q_proj\", "
                                           "\"up_proj\"], \"fan_in_fan_out\": false}"),
                     0);
    snprintf(path, sizeof path, "%s/golden.json", dir);
    cJSON *fx = golden_load_json(path);
    assert_non_null(fx);
    int32_t prompt[64], seqs[64];
    uint8_t want[64];
    int np = golden_json_ints(cJSON_GetObjectItem(fx, "prompt_ids"), prompt, 64);
    float *lg[3];
    uint32_t V = 0;
    for (int k = 0; k < 3; k++) { /* 0: stacked + IA3, 1: apart + IA3, 2: stacked, no adapter */
        golden_env env;
        golden_next.fuse_linears = k != 1;
        int rc = golden_env_open(&env, dir, 256, -1, 1);
        golden_next.fuse_linears = 1;
        assert_int_equal(rc, 0);
        hive_adapter_ref ia3;
        assert_int_equal(golden_load_adapter(&env, adir, &ia3), 0);
        hive_adapter_set set = {9, 1, {ia3}};
        int32_t seq;
        assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
        assert_int_equal(hive_engine_seq_set_adapters(env.eng, seq, k == 2 ? NULL : &set, NULL), HIVE_OK);
        V = hive_engine_hparams(env.eng)->vocab;
        lg[k] = malloc((size_t)np * V * sizeof(float));
        for (int i = 0; i < np; i++) seqs[i] = seq, want[i] = 1;
        hive_fwd_batch b = {(uint32_t)np, prompt, seqs, want, NULL};
        assert_int_equal(hive_engine_forward(env.eng, &b, lg[k], NULL), HIVE_OK);
        golden_free_adapter(&ia3);
        golden_env_close(&env);
    }
    double same = 0, effect = 0, mx = 0;
    for (size_t i = 0; i < (size_t)np * V; i++) {
        if (fabs(lg[1][i]) > mx) mx = fabs(lg[1][i]);
        if (fabs(lg[0][i] - lg[1][i]) > same) same = fabs(lg[0][i] - lg[1][i]);
        if (fabs(lg[2][i] - lg[1][i]) > effect) effect = fabs(lg[2][i] - lg[1][i]);
    }
    printf("  IA3 on stacked q|k|v and gate|up: stacked vs apart %.2e, adapter effect %.2e (relative)\n", same / mx,
           effect / mx);
    if (same / mx > 1e-5) fail_msg("stacked vs apart weights with input hooks: relative difference %.3g", same / mx);
    if (effect / mx < 1e-2) fail_msg("the IA3 adapter changed nothing (%.3g): the test cannot fail", effect / mx);
    for (int k = 0; k < 3; k++) free(lg[k]);
    cJSON_Delete(fx);
    snprintf(path, sizeof path, "rm -rf %s", adir);
    assert_int_equal(system(path), 0);
}

static void test_llama(void **s) { (void)s; run_arch("llama"); }
static void test_qwen2(void **s) { (void)s; run_arch("qwen2"); }
static void test_qwen3(void **s) { (void)s; run_arch("qwen3"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_mixed_batch),
        cmocka_unit_test(test_mixed_batch_hooks),
        cmocka_unit_test(test_merged),
        cmocka_unit_test(test_stacked_with_input_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
