/* GET /metrics: Prometheus text exposition (version 0.0.4) of the
 * scheduler's, the KV cache's and the expert cache's counters. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"

typedef struct {
    char *buf;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *nb = realloc(t->buf, cap);
        if (!nb) return;
        t->buf = nb;
        t->cap = cap;
    }
}

static void metric(text *t, const char *name, const char *type, const char *help, double v) {
    put(t, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static void histogram(text *t, const char *name, const char *help, const uint64_t *counts, double sum) {
    put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int b = 0; b < HIVE_SCHED_N_BUCKETS; b++) {
        cum += counts[b];
        put(t, "%s_bucket{le=\"%g\"} %llu\n", name, hive_sched_buckets[b], (unsigned long long)cum);
    }
    cum += counts[HIVE_SCHED_N_BUCKETS];
    put(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", name, (unsigned long long)cum, name, sum, name,
        (unsigned long long)cum);
}

/* The catalog name of an expert path (label values stay readable). */
static const char *expert_name(const hive_server *s, const char *path) {
    for (size_t i = 0; i < s->cat->n; i++)
        if (!strcmp(s->cat->v[i].path, path)) return s->cat->v[i].name;
    return path;
}

enum MHD_Result hive_ep_metrics(struct MHD_Connection *c, hive_server *s) {
    hive_sched_stats st;
    hive_sched_get_stats(s->sched, &st);
    text t = {0};
    metric(&t, "hive_requests_running", "gauge", "Requests being generated.", st.running);
    metric(&t, "hive_requests_waiting", "gauge", "Requests queued for a slot.", st.waiting);
    metric(&t, "hive_requests_total", "counter", "Requests accepted by the scheduler.", (double)st.requests_total);
    metric(&t, "hive_requests_cancelled_total", "counter", "Requests cancelled (client left, shutdown).",
           (double)st.cancelled_total);
    metric(&t, "hive_requests_failed_total", "counter", "Requests that failed after being accepted.",
           (double)st.failed_total);
    metric(&t, "hive_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", (double)st.prompt_tokens_total);
    metric(&t, "hive_generation_tokens_total", "counter", "Tokens generated.", (double)st.generated_tokens_total);
    metric(&t, "hive_prefix_cache_hits_total", "counter", "Requests that reused cached KV of an earlier request.",
           (double)st.prefix_hits);
    metric(&t, "hive_prefix_cache_tokens_total", "counter", "Prompt tokens served from the prefix cache.",
           (double)st.cached_tokens_total);
    metric(&t, "hive_kv_shared_prompt_tokens_total", "counter",
           "Prompt tokens the n > 1 choices of a request shared from the first choice's KV pages.",
           (double)st.shared_prompt_tokens_total);
    metric(&t, "hive_spec_verify_passes_total", "counter",
           "Speculative decoding: a sequence's draft checked in a forward pass.", (double)st.spec_verify_total);
    metric(&t, "hive_spec_drafted_tokens_total", "counter", "Speculative decoding: draft tokens verified.",
           (double)st.spec_drafted_total);
    metric(&t, "hive_spec_accepted_tokens_total", "counter", "Speculative decoding: draft tokens accepted.",
           (double)st.spec_accepted_total);
    metric(&t, "hive_scheduler_steps_total", "counter", "Forward passes run by the scheduler.", (double)st.steps);
    metric(&t, "hive_kv_pages_total", "gauge", "KV cache pages.", st.kv_pages_total);
    metric(&t, "hive_kv_pages_used", "gauge", "KV pages held by running requests.", st.kv_pages_used);
    metric(&t, "hive_kv_pages_cached", "gauge", "KV pages held by the prefix cache (freed on demand).", st.kv_pages_cached);
    metric(&t, "hive_kv_pages_free", "gauge", "Free KV pages.", st.kv_pages_free);
    histogram(&t, "hive_time_to_first_token_seconds", "Time from arrival to the first token.", st.ttft_count,
              st.ttft_sum);
    histogram(&t, "hive_e2e_request_latency_seconds", "Time from arrival to the last token.", st.e2e_count, st.e2e_sum);
    const hive_expert_cache_stats *x = &st.experts;
    metric(&t, "hive_expert_cache_hits_total", "counter", "Expert lookups served from the cache.", (double)x->hits);
    metric(&t, "hive_expert_cache_misses_total", "counter", "Expert lookups that loaded the expert.", (double)x->loads);
    metric(&t, "hive_expert_cache_loads_total", "counter", "Experts loaded.", (double)x->loads);
    metric(&t, "hive_expert_cache_evictions_total", "counter", "Experts evicted.", (double)x->evictions);
    metric(&t, "hive_expert_cache_load_seconds_total", "counter", "Time spent loading experts (cold).",
           x->load_ns_total / 1e9);
    metric(&t, "hive_expert_cache_hit_seconds_total", "counter", "Time spent attaching cached experts (hot).",
           x->hit_ns_total / 1e9);
    metric(&t, "hive_expert_cache_experts", "gauge", "Experts loaded now.", x->n_experts);
    metric(&t, "hive_expert_cache_bytes", "gauge", "Device bytes held by loaded experts.", (double)x->bytes);
    put(&t, "# HELP hive_expert_requests_total Requests that named each expert.\n"
            "# TYPE hive_expert_requests_total counter\n");
    for (size_t i = 0; i < st.n_per_expert; i++)
        put(&t, "hive_expert_requests_total{expert=\"%s\"} %llu\n", expert_name(s, st.per_expert[i].path),
            (unsigned long long)st.per_expert[i].requests);
    char *routed = hive_server_route_metrics(s); /* takes s->mu */
    if (routed) put(&t, "%s", routed);
    free(routed);
    pthread_mutex_lock(&s->mu);
    put(&t, "# HELP hive_http_responses_total HTTP responses by status class.\n# TYPE hive_http_responses_total counter\n");
    for (int k = 2; k < 6; k++) put(&t, "hive_http_responses_total{code=\"%dxx\"} %llu\n", k, (unsigned long long)s->http_status[k]);
    pthread_mutex_unlock(&s->mu);
    hive_sched_stats_free(&st);
    enum MHD_Result rc = hive_http_text(c, s, 200, "text/plain; version=0.0.4", t.buf ? t.buf : "");
    free(t.buf);
    return rc;
}
