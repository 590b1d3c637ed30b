/* LRU of loaded experts (see cache.h). A doubly linked list front = most
 * recent; lookup by real path (+ weight, when not 1) through a uthash table. */
#include "experts/cache.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include "util/error.h"
#include "util/log.h"

typedef struct cache_slot {
    hive_expert *x;
    char key[PATH_MAX + 40];
    UT_hash_handle hh; /* key: x->pkg.canonical, then "\n<weight>" when the weight is not 1 */
} cache_slot;

/* A weighted expert is a load of its own (its LoRA scales differ): keyed apart. */
static void make_key(char *key, size_t cap, const char *canonical, double weight) {
    if (weight == 1.0) snprintf(key, cap, "%s", canonical);
    else snprintf(key, cap, "%s\n%.17g", canonical, weight);
}

struct hive_expert_cache {
    hive_expert_target target;
    uint64_t budget;
    cache_slot *by_path;
    hive_expert *front, *back;
    hive_expert_cache_stats stats;
};

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void unlink_x(hive_expert_cache *c, hive_expert *x) {
    if (x->prev) x->prev->next = x->next;
    else c->front = x->next;
    if (x->next) x->next->prev = x->prev;
    else c->back = x->prev;
    x->prev = x->next = NULL;
}

static void push_front(hive_expert_cache *c, hive_expert *x) {
    x->prev = NULL;
    x->next = c->front;
    if (c->front) c->front->prev = x;
    c->front = x;
    if (!c->back) c->back = x;
}

hive_status hive_expert_cache_new(uint64_t budget_bytes, const hive_expert_target *target, hive_expert_cache **out,
                                  hive_error **err) {
    hive_expert_cache *c = calloc(1, sizeof *c);
    if (!c) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    c->target = *target;
    c->budget = budget_bytes;
    c->stats.budget = budget_bytes;
    *out = c;
    return HIVE_OK;
}

static void drop(hive_expert_cache *c, hive_expert *x) {
    cache_slot *s = NULL;
    char key[PATH_MAX + 40];
    make_key(key, sizeof key, x->pkg.canonical, x->weight);
    HASH_FIND_STR(c->by_path, key, s);
    if (s) {
        HASH_DEL(c->by_path, s);
        free(s);
    }
    unlink_x(c, x);
    c->stats.bytes -= x->device_bytes;
    c->stats.n_experts--;
    hive_expert_free(x);
}

void hive_expert_cache_free(hive_expert_cache *c) {
    if (!c) return;
    while (c->front) {
        if (c->front->refcount)
            HLOG_WARN("expert %s freed while still in use (%u references)", c->front->manifest.name, c->front->refcount);
        drop(c, c->front);
    }
    free(c);
}

/* Bytes that count against the budget: a pinned expert larger than the whole
 * budget is overflow that evicting others could not fix, so it does not count. */
static uint64_t counted_bytes(const hive_expert_cache *c) {
    uint64_t b = c->stats.bytes;
    for (const hive_expert *x = c->front; x; x = x->next)
        if (x->refcount && x->device_bytes > c->budget) b -= x->device_bytes;
    return b;
}

void hive_expert_cache_set_max_experts(hive_expert_cache *c, uint32_t n) {
    c->stats.max_experts = n;
    hive_expert_cache_trim(c);
}

static int over_limits(const hive_expert_cache *c) {
    return counted_bytes(c) > c->budget || (c->stats.max_experts && c->stats.n_experts > c->stats.max_experts);
}

void hive_expert_cache_trim(hive_expert_cache *c) {
    while (over_limits(c)) {
        hive_expert *victim = NULL;
        for (hive_expert *x = c->back; x && !victim; x = x->prev) /* oversized first */
            if (!x->refcount && x->device_bytes > c->budget) victim = x;
        for (hive_expert *x = c->back; x && !victim; x = x->prev)
            if (!x->refcount) victim = x;
        if (!victim) return; /* everything left is pinned */
        HLOG_DEBUG("expert cache: evicting %s (%llu bytes)", victim->manifest.name,
                   (unsigned long long)victim->device_bytes);
        c->stats.evictions++;
        drop(c, victim);
    }
}

hive_expert *hive_expert_cache_peek(const hive_expert_cache *c, const char *path) {
    char rp[PATH_MAX];
    if (!realpath(path, rp)) return NULL;
    size_t l = strlen(rp);
    if (l > 14 && !strcmp(rp + l - 14, "/manifest.json")) rp[l - 14] = 0;
    cache_slot *s = NULL;
    HASH_FIND_STR(c->by_path, rp, s);
    return s ? s->x : NULL;
}

hive_expert *hive_expert_cache_first(const hive_expert_cache *c) { return c->front; }

/* Every weight of the package goes: an unload means the package. */
hive_status hive_expert_cache_evict(hive_expert_cache *c, const char *path, hive_error **err) {
    char rp[PATH_MAX];
    if (!realpath(path, rp)) return hive_fail(err, HIVE_E_NOTFOUND, "%s is not loaded", path);
    size_t l = strlen(rp);
    if (l > 14 && !strcmp(rp + l - 14, "/manifest.json")) rp[l - 14] = 0;
    uint32_t found = 0, users = 0;
    for (const hive_expert *x = c->front; x; x = x->next)
        if (!strcmp(x->pkg.canonical, rp)) found++, users += x->refcount;
    if (!found) return hive_fail(err, HIVE_E_NOTFOUND, "%s is not loaded", path);
    if (users) return hive_fail(err, HIVE_E_INVALID, "%s is in use by %u running sequence(s)", path, users);
    for (hive_expert *x = c->front, *next; x; x = next) {
        next = x->next;
        if (strcmp(x->pkg.canonical, rp) != 0) continue;
        c->stats.evictions++;
        drop(c, x);
    }
    return HIVE_OK;
}

hive_status hive_expert_cache_get(hive_expert_cache *c, const char *path, hive_expert **out, hive_error **err) {
    return hive_expert_cache_get_weighted(c, path, 1.0, out, err);
}

hive_status hive_expert_cache_get_weighted(hive_expert_cache *c, const char *path, double weight, hive_expert **out,
                                           hive_error **err) {
    uint64_t t0 = now_ns(), cpu0 = thread_cpu_ns();
    *out = NULL;
    char rp[PATH_MAX], key[PATH_MAX + 40];
    cache_slot *s = NULL;
    if (realpath(path, rp)) {
        size_t l = strlen(rp);
        if (l > 14 && !strcmp(rp + l - 14, "/manifest.json")) rp[l - 14] = 0; /* keyed by the directory */
        make_key(key, sizeof key, rp, weight);
        HASH_FIND_STR(c->by_path, key, s);
    }
    if (s) {
        hive_expert *x = s->x;
        unlink_x(c, x);
        push_front(c, x);
        if (!x->refcount++) c->stats.n_pinned++;
        c->stats.hits++;
        c->stats.last_ns = now_ns() - t0;
        c->stats.last_hit = 1;
        c->stats.hit_ns_total += c->stats.last_ns;
        *out = x;
        return HIVE_OK;
    }
    hive_expert *x = NULL;
    hive_status st = hive_expert_load_weighted(path, weight, &c->target, &x, err);
    if (st != HIVE_OK) return st;
    if (!(s = calloc(1, sizeof *s))) {
        hive_expert_free(x);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    if (x->device_bytes > c->budget)
        HLOG_WARN("expert %s needs %llu bytes, more than the whole expert cache (%llu; experts.cache_mb): loaded, and "
                  "evicted first once unused",
                  x->manifest.name, (unsigned long long)x->device_bytes, (unsigned long long)c->budget);
    s->x = x;
    make_key(s->key, sizeof s->key, x->pkg.canonical, x->weight);
    HASH_ADD_KEYPTR(hh, c->by_path, s->key, strlen(s->key), s);
    push_front(c, x);
    x->refcount = 1;
    c->stats.n_pinned++;
    c->stats.n_experts++;
    c->stats.bytes += x->device_bytes;
    c->stats.loads++;
    hive_expert_cache_trim(c);
    c->stats.last_ns = now_ns() - t0;
    c->stats.last_hit = 0;
    c->stats.load_ns_total += c->stats.last_ns;
    /* CPU time of this thread too: on a busy machine the wall time is mostly waiting */
    HLOG_DEBUG("expert %s: cold load in %.2f ms, %.2f ms CPU on the loading thread (%llu device bytes)",
               x->manifest.name, c->stats.last_ns / 1e6, (thread_cpu_ns() - cpu0) / 1e6,
               (unsigned long long)x->device_bytes);
    *out = x;
    return HIVE_OK;
}

void hive_expert_cache_release(hive_expert_cache *c, hive_expert *x) {
    if (!x || !x->refcount) return;
    if (!--x->refcount) {
        c->stats.n_pinned--;
        hive_expert_cache_trim(c);
    }
}

void hive_expert_cache_get_stats(const hive_expert_cache *c, hive_expert_cache_stats *out) { *out = c->stats; }
