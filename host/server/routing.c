/* model: "auto": the experts for a request are routed from its text
 * (host/experts/router.h), per request; the choice goes back in the
 * X-Hive-Experts header and is counted per set for /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experts/router.h"
#include "server/server_impl.h"

int hive_server_is_auto(const hive_server *s, const char *model) {
    return !strcmp(model, HIVE_SERVER_AUTO) && !hive_catalog_find(s->cat, model); /* an expert may be named auto */
}

/* The text routed: the last user message (what the request asks now), or
 * the completion prompt. */
static const char *routed_text(const hive_api_request *r) {
    if (!r->chat) return r->prompt ? r->prompt : "";
    for (size_t i = r->n_msgs; i-- > 0;)
        if (!strcmp(r->msgs[i].role, "user") && r->msgs[i].content) return r->msgs[i].content;
    return "";
}

/* "sql+json" for a set, the base model's name for none; malloc'd. */
char *hive_server_set_name(const hive_server *s, const hive_catalog_entry *const *xs, size_t n) {
    if (!n) return strdup(s->model_name);
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += strlen(xs[i]->name) + 1;
    char *out = malloc(len);
    if (!out) return NULL;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(out, "+");
        strcat(out, xs[i]->name);
    }
    return out;
}

static void count_route(hive_server *s, const char *set) {
    pthread_mutex_lock(&s->mu);
    size_t i = 0;
    while (i < s->n_routed && strcmp(s->routed[i].set, set) != 0) i++;
    if (i == s->n_routed) {
        srv_routed *v = realloc(s->routed, (s->n_routed + 1) * sizeof *v);
        char *dup = v ? strdup(set) : NULL;
        if (v) s->routed = v;
        if (!dup) {
            pthread_mutex_unlock(&s->mu);
            return; /* a missed count, not a failed request */
        }
        s->routed[s->n_routed++] = (srv_routed){dup, 0};
    }
    s->routed[i].requests++;
    pthread_mutex_unlock(&s->mu);
}

int hive_server_route(hive_server *s, const hive_api_request *r, const hive_catalog_entry **out, size_t *n,
                      hive_api_error *err) {
    *n = 0;
    pthread_mutex_lock(&s->rmu); /* the first request reads every manifest (lazy discovery) */
    if (!s->router_state)
        s->router_state = hive_router_from_catalog(s->cat, &s->router, NULL) == HIVE_OK ? 1 : -1;
    pthread_mutex_unlock(&s->rmu);
    if (!s->router) {
        hive_api_error_set(err, 503, "server_error", "model", "the router is not available (out of memory)");
        return -1;
    }
    size_t max = (size_t)hive_config_int(s->cfg, "experts.route_max");
    if (max > HIVE_API_MAX_EXPERTS) max = HIVE_API_MAX_EXPERTS;
    hive_route_pick p[HIVE_API_MAX_EXPERTS];
    size_t k = hive_router_route(s->router, routed_text(r), hive_config_float(s->cfg, "experts.route_threshold"), max, p);
    for (size_t i = 0; i < k; i++) out[(*n)++] = &s->cat->v[p[i].index];
    char *set = hive_server_set_name(s, out, *n);
    if (set) count_route(s, set);
    free(set);
    return 0;
}

/* Prometheus label values escape \, " and newlines. */
static void put_label(char **buf, size_t *len, size_t *cap, const char *v) {
    for (; *v; v++) {
        if (*len + 3 > *cap) {
            size_t nc = (*cap + 16) * 2;
            char *nb = realloc(*buf, nc);
            if (!nb) return;
            *buf = nb;
            *cap = nc;
        }
        if (*v == '\\' || *v == '"') (*buf)[(*len)++] = '\\';
        if (*v == '\n') {
            (*buf)[(*len)++] = '\\';
            (*buf)[(*len)++] = 'n';
        } else (*buf)[(*len)++] = *v;
    }
}

static void put_str(char **buf, size_t *len, size_t *cap, const char *v) {
    size_t l = strlen(v);
    if (*len + l + 1 > *cap) {
        size_t nc = (*len + l + 1) * 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, v, l);
    *len += l;
}

char *hive_server_route_metrics(hive_server *s) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    put_str(&buf, &len, &cap, "# HELP hive_routed_requests_total Requests with model \"auto\", by the expert set "
                              "routed to (the base model's name: none).\n"
                              "# TYPE hive_routed_requests_total counter\n");
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_routed; i++) {
        char num[32];
        snprintf(num, sizeof num, "\"} %llu\n", (unsigned long long)s->routed[i].requests);
        put_str(&buf, &len, &cap, "hive_routed_requests_total{experts=\"");
        put_label(&buf, &len, &cap, s->routed[i].set);
        put_str(&buf, &len, &cap, num);
    }
    pthread_mutex_unlock(&s->mu);
    if (buf) buf[len < cap ? len : cap - 1] = 0;
    return buf;
}

void hive_server_routing_free(hive_server *s) {
    hive_router_free(s->router);
    s->router = NULL;
    s->router_state = 0;
    for (size_t i = 0; i < s->n_routed; i++) free(s->routed[i].set);
    free(s->routed);
    s->routed = NULL;
    s->n_routed = 0;
}
