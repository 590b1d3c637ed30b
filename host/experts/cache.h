/* An LRU cache of loaded experts keyed by the package's real path, under a
 * budget of device bytes (config experts.cache_mb) and optionally a count
 * (experts.cache_max). get() pins the expert
 * (refcount) until release(); only unpinned experts are evicted: experts larger
 * than the whole budget first, then least recently used. An expert larger
 * than the budget still loads (with a warning); while pinned it does not count
 * against the budget (evicting others could not make it fit). */
#ifndef HIVE_EXPERTS_CACHE_H
#define HIVE_EXPERTS_CACHE_H

#include <stdint.h>
#include "experts/expert.h"

typedef struct hive_expert_cache hive_expert_cache;

typedef struct hive_expert_cache_stats {
    uint64_t hits, loads, evictions;
    uint64_t bytes, budget;          /* device bytes held, budget */
    uint32_t max_experts;            /* count limit, 0 = none */
    uint32_t n_experts, n_pinned;
    uint64_t hit_ns_total, load_ns_total;
    uint64_t last_ns;                /* duration of the last get() */
    int last_hit;
} hive_expert_cache_stats;

/* `target` is copied; the registry/engine it points to must outlive the cache. */
hive_status hive_expert_cache_new(uint64_t budget_bytes, const hive_expert_target *target, hive_expert_cache **out,
                                  hive_error **err);
/* At most n experts loaded (0 = no count limit); unpinned ones beyond it are
 * evicted least recently used first, as for the byte budget. */
void hive_expert_cache_set_max_experts(hive_expert_cache *c, uint32_t n);
/* Frees every expert (pinned ones too, with a warning). */
void hive_expert_cache_free(hive_expert_cache *c);

/* Hit: move to front. Miss: cold load, then evict down to the budget.
 * The expert stays pinned until hive_expert_cache_release. */
hive_status hive_expert_cache_get(hive_expert_cache *c, const char *path, hive_expert **out, hive_error **err);
/* The same at a weight (experts/weight.h): each (path, weight) is its own
 * entry, loaded and counted on its own; weight 1 is hive_expert_cache_get. */
hive_status hive_expert_cache_get_weighted(hive_expert_cache *c, const char *path, double weight, hive_expert **out,
                                           hive_error **err);
void hive_expert_cache_release(hive_expert_cache *c, hive_expert *x);
/* Evicts an expert now (an admin's unload), at every weight it is loaded
 * with: HIVE_E_NOTFOUND when it is not loaded, HIVE_E_INVALID (nothing
 * evicted) while any of them is pinned. */
hive_status hive_expert_cache_evict(hive_expert_cache *c, const char *path, hive_error **err);
/* Evicts unpinned experts until the cache fits its budget. */
void hive_expert_cache_trim(hive_expert_cache *c);
void hive_expert_cache_get_stats(const hive_expert_cache *c, hive_expert_cache_stats *out);
/* The cached expert for a path at weight 1, or NULL (no pin, no LRU update). */
hive_expert *hive_expert_cache_peek(const hive_expert_cache *c, const char *path);
/* Experts front (most recent) to back. */
hive_expert *hive_expert_cache_first(const hive_expert_cache *c);

#endif
