/* soft-prompt plugin: describe, the EMBED rows equal the stored embeddings
 * (f32 and half dtypes, strided out), config and tensor errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "util.h"

#define NV 5
#define HID 16 /* the harness model's hidden size */

static char *sp_write(const char *config, const float *emb, const char *dtype, int64_t rows, int64_t cols,
                      const char *extra) {
    st_tensor t[2] = {{.dtype = dtype, .n_dims = 2, .shape = {rows, cols}, .data = emb}};
    snprintf(t[0].name, sizeof t[0].name, "prompt_embeddings");
    int n = 1;
    if (extra) {
        t[1] = (st_tensor){.dtype = "F32", .n_dims = 2, .shape = {1, 1}};
        snprintf(t[1].name, sizeof t[1].name, "%s", extra);
        n = 2;
    }
    char *dir = dir_write(config, t, n);
    assert_non_null(dir);
    return dir;
}

static const char *k_cfg = "{\"peft_type\":\"PROMPT_TUNING\",\"task_type\":\"CAUSAL_LM\",\"num_virtual_tokens\":5,"
                           "\"token_dim\":16,\"num_transformer_submodules\":1,\"num_attention_heads\":4,"
                           "\"num_layers\":2,\"prompt_tuning_init\":\"TEXT\",\"prompt_tuning_init_text\":\"hi\","
                           "\"modules_to_save\":null,\"inference_mode\":true}";

void test_sp_info(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("soft-prompt");
    assert_non_null(api);
    assert_non_null(api->embed);
    assert_null(api->linear_input);
    assert_null(api->linear_output);
    assert_null(api->merge);
    assert_int_equal(api->claim("{\"peft_type\":\"PROMPT_TUNING\"}"), 100);
    assert_int_equal(api->claim("{\"peft_type\":\"P_TUNING\"}"), 1); /* only to fail with a clear message */
    assert_int_equal(api->claim("{\"peft_type\":\"PREFIX_TUNING\"}"), 0);
    assert_int_equal(api->claim("{\"peft_type\":\"IA3\"}"), 0);
    assert_int_equal(api->claim("{"), 0);
    assert_int_equal(api->claim(NULL), 0);
}

void test_sp_embed(void **state) {
    (void)state;
    const hive_adapter_api *api = plugin("soft-prompt");
    const char *dtypes[3] = {"F32", "F16", "BF16"};
    float emb[NV * HID];
    u_seed(5);
    for (int i = 0; i < NV * HID; i++) emb[i] = u_k64(-128, 128);
    for (int k = 0; k < 3; k++) {
        char *dir = sp_write(k_cfg, emb, dtypes[k], NV, HID, NULL);
        hive_adapter *a = load_ok(api, dir);
        hive_adapter_desc desc = {.struct_size = sizeof desc};
        assert_int_equal(api->describe(a, &desc), HIVE_OK);
        assert_int_equal(desc.hooks, HIVE_HOOK_EMBED);
        assert_int_equal(desc.n_virtual_tokens, NV);
        assert_int_equal(desc.device_bytes, NV * HID * 4);
        assert_non_null(desc.hooks_at);
        for (uint32_t i = 0; i < T_LAYERS * T_MODS; i++) assert_int_equal(desc.hooks_at[i], 0);
        for (int rep = 0; rep < 2; rep++) { /* once per sequence: stays valid */
            view v = view_new(NV, HID);
            hive_error *err = NULL;
            assert_int_equal(api->embed(a, &v.t, &err), HIVE_OK);
            assert_true(view_sentinels_ok(&v));
            for (int r = 0; r < NV; r++)
                for (int c = 0; c < HID; c++) assert_true(v.p[r * v.t.row_stride + c] == emb[r * HID + c]);
            view_free(&v);
        }
        /* wrong out shapes */
        view v = view_new(NV + 1, HID);
        hive_error *err = NULL;
        assert_int_equal(api->embed(a, &v.t, &err), HIVE_E_SHAPE);
        expect_in("expected f32 [5 x 16]", last_error);
        v.t.rows = NV, v.t.cols = HID - 1;
        assert_int_equal(api->embed(a, &v.t, &err), HIVE_E_SHAPE);
        assert_int_equal(api->embed(a, NULL, &err), HIVE_E_SHAPE);
        view_free(&v);
        api->destroy(a);
        adapter_remove(dir);
    }
    /* token_dim absent: the tensor's shape decides */
    char *dir = sp_write("{\"peft_type\":\"PROMPT_TUNING\",\"num_virtual_tokens\":5}", emb, "F32", NV, HID, NULL);
    hive_adapter *a = load_ok(api, dir);
    api->destroy(a);
    api->destroy(NULL);
    adapter_remove(dir);
}

void test_sp_errors(void **state) {
    (void)state;
    float emb[NV * 24] = {0};
    expect_fail_dir("soft-prompt",
                    sp_write("{\"peft_type\":\"PROMPT_TUNING\",\"num_virtual_tokens\":5,\"token_dim\":24}", emb, "F32",
                             NV, 24, NULL),
                    "\"token_dim\" is 24 but the model's hidden size is 16");
    expect_fail_dir("soft-prompt",
                    sp_write("{\"peft_type\":\"P_TUNING\",\"num_virtual_tokens\":5,\"token_dim\":16,"
                             "\"encoder_reparameterization_type\":\"MLP\",\"encoder_hidden_size\":32}",
                             emb, "F32", NV, HID, NULL),
                    "\"P_TUNING\"");
    expect_fail_dir("soft-prompt",
                    sp_write("{\"peft_type\":\"PREFIX_TUNING\",\"num_virtual_tokens\":5}", emb, "F32", NV, HID, NULL),
                    "expected \"PROMPT_TUNING\"");
    expect_fail_dir("soft-prompt",
                    sp_write("{\"peft_type\":\"PROMPT_TUNING\",\"num_virtual_tokens\":5,\"token_dim\":16,"
                             "\"num_transformer_submodules\":2}",
                             emb, "F32", NV, HID, NULL),
                    "num_transformer_submodules");
    expect_fail_dir("soft-prompt",
                    sp_write("{\"peft_type\":\"PROMPT_TUNING\",\"token_dim\":16}", emb, "F32", NV, HID, NULL),
                    "num_virtual_tokens");
    expect_fail_dir("soft-prompt",
                    sp_write("{\"peft_type\":\"PROMPT_TUNING\",\"num_virtual_tokens\":5,\"modules_to_save\":[\"score\"]}",
                             emb, "F32", NV, HID, NULL),
                    "modules_to_save");
    /* tensor shape disagrees with num_virtual_tokens / the hidden size */
    expect_fail_dir("soft-prompt", sp_write(k_cfg, emb, "F32", 4, HID, NULL),
                    "prompt_embeddings: expected [5, 16], found [4, 16]");
    expect_fail_dir("soft-prompt", sp_write("{\"peft_type\":\"PROMPT_TUNING\",\"num_virtual_tokens\":5}", emb, "F32", NV, 24, NULL),
                    "prompt_embeddings: expected [5, 16], found [5, 24]");
    expect_fail_dir("soft-prompt", sp_write(k_cfg, emb, "F32", NV, HID, "prompt_encoder.mlp.0.weight"),
                    "prompt_encoder.mlp.0.weight");
    expect_fail_dir("soft-prompt", sp_write(k_cfg, emb, "I32", NV, HID, NULL), "dtype I32");
    /* no tensor at all */
    st_tensor other = {.dtype = "F32", .n_dims = 2, .shape = {1, 1}};
    snprintf(other.name, sizeof other.name, "base_model.model.x");
    expect_fail_dir("soft-prompt", dir_write(k_cfg, &other, 1), "missing tensor prompt_embeddings");
    expect_fail_dir("soft-prompt", sp_write("[]", emb, "F32", NV, HID, NULL), "top level");
    hive_error *err = NULL;
    hive_adapter *none = (hive_adapter *)&none;
    assert_int_not_equal(plugin("soft-prompt")->load(NULL, &none, &err), HIVE_OK);
    assert_null(none);
}
