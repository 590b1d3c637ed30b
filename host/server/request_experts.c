/* The request's `experts` field: a list whose elements are expert names
 * ("sql") or weighted names ({"name": "sql", "weight": 0.5}; weight as for
 * `--expert PATH:W`, experts/weight.h). A bad element is a 400 naming
 * `experts`. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experts/weight.h"
#include "server/request.h"
#include "util/error.h"

#define BAD(...) (hive_api_error_set(err, 400, "invalid_request_error", "experts", __VA_ARGS__), -1)

/* {"name": "sql", "weight": 0.5}: anything else in the object is an error (a
 * misspelt "wieght" must not run the expert at weight 1). */
static int weighted_name(const cJSON *o, size_t i, const char **name, double *weight, hive_api_error *err) {
    const cJSON *k;
    cJSON_ArrayForEach(k, o) {
        if (strcmp(k->string, "name") != 0 && strcmp(k->string, "weight") != 0)
            return BAD("experts[%zu]: unknown key '%.60s' (an element is a name or {\"name\": ..., \"weight\": ...})", i,
                       k->string);
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name"), *w = cJSON_GetObjectItemCaseSensitive(o, "weight");
    if (!cJSON_IsString(n)) return BAD("experts[%zu]: 'name' must be a string (the expert's name)", i);
    *name = n->valuestring;
    *weight = 1.0;
    if (!w) return 0;
    if (!cJSON_IsNumber(w)) return BAD("experts[%zu]: 'weight' must be a number", i);
    hive_error *e = NULL;
    char what[160];
    snprintf(what, sizeof what, "experts[%zu] ('%.100s')", i, *name);
    if (hive_expert_weight_check(w->valuedouble, what, &e) != HIVE_OK) {
        hive_api_error_set(err, 400, "invalid_request_error", "experts", "%s", hive_error_message(e));
        hive_error_free(e);
        return -1;
    }
    *weight = w->valuedouble;
    return 0;
}

int hive_api_parse_experts(const cJSON *f, hive_api_request *r, hive_api_error *err) {
    r->has_experts = 1;
    if (!cJSON_IsArray(f)) return BAD("'experts' must be a list of expert names (or {\"name\": ..., \"weight\": ...})");
    int k = cJSON_GetArraySize(f);
    if (k > HIVE_API_MAX_EXPERTS) return BAD("'experts' holds at most %d experts", HIVE_API_MAX_EXPERTS);
    size_t cap = k ? (size_t)k : 1;
    if (!(r->experts = calloc(cap, sizeof *r->experts)) || !(r->expert_weights = calloc(cap, sizeof *r->expert_weights)))
        return BAD("out of memory");
    const cJSON *x;
    cJSON_ArrayForEach(x, f) {
        const char *name = NULL;
        double w = 1.0;
        if (cJSON_IsString(x)) name = x->valuestring;
        else if (!cJSON_IsObject(x))
            return BAD("experts[%zu] must be an expert's name or {\"name\": ..., \"weight\": ...}", r->n_experts);
        else if (weighted_name(x, r->n_experts, &name, &w, err))
            return -1;
        if (!(r->experts[r->n_experts] = strdup(name))) return BAD("out of memory");
        r->expert_weights[r->n_experts++] = w;
    }
    return 0;
}
