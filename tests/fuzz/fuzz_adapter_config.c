/* Fuzzes adapter_config.json parsing as the adapter plugins do it
 * (adapters/common/peft_config.c), then what the plugins do with the result:
 * resolving target_modules / feedforward_modules / exclude_modules,
 * layers_to_transform and layers_pattern over a small llama-shaped model
 * (peft_match.c, with the config's regexes), and rank/alpha pattern look-ups.
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
