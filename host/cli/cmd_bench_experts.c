/* `hive-host bench --expert-dir DIR [--requests N] [--zipf S]`: the expert
 * cache under a skewed load. Each request names one expert, drawn from a
 * Zipf(S) distribution over the experts found in the directories (ranks
 * shuffled by the seed, so popularity does not follow file names); it is
 * acquired through the session's real cache (experts.cache_mb,
 * experts.cache_max), attached to a sequence, detached and released. The
 * bench reports the cache's hit rate beside the hit rate of an ideal LRU of
 * the same capacity simulated on the same trace (bench_lru.c, independent of
 * cache.c), cold-load latency of the misses (per adapter type) and attach
 * latency of the hits. docs/EXPERTS.md, "A thousand experts". */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench_lru.h"
#include "cli/cli.h"
#include "experts/catalog.h"
#include "session/session.h"
#include "util/clock.h"
#include "util/error.h"

enum { KIND_LORA, KIND_DORA, KIND_IA3, KIND_OTHER, N_KINDS };
static const char *const k_kind_names[N_KINDS] = {"lora", "dora", "ia3", "other"};

typedef struct samples {
    double *v;
    size_t n;
} samples;

typedef struct bench_result {
    samples load, attach, load_kind[N_KINDS];
    int64_t max_rank[N_KINDS]; /* largest LoRA/DoRA r seen per kind */
    size_t failed;
    double discover_ms;
} bench_result;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples; 0 when empty. */
static double pct(const samples *s, double q) {
    if (!s->n) return 0;
    size_t k = (size_t)ceil(q * (double)s->n);
    return s->v[k ? k - 1 : 0];
}

static int kind_of(const hive_expert *x, int64_t *rank) {
    const hive_manifest_base *b = &x->manifest.bases[x->base_index];
    *rank = 0;
    if (!b->n_adapters) return KIND_OTHER;
    const hive_manifest_adapter *a = &b->adapters[0];
    *rank = a->cfg_r > 0 ? a->cfg_r : 0;
    return !strcmp(a->type, "lora") ? KIND_LORA : !strcmp(a->type, "dora") ? KIND_DORA
           : !strcmp(a->type, "ia3") ? KIND_IA3 : KIND_OTHER;
}

static void add_stats(cJSON *o, const char *name, const samples *s) {
    cJSON *j = cJSON_AddObjectToObject(o, name);
    cJSON_AddNumberToObject(j, "count", (double)s->n);
    cJSON_AddNumberToObject(j, "p50_ms", pct(s, 0.50));
    cJSON_AddNumberToObject(j, "p99_ms", pct(s, 0.99));
    cJSON_AddNumberToObject(j, "max_ms", s->n ? s->v[s->n - 1] : 0);
}

static void print_stats(const char *label, const samples *s, const char *what) {
    printf("%-18s %6zu %s: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", label, s->n, what, pct(s, 0.50), pct(s, 0.99),
           s->n ? s->v[s->n - 1] : 0);
}

static void report(const hive_cli *cli, const hive_catalog *cat, const hive_session *s, const hive_lru_sim *ideal,
                   bench_result *r, uint64_t seed, int n_requests) {
    hive_expert_cache_stats cs;
    hive_expert_cache_get_stats(s->experts, &cs);
    samples *all[2 + N_KINDS] = {&r->load, &r->attach};
    for (int k = 0; k < N_KINDS; k++) all[2 + k] = &r->load_kind[k];
    for (int i = 0; i < 2 + N_KINDS; i++) qsort(all[i]->v, all[i]->n, sizeof *all[i]->v, cmp_double);
    size_t served = (size_t)n_requests - r->failed;
    double hit = served ? 100.0 * (double)cs.hits / (double)served : 0;
    double ideal_hit = served ? 100.0 * (double)ideal->hits / (double)served : 0;
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "experts", (double)cat->n);
        cJSON_AddNumberToObject(o, "discover_ms", r->discover_ms);
        cJSON_AddNumberToObject(o, "requests", n_requests);
        cJSON_AddNumberToObject(o, "failed_requests", (double)r->failed);
        cJSON_AddNumberToObject(o, "zipf_s", cli->zipf);
        cJSON_AddNumberToObject(o, "seed", (double)seed);
        cJSON_AddNumberToObject(o, "threads", (double)hive_config_int(cli->cfg, "threads"));
        cJSON_AddNumberToObject(o, "cache_max", (double)cs.max_experts);
        cJSON_AddNumberToObject(o, "cache_mb", (double)(cs.budget >> 20));
        cJSON_AddNumberToObject(o, "hits", (double)cs.hits);
        cJSON_AddNumberToObject(o, "loads", (double)cs.loads);
        cJSON_AddNumberToObject(o, "evictions", (double)cs.evictions);
        cJSON_AddNumberToObject(o, "hit_rate", hit / 100);
        cJSON_AddNumberToObject(o, "ideal_lru_hit_rate", ideal_hit / 100);
        add_stats(o, "load", &r->load);
        add_stats(o, "attach", &r->attach);
        cJSON *by = cJSON_AddObjectToObject(o, "load_by_type");
        for (int k = 0; k < N_KINDS; k++)
            if (r->load_kind[k].n) {
                add_stats(by, k_kind_names[k], &r->load_kind[k]);
                cJSON_AddNumberToObject(cJSON_GetObjectItem(by, k_kind_names[k]), "max_r", (double)r->max_rank[k]);
            }
        char *txt = cJSON_PrintUnformatted(o);
        if (txt) printf("%s\n", txt);
        free(txt);
        cJSON_Delete(o);
        return;
    }
    printf("expert cache bench: %zu experts (discovered in %.2f ms, names only), %d requests, one expert each, "
           "Zipf s=%.2f, seed %llu\n",
           cat->n, r->discover_ms, n_requests, cli->zipf, (unsigned long long)seed);
    printf("cache: experts.cache_max %u, experts.cache_mb %llu; %u experts held at the end\n", cs.max_experts,
           (unsigned long long)(cs.budget >> 20), cs.n_experts);
    printf("hit rate           %6.2f %%  (ideal LRU of the same capacity on the same trace: %.2f %%, %+.2f points)\n",
           hit, ideal_hit, hit - ideal_hit);
    print_stats("cold loads", &r->load, "misses");
    for (int k = 0; k < N_KINDS; k++) {
        if (!r->load_kind[k].n) continue;
        char label[40];
        if (r->max_rank[k]) snprintf(label, sizeof label, "  %s (r <= %lld)", k_kind_names[k], (long long)r->max_rank[k]);
        else snprintf(label, sizeof label, "  %s", k_kind_names[k]);
        print_stats(label, &r->load_kind[k], "misses");
    }
    print_stats("attach", &r->attach, "hits");
    printf("evictions %llu, failed requests %zu\n", (unsigned long long)cs.evictions, r->failed);
}

/* One request: acquire expert i through the cache, attach it to seq, detach,
 * release. Times go to r (misses: the acquire, which is the cold load; hits:
 * the acquire plus the attach). */
static hive_status one_request(hive_session *s, const hive_catalog *cat, size_t i, int32_t seq, hive_lru_sim *ideal,
                               bench_result *r, hive_error **err) {
    const char *path = cat->v[i].path;
    hive_expert_cache_stats before;
    hive_expert_cache_get_stats(s->experts, &before);
    hive_expert_set set;
    double t0 = hive_now_ms();
    hive_status st = hive_expert_set_acquire(s->experts, &path, 1, &set, err);
    double t1 = hive_now_ms();
    if (st != HIVE_OK) return st;
    st = hive_engine_seq_set_adapters(s->eng, seq, &set.set, err);
    double t2 = hive_now_ms();
    if (st == HIVE_OK) st = hive_engine_seq_set_adapters(s->eng, seq, NULL, err);
    int64_t rank = 0;
    int kind = kind_of(set.members[0], &rank);
    uint64_t bytes = set.members[0]->device_bytes;
    hive_expert_set_release(&set);
    if (st != HIVE_OK) return st;
    hive_expert_cache_stats after;
    hive_expert_cache_get_stats(s->experts, &after);
    hive_lru_sim_access(ideal, i, bytes);
    if (after.loads > before.loads) {
        r->load.v[r->load.n++] = t1 - t0;
        r->load_kind[kind].v[r->load_kind[kind].n++] = t1 - t0;
        if (rank > r->max_rank[kind]) r->max_rank[kind] = rank;
    } else {
        r->attach.v[r->attach.n++] = t2 - t0;
    }
    return HIVE_OK;
}

static int run(hive_cli *cli, hive_catalog *cat, bench_result *r) {
    hive_session s;
    hive_session_opts so = {1, 0, 1}; /* one sequence, token ids only, experts per request */
    if (hive_config_source(cli->cfg, "model.ctx") == HIVE_SRC_DEFAULT)
        hive_config_set(cli->cfg, "model.ctx", "64", HIVE_SRC_CLI, "bench --expert-dir", NULL); /* no tokens run */
    int rc = hive_session_open(cli->cfg, &so, &s);
    if (rc) {
        hive_session_close(&s);
        return rc;
    }
    int64_t seed_cfg = hive_config_int(cli->cfg, "sampling.seed");
    uint64_t seed = seed_cfg >= 0 ? (uint64_t)seed_cfg : 1, rng = seed;
    size_t n = cat->n, *rank_to_expert = malloc(n * sizeof *rank_to_expert);
    hive_zipf z = {0};
    hive_lru_sim ideal = {0};
    hive_expert_cache_stats cs;
    hive_expert_cache_get_stats(s.experts, &cs);
    int32_t seq = -1;
    hive_error *err = NULL, *first_err = NULL;
    if (!rank_to_expert || hive_zipf_init(&z, n, cli->zipf) || hive_lru_sim_init(&ideal, n, cs.max_experts, cs.budget)) {
        fprintf(stderr, "hive-host bench: out of memory\n");
        rc = 1;
    } else if (hive_engine_seq_new(s.eng, &seq, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host bench: %s\n", hive_error_message(err));
        rc = 1;
    }
    for (size_t k = 0; !rc && k < n; k++) rank_to_expert[k] = k;
    for (size_t k = n; !rc && k > 1; k--) { /* Fisher-Yates: who is popular follows the seed, not the names */
        size_t j = (size_t)(hive_bench_rng_next(&rng) % k), t = rank_to_expert[k - 1];
        rank_to_expert[k - 1] = rank_to_expert[j];
        rank_to_expert[j] = t;
    }
    for (int q = 0; !rc && q < cli->requests; q++) {
        size_t i = rank_to_expert[hive_zipf_draw(&z, &rng)];
        hive_error *e = NULL;
        if (one_request(&s, cat, i, seq, &ideal, r, &e) == HIVE_OK) continue;
        r->failed++; /* a broken expert fails its own requests, not the others' */
        if (!first_err) first_err = e;
        else hive_error_free(e);
    }
    if (!rc) report(cli, cat, &s, &ideal, r, seed, cli->requests);
    if (first_err) {
        fprintf(stderr, "hive-host bench: %zu of %d requests failed; the first: %s\n", r->failed, cli->requests,
                hive_error_message(first_err));
        rc = 1;
    }
    hive_error_free(first_err);
    hive_error_free(err);
    if (seq >= 0) hive_engine_seq_free(s.eng, seq);
    hive_lru_sim_free(&ideal);
    hive_zipf_free(&z);
    free(rank_to_expert);
    hive_session_close(&s);
    return rc;
}

int hive_cmd_bench_experts(hive_cli *cli) {
    if (cli->requests < 1) {
        fprintf(stderr, "hive-host bench: --requests must be at least 1\n");
        return 2;
    }
    if (hive_config_list_len(cli->cfg, "experts.paths")) {
        fprintf(stderr, "hive-host bench: --expert-dir draws its own experts; --expert does not combine with it\n");
        return 2;
    }
    hive_catalog cat = {0};
    hive_error *err = NULL;
    double t0 = hive_now_ms();
    for (size_t i = 0; i < hive_config_list_len(cli->cfg, "server.expert_dirs"); i++)
        if (hive_catalog_scan_dir(&cat, hive_config_list_item(cli->cfg, "server.expert_dirs", i), &err) != HIVE_OK) {
            fprintf(stderr, "hive-host bench: %s\n", hive_error_message(err));
            hive_error_free(err);
            hive_catalog_free(&cat);
            return 1;
        }
    bench_result r = {0};
    r.discover_ms = hive_now_ms() - t0;
    int rc = 0;
    if (!cat.n) {
        fprintf(stderr, "hive-host bench: no experts found in the --expert-dir directories\n");
        rc = 1;
    }
    size_t cap = (size_t)cli->requests;
    samples *all[2 + N_KINDS] = {&r.load, &r.attach};
    for (int k = 0; k < N_KINDS; k++) all[2 + k] = &r.load_kind[k];
    for (int i = 0; !rc && i < 2 + N_KINDS; i++)
        if (!(all[i]->v = malloc(cap * sizeof *all[i]->v))) rc = 1;
    if (!rc) rc = run(cli, &cat, &r);
    for (int i = 0; i < 2 + N_KINDS; i++) free(all[i]->v);
    hive_catalog_free(&cat);
    return rc;
}
