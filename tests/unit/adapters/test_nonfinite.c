/* Adapter weights holding NaN or Inf are refused at load (and at merge), with
 * a message naming the file, the tensor and the element, whatever the stored
 * dtype (F32, F16, BF16). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tests.h"

#define QV_CFG "{\"peft_type\":\"LORA\",\"r\":4,\"target_modules\":[\"q_proj\",\"v_proj\"]}"
#define QV_DORA_CFG "{\"peft_type\":\"LORA\",\"r\":4,\"use_dora\":true,\"target_modules\":[\"q_proj\",\"v_proj\"]}"
#define KEY(l, mod, suffix) "'base_model.model.model.layers." #l ".self_attn." mod "." suffix "'"

static adapter_data *qv(int dora, const char *dtype_A, const char *dtype_B) {
    adapter_data *d = calloc(1, sizeof *d);
    assert_non_null(d);
    for (int l = 0; l < T_LAYERS; l++) d->r[l][HIVE_MODULE_Q] = d->r[l][HIVE_MODULE_V] = 4;
    d->dora = dora;
    d->dtype_A = dtype_A;
    d->dtype_B = dtype_B;
    adapter_fill(d, 77);
    return d;
}

/* Writes d, loads it through `plugin_name`: HIVE_E_INVALID, nothing returned,
 * and the message names the safetensors file of the adapter and `what`. */
static void expect_refused(const char *plugin_name, const adapter_data *d, const char *cfg, const char *what) {
    char *dir = adapter_write(d, cfg, NULL);
    assert_non_null(dir);
    hive_adapter *a = (hive_adapter *)&a;
    hive_status st = adapter_load(plugin(plugin_name), dir, &a);
    if (st != HIVE_E_INVALID || !strstr(last_error, what))
        fprintf(stderr, "%s: status %d, expected \"%s\" in \"%s\"\n", plugin_name, (int)st, what, last_error);
    assert_int_equal(st, HIVE_E_INVALID);
    assert_null(a);
    assert_non_null(strstr(last_error, what));
    char file[600];
    snprintf(file, sizeof file, "%s/adapter_model.safetensors: tensor ", dir);
    assert_non_null(strstr(last_error, file));
    adapter_remove(dir);
}

void test_nonfinite_lora(void **state) {
    (void)state;
    adapter_data *d = qv(0, NULL, NULL);
    d->A[1][HIVE_MODULE_V][5] = NAN; /* f32 */
    expect_refused("lora", d, QV_CFG, KEY(1, "v_proj", "lora_A.weight") " holds NaN at element 5 (of 64)");
    free(d);
    d = qv(0, NULL, NULL);
    d->B[0][HIVE_MODULE_Q][63] = INFINITY; /* the last element */
    expect_refused("lora", d, QV_CFG, KEY(0, "q_proj", "lora_B.weight") " holds +Inf at element 63 (of 64)");
    free(d);
    /* as stored in half precision */
    d = qv(0, "F16", "BF16");
    d->A[0][HIVE_MODULE_Q][0] = NAN;
    expect_refused("lora", d, QV_CFG, KEY(0, "q_proj", "lora_A.weight") " holds NaN at element 0 (of 64)");
    free(d);
    d = qv(0, "F16", "F16");
    d->B[1][HIVE_MODULE_V][9] = INFINITY;
    expect_refused("lora", d, QV_CFG, KEY(1, "v_proj", "lora_B.weight") " holds +Inf at element 9 (of 32)");
    free(d);
    d = qv(0, "BF16", "BF16");
    d->B[0][HIVE_MODULE_V][2] = NAN;
    expect_refused("lora", d, QV_CFG, KEY(0, "v_proj", "lora_B.weight") " holds NaN at element 2 (of 32)");
    free(d);
    d = qv(0, "BF16", "F32");
    d->A[1][HIVE_MODULE_Q][40] = -INFINITY;
    expect_refused("lora", d, QV_CFG, KEY(1, "q_proj", "lora_A.weight") " holds -Inf at element 40 (of 64)");
    free(d);
}

void test_nonfinite_dora(void **state) {
    (void)state;
    adapter_data *d = qv(1, NULL, NULL);
    d->mag[1][HIVE_MODULE_Q][3] = NAN;
    expect_refused("dora", d, QV_DORA_CFG, KEY(1, "q_proj", "lora_magnitude_vector") " holds NaN at element 3 (of 16)");
    free(d);
    d = qv(1, NULL, NULL);
    d->mag[0][HIVE_MODULE_V][7] = INFINITY;
    expect_refused("dora", d, QV_DORA_CFG, KEY(0, "v_proj", "lora_magnitude_vector") " holds +Inf at element 7 (of 8)");
    free(d);
    d = qv(1, "F16", NULL);
    d->A[0][HIVE_MODULE_V][11] = INFINITY;
    expect_refused("dora", d, QV_DORA_CFG, KEY(0, "v_proj", "lora_A.weight") " holds +Inf at element 11 (of 64)");
    free(d);
    d = qv(1, NULL, "BF16");
    d->B[1][HIVE_MODULE_Q][1] = NAN;
    expect_refused("dora", d, QV_DORA_CFG, KEY(1, "q_proj", "lora_B.weight") " holds NaN at element 1 (of 64)");
    free(d);
}

/* Merge re-reads lora_A / lora_B from the file: a file that gained a NaN
 * after the load is refused there too, and no base weight is replaced. */
void test_nonfinite_merge(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("lora");
    adapter_data *d = qv(0, NULL, NULL);
    char *dir = adapter_write(d, QV_CFG, NULL);
    assert_non_null(dir);
    hive_adapter *a = NULL;
    assert_int_equal(adapter_load(api, dir, &a), HIVE_OK);
    d->A[0][HIVE_MODULE_Q][6] = NAN; /* the first module merged */
    char *dir2 = adapter_write(d, QV_CFG, NULL);
    assert_non_null(dir2);
    char from[600], to[600];
    snprintf(from, sizeof from, "%s/adapter_model.safetensors", dir2);
    snprintf(to, sizeof to, "%s/adapter_model.safetensors", dir);
    assert_int_equal(rename(from, to), 0);
    memset(merged_set, 0, sizeof merged_set);
    hive_error *err = NULL;
    last_error[0] = 0;
    assert_int_equal(api->merge(a, &err), HIVE_E_INVALID);
    assert_non_null(strstr(last_error, KEY(0, "q_proj", "lora_A.weight") " holds NaN at element 6 (of 64)"));
    for (int l = 0; l < T_LAYERS; l++)
        for (int m = 0; m < T_MODS; m++) assert_int_equal(merged_set[l][m], 0);
    api->destroy(a);
    adapter_remove(dir);
    adapter_remove(dir2);
    free(d);
}
