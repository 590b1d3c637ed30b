/* From a parsed request to the scheduler's terms: which catalog experts it
 * names, and its sampling parameters in the CLI's layers (request > the
 * experts' manifest training.decoding > server configuration > built-in). */
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"
#include "util/error.h"

static int add_name(const hive_server *s, const char *name, const char *param, const hive_catalog_entry **out,
                    size_t *n, hive_api_error *err) {
    const hive_catalog_entry *e = hive_catalog_find(s->cat, name);
    if (!e) {
        hive_api_error_set(err, 404, "invalid_request_error", param,
                           "the model or expert '%.100s' does not exist (GET /v1/models lists them)", name);
        snprintf(err->code, sizeof err->code, "model_not_found");
        return -1;
    }
    if (*n == HIVE_API_MAX_EXPERTS) {
        hive_api_error_set(err, 400, "invalid_request_error", param, "at most %d experts compose", HIVE_API_MAX_EXPERTS);
        return -1;
    }
    out[(*n)++] = e;
    return 0;
}

static int is_base(const hive_server *s, const char *model) {
    return !strcmp(model, s->model_name) || !strcmp(model, hive_engine_hparams(s->ss->eng)->name);
}

int hive_resolve_experts(const hive_server *s, const hive_api_request *r, const hive_catalog_entry **out,
                         double *weights, size_t *n, hive_api_error *err) {
    *n = 0;
    if (hive_server_is_auto(s, r->model)) {
        if (hive_server_route((hive_server *)s, r, out, n, err)) return -1; /* counts under s->mu */
    } else if (!is_base(s, r->model)) {
        if (hive_catalog_find(s->cat, r->model)) {
            if (add_name(s, r->model, "model", out, n, err)) return -1;
        } else {
            char *parts[HIVE_API_MAX_EXPERTS];
            int k = hive_api_split_model(r->model, parts, HIVE_API_MAX_EXPERTS);
            if (k <= 0) {
                hive_api_error_set(err, 404, "invalid_request_error", "model",
                                   "the model '%.100s' does not exist (GET /v1/models lists them)", r->model);
                snprintf(err->code, sizeof err->code, "model_not_found");
                return -1;
            }
            int rc = 0;
            for (int i = 0; i < k; i++) {
                if (!rc) rc = add_name(s, parts[i], "model", out, n, err);
                free(parts[i]);
            }
            if (rc) return -1;
        }
    }
    size_t from_model = *n; /* `model` takes no weights: "sql+json" runs both at 1 */
    for (size_t i = 0; i < r->n_experts; i++)
        if (add_name(s, r->experts[i], "experts", out, n, err)) return -1;
    for (size_t i = 0; i < *n; i++) weights[i] = i < from_model ? 1.0 : r->expert_weights[i - from_model];
    /* lazy discovery: an expert's manifest is read on its first request */
    for (size_t i = 0; i < *n; i++) {
        hive_error *e = NULL;
        if (hive_catalog_resolve(s->cat, (size_t)(out[i] - s->cat->v), &e) != HIVE_OK) {
            hive_api_error_set(err, 500, "server_error", "model", "%s", hive_error_message(e));
            snprintf(err->code, sizeof err->code, "expert_unavailable");
            hive_error_free(e);
            return -1;
        }
    }
    return 0;
}

const char *hive_server_manifest_value(const hive_catalog_entry *const *xs, size_t nx, const char *key,
                                       const char **who) {
    for (size_t i = 0; i < nx; i++)
        for (size_t k = 0; k < xs[i]->n_decoding; k++)
            if (!strcmp(xs[i]->decoding[k].key, key)) {
                if (who) *who = xs[i]->name;
                return xs[i]->decoding[k].value;
            }
    return NULL;
}

/* A manifest value applies where the server's configuration has no
 * command-line value for the key. */
static const char *from_manifest(const hive_server *s, const hive_catalog_entry *const *xs, size_t nx, const char *key) {
    return hive_config_source(s->cfg, key) < HIVE_SRC_MANIFEST ? hive_server_manifest_value(xs, nx, key, NULL) : NULL;
}

static char **split_stops(const char *text, size_t *n) {
    char **v = calloc(HIVE_API_MAX_STOP * 4 + 1, sizeof *v), *dup = strdup(text), *save = NULL;
    *n = 0;
    if (!v || !dup) {
        free(v);
        free(dup);
        return NULL;
    }
    for (char *t = strtok_r(dup, ",", &save); t && *n < HIVE_API_MAX_STOP * 4; t = strtok_r(NULL, ",", &save))
        if (!(v[(*n)++] = strdup(t))) break;
    free(dup);
    return v;
}

int hive_sampling_for(const hive_server *s, const hive_api_request *r, const hive_catalog_entry *const *xs, size_t nx,
                      hive_sched_params *p, char ***stop_owned, hive_api_error *err) {
    memset(p, 0, sizeof *p);
    *stop_owned = NULL;
    /* the server's configuration (not hive_session_gen_params, whose stop
     * array is shared by every caller: handlers run in parallel) */
    const hive_config *cfg = s->cfg;
    hive_sampling *sp = &p->sampling;
    hive_session_sampling(cfg, sp, &p->max_tokens);
    const char *v;
    if ((v = from_manifest(s, xs, nx, "sampling.temperature"))) sp->temperature = strtof(v, NULL);
    if ((v = from_manifest(s, xs, nx, "sampling.top_p"))) sp->top_p = strtof(v, NULL);
    if ((v = from_manifest(s, xs, nx, "sampling.top_k"))) sp->top_k = (int32_t)strtol(v, NULL, 10);
    if ((v = from_manifest(s, xs, nx, "sampling.min_p"))) sp->min_p = strtof(v, NULL);
    if ((v = from_manifest(s, xs, nx, "sampling.repetition_penalty"))) sp->repetition_penalty = strtof(v, NULL);
    if ((v = from_manifest(s, xs, nx, "sampling.presence_penalty"))) sp->presence_penalty = strtof(v, NULL);
    if ((v = from_manifest(s, xs, nx, "sampling.frequency_penalty"))) sp->frequency_penalty = strtof(v, NULL);
    if ((v = from_manifest(s, xs, nx, "sampling.max_tokens"))) p->max_tokens = (uint32_t)strtoul(v, NULL, 10);
    /* the request's own fields last */
    if (r->temperature.has) sp->temperature = (float)r->temperature.v;
    if (r->top_p.has) sp->top_p = (float)r->top_p.v;
    if (r->top_k.has) sp->top_k = (int32_t)r->top_k.v;
    if (r->min_p.has) sp->min_p = (float)r->min_p.v;
    if (r->repetition_penalty.has) sp->repetition_penalty = (float)r->repetition_penalty.v;
    if (r->presence_penalty.has) sp->presence_penalty = (float)r->presence_penalty.v;
    if (r->frequency_penalty.has) sp->frequency_penalty = (float)r->frequency_penalty.v;
    if (r->seed.has) sp->seed = r->seed.v < 0 ? HIVE_SEED_RANDOM : (uint64_t)r->seed.v;
    if (r->max_tokens.has) p->max_tokens = (uint32_t)r->max_tokens.v;
    p->n = r->n;
    p->ignore_eos = r->ignore_eos;
    p->logprobs = r->logprobs;
    p->top_logprobs = r->top_logprobs;
    if (r->has_stop) {
        p->stop = (const char *const *)r->stop;
        p->n_stop = r->n_stop;
    } else if ((v = from_manifest(s, xs, nx, "sampling.stop"))) {
        char **st = split_stops(v, &p->n_stop);
        if (!st) {
            hive_api_error_set(err, 500, "server_error", NULL, "out of memory");
            return -1;
        }
        *stop_owned = st;
        p->stop = (const char *const *)st;
    } else if (hive_config_list_len(s->cfg, "sampling.stop")) {
        /* copied: hive_session_gen_params' array is shared by every caller */
        size_t n = hive_config_list_len(s->cfg, "sampling.stop");
        char **st = calloc(n, sizeof *st);
        for (size_t i = 0; st && i < n; i++)
            if ((st[i] = strdup(hive_config_list_item(s->cfg, "sampling.stop", i)))) p->n_stop++;
        if (!st || p->n_stop != n) {
            for (size_t i = 0; st && i < p->n_stop; i++) free(st[i]);
            free(st);
            hive_api_error_set(err, 500, "server_error", NULL, "out of memory");
            return -1;
        }
        *stop_owned = st;
        p->stop = (const char *const *)st;
    }
    return 0;
}
