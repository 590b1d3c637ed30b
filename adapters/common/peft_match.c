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

static hive_status check_entries(const hive_host_api *host, const peft_module_spec *spec, const char *key,
                                 const hive_model_shape *model, hive_error **err) {
    char path[256];
    if (spec->kind == PEFT_SPEC_LIST) {
        for (uint32_t i = 0; i < spec->list.n; i++) {
            const char *e = spec->list.v[i];
            int hit = 0;
            for (uint32_t l = 0; l < model->n_layers && !hit; l++)
                for (int m = 0; m < HIVE_MODULE_COUNT && !hit; m++)
                    hit = peft_module_path(path, sizeof path, model->module_path_fmt[m], l) == 0 &&
                          ends_with_at_dot(path, e);
            if (!hit)
                return peft_fail(host, err, HIVE_E_UNSUPPORTED,
                                 "adapter_config.json: \"%s\" entry \"%s\" is not a module Hive can adapt (only "
                                 "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj of a layer)",
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

hive_status peft_resolve_targets(const hive_host_api *host, const peft_config *cfg, const peft_module_spec *spec,
                                 const char *key, const hive_model_shape *model, uint8_t *targeted,
                                 hive_error **err) {
    hive_status st = check_entries(host, spec, key, model, err);
    if (st != HIVE_OK) return st;
    char path[256], msg[512];
    uint32_t n = 0;
    for (uint32_t l = 0; l < model->n_layers; l++) {
        for (int m = 0; m < HIVE_MODULE_COUNT; m++) {
            uint8_t *t = &targeted[(size_t)l * HIVE_MODULE_COUNT + (size_t)m];
            *t = 0;
            if (peft_module_path(path, sizeof path, model->module_path_fmt[m], l) != 0)
                return peft_fail(host, err, HIVE_E_INVALID, "bad module path format for module %d", m);
            msg[0] = 0;
            int rc = peft_match_module(cfg, spec, path, msg, sizeof msg);
            if (rc < 0) return peft_fail(host, err, HIVE_E_INVALID, "adapter_config.json: \"%s\": %s", key, msg);
            *t = (uint8_t)rc;
            n += (uint32_t)rc;
        }
    }
    if (n == 0)
        return peft_fail(host, err, HIVE_E_INVALID,
                         "adapter_config.json: \"%s\" (with layers_to_transform / exclude_modules) selects no "
                         "module of this model",
                         key);
    return HIVE_OK;
}
