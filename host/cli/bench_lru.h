/* `bench --expert-dir --zipf`'s own arithmetic, kept apart from the expert
 * cache so the bench can check the cache against it: a seeded Zipf(s) draw
 * over n items and an ideal LRU (count and byte limits) simulated on the same
 * trace. Unit-tested by tests/unit/bench_lru. */
#ifndef HIVE_CLI_BENCH_LRU_H
#define HIVE_CLI_BENCH_LRU_H

#include <stddef.h>
#include <stdint.h>

/* Zipf(s): item k (0-based rank) drawn with probability (k+1)^-s / H(n, s). */
typedef struct hive_zipf {
    double *cdf; /* n cumulative probabilities */
    size_t n;
} hive_zipf;

/* 0, or -1 when n is 0, s is negative or not finite, or out of memory. */
int hive_zipf_init(hive_zipf *z, size_t n, double s);
/* A rank in [0, n) from the splitmix64 state *rng. */
size_t hive_zipf_draw(const hive_zipf *z, uint64_t *rng);
void hive_zipf_free(hive_zipf *z);
uint64_t hive_bench_rng_next(uint64_t *rng); /* splitmix64 */

/* An LRU that holds at most max_items items (0 = no count limit) and at most
 * max_bytes bytes (0 = no byte limit): on a miss the item is admitted and the
 * least recently used others are evicted until the limits hold (or it is
 * alone: an item larger than max_bytes is still admitted). */
typedef struct hive_lru_sim {
    uint64_t *last_use; /* per item: tick of its last access, 0 = not resident */
    uint64_t *bytes;    /* per item, while resident */
    size_t n_items, resident;
    uint32_t max_items;
    uint64_t max_bytes, held_bytes, tick;
    uint64_t hits, misses;
} hive_lru_sim;

int hive_lru_sim_init(hive_lru_sim *l, size_t n_items, uint32_t max_items, uint64_t max_bytes);
/* 1 on a hit, 0 on a miss (the item is then resident), -1 for an item out of range. */
int hive_lru_sim_access(hive_lru_sim *l, size_t item, uint64_t bytes);
void hive_lru_sim_free(hive_lru_sim *l);

#endif
