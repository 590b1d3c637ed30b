/* Fuzzes the Hugging Face config.json reader (host/model/hf_config.c):
 * architecture, sizes, rope_parameters / rope_scaling (yarn, longrope factor
 * lists, llama3, dynamic), the mixture-of-experts keys and mlp_only_layers,
 * blazr's flat config (host/model/blazr.c: layer_types, mamba_layers),
 * then model_hparams_finish's checks, as hive_model_open does for a model
 * directory. The bytes are parsed from memory (model_hf_config_text, what
 * model_hf_config runs on the file's text) into a model owned as the loader
 * owns it, released with hive_model_close. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "model/model_impl.h"
#include "util/error.h"

/* The parser broke its contract (not a rejected input): crash so libFuzzer
 * keeps the input. */
#define FUZZ_REQUIRE(c) \
    do {                \
        if (!(c)) __builtin_trap(); \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    return 0;
}

/* What a successful parse promises the binder and the engine. */
static void check(const hive_hparams *hp, const model_priv *p) {
    FUZZ_REQUIRE(hp->n_layers > 0 && hp->n_layers <= 100000 && hp->hidden);
    if (hp->n_heads) { /* attention models (not a state-space one) */
        FUZZ_REQUIRE(hp->ffn && hp->n_kv_heads && hp->n_heads % hp->n_kv_heads == 0 && hp->head_dim);
        FUZZ_REQUIRE(hp->rope_dims <= hp->head_dim && hp->rope_dims / 2 <= HIVE_ROPE_MAX_PAIRS);
        FUZZ_REQUIRE(hp->rope_n_ext == 0 || hp->rope_n_ext == hp->rope_dims / 2);
    }
    FUZZ_REQUIRE(memchr(hp->arch_name, 0, sizeof hp->arch_name) && memchr(hp->rope_scaling, 0, sizeof hp->rope_scaling));
    FUZZ_REQUIRE(hive_rope_type_known(hp->rope_scaling));
    /* every number config.json gives fits a float (finite) */
    const float f[] = {hp->rms_eps, hp->rope_theta, hp->rope_factor, hp->rope_low_freq_factor, hp->rope_high_freq_factor,
                       hp->yarn_beta_fast, hp->yarn_beta_slow, hp->yarn_mscale, hp->yarn_mscale_all_dim,
                       hp->rope_attn_factor};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) FUZZ_REQUIRE(isfinite(f[i]));
    for (uint32_t i = 0; i < hp->rope_n_ext; i++) /* longrope divides by them */
        FUZZ_REQUIRE(hp->rope_short_factor[i] > 0 && isfinite(hp->rope_short_factor[i]) && hp->rope_long_factor[i] > 0 &&
                     isfinite(hp->rope_long_factor[i]));
    if (hp->n_experts) { /* Qwen3-MoE, Qwen2-MoE, DeepSeek-V2, blazr */
        FUZZ_REQUIRE(hp->n_experts <= HIVE_MAX_EXPERTS);
        FUZZ_REQUIRE(hp->n_experts_used && hp->n_experts_used <= hp->n_experts && hp->moe_ffn);
    }
    if (hp->arch == HIVE_ARCH_BLAZR) { /* blazr's layer kinds: the config's list, else found from the names at binding */
        FUZZ_REQUIRE(!p->moe_layer);
        if (p->blazr_type) fuzz_touch(p->blazr_type, hp->n_layers);
    } else if (hp->n_experts) {
        FUZZ_REQUIRE(p->moe_layer);
        fuzz_touch(p->moe_layer, hp->n_layers); /* n_layers bytes, as binding reads them */
    } else {
        FUZZ_REQUIRE(!p->moe_layer);
    }
    if (p->ssm_layer) fuzz_touch(p->ssm_layer, hp->n_layers); /* a hybrid's layer kinds */
    if (hp->ssm_heads) /* Mamba2 mixers: the shape the state buffers are sized from */
        FUZZ_REQUIRE(hp->ssm_head_dim && hp->ssm_state && hp->ssm_groups && hp->ssm_heads % hp->ssm_groups == 0 &&
                     hp->ssm_conv >= 1 && hp->ssm_conv <= 64 && hp->ssm_inner == hp->ssm_heads * hp->ssm_head_dim &&
                     !isnan(hp->ssm_dt_min) && !isnan(hp->ssm_dt_max));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* NUL-terminated, as model_read_text hands it over */
    char *text = malloc(size + 1);
    hive_model_files *m = calloc(1, sizeof *m);
    model_priv *p = calloc(1, sizeof *p);
    if (!text || !m || !p) {
        free(text), free(m), free(p);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = 0;
    m->priv = p;
    hive_error *e = NULL;
    if (model_hf_config_text(text, "fuzz/config.json", &m->hp, p, &e) == HIVE_OK) {
        check(&m->hp, p);
        /* the command line's RoPE overrides on top, as hive_model_open's caller applies them */
        hive_rope_override o = {.scaling = "longrope", .factor = 2.0f, .orig_ctx = 64};
        if (hive_hparams_rope_override(&m->hp, &o, &e) != HIVE_OK) {
            hive_error_free(e);
            e = NULL;
        }
    } else {
        FUZZ_REQUIRE(e && hive_error_message(e));
        hive_error_free(e);
    }
    hive_model_close(m); /* frees p->moe_layer, p->ssm_layer (also on a failed parse) and p */
    free(text);
    return 0;
}
