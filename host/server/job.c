/* A completion in flight: the scheduler's events become OpenAI JSON, either
 * SSE chunks queued for the connection's reader or, without streaming, text
 * and logprobs gathered for one response. Two owners: the scheduler until
 * FINISHED, the HTTP side until its response is freed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_impl.h"
#include "util/clock.h"

static atomic_ullong g_job_counter;

job *hive_job_new(hive_server *s, const hive_api_request *r, const char *model) {
    job *j = calloc(1, sizeof *j);
    if (!j || !(j->model = strdup(model))) {
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    j->srv = s;
    j->chat = r->chat;
    j->stream = r->stream;
    j->include_usage = r->include_usage;
    j->logprobs = r->logprobs;
    j->n = r->n;
    j->created = (long)time(NULL);
    snprintf(j->id, sizeof j->id, "%s-%lx%06llx", r->chat ? "chatcmpl" : "cmpl", (unsigned long)j->created,
             (unsigned long long)atomic_fetch_add(&g_job_counter, 1));
    return j;
}

void hive_job_unref(job *j) {
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    for (uint32_t i = 0; i < HIVE_API_MAX_N; i++) {
        free(j->ch[i].text);
        cJSON_Delete(j->ch[i].logprobs);
    }
    free(j->out);
    free(j->model);
    hive_server_grammar_release(j->srv, j->grammar);
    hive_server_corpus_release(j->srv, j->corpus);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void hive_job_abandon(job *j) {
    pthread_mutex_lock(&j->mu);
    int finished = j->finished;
    pthread_mutex_unlock(&j->mu);
    if (!finished) hive_sched_cancel(j->srv->sched, j->sched_id);
    hive_job_unref(j);
}

static const char *finish_reason(hive_finish f) {
    return f == HIVE_FINISH_LENGTH || f == HIVE_FINISH_CONTEXT ? "length" : "stop";
}

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *nb = realloc(*buf, c);
        if (!nb) return; /* the chunk is lost; the stream still ends properly */
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

/* Queue one SSE event (j->mu held). */
static void sse(job *j, cJSON *o) {
    char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!txt) return;
    append(&j->out, &j->out_len, &j->out_cap, "data: ", 6);
    append(&j->out, &j->out_len, &j->out_cap, txt, strlen(txt));
    append(&j->out, &j->out_len, &j->out_cap, "\n\n", 2);
    free(txt);
}

static cJSON *usage_json(const job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", j->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", j->prompt_tokens + j->completion_tokens);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", j->cached_tokens);
    if (j->drafted_tokens) { /* speculation ran: OpenAI's names for predicted tokens taken and not */
        cJSON *c = cJSON_AddObjectToObject(u, "completion_tokens_details");
        cJSON_AddNumberToObject(c, "accepted_prediction_tokens", j->accepted_tokens);
        cJSON_AddNumberToObject(c, "rejected_prediction_tokens", j->drafted_tokens - j->accepted_tokens);
    }
    return u;
}

static cJSON *chunk(const job *j) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", j->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", j->model);
    return o;
}

/* A choice entry of a chunk: delta (chat) or text (completions). */
static cJSON *chunk_choice(const job *j, cJSON *o, uint32_t index, const char *text, size_t len, const char *role,
                           const char *finish) {
    cJSON *arr = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(arr, c);
    cJSON_AddNumberToObject(c, "index", index);
    char *t = strndup(text ? text : "", len);
    if (j->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (role) cJSON_AddStringToObject(d, "role", role);
        if (text) cJSON_AddStringToObject(d, "content", t ? t : "");
    } else {
        cJSON_AddStringToObject(c, "text", t ? t : "");
    }
    free(t);
    cJSON_AddNullToObject(c, "logprobs");
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    return c;
}

static cJSON *token_entry(const hive_tokenizer *tok, int32_t id, float lp) {
    char buf[256];
    size_t n = 0;
    if (hive_tokenizer_token_bytes(tok, id, buf, sizeof buf - 1, &n) != HIVE_OK) n = 0;
    buf[n] = 0;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "token", buf);
    cJSON_AddNumberToObject(e, "logprob", lp);
    cJSON *bytes = cJSON_AddArrayToObject(e, "bytes");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)buf[i]));
    return e;
}

/* OpenAI's chat logprobs entry for one token (completions use the same shape here). */
static cJSON *logprob_entry(const job *j, const hive_sched_event *ev) {
    const hive_tokenizer *tok = j->srv->ss->tok;
    cJSON *e = token_entry(tok, ev->token, ev->logprob), *top = cJSON_AddArrayToObject(e, "top_logprobs");
    for (uint32_t k = 0; k < ev->n_top; k++)
        if (ev->top[k].token >= 0) cJSON_AddItemToArray(top, token_entry(tok, ev->top[k].token, ev->top[k].logprob));
    return e;
}

static void on_token(job *j, const hive_sched_event *ev) {
    job_choice *c = &j->ch[ev->choice];
    if (j->stream) {
        cJSON *o = chunk(j);
        cJSON *cc = chunk_choice(j, o, ev->choice, ev->text, ev->len, NULL, NULL);
        if (j->logprobs && ev->token >= 0) {
            cJSON *lp = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(lp, "content");
            cJSON_AddItemToArray(content, logprob_entry(j, ev));
            cJSON_ReplaceItemInObject(cc, "logprobs", lp);
        }
        sse(j, o);
        return;
    }
    append(&c->text, &c->len, &c->cap, ev->text ? ev->text : "", ev->len);
    if (j->logprobs && ev->token >= 0) {
        if (!c->logprobs) c->logprobs = cJSON_CreateArray();
        cJSON_AddItemToArray(c->logprobs, logprob_entry(j, ev));
    }
}

void hive_job_on_event(void *ud, const hive_sched_event *ev) {
    job *j = ud;
    pthread_mutex_lock(&j->mu);
    switch (ev->kind) {
    case HIVE_SCHED_STARTED:
        j->started = 1;
        j->prompt_tokens = ev->prompt_tokens;
        j->cached_tokens = ev->cached_tokens;
        if (j->stream && j->chat)
            for (uint32_t i = 0; i < j->n; i++) {
                cJSON *o = chunk(j);
                chunk_choice(j, o, i, "", 0, "assistant", NULL);
                sse(j, o);
            }
        break;
    case HIVE_SCHED_TOKEN: on_token(j, ev); break;
    case HIVE_SCHED_CHOICE_DONE:
        j->ch[ev->choice].done = 1;
        j->ch[ev->choice].finish = ev->finish;
        if (j->stream) {
            cJSON *o = chunk(j);
            chunk_choice(j, o, ev->choice, j->chat ? NULL : "", 0, NULL, finish_reason(ev->finish));
            sse(j, o);
        }
        break;
    case HIVE_SCHED_FINISHED:
        j->finished = 1;
        j->status = ev->status;
        j->cancelled = ev->cancelled;
        j->completion_tokens = ev->completion_tokens;
        j->prompt_tokens = ev->prompt_tokens;
        j->cached_tokens = ev->cached_tokens;
        j->drafted_tokens = ev->drafted_tokens;
        j->accepted_tokens = ev->accepted_tokens;
        snprintf(j->error, sizeof j->error, "%s", ev->error ? ev->error : "");
        if (j->stream && j->started) {
            if (ev->status != HIVE_OK) { /* after the headers: the error travels in the stream */
                cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
                cJSON_AddStringToObject(e, "message", j->error);
                cJSON_AddStringToObject(e, "type", "server_error");
                sse(j, o);
            } else if (j->include_usage) {
                cJSON *o = chunk(j);
                cJSON_AddArrayToObject(o, "choices");
                cJSON_AddItemToObject(o, "usage", usage_json(j));
                sse(j, o);
            }
            append(&j->out, &j->out_len, &j->out_cap, "data: [DONE]\n\n", 14);
        }
        break;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (ev->kind == HIVE_SCHED_FINISHED) hive_job_unref(j); /* the scheduler's reference */
}

cJSON *hive_job_response(job *j) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", j->chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", j->model);
    cJSON *arr = cJSON_AddArrayToObject(o, "choices");
    for (uint32_t i = 0; i < j->n; i++) {
        job_choice *c = &j->ch[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, e);
        cJSON_AddNumberToObject(e, "index", i);
        if (j->chat) {
            cJSON *m = cJSON_AddObjectToObject(e, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            cJSON_AddStringToObject(m, "content", c->text ? c->text : "");
        } else {
            cJSON_AddStringToObject(e, "text", c->text ? c->text : "");
        }
        if (j->logprobs) {
            cJSON *lp = cJSON_AddObjectToObject(e, "logprobs");
            cJSON_AddItemToObject(lp, "content", c->logprobs ? c->logprobs : cJSON_CreateArray());
            c->logprobs = NULL;
        } else {
            cJSON_AddNullToObject(e, "logprobs");
        }
        cJSON_AddStringToObject(e, "finish_reason", finish_reason(c->finish));
    }
    cJSON_AddItemToObject(o, "usage", usage_json(j));
    return o;
}

ssize_t hive_job_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    job *j = cls;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (j->out_sent < j->out_len) {
            size_t n = j->out_len - j->out_sent < max ? j->out_len - j->out_sent : max;
            memcpy(buf, j->out + j->out_sent, n);
            j->out_sent += n;
            if (j->out_sent == j->out_len) j->out_sent = j->out_len = 0;
            pthread_mutex_unlock(&j->mu);
            return (ssize_t)n;
        }
        if (j->finished) {
            pthread_mutex_unlock(&j->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        /* wait for tokens; look at the socket now and then, so a client that
         * left is noticed even while nothing is written */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (j->out_sent == j->out_len && !j->finished && j->conn && hive_http_client_gone(j->conn)) {
            pthread_mutex_unlock(&j->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

void hive_job_stream_free(void *cls) { hive_job_abandon(cls); }
