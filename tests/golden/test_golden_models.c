/* Tiny random llama / qwen2 / qwen3 / qwen3_moe / qwen2_moe models against Hugging Face transformers
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
#include <unistd.h>
#include <string.h>

#include "golden_util.h"
#include "util/dtype.h"
#include "util/error.h"

#define TOL 1e-4

/* model: NULL for the arch's safetensors directory, else a file beside it
 * (the same weights converted to GGUF) checked against the same golden. */
static void run_model(const char *arch, const char *model) {
    char dir[512], path[600], model_path[600];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, arch);
    snprintf(path, sizeof path, "%s/golden.json", dir);
    snprintf(model_path, sizeof model_path, "%s/tests/golden/data/%s", HIVE_SOURCE_DIR, model ? model : arch);
    cJSON *g = golden_load_json(path);
    assert_non_null(g);
    golden_env env;
    assert_int_equal(golden_env_open(&env, model_path, 256, -1, 1), 0);
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
    /* the MoE fixtures really route (the GGUF too) */
    assert_int_equal(hive_engine_hparams(env.eng)->n_experts > 0, strstr(arch, "_moe") != NULL);
    printf("%s: %d prefill rows + %d decode steps, worst relative error %.2e\n", model ? model : arch, np, nd, worst);
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

static void run_arch(const char *arch) { run_model(arch, NULL); }

/* Adapters cannot hook or merge into a routed layer's feed-forward (it has no
 * dense gate/up/down): refused with the reason, while the dense layer's are
 * accepted. qwen3_moe_sparse routes layer 1 only. */
static void test_qwen3_moe_refuses_ffn_adapters(void **s) {
    (void)s;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/qwen3_moe_sparse", HIVE_SOURCE_DIR);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 64, -1, 1), 0);
    uint32_t hooks[4 * HIVE_MODULE_COUNT] = {0};
    hive_adapter_set set = {.id = 77, .n = 1};
    set.refs[0].desc.hooks_at = hooks;
    int32_t seq;
    assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
    hooks[0 * HIVE_MODULE_COUNT + HIVE_MODULE_GATE] = HIVE_HOOK_LINEAR_OUTPUT; /* dense layer 0: fine */
    hooks[1 * HIVE_MODULE_COUNT + HIVE_MODULE_Q] = HIVE_HOOK_LINEAR_OUTPUT;    /* attention of layer 1: fine */
    assert_int_equal(hive_engine_seq_set_adapters(env.eng, seq, &set, NULL), HIVE_OK);
    hooks[1 * HIVE_MODULE_COUNT + HIVE_MODULE_DOWN] = HIVE_HOOK_LINEAR_OUTPUT;
    hive_error *err = NULL;
    assert_int_equal(hive_engine_seq_set_adapters(env.eng, seq, &set, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(hive_error_message(err), "layer 1 routes to experts and has no dense down_proj"));
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_engine_seq_set_adapters(env.eng, seq, NULL, NULL), HIVE_OK);
    const hive_base_access *base = hive_engine_base_access(env.eng);
    float *w = NULL;
    assert_int_equal(base->weight_f32(base->ctx, 1, HIVE_MODULE_UP, &w, &err), HIVE_E_UNSUPPORTED);
    assert_null(w);
    hive_error_free(err);
    assert_int_equal(base->weight_f32(base->ctx, 0, HIVE_MODULE_UP, &w, NULL), HIVE_OK);
    assert_non_null(w);
    free(w);
    golden_env_close(&env);
}

/* config.json and the tensors must agree on which layers route and how many
 * experts there are; each mismatch is an error naming the tensor or key. */
static void test_qwen3_moe_config_errors(void **s) {
    (void)s;
    static const struct {
        const char *extra, *want;
        hive_status code;
    } k[] = {
        {"\"mlp_only_layers\": [1]", "model.layers.1.mlp.gate.weight is present but config.json", HIVE_E_INVALID},
        {"\"decoder_sparse_step\": 1, \"mlp_only_layers\": []", "missing tensor model.layers.0.mlp.gate.weight", HIVE_E_NOTFOUND},
        {"\"num_local_experts\": 7", "model.layers.1.mlp.gate.weight: expected [7, 64], found [6, 64]", HIVE_E_SHAPE},
        {"\"num_experts_per_tok\": 7", "6 experts (at most 1024), 7 used per token", HIVE_E_INVALID},
        {"\"mlp_only_layers\": [9]", "mlp_only_layers holds 9, not a layer index below 4", HIVE_E_INVALID},
        {"\"mlp_only_layers\": 3", "mlp_only_layers must be a list", HIVE_E_INVALID},
        {"\"moe_intermediate_size\": null", "moe_intermediate_size is missing", HIVE_E_INVALID},
    };
    char src[512], tmpl[] = "/tmp/hive-moe-cfg-XXXXXX", path[700], target[700];
    snprintf(src, sizeof src, "%s/tests/golden/data/qwen3_moe_sparse", HIVE_SOURCE_DIR);
    assert_non_null(mkdtemp(tmpl));
    snprintf(path, sizeof path, "%s/model.safetensors", tmpl);
    snprintf(target, sizeof target, "%s/model.safetensors", src);
    assert_int_equal(symlink(target, path), 0);
    snprintf(path, sizeof path, "%s/config.json", src);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char base[8192];
    size_t len = fread(base, 1, sizeof base - 1, fp);
    fclose(fp);
    base[len] = '\0';
    char *end = strrchr(base, '}');
    assert_non_null(end);
    *end = '\0';
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        snprintf(path, sizeof path, "%s/config.json", tmpl);
        fp = fopen(path, "wb");
        assert_non_null(fp);
        /* the override goes first: cJSON finds the first of duplicate keys */
        fprintf(fp, "{%s,%s}", k[i].extra, strchr(base, '{') + 1);
        fclose(fp);
        hive_model_files *m = NULL;
        hive_error *err = NULL;
        hive_status st = hive_model_open(tmpl, &m, &err);
        if (st != k[i].code || !strstr(hive_error_message(err), k[i].want))
            fail_msg("%s: expected %d \"%s\", got %d: %s", k[i].extra, k[i].code, k[i].want, st,
                     err ? hive_error_message(err) : "(none)");
        assert_null(m);
        hive_error_free(err);
    }
    snprintf(path, sizeof path, "%s/config.json", tmpl);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", tmpl);
    unlink(path);
    rmdir(tmpl);
}

static void test_llama(void **s) { (void)s; run_arch("llama"); }
static void test_qwen2(void **s) { (void)s; run_arch("qwen2"); }
static void test_qwen3(void **s) { (void)s; run_arch("qwen3"); }
/* top-2 of 4 experts renormalised, a dense layer between (mlp_only_layers) */
static void test_qwen3_moe(void **s) { (void)s; run_arch("qwen3_moe"); }
/* top-3 of 6 not renormalised, every other layer routed (decoder_sparse_step 2) */
static void test_qwen3_moe_sparse(void **s) { (void)s; run_arch("qwen3_moe_sparse"); }
/* qwen3_moe converted by llama.cpp's convert_hf_to_gguf.py (scripts/make-moe-gguf.py): stacked
 * expert tensors, qwen3moe.expert_* keys, llama.cpp's RoPE arithmetic */
static void test_qwen3_moe_gguf(void **s) { (void)s; run_model("qwen3_moe", "qwen3_moe.gguf"); }
/* q/k/v bias, top-2 of 4 not renormalised, a sigmoid-gated shared expert; and as llama.cpp's GGUF
 * (ffn_*_shexp, the gate input as a vector) */
static void test_qwen2_moe(void **s) { (void)s; run_arch("qwen2_moe"); }
static void test_qwen2_moe_gguf(void **s) { (void)s; run_model("qwen2_moe", "qwen2_moe.gguf"); }
/* Mamba2ForCausalLM: no attention; conv and SSM state per sequence; the 12-token prompt spans two of
 * transformers' scan chunks (chunk_size 8), decode steps continue the state */
static void test_mamba2(void **s) { (void)s; run_arch("mamba2"); }
/* as llama.cpp's converter writes it: A stored as -exp(A_log), conv [C, K], A/D [H, 1], the norm
 * [groups, inner / groups], no time-step limit (the fixture has none either) */
static void test_mamba2_gguf(void **s) { (void)s; run_model("mamba2", "mamba2.gguf"); }
/* DeepSeek-V2 latent attention: a KV cache of latents, absorbed up-projections, interleaved RoPE
 * on the rope dims; with q straight from x, and with a query latent (q_a, q_a_layernorm, q_b) */
static void test_deepseek_v2(void **s) { (void)s; run_arch("deepseek_v2"); }
static void test_deepseek_v2_qlora(void **s) { (void)s; run_arch("deepseek_v2_qlora"); }
/* and DeepSeek's experts: group-limited top-2 of 8, routed_scaling_factor 2, one shared expert */
static void test_deepseek_v2_moe(void **s) { (void)s; run_arch("deepseek_v2_moe"); }
/* and as llama.cpp's converter writes it: kv_b split per head (attn_k_b, attn_v_b), deepseek2.* keys */
static void test_deepseek_v2_moe_gguf(void **s) { (void)s; run_model("deepseek_v2_moe", "deepseek_v2_moe.gguf"); }
/* a Mamba2/attention hybrid (GraniteMoeHybrid): mamba, attention, mamba, each with the shared MLP,
 * Granite's embedding/residual/attention/logits multipliers */
static void test_granitemoehybrid(void **s) { (void)s; run_arch("granitemoehybrid"); }
/* and as llama.cpp's converter writes it: head_count_kv per layer (0: Mamba2), ffn_gate/up split, scales as keys */
static void test_granitemoehybrid_gguf(void **s) { (void)s; run_model("granitemoehybrid", "granitemoehybrid.gguf"); }
/* and with routed experts in every layer: top-2 of 4 (softmax over the chosen logits) beside the
 * shared MLP, both times the residual multiplier (hidden 32) */
static void test_granitemoehybrid_moe(void **s) { (void)s; run_arch("granitemoehybrid_moe"); }
/* and llama.cpp's GGUF of it: ffn_*_exps stacked, the shared MLP as ffn_*_shexp (no gate) */
static void test_granitemoehybrid_moe_gguf(void **s) {
    (void)s;
    run_model("granitemoehybrid_moe", "granitemoehybrid_moe.gguf");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_qwen3_moe),
        cmocka_unit_test(test_qwen3_moe_sparse),
        cmocka_unit_test(test_qwen3_moe_gguf),
        cmocka_unit_test(test_qwen2_moe),
        cmocka_unit_test(test_qwen2_moe_gguf),
        cmocka_unit_test(test_mamba2),
        cmocka_unit_test(test_mamba2_gguf),
        cmocka_unit_test(test_deepseek_v2),
        cmocka_unit_test(test_deepseek_v2_qlora),
        cmocka_unit_test(test_deepseek_v2_moe),
        cmocka_unit_test(test_deepseek_v2_moe_gguf),
        cmocka_unit_test(test_granitemoehybrid),
        cmocka_unit_test(test_granitemoehybrid_gguf),
        cmocka_unit_test(test_granitemoehybrid_moe),
        cmocka_unit_test(test_granitemoehybrid_moe_gguf),
        cmocka_unit_test(test_qwen3_moe_refuses_ffn_adapters),
        cmocka_unit_test(test_qwen3_moe_config_errors),
        cmocka_unit_test(test_requantized_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
