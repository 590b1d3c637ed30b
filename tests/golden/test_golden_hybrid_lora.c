/* LoRA on the hybrid families' own linears against PEFT 0.21.2 /
 * transformers 5.23.0 (scripts/make-hybrid-lora-fixtures.py): Mamba2's
 * in_proj, DeepSeek-V2's latent-attention projections (q_proj or q_a_proj
 * / q_b_proj, kv_a_proj_with_mqa, kv_b_proj, which Hive absorbs, o_proj) and
 * Qwen2-MoE's shared expert (gate_proj, up_proj, down_proj, with q_proj) and
 * GraniteMoeHybrid's attention and Mamba2 mixer (its residual multiplier)
 * and routed experts' stacked gate_up_proj / down_proj (target_parameters:
 * Qwen3-MoE, GraniteMoeHybrid, DeepSeek-V2) match to 1e-4 relative at every prefill position and decode step, with the
 * same greedy tokens; each golden FAILS against the base model. What Hive
 * cannot do on these linears is refused by name: DoRA, IA3, merging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "golden_util.h"
#include "util/error.h"

#define TOL 1e-4
#define MIN_ADAPTER_EFFECT 1e-2

static void adapter_dir(char *dst, size_t cap, const char *arch, const char *name) {
    snprintf(dst, cap, "%s/tests/golden/data/%s/adapters/%s", HIVE_SOURCE_DIR, arch, name);
}

/* Loads the adapter at dir with the plugin that claims json; on failure
 * returns its status and copies the message into why. */
static hive_status load_json(golden_env *env, const char *dir, const char *json, hive_adapter_ref *out, char *why,
                             size_t cap) {
    hive_plugin *p = hive_registry_claim_adapter(&env->reg, json, NULL);
    if (!p) return HIVE_E_NOTFOUND;
    hive_adapter_load_args a = {sizeof a, hive_engine_max_rows(env->eng), dir, json, hive_engine_backend(env->eng),
                                hive_engine_device(env->eng), hive_engine_model_shape(env->eng),
                                hive_engine_base_access(env->eng), NULL};
    hive_error *err = NULL;
    memset(out, 0, sizeof *out);
    out->api = &p->adapter;
    hive_status st = p->adapter.load(&a, &out->adapter, &err);
    if (st != HIVE_OK) {
        snprintf(why, cap, "%s", hive_error_message(err));
        hive_error_free(err);
        return st;
    }
    out->desc.struct_size = sizeof out->desc;
    p->adapter.describe(out->adapter, &out->desc);
    return HIVE_OK;
}

static void check_golden(const char *arch, const char *name) {
    char dir[512], path[1024], why[256];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, arch);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 256, -1, 1), 0);
    hive_adapter_ref ref;
    adapter_dir(path, sizeof path, arch, name);
    if (golden_load_adapter(&env, path, &ref) != 0) fail_msg("%s/%s: cannot load", arch, name);
    /* a model with its own linears: the plugin hooks by the 1.10 module ids */
    assert_int_equal(ref.desc.hooks_stride, hive_engine_model_shape(env.eng)->n_modules);
    strncat(path, "/golden.json", sizeof path - strlen(path) - 1);
    cJSON *fx = golden_load_json(path);
    assert_non_null(fx);
    hive_adapter_set set = {1, 1, {ref}};
    int tok_ok = 0;
    double e = golden_run(&env, fx, &set, &tok_ok, why, sizeof why);
    if (e > TOL || !tok_ok)
        fail_msg("%s/%s: relative error %.3g (%s), greedy tokens %s", arch, name, e, why, tok_ok ? "equal" : "DIFFER");
    double base_e = golden_run(&env, fx, NULL, &tok_ok, why, sizeof why);
    if (base_e < MIN_ADAPTER_EFFECT) fail_msg("%s/%s: the base model alone matches the golden (%.3g)", arch, name, base_e);
    printf("  %s/%-12s worst rel err %.2e; without the adapter: %.2e\n", arch, name, e, base_e);
    cJSON_Delete(fx);
    golden_free_adapter(&ref);
    golden_env_close(&env);
}

/* in_proj only: PEFT 0.21 refuses out_proj on Mamba models (test_hybrid_lora_merged covers it) */
static void test_mamba2_in_proj(void **s) {
    (void)s;
    check_golden("mamba2", "lora_mixer");
}

static void test_deepseek_v2_latent_attention(void **s) {
    (void)s;
    check_golden("deepseek_v2", "lora_mla");       /* q_proj, kv_a/kv_b_proj, o_proj */
    check_golden("deepseek_v2_qlora", "lora_mla"); /* q_a_proj, q_b_proj, kv_a/kv_b_proj, o_proj */
}

/* mlp.shared_expert.{gate,up,down}_proj of a routed layer (stacked [gate | up]) */
static void test_qwen2_moe_shared_expert(void **s) {
    (void)s;
    check_golden("qwen2_moe", "lora_shexp");
}

/* GraniteMoeHybrid: o_proj and out_proj sit on residual branches its residual
 * multiplier scales, delta included */
static void test_granite_residual_branches(void **s) {
    (void)s;
    check_golden("granitemoehybrid", "lora_granite"); /* q/v/o_proj, mamba.in_proj/out_proj, shared_mlp.* */
}

/* target_parameters on the routed experts' stacked parameters: each expert's
 * slice of lora_A / lora_B hooked on the rows routed to it */
static void test_routed_experts(void **s) {
    (void)s;
    check_golden("qwen3_moe", "lora_experts");            /* gate_up_proj and down_proj (nested), and q_proj */
    check_golden("granitemoehybrid_moe", "lora_experts"); /* gate_up_proj alone, under the residual multiplier */
    check_golden("deepseek_v2_moe", "lora_experts");      /* both, beside latent attention's kv_a_proj_with_mqa */
}

/* blazr's format (no PEFT model class: PEFT wraps scripts/blazr_reference.py's
 * BlazrModule): LoRA on every linear of all four layer types, latent
 * attention's absorbed w_uk / w_uv and each routed expert's own linears
 * included */
static void test_blazr_all_linears(void **s) {
    (void)s;
    check_golden("blazr/types", "lora_all");
}

/* What blazr models refuse: base-weight access (DoRA's norms, merging) and
 * IA3's scaling hooks; only unmerged LoRA is checked against a reference. */
static void test_blazr_refusals(void **s) {
    (void)s;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/blazr/types", HIVE_SOURCE_DIR);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 64, -1, 1), 0);
    const hive_base_access *b = hive_engine_base_access(env.eng);
    float *w = NULL;
    hive_error *err = NULL;
    assert_int_equal(b->weight_f32(b->ctx, 2, HIVE_MODULE_Q, &w, &err), HIVE_E_UNSUPPORTED); /* layer 2: standard */
    assert_null(w);
    assert_non_null(strstr(hive_error_message(err), "DoRA and merging (base-weight access) are not supported"));
    hive_error_free(err);
    const hive_model_shape *shape = hive_engine_model_shape(env.eng);
    uint32_t M = shape->n_modules, L = shape->n_layers;
    uint32_t *hooks = calloc((size_t)L * M, sizeof *hooks);
    assert_non_null(hooks);
    hooks[2 * M + HIVE_MODULE_Q] = HIVE_HOOK_OUTPUT_SCALE; /* IA3 on q_proj */
    hive_adapter_set set = {.id = 5, .n = 1};
    set.refs[0].desc.struct_size = sizeof set.refs[0].desc;
    set.refs[0].desc.hooks_at = hooks;
    set.refs[0].desc.hooks_stride = M;
    int32_t seq;
    assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
    err = NULL;
    assert_int_equal(hive_engine_seq_set_adapters(env.eng, seq, &set, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(hive_error_message(err), "IA3's scaling hooks are not supported"));
    hive_error_free(err);
    hooks[2 * M + HIVE_MODULE_Q] = HIVE_HOOK_LINEAR_OUTPUT; /* LoRA there is fine */
    assert_int_equal(hive_engine_seq_set_adapters(env.eng, seq, &set, NULL), HIVE_OK);
    hive_engine_seq_free(env.eng, seq);
    free(hooks);
    golden_env_close(&env);
}

/* A config that names the adapter's own tensors' modules with another type. */
static void expect_load_refused(golden_env *env, const char *dir, const char *json, const char *want) {
    hive_adapter_ref ref;
    char why[512] = "";
    hive_status st = load_json(env, dir, json, &ref, why, sizeof why);
    if (st == HIVE_OK) {
        golden_free_adapter(&ref);
        fail_msg("%s: loaded; expected a refusal naming \"%s\"", json, want);
    }
    if (!strstr(why, want)) fail_msg("refused as \"%s\"; expected it to name \"%s\"", why, want);
    printf("  refused: %s\n", why);
}

/* The fixture adapter loads with its own config, and merging it is refused
 * naming `want`. */
static void expect_merge_refused(golden_env *env, const char *arch, const char *name, const char *want) {
    char path[1024], why[512];
    adapter_dir(path, sizeof path, arch, name);
    strncat(path, "/adapter_config.json", sizeof path - strlen(path) - 1);
    char *json = golden_read_text(path);
    assert_non_null(json);
    adapter_dir(path, sizeof path, arch, name);
    hive_adapter_ref ref;
    assert_int_equal(load_json(env, path, json, &ref, why, sizeof why), HIVE_OK);
    hive_error *err = NULL;
    assert_int_equal(ref.api->merge(ref.adapter, &err), HIVE_E_UNSUPPORTED);
    if (!strstr(hive_error_message(err), want)) fail_msg("merge refused as \"%s\"; expected \"%s\"", hive_error_message(err), want);
    printf("  merge refused: %s\n", hive_error_message(err));
    hive_error_free(err);
    golden_free_adapter(&ref);
    free(json);
}

/* What the routed experts' LoRA refuses, by name. */
static void test_routed_expert_refusals(void **s) {
    (void)s;
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/qwen3_moe", HIVE_SOURCE_DIR);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 64, -1, 1), 0);
    adapter_dir(path, sizeof path, "qwen3_moe", "lora_experts");
    expect_load_refused(&env, path,
                        "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [], "
                        "\"target_parameters\": [\"mlp.experts.up_proj\"]}",
                        "\"target_parameters\" entry \"mlp.experts.up_proj\" names no parameter");
    expect_load_refused(&env, path,
                        "{\"peft_type\": \"LORA\", \"use_dora\": true, \"r\": 4, \"target_modules\": [], "
                        "\"target_parameters\": [\"mlp.experts.down_proj\"]}",
                        "DoRA on target_parameters is not supported");
    /* r 2 where the file holds r 4: lora_A is [r * 4 experts, 64] */
    expect_load_refused(&env, path,
                        "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"], "
                        "\"rank_pattern\": {\"q_proj\": 4}, "
                        "\"target_parameters\": [\"mlp.experts.gate_up_proj\", \"mlp.experts.down_proj\"]}",
                        "expected [8, 64], found [16, 64]");
    /* the nesting: down_proj alone is an outer wrapper's keys, gate_up_proj's stay unused */
    expect_load_refused(&env, path,
                        "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"], "
                        "\"target_parameters\": [\"mlp.experts.down_proj\"]}",
                        "mlp.experts.base_layer.lora_A.weight");
    expect_merge_refused(&env, "qwen3_moe", "lora_experts",
                         "model.layers.0.mlp.experts.gate_up_proj is a routed experts' stacked parameter");
    golden_env_close(&env);
}

static void test_mamba2_refusals(void **s) {
    (void)s;
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/mamba2", HIVE_SOURCE_DIR);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 64, -1, 1), 0);
    adapter_dir(path, sizeof path, "mamba2", "lora_mixer");
    expect_load_refused(&env, path,
                        "{\"peft_type\": \"LORA\", \"use_dora\": true, \"r\": 4, \"lora_alpha\": 8, "
                        "\"target_modules\": [\"in_proj\"]}",
                        "DoRA on backbone.layers.0.mixer.in_proj is not supported");
    expect_load_refused(&env, path,
                        "{\"peft_type\": \"IA3\", \"target_modules\": [\"out_proj\"], \"feedforward_modules\": []}",
                        "\"out_proj\" names a linear of this model (mamba2) that only LoRA can adapt");
    expect_load_refused(&env, path, "{\"peft_type\": \"IA3\", \"target_modules\": \".*mixer.*_proj\", "
                        "\"feedforward_modules\": []}",
                        "selects backbone.layers.0.mixer.in_proj, which only LoRA can adapt");
    /* merging: the host keeps base weights for the seven only */
    expect_merge_refused(&env, "mamba2", "lora_mixer", "backbone.layers.0.mixer.in_proj is one of this model's own linears");
    golden_env_close(&env);
}

/* Rows of a base sequence and an adapted one interleaved in one batch
 * (single-row segments): each matches its own golden. */
static void mixed_batch(const char *arch, const char *name) {
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, arch);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 256, -1, 1), 0);
    hive_adapter_ref ref;
    adapter_dir(path, sizeof path, arch, name);
    assert_int_equal(golden_load_adapter(&env, path, &ref), 0);
    hive_adapter_set set = {3, 1, {ref}};
    const hive_adapter_set *sets[2] = {NULL, &set};
    cJSON *fx[2];
    snprintf(path, sizeof path, "%s/golden.json", dir);
    assert_non_null(fx[0] = golden_load_json(path));
    adapter_dir(path, sizeof path, arch, name);
    strncat(path, "/golden.json", sizeof path - strlen(path) - 1);
    assert_non_null(fx[1] = golden_load_json(path));
    int32_t seq[2], prompt[64], toks[128], seqs[128];
    uint8_t want[128];
    int np = golden_json_ints(cJSON_GetObjectItem(fx[0], "prompt_ids"), prompt, 64);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(hive_engine_seq_new(env.eng, &seq[k], NULL), HIVE_OK);
        assert_int_equal(hive_engine_seq_set_adapters(env.eng, seq[k], sets[k], NULL), HIVE_OK);
    }
    for (int i = 0; i < np; i++)
        for (int k = 0; k < 2; k++) toks[2 * i + k] = prompt[i], seqs[2 * i + k] = seq[k], want[2 * i + k] = 1;
    uint32_t V = hive_engine_hparams(env.eng)->vocab;
    float *lg = malloc((size_t)2 * np * V * sizeof *lg);
    hive_fwd_batch b = {(uint32_t)(2 * np), toks, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(env.eng, &b, lg, NULL), HIVE_OK);
    double worst = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < np; i++) {
            double e = golden_row_rel_err(lg + (size_t)(2 * i + k) * V,
                                          cJSON_GetArrayItem(cJSON_GetObjectItem(fx[k], "prefill_logits"), i), V);
            if (e > TOL) fail_msg("mixed batch: %s position %d: relative error %.3g", k ? name : "base", i, e);
            worst = e > worst ? e : worst;
        }
    printf("  %s: base and %s rows interleaved (%d rows): worst rel err %.2e\n", arch, name, 2 * np, worst);
    free(lg);
    cJSON_Delete(fx[0]);
    cJSON_Delete(fx[1]);
    golden_free_adapter(&ref);
    golden_env_close(&env);
}

/* kv_b_proj's deltas are applied per segment with the set's own absorbed
 * weights; the shared expert's hooks per segment of its rows */
static void test_mixed_batches(void **s) {
    (void)s;
    mixed_batch("deepseek_v2_qlora", "lora_mla");
    mixed_batch("qwen2_moe", "lora_shexp");
    mixed_batch("granitemoehybrid", "lora_granite");
    mixed_batch("qwen3_moe", "lora_experts"); /* each expert's rows: base and adapted ones interleaved */
    mixed_batch("blazr/types", "lora_all");   /* and through blazr's Mamba2 state and absorbed latent attention */
}

/* The engine's checks of hooks_at (ABI 1.10): the stride, modules a layer
 * lacks, and what kv_b_proj (absorbed) can take. */
static void test_hook_rules(void **s) {
    (void)s;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/deepseek_v2_qlora", HIVE_SOURCE_DIR);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 64, -1, 1), 0);
    const hive_model_shape *shape = hive_engine_model_shape(env.eng);
    uint32_t M = shape->n_modules, L = shape->n_layers;
    assert_true(M > HIVE_MODULE_COUNT && L == 3);
    uint32_t *hooks = calloc((size_t)L * M, sizeof *hooks);
    assert_non_null(hooks);
    uint32_t kv_b = M; /* kv_b_proj's id, by its path */
    for (uint32_t i = 0; i < M; i++)
        if (strstr(shape->modules_path_fmt[i], ".kv_b_proj")) kv_b = i;
    assert_true(kv_b < M);
    hive_adapter_set set = {.id = 4, .n = 1};
    set.refs[0].desc.struct_size = sizeof set.refs[0].desc;
    set.refs[0].desc.hooks_at = hooks;
    int32_t seq;
    assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
    struct {
        uint32_t stride, module, hook;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {0, HIVE_MODULE_Q, HIVE_HOOK_LINEAR_OUTPUT, "layer 0 has no q_proj"}, /* a query latent: q_a/q_b_proj */
        {0, HIVE_MODULE_O, HIVE_HOOK_LINEAR_OUTPUT, NULL},                    /* a plugin of before 1.10 */
        {5, HIVE_MODULE_O, HIVE_HOOK_LINEAR_OUTPUT, "hooks_at has 5 modules per layer"},
        {M, HIVE_MODULE_K, HIVE_HOOK_LINEAR_OUTPUT, "layer 0 has no k_proj"},
        {M, kv_b, HIVE_HOOK_OUTPUT_SCALE, "only an additive (LoRA) delta"}, /* absorbed */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(hooks, 0, (size_t)L * M * sizeof *hooks);
        set.refs[0].desc.hooks_stride = cases[i].stride;
        hooks[cases[i].module] = cases[i].hook;
        hive_error *err = NULL;
        hive_status st = hive_engine_seq_set_adapters(env.eng, seq, &set, &err);
        if (!cases[i].want) {
            if (st != HIVE_OK) fail_msg("case %zu refused: %s", i, hive_error_message(err));
        } else if (st != HIVE_E_UNSUPPORTED && st != HIVE_E_INVALID) {
            fail_msg("case %zu accepted; expected \"%s\"", i, cases[i].want);
        } else if (!strstr(hive_error_message(err), cases[i].want)) {
            fail_msg("case %zu: \"%s\"; expected \"%s\"", i, hive_error_message(err), cases[i].want);
        }
        hive_error_free(err);
    }
    hive_engine_seq_free(env.eng, seq);
    free(hooks);
    golden_env_close(&env);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mamba2_in_proj),
        cmocka_unit_test(test_deepseek_v2_latent_attention),
        cmocka_unit_test(test_mamba2_refusals),
        cmocka_unit_test(test_hook_rules),
        cmocka_unit_test(test_qwen2_moe_shared_expert),
        cmocka_unit_test(test_granite_residual_branches),
        cmocka_unit_test(test_routed_experts),
        cmocka_unit_test(test_blazr_all_linears),
        cmocka_unit_test(test_blazr_refusals),
        cmocka_unit_test(test_routed_expert_refusals),
        cmocka_unit_test(test_mixed_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
