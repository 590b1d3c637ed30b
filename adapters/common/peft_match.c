/* PEFT module targeting: check_target_module_exists and get_pattern_key. */
#include "peft_match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peft_regex.h"
#include "peft_util.h"

static int ends_with_at_dot(const char *name, const char *entry) {
    size_t n = strlen(name), e = strlen(entry);
    if (n == e) return !strcmp(name, entry);
    return n > e && name[n - e - 1] == '.' && !strcmp(name + n - e, entry);
}

static int is_hookable(const char *name) {
    for (int m = 0; m < HIVE_MODULE_COUNT; m++)
        if (ends_with_at_dot(name, peft_module_names[m])) return 1;
    return 0;
}

int peft_spec_names(const peft_module_spec *spec, const char *name) {
    switch (spec->kind) {
    case PEFT_SPEC_LIST:
        for (uint32_t i = 0; i < spec->list.n; i++)
            if (ends_with_at_dot(name, spec->list.v[i])) return 1;
        return 0;
    case PEFT_SPEC_REGEX: return spec->re ? peft_regex_test(spec->re, name) : -1;
    case PEFT_SPEC_ALL_LINEAR: return is_hookable(name);
    default: return 0;
    }
}

/* PEFT: the first layer index in the name, after layers_pattern when given. */
static int layer_index(const peft_config *cfg, const char *name, int64_t *idx, char *msg, size_t cap) {
    if (cfg->layers_pattern.n == 0) {
        peft_regex *re = peft_regex_compile(".*?\\.[^.]*\\.(?P<idx>\\d+)\\.", PEFT_RE_MATCH, msg, cap);
        if (!re) return -1;
        int rc = peft_regex_group_int(re, name, "idx", idx);
        peft_regex_free(re);
        return rc;
    }
    for (uint32_t i = 0; i < cfg->layers_pattern.n; i++) {
        size_t n = strlen(cfg->layers_pattern.v[i]) + 40;
        char *pat = malloc(n);
        if (!pat) return -1;
        snprintf(pat, n, "(?:^|.*?\\.)%s\\.(?P<idx>\\d+)\\.", cfg->layers_pattern.v[i]);
        peft_regex *re = peft_regex_compile(pat, PEFT_RE_MATCH, msg, cap);
        free(pat);
        if (!re) return -1;
        int rc = peft_regex_group_int(re, name, "idx", idx);
        peft_regex_free(re);
        if (rc != 0) return rc;
    }
    return 0;
}

int peft_match_module(const peft_config *cfg, const peft_module_spec *spec, const char *name, char *msg, size_t cap) {
    if (peft_spec_names(&cfg->exclude_modules, name) == 1) return 0;
    for (uint32_t i = 0; i < cfg->modules_to_save.n; i++) { /* re.match(rf"(^|.*\.){m}($|\..*)") */
        if (!strcmp(name, cfg->modules_to_save.v[i]) || ends_with_at_dot(name, cfg->modules_to_save.v[i])) return 0;
    }
    int found = peft_spec_names(spec, name);
    if (found != 1 || spec->kind != PEFT_SPEC_LIST || !cfg->has_layers_to_transform) {
        if (found < 0 && msg && cap) snprintf(msg, cap, "cannot match module names against the regex");
        return found;
    }
    int64_t idx = 0;
    int rc = layer_index(cfg, name, &idx, msg, cap);
    if (rc != 1) return rc;
    for (uint32_t i = 0; i < cfg->n_layers_to_transform; i++)
        if (cfg->layers_to_transform[i] == idx) return 1;
    return 0;
}

int peft_pattern_value(const peft_pattern *p, const char *name, double dflt, double *out, char *msg, size_t cap) {
    *out = dflt;
    for (uint32_t i = 0; i < p->n; i++) {
        int rc = peft_re_pattern_key(p->v[i].key, name, msg, cap);
        if (rc < 0) return -1;
        if (rc == 1) {
            *out = p->v[i].value;
            return 0;
        }
    }
    return 0;
}

static const char *k_unsupported[] = {"lm_head", "model.embed_tokens"};

uint32_t peft_model_modules(const hive_model_shape *m, int extras) {
    if (!extras || !HIVE_HAS_FIELD(hive_model_shape, m->struct_size, module_present) || m->n_modules <= HIVE_MODULE_COUNT ||
        !m->modules_in || !m->modules_out || !m->modules_path_fmt)
        return HIVE_MODULE_COUNT;
    return m->n_modules;
}

const char *peft_module_fmt(const hive_model_shape *m, uint32_t module) {
    return module < HIVE_MODULE_COUNT ? m->module_path_fmt[module] : m->modules_path_fmt[module];
}
uint32_t peft_module_in(const hive_model_shape *m, uint32_t module) {
    return module < HIVE_MODULE_COUNT ? m->module_in[module] : m->modules_in[module];
}
uint32_t peft_module_out(const hive_model_shape *m, uint32_t module) {
    return module < HIVE_MODULE_COUNT ? m->module_out[module] : m->modules_out[module];
}

uint32_t peft_module_expert(const hive_model_shape *m, uint32_t module) {
    if (!HIVE_HAS_FIELD(hive_model_shape, m->struct_size, modules_expert) || !m->modules_expert ||
        module >= m->n_modules)
        return 0;
    return m->modules_expert[module];
}

int peft_module_present(const hive_model_shape *m, uint32_t layer, uint32_t module) {
    if (!HIVE_HAS_FIELD(hive_model_shape, m->struct_size, module_present) || !m->module_present ||
        m->n_modules < HIVE_MODULE_COUNT)
        return 1; /* before 1.10 every layer has the seven */
    return module < m->n_modules && m->module_present[(size_t)layer * m->n_modules + module];
}

/* A linear module (not an expert's slice of a parameter) the layer has. */
static int linear_present(const hive_model_shape *model, uint32_t layer, uint32_t module) {
    return peft_module_present(model, layer, module) && !peft_module_expert(model, module);
}

/* Does a list entry name a present module among the first n_mod? */
static int entry_hits(const hive_model_shape *model, uint32_t n_mod, const char *e) {
    char path[256];
    for (uint32_t l = 0; l < model->n_layers; l++)
        for (uint32_t m = 0; m < n_mod; m++)
            if (linear_present(model, l, m) && peft_module_path(path, sizeof path, peft_module_fmt(model, m), l) == 0 &&
                ends_with_at_dot(path, e))
                return 1;
    return 0;
}

static hive_status check_entries(const hive_host_api *host, const peft_module_spec *spec, const char *key,
                                 const hive_model_shape *model, uint32_t n_mod, hive_error **err) {
    if (spec->kind == PEFT_SPEC_LIST) {
        for (uint32_t i = 0; i < spec->list.n; i++) {
            const char *e = spec->list.v[i];
            if (entry_hits(model, n_mod, e)) continue;
            if (entry_hits(model, peft_model_modules(model, 1), e))
                return peft_fail(host, err, HIVE_E_UNSUPPORTED,
                                 "adapter_config.json: \"%s\" entry \"%s\" names a linear of this model (%s) that "
                                 "only LoRA can adapt in Hive, not this adapter type",
                                 key, e, model->arch ? model->arch : "?");
            return peft_fail(host, err, HIVE_E_UNSUPPORTED,
                             "adapter_config.json: \"%s\" entry \"%s\" is not a module Hive can adapt in this model "
                             "(q_proj, k_proj, v_proj, o_proj and dense gate_proj, up_proj, down_proj of the layers "
                             "that have them, and for LoRA the family's own linears listed in docs/HYBRID.md)",
                             key, e);
        }
    } else if (spec->kind == PEFT_SPEC_REGEX) {
        for (size_t i = 0; i < sizeof k_unsupported / sizeof k_unsupported[0]; i++)
            if (peft_spec_names(spec, k_unsupported[i]) == 1)
                return peft_fail(host, err, HIVE_E_UNSUPPORTED,
                                 "adapter_config.json: \"%s\" regex \"%s\" selects %s, which Hive cannot adapt "
                                 "(only q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj of a layer)",
                                 key, spec->regex, k_unsupported[i]);
    }
    return HIVE_OK;
}

hive_status peft_resolve_targets_n(const hive_host_api *host, const peft_config *cfg, const peft_module_spec *spec,
                                   const char *key, const hive_model_shape *model, uint32_t n_mod, uint8_t *targeted,
                                   hive_error **err) {
    hive_status st = check_entries(host, spec, key, model, n_mod, err);
    if (st != HIVE_OK) return st;
    char path[256], msg[512];
    uint32_t n = 0;
    for (uint32_t l = 0; l < model->n_layers; l++) {
        for (uint32_t m = 0; m < n_mod; m++) {
            uint8_t *t = &targeted[(size_t)l * n_mod + m];
            *t = 0;
            if (!linear_present(model, l, m)) continue;
            if (peft_module_path(path, sizeof path, peft_module_fmt(model, m), l) != 0)
                return peft_fail(host, err, HIVE_E_INVALID, "bad module path format for module %u", m);
            msg[0] = 0;
            /* all-linear: every linear the model declares (its own ones are linears too) */
            int rc = m >= HIVE_MODULE_COUNT && spec->kind == PEFT_SPEC_ALL_LINEAR
                         ? peft_spec_names(&cfg->exclude_modules, path) != 1
                         : peft_match_module(cfg, spec, path, msg, sizeof msg);
            if (rc < 0) return peft_fail(host, err, HIVE_E_INVALID, "adapter_config.json: \"%s\": %s", key, msg);
            *t = (uint8_t)rc;
            n += (uint32_t)rc;
        }
        /* a regex or all-linear that also selects a linear this adapter type cannot hook: refused, not skipped */
        for (uint32_t m = n_mod; m < peft_model_modules(model, 1); m++) {
            if (!linear_present(model, l, m) || peft_module_path(path, sizeof path, peft_module_fmt(model, m), l))
                continue;
            int rc = spec->kind == PEFT_SPEC_ALL_LINEAR ? peft_spec_names(&cfg->exclude_modules, path) != 1
                                                        : peft_match_module(cfg, spec, path, msg, sizeof msg);
            if (rc == 1)
                return peft_fail(host, err, HIVE_E_UNSUPPORTED,
                                 "adapter_config.json: \"%s\" selects %s, which only LoRA can adapt in Hive", key,
                                 path);
        }
    }
    if (n == 0)
        return peft_fail(host, err, HIVE_E_INVALID,
                         "adapter_config.json: \"%s\" (with layers_to_transform / exclude_modules) selects no "
                         "module of this model",
                         key);
    return HIVE_OK;
}

hive_status peft_resolve_targets(const hive_host_api *host, const peft_config *cfg, const peft_module_spec *spec,
                                 const char *key, const hive_model_shape *model, uint8_t *targeted,
                                 hive_error **err) {
    return peft_resolve_targets_n(host, cfg, spec, key, model, HIVE_MODULE_COUNT, targeted, err);
}

hive_status peft_resolve_parameters(const hive_host_api *host, const peft_config *cfg, const hive_model_shape *model,
                                    uint32_t n_mod, uint8_t *targeted, hive_error **err) {
    char path[256];
    for (uint32_t i = 0; i < cfg->target_parameters.n; i++) {
        const char *e = cfg->target_parameters.v[i];
        uint32_t hits = 0;
        for (uint32_t l = 0; l < model->n_layers; l++)
            for (uint32_t m = 0; m < n_mod; m++) {
                if (!peft_module_expert(model, m) || !peft_module_present(model, l, m) ||
                    peft_module_path(path, sizeof path, peft_module_fmt(model, m), l) != 0 || !ends_with_at_dot(path, e))
                    continue;
                targeted[(size_t)l * n_mod + m] = 1;
                hits++;
            }
        if (!hits)
            return peft_fail(host, err, HIVE_E_UNSUPPORTED,
                             "adapter_config.json: \"target_parameters\" entry \"%s\" names no parameter Hive can "
                             "adapt in this model (%s): only routed experts' stacked gate_up_proj and down_proj "
                             "(docs/HYBRID.md)",
                             e, model->arch ? model->arch : "?");
    }
    return HIVE_OK;
}
