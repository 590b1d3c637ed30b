/* The shared-value cache (shared_cache.h): a short list searched in order. */
#include "server/shared_cache.h"

#include <stdlib.h>
#include <string.h>

struct hive_shared_entry {
    char *key;
    size_t key_len;
    void *value;
    int refs;      /* users, + 1 while kept */
    uint64_t used; /* the cache's clock at the last get or put */
    hive_shared_entry *next;
};

void hive_shared_cache_init(hive_shared_cache *c, uint32_t max, void (*free_value)(void *value)) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->max = max;
    c->free_value = free_value;
}

static void entry_free(hive_shared_cache *c, hive_shared_entry *e) {
    c->free_value(e->value);
    free(e->key);
    free(e);
}

void hive_shared_cache_destroy(hive_shared_cache *c) {
    while (c->head) {
        hive_shared_entry *e = c->head;
        c->head = e->next;
        if (--e->refs == 0) entry_free(c, e);
    }
    c->n = 0;
    pthread_mutex_destroy(&c->mu);
}

/* mu held */
static hive_shared_entry *find(hive_shared_cache *c, const void *key, size_t len) {
    for (hive_shared_entry *e = c->head; e; e = e->next)
        if (e->key_len == len && !memcmp(e->key, key, len)) {
            e->refs++;
            e->used = ++c->clock;
            return e;
        }
    return NULL;
}

hive_shared_entry *hive_shared_get(hive_shared_cache *c, const void *key, size_t len) {
    pthread_mutex_lock(&c->mu);
    hive_shared_entry *e = find(c, key, len);
    pthread_mutex_unlock(&c->mu);
    return e;
}

hive_shared_entry *hive_shared_put(hive_shared_cache *c, const void *key, size_t len, void *value) {
    hive_shared_entry *e = calloc(1, sizeof *e);
    char *k = malloc(len ? len : 1);
    if (!e || !k) {
        free(e);
        free(k);
        c->free_value(value);
        return NULL;
    }
    memcpy(k, key, len);
    *e = (hive_shared_entry){k, len, value, 2, 0, NULL}; /* the cache's and the caller's */
    pthread_mutex_lock(&c->mu);
    hive_shared_entry *had = find(c, key, len);
    if (had) {
        pthread_mutex_unlock(&c->mu);
        entry_free(c, e);
        return had;
    }
    e->used = ++c->clock;
    e->next = c->head;
    c->head = e;
    hive_shared_entry *drop = NULL;
    if (++c->n > c->max) {
        hive_shared_entry **lru = NULL;
        for (hive_shared_entry **pp = &c->head; *pp; pp = &(*pp)->next)
            if (!lru || (*pp)->used < (*lru)->used) lru = pp;
        drop = *lru;
        *lru = drop->next;
        c->n--;
        if (--drop->refs) drop = NULL; /* still used: its last release frees it */
    }
    pthread_mutex_unlock(&c->mu);
    if (drop) entry_free(c, drop);
    return e;
}

void *hive_shared_value(const hive_shared_entry *e) { return e->value; }

void hive_shared_release(hive_shared_cache *c, hive_shared_entry *e) {
    if (!e) return;
    pthread_mutex_lock(&c->mu);
    int last = --e->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last) entry_free(c, e);
}
