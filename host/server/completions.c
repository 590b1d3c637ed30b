/* POST /v1/chat/completions and /v1/completions: parse, resolve experts,
 * layer sampling, pick and compile the grammar, tokenize, check the context,
 * queue, then answer with one JSON body or an SSE stream. The handler thread
 * waits on the job; a client that leaves while it waits cancels the request. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_impl.h"
#include "util/error.h"
#include "util/log.h"

/* Chat: the server's system message (chat.system) when the client sent none. */
static hive_status encode(const hive_server *s, const hive_api_request *r, int32_t **ids, size_t *n, hive_error **err) {
    if (!r->chat) return hive_tokenizer_encode(s->ss->tok, r->prompt, strlen(r->prompt), 1, HIVE_ADD_BOS_DEFAULT, ids, n, err);
    const char *sys = hive_config_str(s->cfg, "chat.system");
    int add_sys = *sys && strcmp(r->msgs[0].role, "system") != 0;
    hive_chat_msg *m = malloc((r->n_msgs + 1) * sizeof *m);
    if (!m) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    size_t k = 0;
    if (add_sys) m[k++] = (hive_chat_msg){"system", sys};
    for (size_t i = 0; i < r->n_msgs; i++) m[k++] = r->msgs[i];
    int thinking = r->thinking >= 0 ? r->thinking : hive_thinking_flag(s->cfg);
    hive_status st = hive_render_chat_ids(s->ss->tok, s->ss->model->chat_template, m, k, thinking, ids, n, err);
    free(m);
    return st;
}

static int status_http(hive_status st) {
    switch (st) {
    case HIVE_E_INVALID:
    case HIVE_E_SHAPE:
    case HIVE_E_VERSION:
    case HIVE_E_UNSUPPORTED: return 400;
    case HIVE_E_NOMEM: return 503;
    default: return 500;
    }
}

/* Wait until pred holds for the job, or the client leaves (returns 0). */
static int wait_for(job *j, struct MHD_Connection *c, int until_finished) {
    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (j->finished || (!until_finished && j->started)) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (!j->finished && hive_http_client_gone(c)) {
            pthread_mutex_unlock(&j->mu);
            return 0;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return 1;
}

/* set: the experts the request runs with, for X-Hive-Experts. */
static enum MHD_Result respond(struct MHD_Connection *c, hive_server *s, job *j, const char *set) {
    if (!wait_for(j, c, !j->stream)) {
        hive_job_abandon(j);
        return MHD_NO; /* the client is gone: close */
    }
    pthread_mutex_lock(&j->mu);
    /* before a stream's headers (or any time without streaming) a failure is
     * answered with its own status: a grammar that cannot go on is a 400 */
    int failed = j->finished && j->status != HIVE_OK && (!j->started || !j->stream);
    int ok_done = j->finished && j->status == HIVE_OK;
    pthread_mutex_unlock(&j->mu);
    if (failed) {
        hive_api_error e;
        hive_api_error_set(&e, status_http(j->status), status_http(j->status) == 400 ? "invalid_request_error" : "server_error",
                           NULL, "%s", j->error);
        hive_job_unref(j);
        return hive_http_error(c, s, &e);
    }
    if (!j->stream) {
        enum MHD_Result rc;
        if (ok_done && !j->cancelled)
            rc = hive_http_json_hdr(c, s, 200, hive_job_response(j), HIVE_SERVER_EXPERTS_HEADER, set);
        else {
            hive_api_error e;
            hive_api_error_set(&e, j->cancelled ? 503 : 500, "server_error", NULL, "%s",
                               j->cancelled ? "the request was cancelled (the server is shutting down)" : j->error);
            rc = hive_http_error(c, s, &e);
        }
        hive_job_unref(j);
        return rc;
    }
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, hive_job_read, j,
                                                               hive_job_stream_free);
    if (!r) {
        hive_job_abandon(j);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, HIVE_SERVER_EXPERTS_HEADER, set);
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r); /* the job is freed with the response */
    hive_http_count(s, 200);
    return rc;
}

enum MHD_Result hive_ep_completion(struct MHD_Connection *c, hive_server *s, http_conn *hc, int chat) {
    hive_api_request r;
    hive_api_error e;
    if (hive_api_parse_request(hc->body ? hc->body : "", hc->len, chat, &r, &e)) return hive_http_error(c, s, &e);
    const hive_catalog_entry *xs[HIVE_API_MAX_EXPERTS];
    double weights[HIVE_API_MAX_EXPERTS];
    size_t nx = 0;
    hive_sched_params p;
    memset(&p, 0, sizeof p);
    char **stop_owned = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    job *j = NULL;
    hive_shared_entry *grammar = NULL, *corpus = NULL;
    enum MHD_Result rc = MHD_NO;
    hive_error *err = NULL;
    char *set = NULL;
    if (hive_resolve_experts(s, &r, xs, weights, &nx, &e) || hive_sampling_for(s, &r, xs, nx, &p, &stop_owned, &e) ||
        hive_server_grammar_for(s, &r, xs, nx, &grammar, &e) ||
        hive_server_spec_for(s, &r, xs, nx, &p.spec, &corpus, &e))
        goto error;
    if (!(set = hive_server_set_name(s, xs, nx))) {
        hive_api_error_set(&e, 500, "server_error", NULL, "out of memory");
        goto error;
    }
    if (grammar) {
        p.grammar = hive_shared_value(grammar);
        p.grammar_vocab = s->gvocab;
    }
    if (encode(s, &r, &ids, &n_ids, &err) != HIVE_OK) {
        hive_api_error_set(&e, 400, "invalid_request_error", chat ? "messages" : "prompt", "%s", hive_error_message(err));
        goto error;
    }
    uint32_t ctx = hive_engine_ctx(s->ss->eng);
    if (n_ids > ctx || (n_ids == ctx)) {
        hive_api_error_set(&e, 400, "invalid_request_error", chat ? "messages" : "prompt",
                           "this model's context holds %u tokens; the prompt has %zu (no room to generate)", ctx, n_ids);
        snprintf(e.code, sizeof e.code, "context_length_exceeded");
        goto error;
    }
    if (n_ids + p.max_tokens > ctx) {
        if (r.max_tokens.has) {
            hive_api_error_set(&e, 400, "invalid_request_error", "max_tokens",
                               "the prompt (%zu tokens) plus max_tokens (%u) exceed the context of %u tokens", n_ids,
                               p.max_tokens, ctx);
            snprintf(e.code, sizeof e.code, "context_length_exceeded");
            goto error;
        }
        p.max_tokens = ctx - (uint32_t)n_ids; /* a default, not a request: fit it */
    }
    const char *paths[HIVE_API_MAX_EXPERTS];
    for (size_t i = 0; i < nx; i++) paths[i] = xs[i]->path;
    /* model "auto" answers with the model it ran: the routed set */
    if (!(j = hive_job_new(s, &r, hive_server_is_auto(s, r.model) ? set : r.model))) {
        hive_api_error_set(&e, 500, "server_error", NULL, "out of memory");
        goto error;
    }
    j->conn = c;
    j->grammar = grammar, j->corpus = corpus; /* the job releases them */
    grammar = corpus = NULL;
    hive_sched_request q = {ids, n_ids, paths, nx, p, hive_job_on_event, j, weights};
    j->refs++; /* the scheduler's, dropped at FINISHED */
    hive_sched_submit_rc src = hive_sched_submit(s->sched, &q, &j->sched_id, &err);
    if (src != HIVE_SCHED_ACCEPTED) {
        j->refs--;
        if (src == HIVE_SCHED_QUEUE_FULL)
            hive_api_error_set(&e, 429, "rate_limit_error", NULL, "the queue is full; retry later");
        else if (src == HIVE_SCHED_CLOSED)
            hive_api_error_set(&e, 503, "service_unavailable", NULL, "the server is shutting down");
        else hive_api_error_set(&e, 400, "invalid_request_error", NULL, "%s", hive_error_message(err));
        hive_job_unref(j);
        j = NULL;
        goto error;
    }
    rc = respond(c, s, j, set);
    goto done;
error:
    rc = hive_http_error(c, s, &e);
done:
    hive_server_grammar_release(s, grammar);
    hive_server_corpus_release(s, corpus);
    hive_error_free(err);
    if (stop_owned)
        for (size_t i = 0; i < p.n_stop; i++) free(stop_owned[i]);
    free(stop_owned);
    free(ids);
    free(set);
    hive_api_request_free(&r);
    return rc;
}
