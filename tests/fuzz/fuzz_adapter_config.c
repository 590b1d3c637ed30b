/* Fuzzes adapter_config.json parsing as the adapter plugins do it
 * (adapters/common/peft_config.c), then what the plugins do with the result:
 * resolving target_modules / feedforward_modules / exclude_modules,
 * layers_to_transform and layers_pattern over a small llama-shaped model
 * (peft_match.c, with the config's regexes), target_parameters over a
 * routed model's expert slices (ABI 1.11), and rank/alpha pattern look-ups.
 * Errors go through a host API table like the real host's. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "peft_config.h"
#include "peft_match.h"
#include "util/error.h"

static hive_error *error_new(void *ctx, hive_status code, const char *fmt, ...) {
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    hive_error *e = hive_error_newv(code, fmt, ap);
    va_end(ap);
    return e;
}

static const hive_host_api k_host = {.struct_size = sizeof(hive_host_api),
                                     .abi_major = HIVE_ABI_MAJOR,
                                     .agreed_minor = HIVE_ABI_MINOR,
                                     .error_new = error_new};

#define N_LAYERS 3
static const char *const k_paths[HIVE_MODULE_COUNT] = {
    "model.layers.%u.self_attn.q_proj", "model.layers.%u.self_attn.k_proj", "model.layers.%u.self_attn.v_proj",
    "model.layers.%u.self_attn.o_proj", "model.layers.%u.mlp.gate_proj",    "model.layers.%u.mlp.up_proj",
    "model.layers.%u.mlp.down_proj"};

static void resolve(const peft_config *cfg, const peft_module_spec *spec, const char *key) {
    hive_model_shape shape = {.struct_size = sizeof shape, .n_layers = N_LAYERS, .hidden = 64, .vocab = 100,
                              .arch = "llama"};
    for (int m = 0; m < HIVE_MODULE_COUNT; m++) {
        shape.module_in[m] = shape.module_out[m] = 64;
        shape.module_path_fmt[m] = k_paths[m];
    }
    uint8_t targeted[N_LAYERS * HIVE_MODULE_COUNT];
    hive_error *e = NULL;
    if (peft_resolve_targets(&k_host, cfg, spec, key, &shape, targeted, &e) != HIVE_OK) hive_error_free(e);
}

/* A routed model (1.11): the seven, then two experts' gate_up_proj and
 * down_proj slices; target_modules must never select the slices. */
#define N_EXPERTS 2
#define N_MOD (HIVE_MODULE_COUNT + 2 * N_EXPERTS)
static void resolve_routed(const peft_config *cfg) {
    static uint32_t in[N_MOD], out[N_MOD], expert[N_MOD];
    static const char *paths[N_MOD];
    static uint8_t present[N_LAYERS * N_MOD];
    hive_model_shape shape = {.struct_size = sizeof shape, .n_layers = N_LAYERS, .hidden = 64, .vocab = 100,
                              .arch = "qwen3_moe", .n_modules = N_MOD, .modules_in = in, .modules_out = out,
                              .modules_path_fmt = paths, .module_present = present, .n_experts = N_EXPERTS,
                              .modules_expert = expert};
    for (int m = 0; m < N_MOD; m++) {
        in[m] = out[m] = 64;
        paths[m] = m < HIVE_MODULE_COUNT ? k_paths[m]
                   : (m - HIVE_MODULE_COUNT) % 2 ? "model.layers.%u.mlp.experts.down_proj"
                                                 : "model.layers.%u.mlp.experts.gate_up_proj";
        expert[m] = m < HIVE_MODULE_COUNT ? 0 : (uint32_t)(m - HIVE_MODULE_COUNT) / 2 + 1;
        if (m < HIVE_MODULE_COUNT) shape.module_in[m] = shape.module_out[m] = 64, shape.module_path_fmt[m] = k_paths[m];
    }
    for (int l = 0; l < N_LAYERS; l++) /* layer 0 dense, the others routed */
        for (int m = 0; m < N_MOD; m++) present[l * N_MOD + m] = l ? m < HIVE_MODULE_GATE || m >= HIVE_MODULE_COUNT : m < HIVE_MODULE_COUNT;
    uint8_t targeted[N_LAYERS * N_MOD];
    hive_error *e = NULL;
    memset(targeted, 0, sizeof targeted);
    if (peft_resolve_targets_n(&k_host, cfg, &cfg->target_modules, "target_modules", &shape, N_MOD, targeted, &e) != HIVE_OK)
        hive_error_free(e), e = NULL;
    for (int l = 0; l < N_LAYERS; l++)
        for (int m = HIVE_MODULE_COUNT; m < N_MOD; m++)
            if (targeted[l * N_MOD + m]) abort(); /* a parameter slice taken for a module */
    if (peft_resolve_parameters(&k_host, cfg, &shape, N_MOD, targeted, &e) != HIVE_OK) hive_error_free(e);
}

static void patterns(const peft_config *cfg) {
    static const char *const names[] = {"model.layers.0.self_attn.q_proj", "model.layers.2.mlp.down_proj", "lm_head"};
    char msg[512];
    double v;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        peft_pattern_value(&cfg->rank_pattern, names[i], (double)cfg->r, &v, msg, sizeof msg);
        peft_pattern_value(&cfg->alpha_pattern, names[i], cfg->lora_alpha, &v, msg, sizeof msg);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    char type[32];
    int use_dora;
    peft_config_peek(text, type, sizeof type, &use_dora);
    peft_config cfg;
    hive_error *e = NULL;
    if (peft_config_parse(&k_host, text, &cfg, &e) == HIVE_OK) {
        resolve(&cfg, &cfg.target_modules, "target_modules");
        resolve(&cfg, &cfg.feedforward_modules, "feedforward_modules");
        resolve_routed(&cfg);
        patterns(&cfg);
        static const char *const keys[] = {"modules_to_save", "layers_pattern", "lora_bias", "rank_pattern", "x"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) peft_config_is_set(&cfg, keys[i]);
        peft_config_free(&cfg);
    } else {
        hive_error_free(e);
    }
    free(text);
    return 0;
}
