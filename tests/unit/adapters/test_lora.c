/* lora plugin: hook output against y = W x + b + s B A x, scaling rules,
 * targeting, independence of loads, merge. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tests.h"

#define TOL 1e-5

static const char *const k_all = "[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\"]";

static adapter_data *new_data(void) {
    adapter_data *d = calloc(1, sizeof *d);
    assert_non_null(d);
    return d;
}

static void set_all(adapter_data *d, uint32_t r, float s) {
    for (int l = 0; l < T_LAYERS; l++)
        for (int m = 0; m < T_MODS; m++) d->r[l][m] = r, d->s[l][m] = s;
}

/* checks every (l, m) with r > 0 is hooked and right, every other not hooked */
static void check_all(const hive_adapter_api *api, hive_adapter *a, const adapter_data *d) {
    hive_adapter_desc desc = {.struct_size = sizeof desc};
    assert_int_equal(api->describe(a, &desc), HIVE_OK);
    assert_int_equal(desc.hooks, HIVE_HOOK_LINEAR_OUTPUT);
    assert_non_null(desc.hooks_at);
    assert_true(desc.device_bytes > 0);
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            uint32_t want = d->r[l][m] ? HIVE_HOOK_LINEAR_OUTPUT : 0;
            assert_int_equal(desc.hooks_at[l * T_MODS + m], want);
            if (!want) continue;
            for (uint32_t n = 1; n <= T_MAX_ROWS; n += 3) {
                double e = check_hook(&api, &a, &d, 1, l, m, n);
                if (e < 0 || e > TOL) fprintf(stderr, "layer %u module %u rows %u: rel err %g\n", l, m, n, e);
                assert_true(e >= 0 && e <= TOL);
            }
        }
}

static hive_adapter *load_ok(const hive_adapter_api *api, const char *dir) {
    hive_adapter *a = NULL;
    hive_status st = adapter_load(api, dir, &a);
    if (st != HIVE_OK) fprintf(stderr, "load failed: %s\n", last_error);
    assert_int_equal(st, HIVE_OK);
    assert_non_null(a);
    return a;
}

void test_plugin_info(void **state) {
    (void)state;
    const char *names[2] = {"lora", "dora"};
    for (int i = 0; i < 2; i++) {
        const hive_adapter_api *api = plugin(names[i]);
        assert_non_null(api);
        assert_non_null(api->merge);
        assert_null(api->linear_input);
        assert_null(api->embed);
    }
    const hive_adapter_api *lora = plugin("lora"), *dora = plugin("dora");
    const char *plain = "{\"peft_type\":\"LORA\",\"r\":8}", *pdora = "{\"peft_type\":\"LORA\",\"use_dora\":true}";
    const char *nodora = "{\"peft_type\":\"LORA\",\"use_dora\":false}", *ia3 = "{\"peft_type\":\"IA3\"}";
    assert_int_equal(lora->claim(plain), 100);
    assert_int_equal(lora->claim(nodora), 100);
    assert_int_equal(lora->claim(pdora), 0);
    assert_int_equal(lora->claim(ia3), 0);
    assert_int_equal(lora->claim("not json"), 0);
    assert_int_equal(lora->claim(NULL), 0);
    assert_int_equal(dora->claim(pdora), 100);
    assert_int_equal(dora->claim(plain), 0);
    assert_int_equal(dora->claim(ia3), 0);
}

void test_lora_all_modules(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("lora");
    adapter_data *d = new_data();
    set_all(d, 4, 2.0f);
    adapter_fill(d, 11);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"peft_type\":\"LORA\",\"task_type\":\"CAUSAL_LM\",\"r\":4,\"lora_alpha\":8,\"lora_dropout\":0.05,"
             "\"target_modules\":%s,\"bias\":\"none\",\"modules_to_save\":null,\"use_dora\":false,"
             "\"use_rslora\":false,\"fan_in_fan_out\":false,\"rank_pattern\":{},\"alpha_pattern\":{},"
             "\"layers_to_transform\":null,\"layers_pattern\":null,\"inference_mode\":true}",
             k_all);
    char *dir = adapter_write(d, cfg, NULL);
    hive_adapter *a = load_ok(api, dir);
    check_all(api, a, d);
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}

void test_lora_half_dtypes(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("lora");
    adapter_data *d = new_data();
    for (int l = 0; l < T_LAYERS; l++) d->r[l][HIVE_MODULE_Q] = d->r[l][HIVE_MODULE_V] = 8;
    for (int l = 0; l < T_LAYERS; l++) d->s[l][HIVE_MODULE_Q] = d->s[l][HIVE_MODULE_V] = 2.0f;
    d->dtype_A = "F16";
    d->dtype_B = "BF16";
    adapter_fill(d, 12);
    /* fan_in_fan_out has no effect on the stored shapes or on inference */
    char *dir = adapter_write(d, "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"fan_in_fan_out\":true,"
                                 "\"target_modules\":[\"v_proj\",\"q_proj\"]}", NULL);
    hive_adapter *a = load_ok(api, dir);
    check_all(api, a, d);
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}

void test_lora_patterns_rslora(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("lora");
    adapter_data *d = new_data();
    for (int l = 0; l < T_LAYERS; l++) {
        d->r[l][HIVE_MODULE_Q] = l == 0 ? 3 : 2; /* regex key first, then "q_proj" */
        d->s[l][HIVE_MODULE_Q] = (float)(8.0 / sqrt(d->r[l][HIVE_MODULE_Q]));
        d->r[l][HIVE_MODULE_V] = 4;
        d->s[l][HIVE_MODULE_V] = (float)(3.0 / 2.0);
        d->r[l][HIVE_MODULE_DOWN] = l == 1 ? 6 : 4;
        d->s[l][HIVE_MODULE_DOWN] = (float)(5.0 / sqrt(d->r[l][HIVE_MODULE_DOWN]));
    }
    adapter_fill(d, 13);
    char *dir = adapter_write(
        d,
        "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"use_rslora\":true,"
        "\"target_modules\":[\"q_proj\",\"v_proj\",\"down_proj\"],"
        "\"rank_pattern\":{\"model\\\\.layers\\\\.0\\\\.self_attn\\\\.q_proj\":3,\"q_proj\":2,"
        "\"layers.1.mlp.down_proj\":6},"
        "\"alpha_pattern\":{\"v_proj\":3,\"down_proj\":5,\"proj\":99}}",
        NULL);
    hive_adapter *a = load_ok(api, dir);
    check_all(api, a, d);
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}

void test_lora_regex_targets(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("lora");
    adapter_data *d = new_data();
    d->r[1][HIVE_MODULE_Q] = d->r[1][HIVE_MODULE_V] = 4;
    d->s[1][HIVE_MODULE_Q] = d->s[1][HIVE_MODULE_V] = 0.5f;
    adapter_fill(d, 14);
    char *dir = adapter_write(d, "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":2,"
                                 "\"target_modules\":\".*layers\\\\.1\\\\.self_attn\\\\.(q|v)_proj\"}", NULL);
    hive_adapter *a = load_ok(api, dir);
    check_all(api, a, d);
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}

void test_lora_layers_to_transform(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("lora");
    const char *cfgs[3] = {
        "{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":4,\"target_modules\":[\"q_proj\",\"down_proj\"],"
        "\"layers_to_transform\":[1],\"layers_pattern\":\"layers\"}",
        "{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":4,\"target_modules\":[\"q_proj\",\"down_proj\"],"
        "\"layers_to_transform\":0}",
        "{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":4,\"target_modules\":[\"q_proj\",\"down_proj\"],"
        "\"layers_to_transform\":[0,1],\"exclude_modules\":[\"layers.0.mlp.down_proj\"]}",
    };
    for (int c = 0; c < 3; c++) {
        adapter_data *d = new_data();
        for (uint32_t l = 0; l < T_LAYERS; l++) {
            int on = c == 0 ? l == 1 : c == 1 ? l == 0 : 1;
            d->r[l][HIVE_MODULE_Q] = d->r[l][HIVE_MODULE_DOWN] = on ? 2 : 0;
            d->s[l][HIVE_MODULE_Q] = d->s[l][HIVE_MODULE_DOWN] = 2.0f;
        }
        if (c == 2) d->r[0][HIVE_MODULE_DOWN] = 0;
        adapter_fill(d, 15 + (uint32_t)c);
        char *dir = adapter_write(d, cfgs[c], NULL);
        hive_adapter *a = load_ok(api, dir);
        check_all(api, a, d);
        api->destroy(a);
        adapter_remove(dir);
        free(d);
    }
}

void test_lora_twice_and_stacked(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("lora");
    adapter_data *d1 = new_data(), *d2 = new_data();
    set_all(d1, 4, 2.0f);
    set_all(d2, 2, 0.5f);
    adapter_fill(d1, 21);
    adapter_fill(d2, 22);
    char cfg1[512], cfg2[512];
    snprintf(cfg1, sizeof cfg1, "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"target_modules\":%s}", k_all);
    snprintf(cfg2, sizeof cfg2, "{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":1,\"target_modules\":%s}", k_all);
    char *dir1 = adapter_write(d1, cfg1, NULL), *dir2 = adapter_write(d2, cfg2, NULL);
    hive_adapter *a = load_ok(api, dir1), *b = load_ok(api, dir1), *c = load_ok(api, dir2);
    api->destroy(a); /* b is independent of a */
    check_all(api, b, d1);
    const hive_adapter_api *apis[2] = {api, api};
    hive_adapter *ads[2] = {b, c};
    const adapter_data *data[2] = {d1, d2};
    for (uint32_t m = 0; m < T_MODS; m++) {
        double e = check_hook(apis, ads, data, 2, 1, m, 5);
        assert_true(e >= 0 && e <= TOL);
    }
    api->destroy(b);
    api->destroy(c);
    adapter_remove(dir1);
    adapter_remove(dir2);
    free(d1);
    free(d2);
}

void test_lora_merge(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("lora");
    adapter_data *d = new_data();
    for (int l = 0; l < T_LAYERS; l++) d->r[l][HIVE_MODULE_K] = d->r[l][HIVE_MODULE_DOWN] = 4;
    for (int l = 0; l < T_LAYERS; l++) d->s[l][HIVE_MODULE_K] = d->s[l][HIVE_MODULE_DOWN] = 2.0f;
    adapter_fill(d, 31);
    char *dir = adapter_write(d, "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"target_modules\":[\"k_proj\","
                                 "\"down_proj\"]}", NULL);
    hive_adapter *a = load_ok(api, dir);
    memset(merged_set, 0, sizeof merged_set);
    hive_error *err = NULL;
    assert_int_equal(api->merge(a, &err), HIVE_OK);
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            uint32_t r = d->r[l][m], in = shape.module_in[m];
            assert_int_equal(merged_set[l][m], r ? 1 : 0);
            if (!r) continue;
            for (uint32_t o = 0; o < shape.module_out[m]; o++)
                for (uint32_t i = 0; i < in; i++) {
                    double ba = 0;
                    for (uint32_t k = 0; k < r; k++) ba += (double)d->B[l][m][o * r + k] * d->A[l][m][k * in + i];
                    double want = base_w[l][m][o * in + i] + d->s[l][m] * ba;
                    assert_true(fabs(merged_w[l][m][o * in + i] - want) <= 1e-6 * (1 + fabs(want)));
                }
        }
    hive_adapter_desc desc = {.struct_size = sizeof desc};
    assert_int_equal(api->describe(a, &desc), HIVE_OK);
    assert_int_equal(desc.hooks, 0);
    for (uint32_t i = 0; i < T_LAYERS * T_MODS; i++) assert_int_equal(desc.hooks_at[i], 0);
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}
