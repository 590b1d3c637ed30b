/* Zipf draws and the ideal LRU of `bench --expert-dir` (see bench_lru.h).
 * The LRU is written for obviousness, not speed: one recency stamp per item
 * and a scan for the oldest on eviction (the bench's traces are thousands
 * of requests over thousands of items). */
#include "cli/bench_lru.h"

#include <math.h>
#include <stdlib.h>

uint64_t hive_bench_rng_next(uint64_t *rng) {
    uint64_t z = (*rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int hive_zipf_init(hive_zipf *z, size_t n, double s) {
    z->cdf = NULL;
    z->n = 0;
    if (!n || !isfinite(s) || s < 0) return -1;
    if (!(z->cdf = malloc(n * sizeof *z->cdf))) return -1;
    double sum = 0;
    for (size_t k = 0; k < n; k++) z->cdf[k] = (sum += pow((double)(k + 1), -s));
    for (size_t k = 0; k < n; k++) z->cdf[k] /= sum;
    z->cdf[n - 1] = 1.0;
    z->n = n;
    return 0;
}

size_t hive_zipf_draw(const hive_zipf *z, uint64_t *rng) {
    double u = (double)(hive_bench_rng_next(rng) >> 11) / 9007199254740992.0; /* [0, 1) */
    size_t lo = 0, hi = z->n - 1;
    while (lo < hi) { /* the first k with cdf[k] > u */
        size_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

void hive_zipf_free(hive_zipf *z) {
    free(z->cdf);
    z->cdf = NULL;
    z->n = 0;
}

int hive_lru_sim_init(hive_lru_sim *l, size_t n_items, uint32_t max_items, uint64_t max_bytes) {
    *l = (hive_lru_sim){0};
    l->last_use = calloc(n_items ? n_items : 1, sizeof *l->last_use);
    l->bytes = calloc(n_items ? n_items : 1, sizeof *l->bytes);
    if (!l->last_use || !l->bytes) {
        hive_lru_sim_free(l);
        return -1;
    }
    l->n_items = n_items;
    l->max_items = max_items;
    l->max_bytes = max_bytes;
    return 0;
}

static int over(const hive_lru_sim *l) {
    return (l->max_items && l->resident > l->max_items) || (l->max_bytes && l->held_bytes > l->max_bytes);
}

int hive_lru_sim_access(hive_lru_sim *l, size_t item, uint64_t bytes) {
    if (item >= l->n_items) return -1;
    l->tick++;
    if (l->last_use[item]) {
        l->last_use[item] = l->tick;
        l->hits++;
        return 1;
    }
    l->misses++;
    l->last_use[item] = l->tick;
    l->bytes[item] = bytes;
    l->resident++;
    l->held_bytes += bytes;
    while (over(l) && l->resident > 1) {
        size_t victim = l->n_items;
        for (size_t i = 0; i < l->n_items; i++)
            if (i != item && l->last_use[i] && (victim == l->n_items || l->last_use[i] < l->last_use[victim])) victim = i;
        l->last_use[victim] = 0;
        l->held_bytes -= l->bytes[victim];
        l->resident--;
    }
    return 0;
}

void hive_lru_sim_free(hive_lru_sim *l) {
    free(l->last_use);
    free(l->bytes);
    l->last_use = l->bytes = NULL;
}
