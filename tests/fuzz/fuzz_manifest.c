/* Fuzzes manifest.json parsing (host/experts/manifest*.c) and what reads the
 * parsed manifest without a model: decoding defaults into a configuration,
 * `experts inspect` output (text and JSON), base-model matching, adapter
 * shape checks. The input is manifest.json, optionally followed by a NUL byte
 * and adapter/adapter_config.json (JSON text has no NUL bytes); the package
 * directory also holds a small adapter/adapter_model.safetensors, so entries
 * with "path": "adapter" reach the config and weights checks. The parser takes
 * a path, so the files are written to the scratch directory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config/config.h"
#include "experts/adapter_files.h"
#include "experts/base_match.h"
#include "experts/decoding.h"
#include "experts/describe.h"
#include "experts/manifest.h"
#include "experts/package.h"
#include "fuzz_util.h"
#include "util/error.h"

static char g_dir[4096], g_manifest[4096], g_config[4096], g_model[4096];
static FILE *g_null;

/* A LoRA for layer 0's q_proj, r = 2, of a model with hidden size 4. */
static const char k_weights_header[] =
    "{\"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\":"
    "{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,32]},"
    "\"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight\":"
    "{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[32,64]}}";

static void write_weights(const char *path) {
    uint8_t buf[8 + sizeof k_weights_header - 1 + 64] = {0};
    uint64_t hlen = sizeof k_weights_header - 1;
    memcpy(buf, &hlen, 8);
    memcpy(buf + 8, k_weights_header, hlen);
    fuzz_write_file(path, buf, sizeof buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    setenv("HIVE_CACHE", fuzz_path("cache"), 1); /* sha256 cache of the weights */
    snprintf(g_dir, sizeof g_dir, "%s", fuzz_path("pkg"));
    snprintf(g_manifest, sizeof g_manifest, "%s/manifest.json", g_dir);
    snprintf(g_config, sizeof g_config, "%s/adapter/adapter_config.json", g_dir);
    snprintf(g_model, sizeof g_model, "%s", fuzz_path("model.gguf"));
    fuzz_fresh_dir(g_dir);
    char adapter[4200], weights[4300];
    snprintf(adapter, sizeof adapter, "%s/adapter", g_dir);
    snprintf(weights, sizeof weights, "%s/adapter_model.safetensors", adapter);
    fuzz_fresh_dir(adapter);
    write_weights(weights);
    fuzz_write_file(g_model, "GGUF", 4);
    g_null = fopen("/dev/null", "w");
    if (!g_null) abort();
    return 0;
}

static void use_manifest(const hive_manifest *m, const hive_problems *probs) {
    hive_config *cfg = hive_config_new();
    hive_error *e = NULL;
    if (cfg && hive_manifest_apply_decoding(m, cfg, &e) != HIVE_OK) hive_error_free(e);
    hive_config_free(cfg);

    hive_expert_pkg pkg = {.canonical = g_dir, .dir = g_dir, .manifest = g_manifest};
    cJSON *j = hive_expert_describe_json(&pkg, m, probs);
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    free(s);
    cJSON_Delete(j);
    hive_expert_describe_text(&pkg, m, probs, g_null);

    size_t index;
    e = NULL;
    if (hive_manifest_match_base_named(m, "SmolLM2-135M-Instruct", g_model, &index, &e) != HIVE_OK)
        hive_error_free(e);

    hive_hparams hp = {.n_layers = 2, .hidden = 4, .n_heads = 2, .n_kv_heads = 1, .head_dim = 2, .ffn = 8,
                       .vocab = 16};
    hive_problems shape_probs = {0};
    for (size_t b = 0; b < m->n_bases; b++)
        for (size_t a = 0; a < m->bases[b].n_adapters; a++)
            hive_adapter_check_shapes(m, "adapter", &m->bases[b].adapters[a], &hp, &shape_probs);
    hive_problems_free(&shape_probs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    fuzz_write_file(g_manifest, data, len);
    if (nul) fuzz_write_file(g_config, nul + 1, size - len - 1);
    else unlink(g_config);

    hive_manifest m;
    hive_problems probs = {0};
    hive_error *e = NULL;
    if (hive_manifest_load(g_dir, g_manifest, &m, &probs, &e) == HIVE_OK) {
        use_manifest(&m, &probs);
        hive_manifest_free(&m);
    } else {
        hive_error_free(e);
    }
    e = NULL;
    if (hive_problems_fail(&probs, HIVE_E_INVALID, &e) != HIVE_OK) hive_error_free(e);
    hive_problems_free(&probs);
    return 0;
}
