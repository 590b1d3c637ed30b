/* Server internals shared by http.c (daemon, routing), completions.c,
 * job.c (a completion in flight), endpoints.c and metrics.c. */
#ifndef HIVE_SERVER_IMPL_H
#define HIVE_SERVER_IMPL_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "server/request.h"
#include "server/shared_cache.h"
#include "server/server.h"

struct hive_server {
    struct MHD_Daemon *d;
    hive_server_opts o;
    char *api_key;
    atomic_int ready, closing;
    atomic_int inflight;     /* requests whose response is not yet complete */
    hive_session *ss;
    hive_sched *sched;
    const hive_catalog *cat;
    const hive_config *cfg;
    char *model_name;
    long created;            /* unix time the server started */
    /* requests per HTTP status, for /metrics */
    pthread_mutex_t mu;
    uint64_t http_status[6]; /* 2xx..: index status/100 */
    /* structured output (structured.c) */
    pthread_mutex_t gmu;     /* guards the vocabulary view */
    hive_grammar_vocab *gvocab; /* built by the first request with a grammar */
    hive_shared_cache grammars; /* compiled grammars (hive_grammar *) by source */
    /* speculative.c: the experts' draft corpora (srv_corpus *) by path */
    hive_shared_cache corpora;
    /* model "auto" (routing.c) */
    pthread_mutex_t rmu;        /* guards building the router */
    int router_state;           /* 0 not built, 1 built, -1 failed (out of memory); under rmu */
    struct hive_router *router; /* built from the catalog by the first "auto" request; read-only after */
    struct srv_routed *routed;  /* requests per routed set, under mu */
    size_t n_routed;
};

typedef struct srv_routed {
    char *set;               /* "sql", "sql+json", or the base model's name */
    uint64_t requests;
} srv_routed;

/* A draft corpus's tokens, shared by the requests that draft from it. */
typedef struct srv_corpus {
    int32_t *ids;
    size_t n;
} srv_corpus;

/* One HTTP request: the body as it arrives. */
typedef struct http_conn {
    char *body;
    size_t len, cap;
    int too_big;
} http_conn;

/* ---- responses (http.c) ---- */
enum MHD_Result hive_http_json(struct MHD_Connection *c, hive_server *s, unsigned status, cJSON *body);
/* The same with one more header (name NULL: none). */
enum MHD_Result hive_http_json_hdr(struct MHD_Connection *c, hive_server *s, unsigned status, cJSON *body,
                                   const char *name, const char *value);
enum MHD_Result hive_http_text(struct MHD_Connection *c, hive_server *s, unsigned status, const char *type,
                               const char *text);
enum MHD_Result hive_http_error(struct MHD_Connection *c, hive_server *s, const hive_api_error *e);
void hive_http_count(hive_server *s, unsigned status);
/* 1 when the client closed its end of the connection. */
int hive_http_client_gone(struct MHD_Connection *c);

/* auth.c: 1 when the request carries the key (or none is set); compared in constant time */
int hive_auth_ok(const hive_server *s, struct MHD_Connection *c);

/* ---- a completion in flight (job.c) ---- */
typedef struct job_choice {
    char *text;
    size_t len, cap;
    hive_finish finish;
    int done;
    cJSON *logprobs;         /* non-stream: the content array */
} job_choice;

typedef struct job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;                /* the scheduler (until FINISHED) and the HTTP side */
    hive_server *srv;
    struct MHD_Connection *conn; /* for noticing a client that left */
    uint64_t sched_id;
    int chat, stream, include_usage, logprobs;
    uint32_t n;
    char id[48];
    char *model;
    long created;
    /* state from the scheduler */
    hive_shared_entry *grammar; /* hive_grammar *; NULL: none; released with the job */
    hive_shared_entry *corpus;  /* srv_corpus * of the request's experts; NULL: none (or the server's); released
                                 * with the job */
    int started, finished, cancelled;
    hive_status status;
    char error[512];
    uint32_t prompt_tokens, cached_tokens, completion_tokens;
    uint32_t drafted_tokens, accepted_tokens; /* speculation, all choices */
    job_choice ch[HIVE_API_MAX_N];
    /* stream: SSE bytes not yet sent */
    char *out;
    size_t out_len, out_cap, out_sent;
} job;

job *hive_job_new(hive_server *s, const hive_api_request *r, const char *model);
void hive_job_unref(job *j);
/* The scheduler's event callback (ud = job). */
void hive_job_on_event(void *ud, const hive_sched_event *ev);
/* Non-stream response body once finished. */
cJSON *hive_job_response(job *j);
/* The SSE reader and its free callback for MHD_create_response_from_callback. */
ssize_t hive_job_read(void *cls, uint64_t pos, char *buf, size_t max);
void hive_job_stream_free(void *cls);
/* Cancel the request and drop the HTTP side's reference. */
void hive_job_abandon(job *j);

/* ---- endpoints ---- */
enum MHD_Result hive_ep_completion(struct MHD_Connection *c, hive_server *s, http_conn *hc, int chat);
enum MHD_Result hive_ep_models(struct MHD_Connection *c, hive_server *s);
enum MHD_Result hive_ep_health(struct MHD_Connection *c, hive_server *s);
enum MHD_Result hive_ep_metrics(struct MHD_Connection *c, hive_server *s);
enum MHD_Result hive_ep_tokenize(struct MHD_Connection *c, hive_server *s, http_conn *hc);
enum MHD_Result hive_ep_detokenize(struct MHD_Connection *c, hive_server *s, http_conn *hc);
enum MHD_Result hive_ep_experts_load(struct MHD_Connection *c, hive_server *s, http_conn *hc, int load);

/* ---- structured.c: request > the experts' manifest grammar > none ---- */
/* *out: the grammar the request runs under, referenced (NULL: none). 0, or
 * -1 with the error (400 for the request's own grammar). */
int hive_server_grammar_for(hive_server *s, const hive_api_request *r, const hive_catalog_entry *const *xs,
                            size_t nx, hive_shared_entry **out, hive_api_error *err);
void hive_server_grammar_release(hive_server *s, hive_shared_entry *g);
void hive_server_grammar_cache_init(hive_server *s);
/* At stop: the cache and the vocabulary view (no job is left). */
void hive_server_grammar_free_all(hive_server *s);

/* ---- sampling.c: request > experts' manifests > server config > default ---- */
/* Resolves `model` and `experts` to catalog entries (404 for an unknown name),
 * with each one's weight: `experts`' own, 1 for those `model` names or routes. */
int hive_resolve_experts(const hive_server *s, const hive_api_request *r, const hive_catalog_entry **out,
                         double *weights, size_t *n, hive_api_error *err);
/* ---- routing.c: model "auto" ---- */
#define HIVE_SERVER_AUTO "auto"
#define HIVE_SERVER_EXPERTS_HEADER "X-Hive-Experts"
/* 1 when model asks for routing ("auto", unless an expert has that name). */
int hive_server_is_auto(const hive_server *s, const char *model);
/* The experts routed from the request's text (the last user message, or the
 * prompt); none = the base model. Counts the choice for /metrics. */
int hive_server_route(hive_server *s, const hive_api_request *r, const hive_catalog_entry **out, size_t *n,
                      hive_api_error *err);
/* "sql+json", or the base model's name for no experts (malloc'd; NULL on OOM). */
char *hive_server_set_name(const hive_server *s, const hive_catalog_entry *const *xs, size_t n);
/* hive_routed_requests_total, Prometheus text (malloc'd). */
char *hive_server_route_metrics(hive_server *s);
void hive_server_routing_free(hive_server *s);

int hive_sampling_for(const hive_server *s, const hive_api_request *r, const hive_catalog_entry *const *xs, size_t nx,
                      hive_sched_params *p, char ***stop_owned, hive_api_error *err);
/* The first expert (in order) whose manifest sets key: its value, *who its name. */
const char *hive_server_manifest_value(const hive_catalog_entry *const *xs, size_t nx, const char *key,
                                       const char **who);

/* ---- speculative.c: the request's `speculative` > the server's --draft ---- */
/* 0 and *o (kind NONE: plain decoding) with *corpus the experts' draft corpus
 * o points into (referenced; NULL when none or the server's), or -1 with a
 * 400: an unknown drafter, base or model (not run by serve), a model that
 * cannot roll back; a 500 for an expert's corpus that cannot be read. */
int hive_server_spec_for(hive_server *s, const hive_api_request *r, const hive_catalog_entry *const *xs, size_t nx,
                         hive_spec_opts *o, hive_shared_entry **corpus, hive_api_error *err);
void hive_server_corpus_release(hive_server *s, hive_shared_entry *c);
void hive_server_spec_init(hive_server *s);
void hive_server_spec_free(hive_server *s); /* at stop, no job left */

#endif
