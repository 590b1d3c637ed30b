/* Composition: N experts -> one hive_adapter_set for a sequence.
 * Refs follow the experts in the order given, each expert's adapters in
 * manifest order. What the engine does with them at a hooked linear (ABI
 * order, docs/EXPERTS.md): IA3 input scales multiply, then W x + b, IA3 output
 * scales multiply, then LoRA/DoRA deltas (each from the same x and base
 * output) add. At most one soft prompt per set. Manifest constraints
 * (incompatible_with, requires, max_chain) are enforced here. */
#ifndef HIVE_EXPERTS_COMPOSE_H
#define HIVE_EXPERTS_COMPOSE_H

#include <stddef.h>
#include "experts/cache.h"

/* set id = hash of the member experts' identities, in order (0 only for the
 * empty set, i.e. the base model). */
hive_status hive_expert_compose(hive_expert *const *xs, size_t n, hive_adapter_set *out, hive_error **err);

/* A composed set whose experts stay pinned in the cache while it lives. */
typedef struct hive_expert_set {
    hive_adapter_set set;
    hive_expert *members[HIVE_MAX_ADAPTERS_PER_SET];
    size_t n;
    hive_expert_cache *cache;
} hive_expert_set;

/* get() every path from the cache (loading as needed), then compose. On
 * failure nothing stays pinned. */
hive_status hive_expert_set_acquire(hive_expert_cache *c, const char *const *paths, size_t n, hive_expert_set *out,
                                    hive_error **err);
/* The same with a weight per path (experts/weight.h; NULL = all 1). The
 * same package twice is refused whatever the weights. */
hive_status hive_expert_set_acquire_weighted(hive_expert_cache *c, const char *const *paths, const double *weights,
                                             size_t n, hive_expert_set *out, hive_error **err);
/* Unpins the members (they may be evicted afterwards). Detach the set from
 * every sequence first. */
void hive_expert_set_release(hive_expert_set *s);

#endif
