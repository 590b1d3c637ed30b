/* blazr's format (oxidizr's checkpoints) against scripts/blazr_reference.py:
 * tiny random models mixing Mamba2, MLA + MoE, MLA + MLP and standard
 * layers (scripts/make-blazr-fixtures.py), with layer_types, with the legacy
 * mamba_layers and with the types detected from tensor names; and a briefly
 * trained nano-start-shaped model in f16 (scripts/train-blazr-nano.py).
 * Prefill logits at every position and 20 greedy decode steps match to 1e-4
 * relative in f32 with identical tokens; two sequences in one batch keep
 * their own Mamba2 state and latent cache; bad configs are errors naming
 * the key, tensor or layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden_util.h"
#include "util/error.h"

#define TOL 1e-4

static void fixture_dir(char *dir, size_t cap, const char *name) {
    snprintf(dir, cap, "%s/tests/golden/data/blazr/%s", HIVE_SOURCE_DIR, name);
}

/* The layer types Hive bound, as blazr names them. */
static const char *bound_type(const hive_layer_tensors *t) {
    if (t->ssm_in.data) return "Mamba2";
    if (t->mla_kr.data) return t->moe_router.data ? "MlaWithMoe" : "MlaWithMlp";
    return t->wq.data ? "StandardTransformer" : "?";
}

static void run_fixture(const char *name) {
    char dir[512], path[600], why[160];
    fixture_dir(dir, sizeof dir, name);
    snprintf(path, sizeof path, "%s/golden.json", dir);
    cJSON *g = golden_load_json(path);
    assert_non_null(g);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 256, -1, 1), 0);
    assert_string_equal(hive_engine_hparams(env.eng)->arch_name, "blazr");
    const cJSON *types = cJSON_GetObjectItem(g, "layer_types");
    assert_int_equal(cJSON_GetArraySize(types), (int)env.model->hp.n_layers);
    for (uint32_t l = 0; l < env.model->hp.n_layers; l++)
        if (strcmp(bound_type(&env.model->layers[l]), cJSON_GetArrayItem(types, (int)l)->valuestring))
            fail_msg("%s: layer %u bound as %s, the reference has %s", name, l, bound_type(&env.model->layers[l]),
                     cJSON_GetArrayItem(types, (int)l)->valuestring);
    int ok = 0;
    double e = golden_run(&env, g, NULL, &ok, why, sizeof why);
    printf("blazr/%s: worst relative error %.2e (%s)\n", name, e, why);
    if (e > TOL) fail_msg("blazr/%s: relative error %.3g > %.0e (%s)", name, e, TOL, why);
    if (!ok) fail_msg("blazr/%s: greedy tokens differ from the reference (%s)", name, why);
    golden_env_close(&env);
    cJSON_Delete(g);
}

static void test_layer_types(void **s) { (void)s; run_fixture("types"); }
static void test_legacy_mamba_layers(void **s) { (void)s; run_fixture("legacy"); }
static void test_detected_from_names(void **s) { (void)s; run_fixture("detect"); }
static void test_trained_nano(void **s) { (void)s; run_fixture("nano"); }

/* Two sequences' rows interleaved in every pass (prefill, then 20 decode
 * steps of two rows): each keeps its own conv/SSM state and latent cache. */
static void test_two_sequences_interleaved(void **s) {
    (void)s;
    char dir[512], path[600];
    fixture_dir(dir, sizeof dir, "types");
    snprintf(path, sizeof path, "%s/golden.json", dir);
    cJSON *g = golden_load_json(path);
    assert_non_null(g);
    golden_env env;
    assert_int_equal(golden_env_open(&env, dir, 256, -1, 1), 0);
    uint32_t V = (uint32_t)cJSON_GetObjectItem(g, "n_vocab")->valueint;
    int32_t prompt[64], decode[64], ids[128], seqs[128], a, b;
    int np = golden_json_ints(cJSON_GetObjectItem(g, "prompt_ids"), prompt, 64);
    int nd = golden_json_ints(cJSON_GetObjectItem(g, "decode_tokens"), decode, 64);
    assert_int_equal(hive_engine_seq_new(env.eng, &a, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(env.eng, &b, NULL), HIVE_OK);
    uint8_t want[128];
    for (int i = 0; i < np; i++) ids[2 * i] = ids[2 * i + 1] = prompt[i], seqs[2 * i] = a, seqs[2 * i + 1] = b;
    memset(want, 1, sizeof want);
    float *logits = malloc((size_t)2 * np * V * sizeof *logits);
    hive_fwd_batch pre = {(uint32_t)(2 * np), ids, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(env.eng, &pre, logits, NULL), HIVE_OK);
    const cJSON *rows = cJSON_GetObjectItem(g, "prefill_logits"), *dec = cJSON_GetObjectItem(g, "decode_logits");
    for (int i = 0; i < 2 * np; i++) {
        double e = golden_row_rel_err(logits + (size_t)i * V, cJSON_GetArrayItem(rows, i / 2), V);
        if (e > TOL) fail_msg("prefill row %d (sequence %c, position %d): relative error %.3g", i, i % 2 ? 'b' : 'a', i / 2, e);
    }
    for (int k = 0; k < nd; k++) {
        int32_t two[2] = {decode[k], decode[k]}, ss[2] = {b, a}; /* b first: order within a pass is free */
        hive_fwd_batch step = {2, two, ss, want, NULL};
        assert_int_equal(hive_engine_forward(env.eng, &step, logits, NULL), HIVE_OK);
        for (int r = 0; r < 2; r++) {
            double e = golden_row_rel_err(logits + (size_t)r * V, cJSON_GetArrayItem(dec, k), V);
            if (e > TOL) fail_msg("decode step %d, row %d: relative error %.3g", k, r, e);
        }
    }
    free(logits);
    golden_env_close(&env);
    cJSON_Delete(g);
}

/* Writes dir/config.json = the fixture's config with `extra` keys in front
 * (cJSON takes the first of duplicate keys) and links its safetensors. */
static void config_variant(const char *fixture, const char *tmp, const char *extra) {
    char src[512], path[700], target[700];
    fixture_dir(src, sizeof src, fixture);
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    snprintf(target, sizeof target, "%s/model.safetensors", src);
    unlink(path);
    assert_int_equal(symlink(target, path), 0);
    snprintf(path, sizeof path, "%s/config.json", src);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char base[8192];
    size_t len = fread(base, 1, sizeof base - 1, fp);
    fclose(fp);
    base[len] = '\0';
    snprintf(path, sizeof path, "%s/config.json", tmp);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fprintf(fp, "{%s%s%s", extra, *extra ? "," : "", strchr(base, '{') + 1);
    fclose(fp);
}

static void test_config_errors(void **s) {
    (void)s;
    static const struct {
        const char *fixture, *extra, *want;
        hive_status code;
    } k[] = {
        {"types", "\"layer_types\": [\"Mamba2\", \"Mamba3\", \"StandardTransformer\", \"MlaWithMlp\", \"Mamba2\"]",
         "layer 1 has type 'Mamba3'", HIVE_E_UNSUPPORTED},
        {"types", "\"layer_types\": [\"Mamba2\", \"MlaWithMoe\", \"MlaWithMlp\", \"MlaWithMlp\", \"Mamba2\"]",
         "missing tensor layers.2.self_attn.w_dkv.weight", HIVE_E_NOTFOUND},
        {"types", "\"layer_types\": [\"Mamba2\", \"MlaWithMoe\"]", "layer_types must list the 5 layers", HIVE_E_INVALID},
        {"types", "\"layer_types\": [\"Mamba2\", \"Mamba2\", \"StandardTransformer\", \"MlaWithMlp\", \"Mamba2\"]",
         "config.json makes layer 1 Mamba2 but its tensors are MlaWithMoe", HIVE_E_INVALID},
        {"legacy", "\"mamba_layers\": [0]", "layer 3 has mamba2.* tensors but config.json makes it an attention layer",
         HIVE_E_INVALID},
        {"legacy", "\"mamba_layers\": [0, 9]", "mamba_layers holds 9, not a layer index below 5", HIVE_E_INVALID},
        {"detect", "\"kv_latent_dim\": null", "layer 2 is MlaWithMoe, which needs kv_latent_dim", HIVE_E_INVALID},
        {"detect", "\"num_experts\": 4", "layers.2.moe.router.gate.weight: expected [4, 16], found [3, 16]", HIVE_E_SHAPE},
        {"detect", "\"mamba2_expand\": 3", "mamba2_expand x hidden_size (3 x 16) must equal", HIVE_E_INVALID},
        {"detect", "\"shared_expert_enabled\": false", "moe.shared_expert.gate_proj.weight is present but config.json",
         HIVE_E_INVALID},
        /* a model_type makes it a Hugging Face config, never blazr's */
        {"detect", "\"model_type\": \"llama\"", "num_hidden_layers is missing", HIVE_E_INVALID},
    };
    char tmpl[] = "/tmp/hive-blazr-cfg-XXXXXX", path[700];
    assert_non_null(mkdtemp(tmpl));
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        config_variant(k[i].fixture, tmpl, k[i].extra);
        hive_model_files *m = NULL;
        hive_error *err = NULL;
        hive_status st = hive_model_open(tmpl, &m, &err);
        if (st != k[i].code || !err || !strstr(hive_error_message(err), k[i].want))
            fail_msg("%s: expected %d \"%s\", got %d: %s", k[i].extra, k[i].code, k[i].want, st,
                     err ? hive_error_message(err) : "(none)");
        assert_null(m);
        hive_error_free(err);
    }
    /* and the fixture's own config opens (the variants above are what broke it) */
    config_variant("detect", tmpl, "");
    hive_model_files *m = NULL;
    assert_int_equal(hive_model_open(tmpl, &m, NULL), HIVE_OK);
    hive_model_close(m);
    snprintf(path, sizeof path, "%s/config.json", tmpl);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", tmpl);
    unlink(path);
    rmdir(tmpl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_types),
        cmocka_unit_test(test_legacy_mamba_layers),
        cmocka_unit_test(test_detected_from_names),
        cmocka_unit_test(test_trained_nano),
        cmocka_unit_test(test_two_sequences_interleaved),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
