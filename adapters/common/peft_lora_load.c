/* Loading a LoRA / DoRA adapter: config checks, per-module rank and scaling,
 * tensors, device weights, scratch. Any failure frees everything. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peft_lora.h"
#include "peft_match.h"
#include "peft_tensors.h"
#include "peft_util.h"

#define CFG "adapter_config.json"

/* Keys whose non-default value changes the model in ways Hive does not serve. */
static const char *const k_unsupported_keys[] = {"layer_replication", "trainable_token_indices",
                                                 "alora_invocation_tokens", "use_qalora"};

/* target_parameters alone (target_modules absent or []): no linear module. */
static int parameters_only(const peft_config *cfg) {
    const peft_module_spec *tm = &cfg->target_modules;
    return cfg->target_parameters.n &&
           (tm->kind == PEFT_SPEC_NONE || (tm->kind == PEFT_SPEC_LIST && tm->list.n == 0));
}

static hive_status check_config(const hive_host_api *h, peft_config *cfg, int dora, hive_error **err) {
    if (strcmp(cfg->peft_type, "LORA") != 0)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, CFG ": peft_type is \"%s\", expected \"LORA\"", cfg->peft_type);
    if (cfg->use_dora && !dora)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED,
                         CFG ": use_dora is true: a DoRA adapter, which the dora plugin serves, not lora");
    if (!cfg->use_dora && dora)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED,
                         CFG ": use_dora is false: a plain LoRA adapter, which the lora plugin serves, not dora");
    if (cfg->has_modules_to_save)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED,
                         CFG ": modules_to_save (%s%s) is not supported: Hive cannot replace whole base modules",
                         cfg->modules_to_save.v[0], cfg->modules_to_save.n > 1 ? ", ..." : "");
    if (strcmp(cfg->bias, "none") != 0)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, CFG ": bias \"%s\" is not supported (only \"none\")", cfg->bias);
    if (cfg->lora_bias) return peft_fail(h, err, HIVE_E_UNSUPPORTED, CFG ": lora_bias true is not supported");
    for (size_t i = 0; i < sizeof k_unsupported_keys / sizeof k_unsupported_keys[0]; i++)
        if (peft_config_is_set(cfg, k_unsupported_keys[i]))
            return peft_fail(h, err, HIVE_E_UNSUPPORTED, CFG ": %s is not supported", k_unsupported_keys[i]);
    if (cfg->target_parameters.n && cfg->use_dora) /* PEFT's ParamWrapper refuses it too */
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, CFG ": DoRA on target_parameters is not supported");
    if (cfg->target_parameters.n && cfg->has_layers_to_transform)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED,
                         CFG ": layers_to_transform together with target_parameters is not supported");
    if (cfg->target_modules.kind == PEFT_SPEC_NONE && !parameters_only(cfg)) { /* PEFT's default for llama / qwen2 / qwen3 */
        peft_strlist *l = &cfg->target_modules.list;
        const char *dflt[2] = {"q_proj", "v_proj"};
        if (!(l->v = calloc(2, sizeof *l->v))) return peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
        cfg->target_modules.kind = PEFT_SPEC_LIST;
        for (int i = 0; i < 2; i++) {
            size_t n = strlen(dflt[i]) + 1;
            if (!(l->v[i] = malloc(n))) return peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
            memcpy(l->v[i], dflt[i], n);
            l->n++;
        }
    }
    return HIVE_OK;
}

static hive_status check_args(const hive_host_api *h, const hive_adapter_load_args *args, int dora, hive_error **err) {
    hive_status st = peft_check_load_args(h, args, err);
    if (st != HIVE_OK) return st;
    const hive_base_access *b = HIVE_HAS_FIELD(hive_adapter_load_args, args->struct_size, base) ? args->base : NULL;
    if (dora && (!b || !HIVE_HAS_FIELD(hive_base_access, b->struct_size, weight_f32) || !b->weight_f32))
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, "DoRA needs the base weights (base access), which the host did not give");
    return HIVE_OK;
}

/* r, alpha and s of each targeted module; fills slot[] and mods[]. */
static hive_status plan_modules(peft_lora *a, const peft_config *cfg, const hive_model_shape *model,
                                const uint8_t *targeted, hive_error **err) {
    const hive_host_api *h = a->host;
    size_t slots = (size_t)a->n_layers * a->n_mod;
    uint32_t n = 0;
    for (size_t i = 0; i < slots; i++) n += targeted[i];
    if (!(a->mods = calloc(n, sizeof *a->mods))) return peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
    char msg[512];
    for (size_t i = 0; i < slots; i++) {
        a->slot[i] = -1;
        if (!targeted[i]) continue;
        peft_lora_module *m = &a->mods[a->n_mods];
        m->layer = (uint32_t)(i / a->n_mod);
        m->module = (uint32_t)(i % a->n_mod);
        m->in = peft_module_in(model, m->module);
        m->out = peft_module_out(model, m->module);
        m->expert = peft_module_expert(model, m->module);
        m->n_experts = m->expert ? model->n_experts : 0;
        if (m->expert > m->n_experts) return peft_fail(h, err, HIVE_E_INVALID, "model shape: bad expert of module %u", m->module);
        if (peft_module_path(m->path, sizeof m->path, peft_module_fmt(model, m->module), m->layer) != 0 || !m->in || !m->out)
            return peft_fail(h, err, HIVE_E_INVALID, "model shape: bad module %u", m->module);
        /* DoRA's norms and merging need the base weight, which the host gives for the seven only */
        if (a->dora && m->module >= HIVE_MODULE_COUNT)
            return peft_fail(h, err, HIVE_E_UNSUPPORTED,
                             CFG ": DoRA on %s is not supported (Hive adapts this model's own linears with plain "
                             "LoRA only)",
                             m->path);
        double r, alpha;
        if (peft_pattern_value(&cfg->rank_pattern, m->path, (double)cfg->r, &r, msg, sizeof msg) != 0)
            return peft_fail(h, err, HIVE_E_INVALID, CFG ": \"rank_pattern\": %s", msg);
        if (peft_pattern_value(&cfg->alpha_pattern, m->path, cfg->lora_alpha, &alpha, msg, sizeof msg) != 0)
            return peft_fail(h, err, HIVE_E_INVALID, CFG ": \"alpha_pattern\": %s", msg);
        if (r > 65536) return peft_fail(h, err, HIVE_E_INVALID, CFG ": rank %g of %s is too large", r, m->path);
        m->r = (uint32_t)r;
        m->scale = (float)(cfg->use_rslora ? alpha / sqrt(r) : alpha / r);
        if (m->r > a->max_r) a->max_r = m->r;
        if (m->out > a->max_out) a->max_out = m->out;
        a->slot[i] = (int32_t)a->n_mods++;
    }
    peft_lora_expert_depths(a->mods, a->n_mods);
    return HIVE_OK;
}

static void key_of(char *dst, size_t cap, const peft_lora_module *m, const char *suffix) {
    if (m->expert) peft_lora_expert_key(dst, cap, m, suffix);
    else snprintf(dst, cap, PEFT_KEY_PREFIX "%s%s", m->path, suffix);
}


/* Every expected tensor exists and the file holds nothing else. */
static hive_status check_keys(peft_lora *a, peft_tensors *t, hive_error **err) {
    char key[256];
    hive_status st;
    for (uint32_t i = 0; i < a->n_mods; i++) {
        key_of(key, sizeof key, &a->mods[i], ".lora_A.weight");
        if ((st = peft_tensors_expect(t, key, err))) return st;
        key_of(key, sizeof key, &a->mods[i], ".lora_B.weight");
        if ((st = peft_tensors_expect(t, key, err))) return st;
        if (!a->dora) continue;
        key_of(key, sizeof key, &a->mods[i], ".lora_magnitude_vector");
        if (peft_tensors_has(t, key)) (void)peft_tensors_expect(t, key, err);
        else if ((st = peft_tensors_expect(t, strcat(key, ".weight"), err))) {
            key_of(key, sizeof key, &a->mods[i], ".lora_magnitude_vector");
            return peft_fail(a->host, err, HIVE_E_NOTFOUND, "adapter_model.safetensors: missing tensor %s", key);
        }
    }
    return peft_tensors_check_all_used(t, a->dora ? "not the lora_A / lora_B / lora_magnitude_vector of a targeted module"
                                                   : "not the lora_A / lora_B of a targeted module", err);
}

/* Stage buffers of load_module: one per tensor role, reused module after module. */
enum { STAGE_A, STAGE_B, STAGE_MAG };

/* A (and the magnitudes) go to the backend straight from the mapped file when
 * it holds them as f32; B is read in place only when nothing scales it (plain
 * LoRA with s = 1), since the low-rank ops take the scale folded into B. */
static hive_status load_module(peft_lora *a, peft_lora_module *m, peft_tensors *t, peft_lora_prepare_fn prepare,
                               hive_error **err) {
    char key[256];
    const float *A = NULL, *B = NULL, *mag = NULL;
    float *Bw = NULL;
    int64_t sa[2] = {m->r, m->in}, sb[2] = {m->out, m->r}, sm[1] = {m->out};
    hive_status st;
    key_of(key, sizeof key, m, ".lora_A.weight");
    if ((st = peft_tensors_view_f32(t, key, 2, sa, STAGE_A, &A, err))) return st;
    key_of(key, sizeof key, m, ".lora_B.weight");
    if (!prepare && m->scale == 1.0f) st = peft_tensors_view_f32(t, key, 2, sb, STAGE_B, &B, err);
    else if ((st = peft_tensors_stage_f32(t, key, 2, sb, STAGE_B, &Bw, err)) == HIVE_OK) B = Bw;
    if (st) return st;
    if (a->dora) {
        key_of(key, sizeof key, m, ".lora_magnitude_vector");
        if (!peft_tensors_has(t, key)) strcat(key, ".weight");
        if ((st = peft_tensors_view_f32(t, key, 1, sm, STAGE_MAG, &mag, err))) return st;
    }
    if (prepare) {
        if ((st = prepare(a, m, A, Bw, mag, err))) return st;
    } else if (Bw) {
        for (uint64_t i = 0; i < (uint64_t)m->out * m->r; i++) Bw[i] *= m->scale;
    }
    st = peft_lowrank_upload(a->be, a->dev, m->path, A, B, m->r, m->in, m->out, &m->lr, err);
    if (st == HIVE_OK) a->device_bytes += peft_lowrank_bytes(&m->lr);
    return st;
}

static hive_status alloc_scratch(peft_lora *a, hive_error **err) {
    uint64_t bt = (uint64_t)a->max_rows * a->max_r * sizeof(float);
    hive_status st = a->be->buffer_alloc(a->dev, bt, &a->scratch_t, err);
    if (st != HIVE_OK) return st;
    a->device_bytes += bt;
    if (!a->dora) return HIVE_OK;
    uint64_t by = (uint64_t)a->max_rows * a->max_out * sizeof(float);
    if ((st = a->be->buffer_alloc(a->dev, by, &a->scratch_y, err))) return st;
    a->device_bytes += by;
    return HIVE_OK;
}

static hive_status load(peft_lora *a, const hive_adapter_load_args *args, peft_lora_prepare_fn prepare,
                        hive_error **err) {
    const hive_host_api *h = a->host;
    peft_config cfg;
    peft_tensors t;
    memset(&t, 0, sizeof t);
    uint8_t *targeted = NULL;
    hive_status st = peft_config_parse(h, args->config_json, &cfg, err);
    if (st != HIVE_OK) return st;
    a->n_mod = peft_model_modules(args->model, 1);
    size_t slots = (size_t)a->n_layers * a->n_mod;
    if ((st = check_config(h, &cfg, a->dora, err))) goto done;
    targeted = calloc(slots, 1);
    a->slot = calloc(slots, sizeof *a->slot);
    a->hooks_at = calloc(slots, sizeof *a->hooks_at);
    if (!targeted || !a->slot || !a->hooks_at) {
        st = peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
        goto done;
    }
    if ((!parameters_only(&cfg) && (st = peft_resolve_targets_n(h, &cfg, &cfg.target_modules, "target_modules",
                                                                 args->model, a->n_mod, targeted, err))) ||
        (st = peft_resolve_parameters(h, &cfg, args->model, a->n_mod, targeted, err)) ||
        (st = plan_modules(a, &cfg, args->model, targeted, err)) || (st = peft_tensors_open(h, args->dir, &t, err)) ||
        (st = check_keys(a, &t, err)))
        goto done;
    for (uint32_t i = 0; i < a->n_mods && st == HIVE_OK; i++) {
        if (!a->mods[i].expert) st = load_module(a, &a->mods[i], &t, prepare, err);
        else if (!a->mods[i].lr.A) st = peft_lora_expert_group(a, i, &t, err); /* its first slice: the whole group */
    }
    if (st == HIVE_OK && h->log) {
        char msg[160];
        snprintf(msg, sizeof msg, "tensors: %.2f MB uploaded from the mapped file, %.2f MB converted to f32",
                 (double)t.bytes_in_place / 1e6, (double)t.bytes_converted / 1e6);
        h->log(h->ctx, HIVE_LOG_DEBUG, msg);
    }
    if (st == HIVE_OK) st = alloc_scratch(a, err);
    for (uint32_t i = 0; i < a->n_mods && st == HIVE_OK; i++) {
        a->hooks_at[a->mods[i].layer * a->n_mod + a->mods[i].module] = HIVE_HOOK_LINEAR_OUTPUT;
        a->hooks = HIVE_HOOK_LINEAR_OUTPUT;
    }
done:
    peft_tensors_close(&t);
    free(targeted);
    peft_config_free(&cfg);
    return st;
}

hive_status peft_lora_load(const hive_host_api *host, const hive_adapter_load_args *args, int dora,
                           peft_lora_prepare_fn prepare, peft_lora **out, hive_error **err) {
    if (!out) return peft_fail(host, err, HIVE_E_INVALID, "adapter load: out is NULL");
    *out = NULL;
    hive_status st = check_args(host, args, dora, err);
    if (st != HIVE_OK) return st;
    peft_lora *a = calloc(1, sizeof *a);
    size_t dl = strlen(args->dir) + 1;
    if (!a || !(a->dir = malloc(dl))) {
        free(a);
        return peft_fail(host, err, HIVE_E_NOMEM, "out of memory");
    }
    memcpy(a->dir, args->dir, dl);
    a->host = host;
    a->be = args->backend;
    a->dev = args->device;
    a->dora = dora;
    a->n_layers = args->model->n_layers;
    a->max_rows = args->max_rows;
    if (args->base) {
        size_t n = args->base->struct_size < sizeof a->base ? args->base->struct_size : sizeof a->base;
        memcpy(&a->base, args->base, n);
        a->base.struct_size = (uint32_t)n;
    }
    if ((st = load(a, args, prepare, err)) != HIVE_OK) {
        peft_lora_destroy(a);
        return st;
    }
    *out = a;
    return HIVE_OK;
}
