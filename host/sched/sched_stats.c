/* Counters for /metrics and bench: requests, tokens, latency histograms, KV
 * pages, prefix-cache and expert-cache figures. */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_impl.h"

const double hive_sched_buckets[HIVE_SCHED_N_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                         1,     2.5,  5,     10,   30,  60,   120};

static void observe(uint64_t *counts, double *sum, double seconds) {
    *sum += seconds;
    uint32_t b = 0;
    while (b < HIVE_SCHED_N_BUCKETS && seconds > hive_sched_buckets[b]) b++;
    counts[b]++; /* cumulative sums are made when printed */
}

void sched_stats_count_experts(hive_sched *s, const sched_req *r) {
    for (size_t i = 0; i < r->n_experts; i++) {
        size_t j = 0;
        while (j < s->st.n_per_expert && strcmp(s->st.per_expert[j].path, r->experts[i]) != 0) j++;
        if (j == s->st.n_per_expert) {
            hive_sched_expert_count *pe = realloc(s->st.per_expert, (j + 1) * sizeof *pe);
            char *path = strdup(r->experts[i]);
            if (!pe || !path) {
                if (pe) s->st.per_expert = pe;
                free(path);
                return; /* a missed count, not a failed request */
            }
            s->st.per_expert = pe;
            pe[j].path = path;
            pe[j].requests = 0;
            s->st.n_per_expert++;
        }
        s->st.per_expert[j].requests++;
    }
}

void sched_stats_finished(hive_sched *s, const sched_req *r, double now) {
    if (r->t_first) observe(s->st.ttft_count, &s->st.ttft_sum, (r->t_first - r->t_submit) / 1e3);
    observe(s->st.e2e_count, &s->st.e2e_sum, (now - r->t_submit) / 1e3);
}

void sched_stats_snapshot_engine(hive_sched *s) {
    uint32_t total = 0, free_pages = 0, n_run = 0;
    hive_engine_kv_pages(s->ss->eng, &total, &free_pages);
    for (uint32_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].state == SLOT_RUNNING) s->slot_seqs[n_run++] = s->slots[i].seq;
    /* pages are shared (n choices): count each once; a page a running
     * sequence holds is in use even when a cached one holds it too */
    uint32_t used = hive_engine_kv_pages_held(s->ss->eng, s->slot_seqs, n_run);
    uint32_t cached = total - free_pages - used;
    hive_expert_cache_stats xs;
    memset(&xs, 0, sizeof xs);
    if (s->ss->experts) hive_expert_cache_get_stats(s->ss->experts, &xs);
    pthread_mutex_lock(&s->mu);
    s->st.kv_pages_total = total;
    s->st.kv_pages_free = free_pages;
    s->st.kv_pages_used = used;
    s->st.kv_pages_cached = cached;
    s->st.experts = xs;
    pthread_mutex_unlock(&s->mu);
}

void hive_sched_get_stats(hive_sched *s, hive_sched_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    out->running = s->n_running;
    out->waiting = s->n_waiting;
    out->per_expert = NULL;
    out->n_per_expert = 0;
    if (s->st.n_per_expert && (out->per_expert = calloc(s->st.n_per_expert, sizeof *out->per_expert))) {
        for (size_t i = 0; i < s->st.n_per_expert; i++) {
            out->per_expert[i].requests = s->st.per_expert[i].requests;
            out->per_expert[i].path = strdup(s->st.per_expert[i].path);
            if (!out->per_expert[i].path) break;
            out->n_per_expert++;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void hive_sched_stats_free(hive_sched_stats *st) {
    for (size_t i = 0; i < st->n_per_expert; i++) free((char *)st->per_expert[i].path);
    free(st->per_expert);
    st->per_expert = NULL;
    st->n_per_expert = 0;
}
