/* Expert weights: parsing and folding into a LoRA's alpha (see weight.h). */
#include "experts/weight.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEIGHT_RULE "a weight is a number in (0, 100]; 1 is the expert as trained"

hive_status hive_expert_weight_check(double w, const char *what, hive_error **err) {
    if (!isfinite(w)) return hive_fail(err, HIVE_E_INVALID, "%s: the weight is not a finite number (%s)", what, WEIGHT_RULE);
    if (w == 0)
        return hive_fail(err, HIVE_E_INVALID, "%s: weight 0 would switch the expert off: leave it out instead (%s)", what,
                         WEIGHT_RULE);
    if (w < 0)
        return hive_fail(err, HIVE_E_INVALID, "%s: weight %g is negative; subtracting an expert is not supported (%s)",
                         what, w, WEIGHT_RULE);
    if (w > HIVE_EXPERT_WEIGHT_MAX)
        return hive_fail(err, HIVE_E_INVALID, "%s: weight %g is too large (%s)", what, w, WEIGHT_RULE);
    return HIVE_OK;
}

hive_status hive_expert_weight_parse(const char *text, const char *what, double *out, hive_error **err) {
    /* strtod alone would take "nan", "inf", hex and leading spaces */
    if (!*text || strspn(text, "0123456789.eE+-") != strlen(text))
        return hive_fail(err, HIVE_E_INVALID, "%s: '%s' is not a weight (%s)", what, text, WEIGHT_RULE);
    char *end = NULL;
    double w = strtod(text, &end);
    if (!end || *end) return hive_fail(err, HIVE_E_INVALID, "%s: '%s' is not a weight (%s)", what, text, WEIGHT_RULE);
    hive_status st = hive_expert_weight_check(w, what, err);
    if (st == HIVE_OK) *out = w;
    return st;
}

hive_status hive_expert_spec_parse(const char *spec, char *path, size_t cap, double *weight, hive_error **err) {
    *weight = 1.0;
    const char *colon = strrchr(spec, ':');
    size_t len = strlen(spec);
    if (colon && !strchr(colon + 1, '/') && access(spec, F_OK) != 0) {
        char what[600];
        snprintf(what, sizeof what, "expert '%.500s'", spec);
        if (colon == spec) return hive_fail(err, HIVE_E_INVALID, "%s: no path before the weight (give PATH:W)", what);
        if (!colon[1])
            return hive_fail(err, HIVE_E_INVALID, "%s: nothing after ':' (give PATH:W, e.g. PATH:0.5; %s)", what,
                             WEIGHT_RULE);
        hive_status st = hive_expert_weight_parse(colon + 1, what, weight, err);
        if (st != HIVE_OK) return st;
        len = (size_t)(colon - spec);
    }
    if (len >= cap) return hive_fail(err, HIVE_E_INVALID, "expert path too long (%zu bytes)", len);
    memcpy(path, spec, len);
    path[len] = 0;
    return HIVE_OK;
}

/* cJSON prints an infinite number as null, which the adapter would read as
 * "absent" (lora_alpha: PEFT's default 8), so an overflowing product is an error. */
static hive_status not_finite(const char *in, const char *key, double v, double w, hive_error **err) {
    return hive_fail(err, HIVE_E_INVALID, "adapter_config.json: %s\"%s\" %g times the weight %g is not a finite number",
                     in, key, v, w);
}

static hive_status scale_number(cJSON *obj, const char *key, double dflt, double w, hive_error **err) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return cJSON_AddNumberToObject(obj, key, dflt * w) ? HIVE_OK : hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (!cJSON_IsNumber(v))
        return hive_fail(err, HIVE_E_INVALID, "adapter_config.json: \"%s\" must be a number to apply a weight", key);
    if (!isfinite(v->valuedouble * w)) return not_finite("", key, v->valuedouble, w, err);
    cJSON_SetNumberValue(v, v->valuedouble * w);
    return HIVE_OK;
}

char *hive_lora_config_weighted(const char *config_json, double w, hive_error **err) {
    cJSON *c = cJSON_Parse(config_json);
    if (!cJSON_IsObject(c)) {
        cJSON_Delete(c);
        hive_fail(err, HIVE_E_INVALID, "adapter_config.json: not a JSON object");
        return NULL;
    }
    hive_status st = scale_number(c, "lora_alpha", 8.0, w, err);
    cJSON *pat = cJSON_GetObjectItemCaseSensitive(c, "alpha_pattern"), *e;
    if (st == HIVE_OK && cJSON_IsObject(pat)) {
        cJSON_ArrayForEach(e, pat) {
            if (!cJSON_IsNumber(e)) continue;
            if (!isfinite(e->valuedouble * w)) {
                st = not_finite("alpha_pattern ", e->string ? e->string : "", e->valuedouble, w, err);
                break;
            }
            cJSON_SetNumberValue(e, e->valuedouble * w);
        }
    }
    char *out = st == HIVE_OK ? cJSON_PrintUnformatted(c) : NULL;
    if (st == HIVE_OK && !out) hive_fail(err, HIVE_E_NOMEM, "out of memory");
    cJSON_Delete(c);
    return out;
}

int hive_adapter_type_weightable(const char *type) { return !strcmp(type, "lora"); }
