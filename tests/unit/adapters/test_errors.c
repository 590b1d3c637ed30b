/* Load errors: each names what is wrong, nothing stays allocated (ASan run),
 * and hook calls with bad arguments fail cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "st_writer.h"
#include "tests.h"

static adapter_data *qv_data(int dora) {
    adapter_data *d = calloc(1, sizeof *d);
    assert_non_null(d);
    for (int l = 0; l < T_LAYERS; l++) d->r[l][HIVE_MODULE_Q] = d->r[l][HIVE_MODULE_V] = 4;
    d->dora = dora;
    adapter_fill(d, 51);
    return d;
}

static void expect_in(const char *what, const char *msg) {
    if (!strstr(msg, what)) fprintf(stderr, "expected \"%s\" in \"%s\"\n", what, msg);
    assert_non_null(strstr(msg, what));
}

/* writes d with cfg (+ extra tensors), loads through api, expects failure
 * with `what` in the message */
static void expect_fail(const char *plugin_name, const adapter_data *d, const char *cfg, const char *const *extra,
                        const char *what) {
    char *dir = adapter_write(d, cfg, extra);
    assert_non_null(dir);
    hive_adapter *a = (hive_adapter *)&a;
    assert_int_not_equal(adapter_load(plugin(plugin_name), dir, &a), HIVE_OK);
    assert_null(a);
    expect_in(what, last_error);
    adapter_remove(dir);
}

#define QV "\"target_modules\":[\"q_proj\",\"v_proj\"]"

void test_err_config(void **state) {
    (void)state;
    adapter_data *d = qv_data(0);
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV ",\"modules_to_save\":[\"lm_head\"]}", NULL,
                "modules_to_save");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV ",\"bias\":\"all\"}", NULL, "bias \"all\"");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV ",\"bias\":\"lora_only\"}", NULL, "bias");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV ",\"lora_bias\":true}", NULL, "lora_bias");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV ",\"use_dora\":true}", NULL, "use_dora");
    expect_fail("dora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV "}", NULL, "use_dora");
    expect_fail("lora", d, "{\"peft_type\":\"IA3\"," QV "}", NULL, "peft_type");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":\"four\"," QV "}", NULL, "\"r\"");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV ",\"rank_pattern\":{\"q_proj\":0}}", NULL,
                "rank_pattern");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV ",\"layer_replication\":[[0,1]]}", NULL,
                "layer_replication");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4,", NULL, "not valid JSON");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4,\"target_modules\":\"(\"}", NULL, "target_modules");
    free(d);
}

void test_err_targets(void **state) {
    (void)state;
    adapter_data *d = qv_data(0);
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4,\"target_modules\":[\"q_proj\",\"v_proj\",\"lm_head\"]}",
                NULL, "\"lm_head\"");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4,\"target_modules\":[\"q_proj\",\"embed_tokens\"]}", NULL,
                "\"embed_tokens\"");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4,\"target_modules\":\".*(q_proj|v_proj|lm_head)\"}", NULL,
                "lm_head");
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4,\"target_modules\":\"q_proj\"}", NULL, "selects no module");
    /* tensors that target nothing: a module outside the targets, lm_head */
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4,\"target_modules\":[\"q_proj\"]}", NULL,
                "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight");
    const char *extra[] = {"base_model.model.lm_head.lora_A.weight", NULL};
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV "}", extra, "base_model.model.lm_head.lora_A.weight");
    free(d);
}

void test_err_tensors(void **state) {
    (void)state;
    adapter_data *d = qv_data(0);
    const char *cfg = "{\"peft_type\":\"LORA\",\"r\":4," QV "}";
    hive_adapter *a = NULL;
    char *dir = adapter_write_ex(d, cfg, NULL, 0, HIVE_MODULE_Q, 8, 0);
    assert_int_equal(adapter_load(plugin("lora"), dir, &a), HIVE_E_SHAPE);
    assert_string_equal(last_error,
                        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight: expected [16, 4], found [8, 4]");
    adapter_remove(dir);
    dir = adapter_write_ex(d, cfg, NULL, 1, HIVE_MODULE_V, 0, 1);
    assert_int_equal(adapter_load(plugin("lora"), dir, &a), HIVE_E_NOTFOUND);
    expect_in("missing tensor base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight", last_error);
    adapter_remove(dir);
    /* rank_pattern says 2 where the file has 4 */
    expect_fail("lora", d, "{\"peft_type\":\"LORA\",\"r\":4," QV ",\"rank_pattern\":{\"v_proj\":2}}", NULL,
                "v_proj.lora_A.weight: expected [2, 16], found [4, 16]");
    /* DoRA without its magnitude vectors */
    expect_fail("dora", d, "{\"peft_type\":\"LORA\",\"r\":4,\"use_dora\":true," QV "}", NULL,
                "q_proj.lora_magnitude_vector");
    /* LoRA given a DoRA file: the magnitudes target nothing in plain LoRA */
    adapter_data *dd = qv_data(1);
    expect_fail("lora", dd, cfg, NULL, "lora_magnitude_vector");
    free(dd);
    free(d);
}

void test_err_files(void **state) {
    (void)state;
    adapter_data *d = qv_data(0);
    char *dir = adapter_write(d, "{\"peft_type\":\"LORA\",\"r\":4," QV "}", NULL);
    char st_path[600], bin_path[600];
    snprintf(st_path, sizeof st_path, "%s/adapter_model.safetensors", dir);
    snprintf(bin_path, sizeof bin_path, "%s/adapter_model.bin", dir);
    assert_int_equal(rename(st_path, bin_path), 0);
    hive_adapter *a = NULL;
    assert_int_not_equal(adapter_load(plugin("lora"), dir, &a), HIVE_OK);
    expect_in("adapter_model.bin (pickle) is not supported; save with safe_serialization=True", last_error);
    unlink(bin_path);
    assert_int_not_equal(adapter_load(plugin("lora"), dir, &a), HIVE_OK);
    expect_in("no adapter_model.safetensors", last_error);
    /* a file that is not safetensors */
    assert_int_equal(write_text_file(st_path, "garbage"), 0);
    assert_int_not_equal(adapter_load(plugin("lora"), dir, &a), HIVE_OK);
    assert_null(a);
    /* unsupported dtype */
    st_tensor t = {.dtype = "I32", .n_dims = 2, .shape = {4, 16}};
    snprintf(t.name, sizeof t.name, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    assert_int_equal(st_write(st_path, &t, 1), 0);
    assert_int_equal(write_text_file(bin_path, "x"), 0);
    char cfg_path[600];
    snprintf(cfg_path, sizeof cfg_path, "%s/adapter_config.json", dir);
    assert_int_equal(write_text_file(cfg_path, "{\"peft_type\":\"LORA\",\"r\":4,\"target_modules\":[\"q_proj\"],"
                                               "\"layers_to_transform\":[0]}"),
                     0);
    d->r[0][HIVE_MODULE_Q] = 4;
    assert_int_not_equal(adapter_load(plugin("lora"), dir, &a), HIVE_OK);
    expect_in("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", last_error); /* B missing */
    adapter_remove(dir);
    free(d);
}

void test_err_hook_calls(void **state) {
    (void)state;
    adapter_data *d = qv_data(0);
    for (int l = 0; l < T_LAYERS; l++) d->s[l][HIVE_MODULE_Q] = d->s[l][HIVE_MODULE_V] = 2.0f;
    const hive_adapter_api *api = plugin("lora");
    char *dir = adapter_write(d, "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8," QV "}", NULL);
    hive_adapter *a = NULL;
    assert_int_equal(adapter_load(api, dir, &a), HIVE_OK);
    hive_buffer *buf = NULL;
    hive_error *err = NULL;
    assert_int_equal(be->buffer_alloc(dev, 64 * 64 * 4, &buf, &err), HIVE_OK);
    hive_tensor big_x = {sizeof big_x, HIVE_DTYPE_F32, buf, 0, T_MAX_ROWS + 1, 16, 16};
    hive_tensor big_y = big_x;
    assert_int_not_equal(api->linear_output(a, 0, HIVE_MODULE_Q, &big_x, &big_y, &big_y, &err), HIVE_OK);
    hive_tensor x = big_x, y = big_x;
    x.rows = y.rows = 2;
    assert_int_not_equal(api->linear_output(a, 0, HIVE_MODULE_K, &x, &y, &y, &err), HIVE_OK); /* not hooked */
    assert_int_not_equal(api->linear_output(a, 9, HIVE_MODULE_Q, &x, &y, &y, &err), HIVE_OK);
    y.cols = 8;
    assert_int_not_equal(api->linear_output(a, 0, HIVE_MODULE_Q, &x, &y, &y, &err), HIVE_OK);
    be->buffer_free(dev, buf);
    double e = check_hook(&api, &a, (const adapter_data *const *)&d, 1, 0, HIVE_MODULE_Q, 3); /* still fine */
    assert_true(e >= 0 && e <= 1e-5);
    api->destroy(a);
    api->destroy(NULL);
    adapter_remove(dir);
    free(d);
}
