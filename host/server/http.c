/* The HTTP daemon (libmicrohttpd, one thread per connection so a handler may
 * wait for the scheduler), body collection under a size limit, routing, and
 * response helpers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "experts/router.h"
#include "server/server_impl.h"
#include "util/error.h"
#include "util/log.h"

void hive_http_count(hive_server *s, unsigned status) {
    pthread_mutex_lock(&s->mu);
    if (status / 100 < 6) s->http_status[status / 100]++;
    pthread_mutex_unlock(&s->mu);
}

enum MHD_Result hive_http_text(struct MHD_Connection *c, hive_server *s, unsigned status, const char *type,
                               const char *text) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    hive_http_count(s, status);
    return ok;
}

enum MHD_Result hive_http_json(struct MHD_Connection *c, hive_server *s, unsigned status, cJSON *body) {
    return hive_http_json_hdr(c, s, status, body, NULL, NULL);
}

enum MHD_Result hive_http_json_hdr(struct MHD_Connection *c, hive_server *s, unsigned status, cJSON *body,
                                   const char *name, const char *value) {
    char *txt = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!txt) return hive_http_text(c, s, 500, "application/json", "{\"error\":{\"message\":\"out of memory\"}}");
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(txt);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (name) MHD_add_response_header(r, name, value);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    hive_http_count(s, status);
    return ok;
}

/* OpenAI's error object: {"error": {"message", "type", "param", "code"}}. */
enum MHD_Result hive_http_error(struct MHD_Connection *c, hive_server *s, const hive_api_error *e) {
    cJSON *o = cJSON_CreateObject(), *in = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(in, "message", e->message);
    cJSON_AddStringToObject(in, "type", e->type ? e->type : "invalid_request_error");
    if (*e->param) cJSON_AddStringToObject(in, "param", e->param);
    else cJSON_AddNullToObject(in, "param");
    if (*e->code) cJSON_AddStringToObject(in, "code", e->code);
    else cJSON_AddNullToObject(in, "code");
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(txt);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (e->http == 429) MHD_add_response_header(r, "Retry-After", "1");
    if (e->http == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)e->http, r);
    MHD_destroy_response(r);
    hive_http_count(s, (unsigned)e->http);
    return ok;
}

int hive_http_client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {ci->connect_fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return 1;
    if (p.revents & POLLIN) { /* readable: EOF, or a pipelined request (still there) */
        char b;
        ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    return 0;
}

static enum MHD_Result route(struct MHD_Connection *c, hive_server *s, const char *url, const char *method,
                             http_conn *hc) {
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    hive_api_error e;
    if (!strcmp(url, "/health")) {
        if (!get) goto not_allowed;
        return hive_ep_health(c, s);
    }
    if (!atomic_load(&s->ready)) {
        hive_api_error_set(&e, 503, "service_unavailable", NULL, "the model is loading");
        return hive_http_error(c, s, &e);
    }
    if (!strcmp(url, "/metrics")) {
        if (!get) goto not_allowed;
        return hive_ep_metrics(c, s);
    }
    if (!hive_auth_ok(s, c)) {
        hive_api_error_set(&e, 401, "authentication_error", NULL,
                           "a valid API key is required: send 'Authorization: Bearer <key>'");
        snprintf(e.code, sizeof e.code, "invalid_api_key");
        return hive_http_error(c, s, &e);
    }
    if (hc->too_big) {
        hive_api_error_set(&e, 413, "invalid_request_error", NULL, "the body is larger than %zu bytes", s->o.max_body);
        return hive_http_error(c, s, &e);
    }
    if (atomic_load(&s->closing) && post) {
        hive_api_error_set(&e, 503, "service_unavailable", NULL, "the server is shutting down");
        return hive_http_error(c, s, &e);
    }
    if (!strcmp(url, "/v1/models")) {
        if (!get) goto not_allowed;
        return hive_ep_models(c, s);
    }
    static const struct {
        const char *url;
        int kind;
    } posts[] = {{"/v1/chat/completions", 1}, {"/v1/completions", 2}, {"/tokenize", 3},           {"/detokenize", 4},
                 {"/v1/experts/load", 5},     {"/v1/experts/unload", 6}};
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++) {
        if (strcmp(url, posts[i].url) != 0) continue;
        if (!post) goto not_allowed;
        switch (posts[i].kind) {
        case 1: return hive_ep_completion(c, s, hc, 1);
        case 2: return hive_ep_completion(c, s, hc, 0);
        case 3: return hive_ep_tokenize(c, s, hc);
        case 4: return hive_ep_detokenize(c, s, hc);
        default: return hive_ep_experts_load(c, s, hc, posts[i].kind == 5);
        }
    }
    hive_api_error_set(&e, 404, "invalid_request_error", NULL, "no endpoint %s %s", method, url);
    return hive_http_error(c, s, &e);
not_allowed:
    hive_api_error_set(&e, 405, "invalid_request_error", NULL, "%s does not take %s", url, method);
    return hive_http_error(c, s, &e);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    hive_server *s = cls;
    http_conn *hc = *con_cls;
    if (!hc) { /* first call: headers only */
        if (!(hc = calloc(1, sizeof *hc))) return MHD_NO;
        *con_cls = hc;
        atomic_fetch_add(&s->inflight, 1); /* until on_completed */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
            hive_api_error e;
            hive_api_error_set(&e, 413, "invalid_request_error", NULL, "the body is larger than %zu bytes",
                               s->o.max_body);
            return hive_http_error(c, s, &e); /* the body is not read */
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!hc->too_big && hc->len + *upload_size > s->o.max_body) {
            hc->too_big = 1;
            free(hc->body);
            hc->body = NULL;
            hc->len = hc->cap = 0;
        }
        if (!hc->too_big) {
            if (hc->len + *upload_size + 1 > hc->cap) {
                size_t cap = (hc->len + *upload_size + 1) * 2;
                char *nb = realloc(hc->body, cap);
                if (!nb) return MHD_NO;
                hc->body = nb;
                hc->cap = cap;
            }
            memcpy(hc->body + hc->len, upload, *upload_size);
            hc->len += *upload_size;
            hc->body[hc->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(c, s, url, method, hc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    hive_server *s = cls;
    http_conn *hc = *con_cls;
    if (hc) {
        free(hc->body);
        free(hc);
        atomic_fetch_sub(&s->inflight, 1);
    }
    *con_cls = NULL;
}

hive_status hive_server_start(const hive_server_opts *o, hive_server **out, hive_error **err) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, o->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(o->port);
    } else if (inet_pton(AF_INET6, o->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(o->port);
        flags |= MHD_USE_IPv6;
    } else {
        return hive_fail(err, HIVE_E_INVALID, "--host %s: not a numeric IPv4 or IPv6 address", o->host);
    }
    hive_server *s = calloc(1, sizeof *s);
    if (!s) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    s->o = *o;
    s->api_key = o->api_key && *o->api_key ? strdup(o->api_key) : NULL;
    s->o.api_key = NULL;
    s->created = (long)time(NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->gmu, NULL);
    pthread_mutex_init(&s->rmu, NULL);
    hive_server_grammar_cache_init(s);
    hive_server_spec_init(s);
    s->d = MHD_start_daemon(flags, o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)(o->max_connections ? o->max_connections : 256), MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)600, MHD_OPTION_END);
    if (!s->d) {
        int e = errno;
        hive_server_stop(s);
        return hive_fail(err, HIVE_E_IO, "cannot listen on %s:%u: %s", o->host, o->port, e ? strerror(e) : "libmicrohttpd failed");
    }
    *out = s;
    return HIVE_OK;
}

uint16_t hive_server_port(const hive_server *s) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : s->o.port;
}

void hive_server_set_ready(hive_server *s, hive_session *ss, hive_sched *sched, const hive_catalog *cat,
                           const hive_config *cfg, const char *model_name) {
    s->ss = ss;
    s->sched = sched;
    s->cat = cat;
    s->cfg = cfg;
    free(s->model_name);
    s->model_name = strdup(model_name);
    /* the router reads every manifest: built by the first model "auto" request (routing.c) */
    atomic_store(&s->ready, 1);
}

void hive_server_close(hive_server *s) { atomic_store(&s->closing, 1); }

int hive_server_inflight(const hive_server *s) { return atomic_load(&s->inflight); }

void hive_server_stop(hive_server *s) {
    if (!s) return;
    if (s->d) MHD_stop_daemon(s->d);
    hive_server_grammar_free_all(s);
    hive_server_spec_free(s);
    hive_server_routing_free(s);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->gmu);
    pthread_mutex_destroy(&s->rmu);
    free(s->api_key);
    free(s->model_name);
    free(s);
}
