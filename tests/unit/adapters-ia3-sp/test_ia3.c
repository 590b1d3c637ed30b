/* ia3 plugin: input / output scaling against a scalar reference (q/k have a
 * bias: y = (W x + b) * l), stacking, half dtypes, defaults and targeting,
 * merge (equals the hooks; refused where a bias would need scaling), errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "util.h"

#define M(x) (1u << HIVE_MODULE_##x)
#define ALL_M (M(Q) | M(K) | M(V) | M(O) | M(GATE) | M(UP) | M(DOWN))

/* every (l, m) of the adapters through the mini engine vs the reference */
static void check_all(const hive_adapter_api *api, hive_adapter *const *ads, const ia3_data *const *d, int n_ad) {
    const hive_adapter_api *apis[4] = {api, api, api, api};
    float x[T_MAX_ROWS * T_MAX_DIM], y[T_MAX_ROWS * T_MAX_DIM];
    double ref[T_MAX_ROWS * T_MAX_DIM];
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++)
            for (uint32_t n = 1; n <= T_MAX_ROWS; n += 7) {
                for (uint32_t i = 0; i < n * shape.module_in[m]; i++) x[i] = u_k64(-64, 64);
                assert_int_equal(mini_linear(apis, ads, n_ad, l, m, x, n, 0, y), 0);
                ref_linear(d, n_ad, l, m, x, n, ref);
                double e = rel_err(y, ref, (size_t)n * shape.module_out[m]);
                if (e > TOL) fprintf(stderr, "ia3 layer %u module %u rows %u: rel err %g\n", l, m, n, e);
                assert_true(e <= TOL);
            }
}

void test_ia3_info(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("ia3");
    assert_non_null(api);
    assert_non_null(api->linear_input);
    assert_non_null(api->linear_output);
    assert_non_null(api->merge);
    assert_null(api->embed);
    assert_int_equal(api->claim("{\"peft_type\":\"IA3\"}"), 100);
    assert_int_equal(api->claim("{\"peft_type\":\"LORA\"}"), 0);
    assert_int_equal(api->claim("{\"peft_type\":\"PROMPT_TUNING\"}"), 0);
    assert_int_equal(api->claim("[1]"), 0);
    assert_int_equal(api->claim(NULL), 0);
}

void test_ia3_hooks(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("ia3");
    /* q, k (with a bias), o, gate scale the output; up, down the input */
    ia3_data *d = ia3_new(M(Q) | M(K) | M(O) | M(GATE) | M(UP) | M(DOWN), M(UP) | M(DOWN), 61);
    char *dir = ia3_write(d,
                          "{\"peft_type\":\"IA3\",\"target_modules\":[\"q_proj\",\"k_proj\",\"o_proj\",\"gate_proj\","
                          "\"up_proj\",\"down_proj\"],\"feedforward_modules\":[\"up_proj\",\"down_proj\"],"
                          "\"fan_in_fan_out\":false,\"init_ia3_weights\":true,\"task_type\":\"CAUSAL_LM\"}",
                          NULL, -1, -1, 0, 0);
    hive_adapter *a = load_ok(api, dir);
    hive_adapter_desc desc = {.struct_size = sizeof desc};
    assert_int_equal(api->describe(a, &desc), HIVE_OK);
    assert_int_equal(desc.hooks, HIVE_HOOK_LINEAR_INPUT | HIVE_HOOK_OUTPUT_SCALE);
    assert_int_equal(desc.n_virtual_tokens, 0);
    uint64_t bytes = 0;
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            uint32_t want = !d->targeted[l][m] ? 0 : d->ff[l][m] ? HIVE_HOOK_LINEAR_INPUT : HIVE_HOOK_OUTPUT_SCALE;
            assert_int_equal(desc.hooks_at[l * T_MODS + m], want);
            if (d->targeted[l][m]) bytes += 4 * (d->ff[l][m] ? shape.module_in[m] : shape.module_out[m]);
        }
    assert_int_equal(desc.device_bytes, bytes);
    check_all(api, &a, (const ia3_data *const *)&d, 1);
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}

void test_ia3_stacked_and_dtypes(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("ia3");
    const char *cfg = "{\"peft_type\":\"IA3\",\"target_modules\":[\"k_proj\",\"v_proj\",\"down_proj\"],"
                      "\"feedforward_modules\":[\"down_proj\"]}";
    ia3_data *d1 = ia3_new(M(K) | M(V) | M(DOWN), M(DOWN), 71), *d2 = ia3_new(M(K) | M(V) | M(DOWN), M(DOWN), 72);
    d1->dtype = "F16";
    d2->dtype = "BF16";
    char *dir1 = ia3_write(d1, cfg, NULL, -1, -1, 0, 0), *dir2 = ia3_write(d2, cfg, NULL, -1, -1, 0, 0);
    hive_adapter *ads[2] = {load_ok(api, dir1), load_ok(api, dir2)};
    const ia3_data *data[2] = {d1, d2};
    check_all(api, ads, data, 1);
    check_all(api, ads, data, 2); /* two active IA3 adapters: their scales multiply */
    api->destroy(ads[0]);
    api->destroy(ads[1]);
    adapter_remove(dir1);
    adapter_remove(dir2);
    free(d1);
    free(d2);
}

/* target_modules / feedforward_modules null: PEFT's defaults for the arch
 * (the harness model is "qwen2": q, v, down; down feed-forward); regex
 * targets; layers_to_transform is no IA3 option (PEFT ignores it). */
void test_ia3_targets(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("ia3");
    ia3_data *d = ia3_new(M(Q) | M(V) | M(DOWN), M(DOWN), 81);
    char *dir = ia3_write(d, "{\"peft_type\":\"IA3\",\"target_modules\":null,\"feedforward_modules\":null}", NULL, -1,
                          -1, 0, 0);
    hive_adapter *a = load_ok(api, dir);
    check_all(api, &a, (const ia3_data *const *)&d, 1);
    api->destroy(a);
    adapter_remove(dir);
    free(d);

    d = ia3_new(M(K) | M(UP) | M(DOWN), M(UP), 82);
    dir = ia3_write(d,
                    "{\"peft_type\":\"IA3\",\"target_modules\":\".*\\\\.(k_proj|up_proj|down_proj)\","
                    "\"feedforward_modules\":\".*mlp\\\\.up_proj\",\"layers_to_transform\":[0]}",
                    NULL, -1, -1, 0, 0);
    a = load_ok(api, dir);
    check_all(api, &a, (const ia3_data *const *)&d, 1);
    api->destroy(a);
    adapter_remove(dir);
    free(d);

    /* PEFT's feed-forward list test is a plain endswith: "proj" would make
     * every target feed-forward; exclude_modules drops layer 1's k_proj */
    d = ia3_new(M(K) | M(DOWN), M(K) | M(DOWN), 83);
    d->targeted[1][HIVE_MODULE_K] = 0;
    dir = ia3_write(d,
                    "{\"peft_type\":\"IA3\",\"target_modules\":\".*(k_proj|down_proj)\",\"feedforward_modules\":"
                    "[\"proj\"],\"exclude_modules\":[\"layers.1.self_attn.k_proj\"]}",
                    NULL, -1, -1, 0, 0);
    a = load_ok(api, dir);
    hive_adapter_desc desc = {.struct_size = sizeof desc};
    assert_int_equal(api->describe(a, &desc), HIVE_OK);
    assert_int_equal(desc.hooks_at[1 * T_MODS + HIVE_MODULE_K], 0);
    assert_int_equal(desc.hooks_at[0 * T_MODS + HIVE_MODULE_K], HIVE_HOOK_LINEAR_INPUT);
    check_all(api, &a, (const ia3_data *const *)&d, 1);
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}

void test_ia3_merge(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("ia3");
    /* o and gate (output, no bias), up and down (input): mergeable */
    ia3_data *d = ia3_new(M(O) | M(GATE) | M(UP) | M(DOWN), M(UP) | M(DOWN), 91);
    char *dir = ia3_write(d,
                          "{\"peft_type\":\"IA3\",\"target_modules\":[\"o_proj\",\"gate_proj\",\"up_proj\","
                          "\"down_proj\"],\"feedforward_modules\":[\"up_proj\",\"down_proj\"]}",
                          NULL, -1, -1, 0, 0);
    hive_adapter *hooked = load_ok(api, dir), *a = load_ok(api, dir);
    memset(merged_set, 0, sizeof merged_set);
    hive_error *err = NULL;
    assert_int_equal(api->merge(a, &err), HIVE_OK);
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            assert_int_equal(merged_set[l][m], d->targeted[l][m]);
            if (!d->targeted[l][m]) continue;
            uint32_t in = shape.module_in[m];
            for (uint32_t o = 0; o < shape.module_out[m]; o++)
                for (uint32_t i = 0; i < in; i++) {
                    float want = base_w[l][m][o * in + i] * d->l[l][m][d->ff[l][m] ? i : o];
                    assert_true(merged_w[l][m][o * in + i] == want);
                }
            /* merged weights without hooks == base weights with hooks */
            float x[T_MAX_ROWS * T_MAX_DIM], y1[T_MAX_ROWS * T_MAX_DIM], y2[T_MAX_ROWS * T_MAX_DIM];
            double y1d[T_MAX_ROWS * T_MAX_DIM];
            for (uint32_t i = 0; i < 5 * in; i++) x[i] = u_k64(-64, 64);
            assert_int_equal(mini_linear(&api, &hooked, 1, l, m, x, 5, 0, y1), 0);
            assert_int_equal(mini_linear(NULL, NULL, 0, l, m, x, 5, 1, y2), 0);
            for (uint32_t i = 0; i < 5 * shape.module_out[m]; i++) y1d[i] = y1[i];
            assert_true(rel_err(y2, y1d, 5 * shape.module_out[m]) <= TOL);
        }
    hive_adapter_desc desc = {.struct_size = sizeof desc};
    assert_int_equal(api->describe(a, &desc), HIVE_OK);
    assert_int_equal(desc.hooks, 0);
    assert_int_equal(desc.device_bytes, 0);
    for (uint32_t i = 0; i < T_LAYERS * T_MODS; i++) assert_int_equal(desc.hooks_at[i], 0);
    assert_int_equal(api->merge(a, &err), HIVE_OK); /* twice: no-op */
    hive_buffer *buf = NULL;
    assert_int_equal(be->buffer_alloc(dev, 4096, &buf, &err), HIVE_OK);
    hive_tensor t = {sizeof t, HIVE_DTYPE_F32, buf, 0, 2, 24, 24};
    assert_int_not_equal(api->linear_input(a, 0, HIVE_MODULE_DOWN, &t, &err), HIVE_OK); /* after merge */
    be->buffer_free(dev, buf);
    api->destroy(a);
    api->destroy(hooked);
    adapter_remove(dir);
    free(d);

    /* k_proj has a bias: PEFT's merge scales it too, the host cannot replace
     * it: refused before any weight changes */
    d = ia3_new(M(K) | M(DOWN), M(DOWN), 92);
    dir = ia3_write(d,
                    "{\"peft_type\":\"IA3\",\"target_modules\":[\"k_proj\",\"down_proj\"],\"feedforward_modules\":"
                    "[\"down_proj\"]}",
                    NULL, -1, -1, 0, 0);
    a = load_ok(api, dir);
    memset(merged_set, 0, sizeof merged_set);
    assert_int_equal(api->merge(a, &err), HIVE_E_UNSUPPORTED);
    expect_in("model.layers.0.self_attn.k_proj has a bias", last_error);
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) assert_int_equal(merged_set[l][m], 0);
    check_all(api, &a, (const ia3_data *const *)&d, 1); /* still served by hooks */
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}

#define KVD "\"target_modules\":[\"k_proj\",\"v_proj\",\"down_proj\"]"

void test_ia3_errors(void **state) {
    (void)state;
    ia3_data *d = ia3_new(M(K) | M(V) | M(DOWN), M(DOWN), 101);
    const char *ok = "{\"peft_type\":\"IA3\"," KVD ",\"feedforward_modules\":[\"down_proj\"]}";
    /* feedforward_modules not a subset of target_modules */
    expect_fail_dir("ia3", ia3_write(d, "{\"peft_type\":\"IA3\"," KVD ",\"feedforward_modules\":[\"up_proj\"]}", NULL, -1, -1, 0, 0),
                    "\"feedforward_modules\" entry \"up_proj\" is not in \"target_modules\"");
    expect_fail_dir("ia3",
                    ia3_write(d, "{\"peft_type\":\"IA3\"," KVD ",\"feedforward_modules\":[\"mlp.down_proj\"]}", NULL, -1, -1, 0, 0),
                    "subset");
    /* wrong shapes: the feed-forward vector saved as [in, 1], k_proj's as [1, out] */
    char *dir = ia3_write(d, ok, NULL, 1, HIVE_MODULE_DOWN, 24, 1);
    hive_adapter *a = NULL;
    assert_int_equal(adapter_load(plugin("ia3"), dir, &a), HIVE_E_SHAPE);
    assert_string_equal(last_error, "base_model.model.model.layers.1.mlp.down_proj.ia3_l: expected [1, 24], found [24, 1]");
    adapter_remove(dir);
    expect_fail_dir("ia3", ia3_write(d, ok, NULL, 0, HIVE_MODULE_K, 1, 8),
                    "base_model.model.model.layers.0.self_attn.k_proj.ia3_l: expected [8, 1], found [1, 8]");
    /* a missing and an extra tensor */
    ia3_data *d2 = ia3_new(M(K) | M(DOWN), M(DOWN), 101);
    expect_fail_dir("ia3", ia3_write(d2, ok, NULL, -1, -1, 0, 0),
                    "missing tensor base_model.model.model.layers.0.self_attn.v_proj.ia3_l");
    const char *extra[] = {"base_model.model.lm_head.ia3_l", NULL};
    expect_fail_dir("ia3", ia3_write(d, ok, extra, -1, -1, 0, 0), "base_model.model.lm_head.ia3_l");
    /* config */
    expect_fail_dir("ia3", ia3_write(d, "{\"peft_type\":\"IA3\"," KVD ",\"feedforward_modules\":[\"down_proj\"],"
                                        "\"modules_to_save\":[\"lm_head\"]}", NULL, -1, -1, 0, 0),
                    "modules_to_save");
    expect_fail_dir("ia3", ia3_write(d, "{\"peft_type\":\"LORA\"," KVD "}", NULL, -1, -1, 0, 0), "peft_type");
    expect_fail_dir("ia3", ia3_write(d, "{\"peft_type\":\"IA3\",\"target_modules\":[\"k_proj\",\"lm_head\"]}", NULL, -1, -1, 0, 0),
                    "\"lm_head\"");
    expect_fail_dir("ia3", ia3_write(d, "{\"peft_type\":\"IA3\",\"target_modules\":\"(\"}", NULL, -1, -1, 0, 0),
                    "target_modules");
    expect_fail_dir("ia3", ia3_write(d, "{\"peft_type\":\"IA3\"," KVD ",\"feedforward_modules\":\"(\"}", NULL, -1, -1, 0, 0),
                    "feedforward_modules");
    expect_fail_dir("ia3", ia3_write(d, "{\"peft_type\":\"IA3\",", NULL, -1, -1, 0, 0), "not valid JSON");
    /* unknown architecture without target_modules */
    const char *arch = shape.arch;
    shape.arch = "gpt2";
    expect_fail_dir("ia3", ia3_write(d, "{\"peft_type\":\"IA3\"}", NULL, -1, -1, 0, 0), "no IA3 default for architecture");
    shape.arch = arch;
    /* f16 file whose data is short, I32 dtype */
    st_tensor t = {.dtype = "I32", .n_dims = 2, .shape = {8, 1}};
    snprintf(t.name, sizeof t.name, "base_model.model.model.layers.0.self_attn.k_proj.ia3_l");
    expect_fail_dir("ia3", dir_write("{\"peft_type\":\"IA3\",\"target_modules\":[\"k_proj\"],\"feedforward_modules\":[]}", &t, 1),
                    "dtype I32 not supported");
    free(d2);
    free(d);
}

void test_ia3_hook_calls(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("ia3");
    ia3_data *d = ia3_new(M(K) | M(V) | M(DOWN), M(DOWN), 111);
    char *dir = ia3_write(d, "{\"peft_type\":\"IA3\"," KVD ",\"feedforward_modules\":[\"down_proj\"]}", NULL, -1, -1, 0, 0);
    hive_adapter *a = load_ok(api, dir);
    hive_buffer *buf = NULL;
    hive_error *err = NULL;
    assert_int_equal(be->buffer_alloc(dev, 64 * 64 * 4, &buf, &err), HIVE_OK);
    hive_tensor x = {sizeof x, HIVE_DTYPE_F32, buf, 0, 2, 24, 24}, y = {sizeof y, HIVE_DTYPE_F32, buf, 0, 2, 8, 8};
    assert_int_equal(api->linear_input(a, 0, HIVE_MODULE_DOWN, &x, &err), HIVE_OK);
    assert_int_equal(api->linear_output(a, 0, HIVE_MODULE_K, NULL, NULL, &y, &err), HIVE_OK);
    assert_int_not_equal(api->linear_output(a, 0, HIVE_MODULE_DOWN, &x, &x, &x, &err), HIVE_OK); /* input kind */
    expect_in("feed-forward", last_error);
    assert_int_not_equal(api->linear_input(a, 0, HIVE_MODULE_K, &y, &err), HIVE_OK); /* output kind */
    assert_int_not_equal(api->linear_input(a, 0, HIVE_MODULE_Q, &x, &err), HIVE_OK); /* not hooked */
    assert_int_not_equal(api->linear_input(a, 7, HIVE_MODULE_DOWN, &x, &err), HIVE_OK);
    assert_int_not_equal(api->linear_input(a, 0, 99, &x, &err), HIVE_OK);
    x.cols = 16;
    assert_int_not_equal(api->linear_input(a, 0, HIVE_MODULE_DOWN, &x, &err), HIVE_OK);
    x.cols = 24, x.rows = T_MAX_ROWS + 1;
    assert_int_not_equal(api->linear_input(a, 0, HIVE_MODULE_DOWN, &x, &err), HIVE_OK);
    assert_int_not_equal(api->linear_input(a, 0, HIVE_MODULE_DOWN, NULL, &err), HIVE_OK);
    x.rows = 0;
    assert_int_equal(api->linear_input(a, 0, HIVE_MODULE_DOWN, &x, &err), HIVE_OK);
    y.cols = 16;
    assert_int_not_equal(api->linear_output(a, 0, HIVE_MODULE_K, NULL, NULL, &y, &err), HIVE_OK);
    assert_int_not_equal(api->linear_output(a, 0, HIVE_MODULE_K, NULL, NULL, NULL, &err), HIVE_OK);
    be->buffer_free(dev, buf);
    hive_adapter_desc small = {.struct_size = 4};
    assert_int_not_equal(api->describe(a, &small), HIVE_OK);
    api->destroy(a);
    api->destroy(NULL);
    hive_adapter *none = (hive_adapter *)&none;
    assert_int_not_equal(api->load(NULL, &none, &err), HIVE_OK);
    assert_null(none);
    adapter_remove(dir);
    free(d);
}
