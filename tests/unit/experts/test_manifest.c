/* Manifest parsing and checks, the base-model check, adapter shape checks. */
#include <stdio.h>
#include <string.h>

#include "experts/adapter_files.h"
#include "experts/base_match.h"
#include "experts/manifest.h"
#include "experts/sha256.h"
#include "tests.h"
#include "util/error.h"
#include "util.h"

/* Loads g_tmp/<pkg>/manifest.json; returns the problem count. */
static size_t load(const char *pkg, hive_manifest *m, hive_problems *p) {
    char file[1024];
    snprintf(file, sizeof file, "%s/manifest.json", tu_path(pkg));
    hive_error *err = NULL;
    memset(p, 0, sizeof *p);
    assert_int_equal(hive_manifest_load(tu_path(pkg), file, m, p, &err), HIVE_OK);
    return p->n;
}

static int has_problem(const hive_problems *p, const char *a, const char *b) {
    for (size_t i = 0; i < p->n; i++)
        if (strstr(p->msgs[i], a) && (!b || strstr(p->msgs[i], b))) return 1;
    for (size_t i = 0; i < p->n; i++) fprintf(stderr, "  problem: %s\n", p->msgs[i]);
    return 0;
}

static int has_ignored(const hive_manifest *m, const char *needle) {
    for (size_t i = 0; i < m->ignored.n; i++)
        if (strstr(m->ignored.v[i], needle)) return 1;
    return 0;
}

static void test_full_manifest(void **state) {
    (void)state;
    tu_adapter("full", "weights/qwen", "LORA", 1, 12, 24, NULL);
    tu_adapter("full", "ia3", "IA3", 0, 8, 8, NULL);
    tu_package("full", "expert-sql", "Qwen/Qwen3-0.6B",
               "[{\"type\": \"dora\", \"path\": \"weights/qwen/adapter_model.safetensors\", \"r\": 12, \"alpha\": 24,"
               "  \"target_modules\": [\"v_proj\", \"q_proj\"], \"dropout\": 0.05, \"sha256\": \"def456...\"},"
               " {\"type\": \"IA3\", \"path\": \"ia3\"}]",
               "\"training\": {\"decoding\": {\"temperature\": 0.1, \"top_p\": 0.9, \"top_k\": 50,"
               "   \"stop_sequences\": [\";\", \"\\n\\n\"], \"use_grammar\": true, \"grammar_type\": \"sql-postgres\"},"
               "   \"config\": {\"epochs\": 3}},"
               "\"runtime\": {\"candle_compatible\": true, \"attention_kernel\": \"flash-v2\"},"
               "\"routing\": {\"keywords\": [\"sql\", \"postgres\"], \"priority\": 0.7},"
               "\"constraints\": {\"max_chain\": 10, \"load_order\": 5, \"incompatible_with\": [\"expert-json\"], \"requires\": []},"
               "\"license\": \"MIT\", \"soft_prompts\": []");
    hive_manifest m;
    hive_problems p;
    if (load("full", &m, &p)) {
        has_problem(&p, "-", NULL);
        fail_msg("unexpected problems");
    }
    assert_string_equal(m.name, "expert-sql");
    assert_string_equal(m.schema_version, "2.0");
    assert_int_equal(m.n_bases, 1);
    assert_int_equal(m.bases[0].n_adapters, 2);
    hive_manifest_adapter *a = &m.bases[0].adapters[0];
    assert_string_equal(a->type, "dora");
    assert_non_null(strstr(a->weights, "weights/qwen/adapter_model.safetensors"));
    assert_int_equal(a->cfg_r, 12);
    assert_string_equal(m.bases[0].adapters[1].type, "ia3");
    assert_int_equal(m.n_decoding, 5); /* + the grammar (docs/GRAMMAR.md) */
    assert_string_equal(m.decoding[0].key, "sampling.temperature");
    assert_string_equal(m.decoding[0].value, "0.1");
    assert_string_equal(m.decoding[2].value, "50");
    assert_string_equal(m.decoding[3].key, "sampling.stop");
    assert_string_equal(m.decoding[3].value, ";,\n\n");
    assert_string_equal(m.decoding[4].key, "grammar.builtin");
    assert_string_equal(m.decoding[4].value, "sql-postgres");
    assert_int_equal(m.keywords.n, 2);
    assert_int_equal(m.max_chain, 10);
    assert_int_equal(m.incompatible_with.n, 1);
    assert_true(has_ignored(&m, "runtime.attention_kernel"));
    assert_true(has_ignored(&m, "training.config"));
    assert_true(has_ignored(&m, "constraints.load_order"));
    assert_true(has_ignored(&m, "license"));
    assert_true(has_ignored(&m, "adapters[0].dropout"));
    assert_true(has_ignored(&m, "adapters[0].sha256"));
    hive_manifest_free(&m);
    hive_problems_free(&p);
}

static void test_errors(void **state) {
    (void)state;
    hive_manifest m;
    hive_problems p;
    /* missing name, lora declared but use_dora in the config, r mismatch,
     * bad path, missing adapter_config.json, unsupported type */
    tu_adapter("bad", "dora", "LORA", 1, 8, 16, NULL);
    tu_write("bad/noconfig/adapter_model.safetensors", "");
    tu_write("bad/manifest.json",
             "{\"version\": \"1\", \"base_models\": [{\"name\": \"X\", \"adapters\": ["
             " {\"type\": \"lora\", \"path\": \"dora\", \"r\": 16},"
             " {\"type\": \"lora\", \"path\": \"../outside\"},"
             " {\"type\": \"lora\", \"path\": \"noconfig\"},"
             " {\"type\": \"lokr\", \"path\": \"dora\"},"
             " {\"type\": \"lora\", \"path\": \"missing\"}]}],"
             " \"training\": {\"decoding\": {\"temperature\": 500, \"top_k\": 1.5}}}");
    load("bad", &m, &p);
    assert_true(has_problem(&p, "bad/manifest.json: name: missing", NULL));
    assert_true(has_problem(&p, "base_models[0].adapters[0].type is 'lora' but", "adapter_config.json says peft_type 'LORA' with use_dora true (a 'dora' adapter)"));
    assert_true(has_problem(&p, "base_models[0].adapters[0].r is 16 but", "says r = 8"));
    assert_true(has_problem(&p, "adapters[1].path: '../outside' must be a relative path inside the package", NULL));
    assert_true(has_problem(&p, "adapters[2].path: no adapter_config.json in", NULL));
    assert_true(has_problem(&p, "adapters[3].type: 'lokr' is not supported", NULL));
    assert_true(has_problem(&p, "adapters[4].path: 'missing' does not exist in the package", NULL));
    assert_true(has_problem(&p, "training.decoding.temperature", "500"));
    assert_true(has_problem(&p, "training.decoding.top_k: expected an integer", NULL));
    hive_problems_fail(&p, HIVE_E_INVALID, NULL);
    hive_error *err = NULL;
    assert_int_equal(hive_problems_fail(&p, HIVE_E_INVALID, &err), HIVE_E_INVALID);
    assert_err_contains(err, "more problems)");
    hive_manifest_free(&m);
    hive_problems_free(&p);
    /* not JSON */
    tu_write("notjson/manifest.json", "{\"name\": ");
    memset(&p, 0, sizeof p);
    assert_int_equal(hive_manifest_load(tu_path("notjson"), tu_path("notjson/manifest.json"), &m, &p, &err), HIVE_E_INVALID);
    assert_err_contains(err, "notjson/manifest.json: not valid JSON");
    /* schema 1.0 */
    tu_adapter("v1", "w", "LORA", 0, 16, 16, NULL);
    tu_write("v1/manifest.json", "{\"name\": \"v1\", \"version\": \"1.0.0\", \"schema_version\": \"1.0\","
                                 " \"base_model\": {\"name\": \"Qwen3-0.6B\", \"sha256\": \"test_hash_v1\"},"
                                 " \"adapters\": [{\"type\": \"lora\", \"path\": \"w/adapter_model.safetensors\", \"r\": 16, \"alpha\": 16}]}");
    assert_int_equal(load("v1", &m, &p), 0);
    assert_int_equal(m.n_bases, 1);
    assert_string_equal(m.bases[0].name, "Qwen3-0.6B");
    assert_string_equal(m.bases[0].sha256, "");
    assert_true(has_ignored(&m, "base_model.sha256: 'test_hash_v1' is not a sha256 digest"));
    hive_manifest_free(&m);
    hive_problems_free(&p);
}

/* training.decoding.draft_corpus: a file in the package, as the
 * speculative.draft_corpus default (its path); anything else a problem
 * naming the field. */
static void test_draft_corpus(void **state) {
    (void)state;
    static const struct {
        const char *pkg, *value, *problem; /* problem NULL: accepted */
    } cases[] = {
        {"dc_ok", "\"corpus.txt\"", NULL},
        {"dc_up", "\"../corpus.txt\"",
         "training.decoding.draft_corpus '../corpus.txt' must be a relative path inside the package"},
        {"dc_abs", "\"/etc/passwd\"", "training.decoding.draft_corpus '/etc/passwd' must be a relative path"},
        {"dc_missing", "\"none.txt\"", "training.decoding.draft_corpus: the package has no none.txt"},
        {"dc_number", "5", "training.decoding.draft_corpus: expected a file in the package"},
        {"dc_empty", "\"\"", "training.decoding.draft_corpus: expected a file in the package"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char extra[256], file[128];
        tu_adapter(cases[i].pkg, "w", "LORA", 0, 8, 16, NULL);
        snprintf(file, sizeof file, "%s/corpus.txt", cases[i].pkg);
        tu_write(file, "SELECT name FROM users;\n");
        snprintf(extra, sizeof extra, "\"training\": {\"decoding\": {\"temperature\": 0.1, \"draft_corpus\": %s}}",
                 cases[i].value);
        tu_package(cases[i].pkg, "x", "SmolLM2-135M", "[{\"type\": \"lora\", \"path\": \"w\"}]", extra);
        hive_manifest m;
        hive_problems p;
        size_t n = load(cases[i].pkg, &m, &p);
        if (cases[i].problem) {
            assert_true(has_problem(&p, cases[i].problem, NULL));
            assert_int_equal(m.n_decoding, 1); /* the temperature alone */
        } else {
            assert_int_equal(n, 0);
            assert_int_equal(m.n_decoding, 2);
            assert_string_equal(m.decoding[1].key, "speculative.draft_corpus");
            assert_string_equal(m.decoding[1].field, "training.decoding.draft_corpus");
            assert_string_equal(m.decoding[1].value, tu_path(file));
        }
        hive_manifest_free(&m);
        hive_problems_free(&p);
    }
}

/* Numbers too large for an integer are problems, not undefined conversions
 * (found by fuzz_manifest, UBSan float-cast-overflow). */
static void test_huge_numbers(void **state) {
    (void)state;
    hive_manifest m;
    hive_problems p;
    tu_write("huge/w/adapter_config.json", "{\"peft_type\": \"LORA\", \"r\": 1e300, \"num_virtual_tokens\": -1e300}");
    tu_write("huge/w/adapter_model.safetensors", "");
    tu_write("huge/manifest.json",
             "{\"name\": \"huge\", \"version\": \"1\", \"base_models\": [{\"name\": \"X\", \"adapters\": ["
             " {\"type\": \"lora\", \"path\": \"w\", \"r\": 1e300, \"size_bytes\": 1e300}]}],"
             " \"constraints\": {\"max_chain\": 1e300}, \"training\": {\"decoding\": {\"top_k\": 1e300}}}");
    load("huge", &m, &p);
    assert_true(has_problem(&p, "adapters[0].r: expected a positive integer", NULL));
    assert_true(has_problem(&p, "adapters[0].size_bytes: expected a non-negative integer", NULL));
    assert_true(has_problem(&p, "constraints.max_chain: expected a positive integer", NULL));
    assert_true(has_problem(&p, "training.decoding.top_k: expected an integer", NULL));
    assert_int_equal(m.bases[0].adapters[0].r, -1);
    assert_int_equal(m.bases[0].adapters[0].cfg_r, -1);
    assert_int_equal(m.bases[0].adapters[0].num_virtual_tokens, -1);
    assert_int_equal(m.max_chain, 0);
    hive_manifest_free(&m);
    hive_problems_free(&p);
}

static void test_base_match(void **state) {
    (void)state;
    assert_true(hive_base_name_matches("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct-Q8_0"));
    assert_true(hive_base_name_matches("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2-135m-instruct"));
    assert_true(hive_base_name_matches("SmolLM2-135M-Instruct", "SmolLM2 135M Instruct"));
    assert_true(hive_base_name_matches("F:/models/Qwen3-0.6B", "Qwen3-0.6B.Q4_K_M"));
    assert_false(hive_base_name_matches("SmolLM2-135M", "SmolLM2-1.7B"));
    assert_false(hive_base_name_matches("Qwen3-0.6B", "Qwen3-0.6"));
    tu_simple_expert("sql", 10, NULL);
    hive_manifest m;
    hive_problems p;
    assert_int_equal(load("sql", &m, &p), 0);
    free(m.name);
    m.name = strdup("sql");
    size_t idx = 99;
    hive_error *err = NULL;
    assert_int_equal(hive_manifest_match_base_named(&m, "SmolLM2 135M", "/m/whatever.gguf", &idx, &err), HIVE_OK);
    assert_int_equal(idx, 0);
    assert_int_equal(hive_manifest_match_base_named(&m, "", "/m/SmolLM2-135M-Instruct-f16.gguf", &idx, &err), HIVE_OK);
    /* mismatch without hashes */
    assert_int_equal(hive_manifest_match_base_named(&m, "Qwen3 0.6B", "/m/qwen3.gguf", &idx, &err), HIVE_E_INVALID);
    assert_err_contains(err, "expert 'sql' targets base model(s) HuggingFaceTB/SmolLM2-135M, but the loaded model is Qwen3 0.6B");
    /* by sha256: the model file's hash matches, the name does not */
    const char *model = tu_write("models/renamed.gguf", "pretend weights");
    char hex[HIVE_SHA256_HEX];
    assert_int_equal(hive_sha256_file(model, hex, &err), HIVE_OK);
    memcpy(m.bases[0].sha256, hex, sizeof hex);
    assert_int_equal(hive_manifest_match_base_named(&m, "other", model, &idx, &err), HIVE_OK);
    /* sha256 mismatch: both hashes are named */
    const char *other = tu_write("models/other.gguf", "other weights");
    char ohex[HIVE_SHA256_HEX];
    assert_int_equal(hive_sha256_file_cached(other, ohex, &err), HIVE_OK);
    assert_int_equal(hive_manifest_match_base_named(&m, "Other Model", other, &idx, &err), HIVE_E_INVALID);
    char want[512];
    snprintf(want, sizeof want, "expert 'sql' targets base model(s) HuggingFaceTB/SmolLM2-135M (sha256 %s), but the loaded model is Other Model (sha256 %s)", hex, ohex);
    assert_err_contains(err, want);
    hive_manifest_free(&m);
    hive_problems_free(&p);
}

static void test_shapes(void **state) {
    (void)state;
    tu_adapter("shapes", "a", "LORA", 0, 4, 8, NULL);
    const char *names[] = {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                           "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
                           "base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight",
                           "base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight",
                           "base_model.model.model.layers.9.mlp.down_proj.lora_A.weight",
                           "base_model.model.model.layers.1.mlp.down_proj.ia3_l"};
    const int64_t shapes[][2] = {{4, 16}, {16, 4}, {4, 16}, {16, 4}, {4, 24}, {1, 24}};
    const int nd[] = {2, 2, 2, 2, 2, 2};
    tu_safetensors(tu_path("shapes/a/adapter_model.safetensors"), 6, names, shapes, nd);
    tu_package("shapes", "shapes", "tiny", "[{\"type\": \"lora\", \"path\": \"a\"}]", NULL);
    hive_manifest m;
    hive_problems p;
    assert_int_equal(load("shapes", &m, &p), 0);
    hive_hparams hp = {0};
    snprintf(hp.name, sizeof hp.name, "tiny");
    hp.n_layers = 2;
    hp.hidden = 16;
    hp.n_heads = 2;
    hp.n_kv_heads = 1;
    hp.head_dim = 8;
    hp.ffn = 24;
    hive_adapter_check_shapes(&m, "base_models[0].adapters[0]", &m.bases[0].adapters[0], &hp, &p);
    assert_int_equal(p.n, 2);
    assert_true(has_problem(&p, "k_proj.lora_B.weight' is [16, 4], expected [8, r] (k_proj output features) for base model tiny", NULL));
    assert_true(has_problem(&p, "layers.9.mlp.down_proj.lora_A.weight' is for layer 9, but the model has 2 layers", NULL));
    uint64_t nt = 0, bytes = 0;
    hive_error *err = NULL;
    assert_int_equal(hive_adapter_weights_summary(m.bases[0].adapters[0].weights, &nt, &bytes, &err), HIVE_OK);
    assert_int_equal(nt, 6);
    assert_int_equal(bytes, 4 * (64 + 64 + 64 + 64 + 96 + 24));
    hive_manifest_free(&m);
    hive_problems_free(&p);
}

int run_manifest_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_manifest),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_draft_corpus),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_base_match),
        cmocka_unit_test(test_shapes),
    };
    return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
