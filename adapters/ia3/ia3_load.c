/* Loading an IA3 adapter: config checks as PEFT's IA3Config / IA3Model make
 * them, targeting, the ia3_l vectors, device weights. Any failure frees
 * everything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ia3.h"
#include "peft_config.h"
#include "peft_lowrank.h"
#include "peft_match.h"
#include "peft_regex.h"
#include "peft_tensors.h"
#include "peft_util.h"

#define CFG "adapter_config.json"

static void log_warn(const hive_host_api *h, const char *msg) {
    if (h->log) h->log(h->ctx, HIVE_LOG_WARN, msg);
}

static hive_status set_list(const hive_host_api *h, peft_module_spec *s, const char *const *names, uint32_t n,
                            hive_error **err) {
    memset(s, 0, sizeof *s);
    s->kind = PEFT_SPEC_LIST;
    if (!(s->list.v = calloc(n, sizeof *s->list.v))) return peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]) + 1;
        if (!(s->list.v[i] = malloc(len))) return peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
        memcpy(s->list.v[i], names[i], len);
        s->list.n++;
    }
    return HIVE_OK;
}

/* PEFT's TRANSFORMERS_MODELS_TO_IA3_{TARGET,FEEDFORWARD}_MODULES_MAPPING for
 * the architectures Hive runs. */
static hive_status apply_defaults(const hive_host_api *h, peft_config *cfg, const char *arch, hive_error **err) {
    static const char *const llama_t[] = {"k_proj", "v_proj", "down_proj"};
    static const char *const qwen_t[] = {"q_proj", "v_proj", "down_proj"};
    static const char *const ff[] = {"down_proj"};
    const char *a = arch ? arch : "";
    int llama = !strcmp(a, "llama") || !strcmp(a, "mistral");
    int qwen = !strcmp(a, "qwen2") || !strcmp(a, "qwen3");
    hive_status st;
    if (cfg->target_modules.kind == PEFT_SPEC_NONE) {
        if (!llama && !qwen)
            return peft_fail(h, err, HIVE_E_INVALID,
                             CFG ": \"target_modules\" is null and PEFT has no IA3 default for architecture \"%s\"", a);
        if ((st = set_list(h, &cfg->target_modules, llama ? llama_t : qwen_t, 3, err))) return st;
    }
    if (cfg->feedforward_modules.kind == PEFT_SPEC_NONE) {
        if (!llama && !qwen)
            return peft_fail(h, err, HIVE_E_INVALID,
                             CFG ": \"feedforward_modules\" is null and PEFT has no IA3 default for architecture \"%s\"",
                             a);
        if ((st = set_list(h, &cfg->feedforward_modules, ff, 1, err))) return st;
    }
    return HIVE_OK;
}

static hive_status check_config(const hive_host_api *h, peft_config *cfg, const char *arch, hive_error **err) {
    if (strcmp(cfg->peft_type, "IA3") != 0)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, CFG ": peft_type is \"%s\", expected \"IA3\"", cfg->peft_type);
    if (cfg->has_modules_to_save)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED,
                         CFG ": modules_to_save (%s%s) is not supported: Hive cannot replace whole base modules",
                         cfg->modules_to_save.v[0], cfg->modules_to_save.n > 1 ? ", ..." : "");
    /* IA3Config has no layers_to_transform / layers_pattern: PEFT drops them
     * with a warning ("Unexpected keyword arguments ... are ignored") and
     * adapts every layer. Do the same. */
    if (cfg->has_layers_to_transform || peft_config_is_set(cfg, "layers_pattern")) {
        log_warn(h, CFG ": layers_to_transform / layers_pattern are not IA3 options; ignored as PEFT ignores them");
        cfg->has_layers_to_transform = 0;
    }
    /* IA3Config.__post_init__: when both are lists, feedforward_modules must be
     * a subset of target_modules (exact names). */
    if (cfg->target_modules.kind == PEFT_SPEC_LIST && cfg->feedforward_modules.kind == PEFT_SPEC_LIST) {
        for (uint32_t i = 0; i < cfg->feedforward_modules.list.n; i++) {
            const char *f = cfg->feedforward_modules.list.v[i];
            int found = 0;
            for (uint32_t j = 0; j < cfg->target_modules.list.n && !found; j++)
                found = !strcmp(f, cfg->target_modules.list.v[j]);
            if (!found)
                return peft_fail(h, err, HIVE_E_INVALID,
                                 CFG ": \"feedforward_modules\" entry \"%s\" is not in \"target_modules\" "
                                 "(feedforward_modules must be a subset of target_modules)",
                                 f);
        }
    }
    return apply_defaults(h, cfg, arch, err);
}

/* PEFT's IA3Model._check_target_module_feedforward: re.fullmatch for a
 * string, else a plain key.endswith(entry) (no "." boundary). 1 / 0 / -1. */
static int is_feedforward(const peft_module_spec *s, const char *name) {
    size_t n = strlen(name);
    switch (s->kind) {
    case PEFT_SPEC_LIST:
        for (uint32_t i = 0; i < s->list.n; i++) {
            size_t e = strlen(s->list.v[i]);
            if (e <= n && !strcmp(name + n - e, s->list.v[i])) return 1;
        }
        return 0;
    case PEFT_SPEC_REGEX: return s->re ? peft_regex_test(s->re, name) : -1;
    default: return 0; /* "all-linear" as a regex fullmatches no module name */
    }
}

static hive_status check_args(const hive_host_api *h, const hive_adapter_load_args *args, hive_error **err) {
    hive_status st = peft_check_load_args(h, args, err);
    if (st != HIVE_OK) return st;
    if (!args->backend->weight_upload || !args->backend->weight_free || !args->backend->op_binary_weight)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, "adapter load: the backend lacks weight_upload or op_binary_weight");
    return HIVE_OK;
}

static hive_status plan_modules(ia3 *a, const peft_config *cfg, const hive_model_shape *model,
                                const uint8_t *targeted, hive_error **err) {
    const hive_host_api *h = a->host;
    size_t slots = (size_t)a->n_layers * HIVE_MODULE_COUNT;
    uint32_t n = 0;
    for (size_t i = 0; i < slots; i++) n += targeted[i];
    if (!(a->mods = calloc(n ? n : 1, sizeof *a->mods))) return peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
    for (size_t i = 0; i < slots; i++) {
        a->slot[i] = -1;
        if (!targeted[i]) continue;
        ia3_module *m = &a->mods[a->n_mods];
        m->layer = (uint32_t)(i / HIVE_MODULE_COUNT);
        m->module = (uint32_t)(i % HIVE_MODULE_COUNT);
        if (peft_module_path(m->path, sizeof m->path, model->module_path_fmt[m->module], m->layer) != 0)
            return peft_fail(h, err, HIVE_E_INVALID, "model shape: bad module path format for module %u", m->module);
        int ff = is_feedforward(&cfg->feedforward_modules, m->path);
        if (ff < 0)
            return peft_fail(h, err, HIVE_E_INVALID, CFG ": \"feedforward_modules\": cannot match %s against the regex",
                             m->path);
        m->ff = ff;
        m->n = ff ? model->module_in[m->module] : model->module_out[m->module];
        if (!m->n) return peft_fail(h, err, HIVE_E_INVALID, "model shape: module %s has no features", m->path);
        a->slot[i] = (int32_t)a->n_mods++;
    }
    return HIVE_OK;
}

static hive_status load_module(ia3 *a, ia3_module *m, peft_tensors *t, hive_error **err) {
    char key[256], name[200];
    int64_t shape[2] = {m->ff ? 1 : m->n, m->ff ? m->n : 1};
    snprintf(key, sizeof key, PEFT_KEY_PREFIX "%s.ia3_l", m->path);
    hive_status st = peft_tensors_f32(t, key, 2, shape, &m->l, err);
    if (st != HIVE_OK) return st;
    snprintf(name, sizeof name, "%s.ia3_l", m->path);
    st = peft_upload_vector(a->be, a->dev, name, m->l, m->n, &m->w, err);
    if (st == HIVE_OK) a->device_bytes += (uint64_t)m->n * sizeof(float);
    return st;
}

static hive_status load(ia3 *a, const hive_adapter_load_args *args, hive_error **err) {
    const hive_host_api *h = a->host;
    peft_config cfg;
    peft_tensors t;
    memset(&t, 0, sizeof t);
    uint8_t *targeted = NULL;
    hive_status st = peft_config_parse(h, args->config_json, &cfg, err);
    if (st != HIVE_OK) return st;
    size_t slots = (size_t)a->n_layers * HIVE_MODULE_COUNT;
    if ((st = check_config(h, &cfg, args->model->arch, err))) goto done;
    targeted = calloc(slots, 1);
    a->slot = calloc(slots, sizeof *a->slot);
    a->hooks_at = calloc(slots, sizeof *a->hooks_at);
    if (!targeted || !a->slot || !a->hooks_at) {
        st = peft_fail(h, err, HIVE_E_NOMEM, "out of memory");
        goto done;
    }
    if ((st = peft_resolve_targets(h, &cfg, &cfg.target_modules, "target_modules", args->model, targeted, err)) ||
        (st = plan_modules(a, &cfg, args->model, targeted, err)) || (st = peft_tensors_open(h, args->dir, &t, err)))
        goto done;
    for (uint32_t i = 0; i < a->n_mods && st == HIVE_OK; i++) st = load_module(a, &a->mods[i], &t, err);
    if (st == HIVE_OK) st = peft_tensors_check_all_used(&t, "not the ia3_l of a targeted module", err);
    for (uint32_t i = 0; i < a->n_mods && st == HIVE_OK; i++) {
        uint32_t hook = a->mods[i].ff ? HIVE_HOOK_LINEAR_INPUT : HIVE_HOOK_OUTPUT_SCALE;
        a->hooks_at[a->mods[i].layer * HIVE_MODULE_COUNT + a->mods[i].module] = hook;
        a->hooks |= hook;
    }
done:
    peft_tensors_close(&t);
    free(targeted);
    peft_config_free(&cfg);
    return st;
}

hive_status ia3_load(const hive_host_api *host, const hive_adapter_load_args *args, ia3 **out, hive_error **err) {
    if (!out) return peft_fail(host, err, HIVE_E_INVALID, "adapter load: out is NULL");
    *out = NULL;
    hive_status st = check_args(host, args, err);
    if (st != HIVE_OK) return st;
    ia3 *a = calloc(1, sizeof *a);
    if (!a) return peft_fail(host, err, HIVE_E_NOMEM, "out of memory");
    a->host = host;
    a->be = args->backend;
    a->dev = args->device;
    a->n_layers = args->model->n_layers;
    a->max_rows = args->max_rows;
    memcpy(a->module_in, args->model->module_in, sizeof a->module_in);
    memcpy(a->module_out, args->model->module_out, sizeof a->module_out);
    if (args->base) {
        size_t n = args->base->struct_size < sizeof a->base ? args->base->struct_size : sizeof a->base;
        memcpy(&a->base, args->base, n);
        a->base.struct_size = (uint32_t)n;
    }
    if ((st = load(a, args, err)) != HIVE_OK) {
        ia3_destroy(a);
        return st;
    }
    *out = a;
    return HIVE_OK;
}

void ia3_destroy(ia3 *a) {
    if (!a) return;
    for (uint32_t i = 0; a->mods && i < a->n_mods; i++) {
        if (a->mods[i].w) a->be->weight_free(a->dev, a->mods[i].w);
        free(a->mods[i].l);
    }
    free(a->mods);
    free(a->slot);
    free(a->hooks_at);
    free(a);
}
