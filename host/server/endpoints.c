/* The small endpoints: /health, /v1/models, /tokenize, /detokenize and the
 * admin pair /v1/experts/load and /v1/experts/unload. */
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"
#include "util/error.h"
#include "util/log.h"

enum MHD_Result hive_ep_health(struct MHD_Connection *c, hive_server *s) {
    int ready = atomic_load(&s->ready);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", ready ? (atomic_load(&s->closing) ? "shutting_down" : "ok") : "loading");
    return hive_http_json(c, s, ready ? 200 : 503, o);
}

static cJSON *model_entry(const hive_server *s, const char *id, const char *desc, const char *kind) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "hive");
    cJSON_AddStringToObject(m, "kind", kind);
    cJSON_AddStringToObject(m, "description", desc);
    return m;
}

enum MHD_Result hive_ep_models(struct MHD_Connection *c, hive_server *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    const hive_hparams *hp = hive_engine_hparams(s->ss->eng);
    char desc[256];
    snprintf(desc, sizeof desc, "base model %s (%s), context %u tokens", hp->name, hp->arch_name, hive_engine_ctx(s->ss->eng));
    cJSON *base = model_entry(s, s->model_name, desc, "base");
    cJSON_AddNumberToObject(base, "max_model_len", hive_engine_ctx(s->ss->eng));
    cJSON_AddItemToArray(data, base);
    for (size_t i = 0; i < s->cat->n; i++) {
        /* lists descriptions, so it reads every manifest (once); unreadable experts are logged and left out */
        hive_error *e = NULL;
        if (hive_catalog_resolve(s->cat, i, &e) != HIVE_OK) {
            HLOG_WARN("/v1/models: %s", hive_error_message(e));
            hive_error_free(e);
            continue;
        }
        cJSON *m = model_entry(s, s->cat->v[i].name, s->cat->v[i].description, "expert");
        cJSON_AddStringToObject(m, "version", s->cat->v[i].version);
        cJSON_AddStringToObject(m, "parent", s->model_name);
        cJSON_AddItemToArray(data, m);
    }
    if (s->cat->n && hive_server_is_auto(s, HIVE_SERVER_AUTO)) {
        cJSON *m = model_entry(s, HIVE_SERVER_AUTO, "routes each request to the experts its last user message asks for "
                                                    "(routing.keywords and descriptions), or to the base model",
                               "router");
        cJSON_AddStringToObject(m, "parent", s->model_name);
        cJSON_AddItemToArray(data, m);
    }
    return hive_http_json(c, s, 200, o);
}

static cJSON *body_object(http_conn *hc, hive_api_error *e) {
    cJSON *o = cJSON_ParseWithLength(hc->body ? hc->body : "", hc->len);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        hive_api_error_set(e, 400, "invalid_request_error", NULL, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

/* {"prompt"|"content": text, "add_special": bool} -> {"tokens", "count", "max_model_len"} */
enum MHD_Result hive_ep_tokenize(struct MHD_Connection *c, hive_server *s, http_conn *hc) {
    hive_api_error e;
    cJSON *in = body_object(hc, &e);
    if (!in) return hive_http_error(c, s, &e);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(in, "prompt");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(in, "content");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(in, "add_special");
    if (!cJSON_IsString(t) || (sp && !cJSON_IsBool(sp))) {
        cJSON_Delete(in);
        hive_api_error_set(&e, 400, "invalid_request_error", "prompt",
                           "send {\"prompt\": text} (and optionally \"add_special\": boolean)");
        return hive_http_error(c, s, &e);
    }
    int32_t *ids = NULL;
    size_t n = 0;
    hive_error *err = NULL;
    int add = sp ? cJSON_IsTrue(sp) : 1;
    hive_status st = hive_tokenizer_encode(s->ss->tok, t->valuestring, strlen(t->valuestring), 1,
                                           add ? HIVE_ADD_BOS_DEFAULT : 0, &ids, &n, &err);
    cJSON_Delete(in);
    if (st != HIVE_OK) {
        hive_api_error_set(&e, 400, "invalid_request_error", "prompt", "%s", hive_error_message(err));
        hive_error_free(err);
        return hive_http_error(c, s, &e);
    }
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "tokens");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
    cJSON_AddNumberToObject(o, "count", (double)n);
    cJSON_AddNumberToObject(o, "max_model_len", hive_engine_ctx(s->ss->eng));
    free(ids);
    return hive_http_json(c, s, 200, o);
}

/* {"tokens": [ids]} -> {"prompt": text} */
enum MHD_Result hive_ep_detokenize(struct MHD_Connection *c, hive_server *s, http_conn *hc) {
    hive_api_error e;
    cJSON *in = body_object(hc, &e);
    if (!in) return hive_http_error(c, s, &e);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(in, "tokens");
    uint32_t vocab = hive_tokenizer_n_vocab(s->ss->tok);
    int n = cJSON_IsArray(t) ? cJSON_GetArraySize(t) : -1;
    int32_t *ids = n >= 0 ? malloc((size_t)(n ? n : 1) * sizeof *ids) : NULL;
    int k = 0;
    const cJSON *it;
    if (ids)
        cJSON_ArrayForEach(it, t) {
            if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= vocab ||
                it->valuedouble != (double)(int32_t)it->valuedouble)
                break;
            ids[k++] = (int32_t)it->valuedouble;
        }
    cJSON_Delete(in);
    if (!ids || k != n) {
        free(ids);
        hive_api_error_set(&e, 400, "invalid_request_error", "tokens", "'tokens' must be a list of token ids below %u",
                           vocab);
        return hive_http_error(c, s, &e);
    }
    char *text = NULL;
    hive_error *err = NULL;
    hive_status st = hive_tokenizer_decode(s->ss->tok, ids, (size_t)k, 0, &text, &err);
    free(ids);
    if (st != HIVE_OK) {
        hive_api_error_set(&e, 400, "invalid_request_error", "tokens", "%s", hive_error_message(err));
        hive_error_free(err);
        return hive_http_error(c, s, &e);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "prompt", text);
    free(text);
    return hive_http_json(c, s, 200, o);
}

/* Runs on the engine thread (hive_sched_call). */
static hive_status load_expert(hive_session *ss, void *ud, hive_error **err) {
    hive_expert *x = NULL;
    hive_status st = hive_expert_cache_get(ss->experts, ud, &x, err);
    if (st == HIVE_OK) hive_expert_cache_release(ss->experts, x); /* stays cached, unpinned */
    return st;
}

typedef struct {
    hive_sched *sched;
    const char *path;
} unload_args;

static hive_status unload_expert(hive_session *ss, void *ud, hive_error **err) {
    unload_args *a = ud;
    hive_sched_drop_cache(a->sched); /* finished KV pins experts: let go of it */
    return hive_expert_cache_evict(ss->experts, a->path, err);
}

/* {"name": expert} -> {"name", "loaded"} */
enum MHD_Result hive_ep_experts_load(struct MHD_Connection *c, hive_server *s, http_conn *hc, int load) {
    hive_api_error e;
    cJSON *in = body_object(hc, &e);
    if (!in) return hive_http_error(c, s, &e);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    if (!cJSON_IsString(name)) {
        cJSON_Delete(in);
        hive_api_error_set(&e, 400, "invalid_request_error", "name", "send {\"name\": expert name}");
        return hive_http_error(c, s, &e);
    }
    const hive_catalog_entry *x = hive_catalog_find(s->cat, name->valuestring);
    if (!x || !s->ss->experts) {
        hive_api_error_set(&e, 404, "invalid_request_error", "name", "no expert named '%.100s'", name->valuestring);
        snprintf(e.code, sizeof e.code, "model_not_found");
        cJSON_Delete(in);
        return hive_http_error(c, s, &e);
    }
    cJSON_Delete(in);
    hive_error *err = NULL;
    unload_args ua = {s->sched, x->path};
    hive_status st = load ? hive_sched_call(s->sched, load_expert, (void *)x->path, &err)
                          : hive_sched_call(s->sched, unload_expert, &ua, &err);
    if (st != HIVE_OK && !(st == HIVE_E_NOTFOUND && !load)) {
        hive_api_error_set(&e, st == HIVE_E_INVALID ? (load ? 400 : 409) : 500,
                           st == HIVE_E_INVALID ? "invalid_request_error" : "server_error", "name", "%s",
                           hive_error_message(err));
        hive_error_free(err);
        return hive_http_error(c, s, &e);
    }
    hive_error_free(err);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", x->name);
    cJSON_AddBoolToObject(o, "loaded", load);
    return hive_http_json(c, s, 200, o);
}
