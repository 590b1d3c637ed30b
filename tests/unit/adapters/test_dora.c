/* dora plugin: hook output against y += (f-1)(base_y - b) + f s B A x with
 * f = m / ||W + s B A||, merge W' = f (W + s B A), and DoRA next to LoRA. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tests.h"

#define TOL 1e-5

static const char *const k_cfg =
    "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":16,\"use_dora\":true,\"bias\":\"none\","
    "\"target_modules\":[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\"]}";

static adapter_data *dora_data(uint32_t seed) {
    adapter_data *d = calloc(1, sizeof *d);
    assert_non_null(d);
    for (int l = 0; l < T_LAYERS; l++)
        for (int m = 0; m < T_MODS; m++) d->r[l][m] = 4, d->s[l][m] = 4.0f;
    d->dora = 1;
    adapter_fill(d, seed);
    return d;
}

static hive_adapter *load_ok(const hive_adapter_api *api, const char *dir) {
    hive_adapter *a = NULL;
    hive_status st = adapter_load(api, dir, &a);
    if (st != HIVE_OK) fprintf(stderr, "load failed: %s\n", last_error);
    assert_int_equal(st, HIVE_OK);
    return a;
}

void test_dora_hook(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("dora");
    adapter_data *d = dora_data(41);
    char *dir = adapter_write(d, k_cfg, NULL);
    hive_adapter *a = load_ok(api, dir);
    hive_adapter_desc desc = {.struct_size = sizeof desc};
    assert_int_equal(api->describe(a, &desc), HIVE_OK);
    assert_int_equal(desc.hooks, HIVE_HOOK_LINEAR_OUTPUT);
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            assert_int_equal(desc.hooks_at[l * T_MODS + m], HIVE_HOOK_LINEAR_OUTPUT);
            for (uint32_t n = 1; n <= T_MAX_ROWS; n += 7) {
                double e = check_hook(&api, &a, (const adapter_data *const *)&d, 1, l, m, n);
                if (e < 0 || e > TOL) fprintf(stderr, "dora layer %u module %u: rel err %g\n", l, m, e);
                assert_true(e >= 0 && e <= TOL);
            }
        }
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}

void test_dora_merge(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("dora");
    adapter_data *d = dora_data(42);
    char *dir = adapter_write(d, k_cfg, NULL);
    hive_adapter *a = load_ok(api, dir);
    memset(merged_set, 0, sizeof merged_set);
    hive_error *err = NULL;
    assert_int_equal(api->merge(a, &err), HIVE_OK);
    double f[T_MAX_DIM];
    for (uint32_t l = 0; l < T_LAYERS; l++)
        for (uint32_t m = 0; m < T_MODS; m++) {
            uint32_t r = d->r[l][m], in = shape.module_in[m];
            assert_true(merged_set[l][m]);
            ref_dora_f(d, l, m, f);
            for (uint32_t o = 0; o < shape.module_out[m]; o++)
                for (uint32_t i = 0; i < in; i++) {
                    double ba = 0;
                    for (uint32_t k = 0; k < r; k++) ba += (double)d->B[l][m][o * r + k] * d->A[l][m][k * in + i];
                    double want = f[o] * (base_w[l][m][o * in + i] + d->s[l][m] * ba);
                    assert_true(fabs(merged_w[l][m][o * in + i] - want) <= 1e-6 * (1 + fabs(want)));
                }
        }
    hive_adapter_desc desc = {.struct_size = sizeof desc};
    assert_int_equal(api->describe(a, &desc), HIVE_OK);
    assert_int_equal(desc.hooks, 0);
    assert_int_equal(desc.hooks_at[0], 0);
    api->destroy(a);
    adapter_remove(dir);
    free(d);
}

void test_dora_with_lora(void **state) {
    (void)state;
    const hive_adapter_api *dora = plugin("dora"), *lora = plugin("lora");
    adapter_data *dd = dora_data(43), *ld = calloc(1, sizeof *ld);
    assert_non_null(ld);
    for (int l = 0; l < T_LAYERS; l++) ld->r[l][HIVE_MODULE_V] = 2, ld->s[l][HIVE_MODULE_V] = 1.5f;
    adapter_fill(ld, 44);
    char *ddir = adapter_write(dd, k_cfg, NULL);
    char *ldir = adapter_write(ld, "{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":3,\"target_modules\":[\"v_proj\"]}", NULL);
    hive_adapter *a = load_ok(dora, ddir), *b = load_ok(lora, ldir), *a2 = load_ok(dora, ddir);
    const hive_adapter_api *apis[3] = {lora, dora, dora};
    hive_adapter *ads[3] = {b, a, a2};
    const adapter_data *data[3] = {ld, dd, dd};
    for (uint32_t l = 0; l < T_LAYERS; l++) {
        double e = check_hook(apis, ads, data, 3, l, HIVE_MODULE_V, 6);
        assert_true(e >= 0 && e <= TOL);
    }
    dora->destroy(a);
    dora->destroy(a2);
    lora->destroy(b);
    adapter_remove(ddir);
    adapter_remove(ldir);
    free(dd);
    free(ld);
}
