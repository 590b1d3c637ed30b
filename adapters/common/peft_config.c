/* adapter_config.json parsing with cJSON. Every message names the key. */
#include "peft_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peft_util.h"

#define CFG "adapter_config.json"

typedef struct pctx {
    const hive_host_api *host;
    hive_error **err;
    const cJSON *root;
} pctx;

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static hive_status nomem(pctx *c) { return peft_fail(c->host, c->err, HIVE_E_NOMEM, CFG ": out of memory"); }

static const cJSON *get(pctx *c, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

static hive_status get_bool(pctx *c, const char *key, int dflt, int *out) {
    const cJSON *v = get(c, key);
    *out = dflt;
    if (!v) return HIVE_OK;
    if (!cJSON_IsBool(v)) return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\" must be true or false", key);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return HIVE_OK;
}

static int as_int(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9.0e15) return -1;
    *out = (int64_t)d;
    return 0;
}

static hive_status get_int(pctx *c, const char *key, int64_t dflt, int64_t min, int64_t *out) {
    const cJSON *v = get(c, key);
    *out = dflt;
    if (!v) return HIVE_OK;
    if (as_int(v, out) != 0 || *out < min)
        return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\" must be an integer >= %lld", key, (long long)min);
    return HIVE_OK;
}

static hive_status get_num(pctx *c, const char *key, double dflt, double *out) {
    const cJSON *v = get(c, key);
    *out = dflt;
    if (!v) return HIVE_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\" must be a number", key);
    *out = v->valuedouble;
    return HIVE_OK;
}

static hive_status get_str(pctx *c, const char *key, const char *dflt, char **out) {
    const cJSON *v = get(c, key);
    *out = NULL;
    const char *s = dflt;
    if (v) {
        if (!cJSON_IsString(v)) return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\" must be a string", key);
        s = v->valuestring;
    }
    if (s && !(*out = dup_str(s))) return nomem(c);
    return HIVE_OK;
}

static void strlist_free(peft_strlist *l) {
    for (uint32_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* A list of strings (a Python set is saved as a list); a lone string is
 * accepted when allow_str. */
static hive_status get_strlist(pctx *c, const char *key, const cJSON *v, int allow_str, peft_strlist *out) {
    if (cJSON_IsString(v) && allow_str) {
        if (!(out->v = malloc(sizeof *out->v)) || !(out->v[0] = dup_str(v->valuestring))) return nomem(c);
        out->n = 1;
        return HIVE_OK;
    }
    if (!cJSON_IsArray(v))
        return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\" must be a list of strings%s", key,
                         allow_str ? " or a string" : "");
    int n = cJSON_GetArraySize(v);
    if (n > 0 && !(out->v = calloc((size_t)n, sizeof *out->v))) return nomem(c);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e))
            return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\" must be a list of strings", key);
        if (!(out->v[out->n] = dup_str(e->valuestring))) return nomem(c);
        out->n++;
    }
    return HIVE_OK;
}

static hive_status get_spec(pctx *c, const char *key, peft_module_spec *out) {
    const cJSON *v = get(c, key);
    if (!v) return HIVE_OK;
    if (cJSON_IsString(v)) {
        if (!strcmp(v->valuestring, "all-linear")) {
            out->kind = PEFT_SPEC_ALL_LINEAR;
            return HIVE_OK;
        }
        out->kind = PEFT_SPEC_REGEX;
        if (!(out->regex = dup_str(v->valuestring))) return nomem(c);
        char msg[512];
        if (!(out->re = peft_regex_compile(out->regex, PEFT_RE_FULLMATCH, msg, sizeof msg)))
            return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\": %s", key, msg);
        return HIVE_OK;
    }
    out->kind = PEFT_SPEC_LIST;
    return get_strlist(c, key, v, 0, &out->list);
}

static void spec_free(peft_module_spec *s) {
    strlist_free(&s->list);
    free(s->regex);
    peft_regex_free(s->re);
    memset(s, 0, sizeof *s);
}

static hive_status get_pattern(pctx *c, const char *key, peft_pattern *out) {
    const cJSON *v = get(c, key);
    if (!v) return HIVE_OK;
    if (!cJSON_IsObject(v))
        return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\" must be an object of numbers", key);
    int n = cJSON_GetArraySize(v);
    if (n > 0 && !(out->v = calloc((size_t)n, sizeof *out->v))) return nomem(c);
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || !e->string)
            return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\": value of \"%s\" must be a number", key,
                             e->string ? e->string : "?");
        if (!(out->v[out->n].key = dup_str(e->string))) return nomem(c);
        out->v[out->n++].value = e->valuedouble;
    }
    return HIVE_OK;
}

static hive_status get_layers(pctx *c, peft_config *cfg) {
    const char *key = "layers_to_transform";
    const cJSON *v = get(c, key), *e;
    int64_t x;
    if (!v) return HIVE_OK;
    if (cJSON_IsNumber(v)) {
        if (as_int(v, &x) != 0 || x < 0) goto bad;
        if (!(cfg->layers_to_transform = malloc(sizeof x))) return nomem(c);
        cfg->layers_to_transform[0] = x;
        cfg->n_layers_to_transform = 1;
        cfg->has_layers_to_transform = 1;
        return HIVE_OK;
    }
    if (!cJSON_IsArray(v)) goto bad;
    int n = cJSON_GetArraySize(v);
    if (n == 0) return HIVE_OK; /* PEFT: an empty list transforms every layer */
    if (!(cfg->layers_to_transform = calloc((size_t)n, sizeof x))) return nomem(c);
    cJSON_ArrayForEach(e, v) {
        if (as_int(e, &x) != 0 || x < 0) goto bad;
        cfg->layers_to_transform[cfg->n_layers_to_transform++] = x;
    }
    cfg->has_layers_to_transform = 1;
    return HIVE_OK;
bad:
    return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"%s\" must be a layer index or a list of them", key);
}

static hive_status parse(pctx *c, peft_config *cfg) {
    hive_status st;
    int64_t x;
    const cJSON *v;
#define TRY(e)                                                                                                         \
    if ((st = (e)) != HIVE_OK) return st
    TRY(get_str(c, "peft_type", "", &cfg->peft_type));
    TRY(get_str(c, "task_type", NULL, &cfg->task_type));
    TRY(get_str(c, "base_model_name_or_path", NULL, &cfg->base_model_name_or_path));
    TRY(get_bool(c, "inference_mode", 1, &cfg->inference_mode));
    TRY(get_int(c, "r", 8, 1, &cfg->r));
    TRY(get_num(c, "lora_alpha", 8.0, &cfg->lora_alpha));
    TRY(get_num(c, "lora_dropout", 0.0, &cfg->lora_dropout));
    TRY(get_bool(c, "use_rslora", 0, &cfg->use_rslora));
    TRY(get_bool(c, "use_dora", 0, &cfg->use_dora));
    TRY(get_bool(c, "fan_in_fan_out", 0, &cfg->fan_in_fan_out));
    TRY(get_bool(c, "lora_bias", 0, &cfg->lora_bias));
    TRY(get_str(c, "bias", "none", &cfg->bias));
    TRY(get_pattern(c, "rank_pattern", &cfg->rank_pattern));
    TRY(get_pattern(c, "alpha_pattern", &cfg->alpha_pattern));
    for (uint32_t i = 0; i < cfg->rank_pattern.n; i++) {
        double r = cfg->rank_pattern.v[i].value;
        if (r < 1 || r != floor(r))
            return peft_fail(c->host, c->err, HIVE_E_INVALID, CFG ": \"rank_pattern\": rank of \"%s\" must be a positive integer",
                             cfg->rank_pattern.v[i].key);
    }
    TRY(get_spec(c, "target_modules", &cfg->target_modules));
    TRY(get_spec(c, "exclude_modules", &cfg->exclude_modules));
    TRY(get_spec(c, "feedforward_modules", &cfg->feedforward_modules));
    if ((v = get(c, "target_parameters"))) TRY(get_strlist(c, "target_parameters", v, 0, &cfg->target_parameters));
    TRY(get_layers(c, cfg));
    if ((v = get(c, "layers_pattern"))) TRY(get_strlist(c, "layers_pattern", v, 1, &cfg->layers_pattern));
    if ((v = get(c, "modules_to_save"))) {
        TRY(get_strlist(c, "modules_to_save", v, 0, &cfg->modules_to_save));
        cfg->has_modules_to_save = cfg->modules_to_save.n > 0;
    }
    TRY(get_int(c, "num_virtual_tokens", 0, 0, &cfg->num_virtual_tokens));
    TRY(get_int(c, "token_dim", 0, 0, &cfg->token_dim));
    TRY(get_int(c, "num_transformer_submodules", 1, 0, &x));
    cfg->num_transformer_submodules = x;
#undef TRY
    return HIVE_OK;
}

hive_status peft_config_parse(const hive_host_api *host, const char *text, peft_config *cfg, hive_error **err) {
    memset(cfg, 0, sizeof *cfg);
    if (!text) return peft_fail(host, err, HIVE_E_INVALID, CFG ": no text");
    cfg->json = cJSON_Parse(text);
    if (!cfg->json) {
        const char *at = cJSON_GetErrorPtr();
        return peft_fail(host, err, HIVE_E_INVALID, CFG ": not valid JSON (near \"%.20s\")", at ? at : "");
    }
    if (!cJSON_IsObject(cfg->json)) {
        peft_config_free(cfg);
        return peft_fail(host, err, HIVE_E_INVALID, CFG ": the top level must be an object");
    }
    pctx c = {host, err, cfg->json};
    hive_status st = parse(&c, cfg);
    if (st != HIVE_OK) peft_config_free(cfg);
    return st;
}

static void pattern_free(peft_pattern *p) {
    for (uint32_t i = 0; i < p->n; i++) free(p->v[i].key);
    free(p->v);
}

void peft_config_free(peft_config *cfg) {
    if (!cfg) return;
    cJSON_Delete(cfg->json);
    free(cfg->peft_type);
    free(cfg->task_type);
    free(cfg->base_model_name_or_path);
    free(cfg->bias);
    pattern_free(&cfg->rank_pattern);
    pattern_free(&cfg->alpha_pattern);
    spec_free(&cfg->target_modules);
    spec_free(&cfg->exclude_modules);
    spec_free(&cfg->feedforward_modules);
    free(cfg->layers_to_transform);
    strlist_free(&cfg->layers_pattern);
    strlist_free(&cfg->modules_to_save);
    strlist_free(&cfg->target_parameters);
    memset(cfg, 0, sizeof *cfg);
}

int peft_config_is_set(const peft_config *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg->json, key);
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 0;
    if (cJSON_IsNumber(v)) return v->valuedouble != 0.0;
    if (cJSON_IsString(v)) return v->valuestring[0] != 0;
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) return cJSON_GetArraySize(v) > 0;
    return 1;
}

int peft_config_peek(const char *text, char *type, uint32_t cap, int *use_dora) {
    if (cap) type[0] = 0;
    *use_dora = 0;
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "peft_type");
    if (cJSON_IsString(t) && cap) snprintf(type, cap, "%s", t->valuestring);
    *use_dora = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "use_dora")) ? 1 : 0;
    cJSON_Delete(j);
    return 0;
}
