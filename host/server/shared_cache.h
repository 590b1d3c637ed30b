/* A few immutable values (compiled grammars, tokenized draft corpora) shared
 * by the requests that use them: kept by key, the least recently used ones
 * leaving past a limit. Each entry counts its references: the cache's while
 * kept, and one per user; the last release frees the value, so an entry a job
 * still uses outlives its eviction. */
#ifndef HIVE_SERVER_SHARED_CACHE_H
#define HIVE_SERVER_SHARED_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hive_shared_entry hive_shared_entry;

typedef struct hive_shared_cache {
    pthread_mutex_t mu;
    hive_shared_entry *head;
    uint32_t n, max;
    uint64_t clock;
    void (*free_value)(void *value);
} hive_shared_cache;

void hive_shared_cache_init(hive_shared_cache *c, uint32_t max, void (*free_value)(void *value));
/* Drops the cache's references (at stop, when no user is left). */
void hive_shared_cache_destroy(hive_shared_cache *c);
/* The entry kept for key, referenced for the caller, or NULL. */
hive_shared_entry *hive_shared_get(hive_shared_cache *c, const void *key, size_t len);
/* Keeps value under key and returns its entry referenced for the caller; when
 * another thread kept one meanwhile, that one (and value is freed). NULL when
 * out of memory (value freed). */
hive_shared_entry *hive_shared_put(hive_shared_cache *c, const void *key, size_t len, void *value);
void *hive_shared_value(const hive_shared_entry *e);
/* Drops the caller's reference (e may be NULL). */
void hive_shared_release(hive_shared_cache *c, hive_shared_entry *e);

#endif
