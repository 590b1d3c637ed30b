/* Building adapter sets from experts (see compose.h). */
#include "experts/compose.h"

#include <string.h>
#include <strings.h>

#include "util/error.h"

/* Expert names compare case-insensitively, with or without "expert-". */
static int same_name(const char *a, const char *b) {
    if (!strncasecmp(a, "expert-", 7)) a += 7;
    if (!strncasecmp(b, "expert-", 7)) b += 7;
    return !strcasecmp(a, b);
}

static const hive_expert *find_named(hive_expert *const *xs, size_t n, const char *name, const hive_expert *self) {
    for (size_t i = 0; i < n; i++)
        if (xs[i] != self && same_name(xs[i]->manifest.name, name)) return xs[i];
    return NULL;
}

static hive_status check_constraints(hive_expert *const *xs, size_t n, hive_error **err) {
    for (size_t i = 0; i < n; i++) {
        const hive_manifest *m = &xs[i]->manifest;
        if (m->max_chain && (int64_t)n > m->max_chain)
            return hive_fail(err, HIVE_E_INVALID, "expert '%s' allows at most %lld experts in a set (constraints.max_chain in %s); %zu given",
                             m->name, (long long)m->max_chain, m->file, n);
        for (size_t k = 0; k < m->incompatible_with.n; k++) {
            const hive_expert *o = find_named(xs, n, m->incompatible_with.v[k], xs[i]);
            if (o)
                return hive_fail(err, HIVE_E_INVALID, "expert '%s' cannot be combined with expert '%s' (constraints.incompatible_with in %s)",
                                 m->name, o->manifest.name, m->file);
        }
        for (size_t k = 0; k < m->requires.n; k++)
            if (!find_named(xs, n, m->requires.v[k], xs[i]))
                return hive_fail(err, HIVE_E_INVALID, "expert '%s' requires expert '%s' in the same set (constraints.requires in %s)",
                                 m->name, m->requires.v[k], m->file);
    }
    return HIVE_OK;
}

hive_status hive_expert_compose(hive_expert *const *xs, size_t n, hive_adapter_set *out, hive_error **err) {
    memset(out, 0, sizeof *out);
    size_t total = 0;
    const hive_expert *prompt = NULL;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < i; k++)
            if (xs[k] == xs[i] || !strcmp(xs[k]->pkg.canonical, xs[i]->pkg.canonical))
                return hive_fail(err, HIVE_E_INVALID, "expert '%s' (%s) is given twice", xs[i]->manifest.name,
                                 xs[i]->pkg.canonical);
        if (xs[i]->n_virtual_tokens) {
            if (prompt)
                return hive_fail(err, HIVE_E_INVALID, "experts '%s' and '%s' both carry a soft prompt; a set may hold at most one",
                                 prompt->manifest.name, xs[i]->manifest.name);
            prompt = xs[i];
        }
        total += xs[i]->n_refs;
    }
    if (total > HIVE_MAX_ADAPTERS_PER_SET)
        return hive_fail(err, HIVE_E_INVALID, "%zu experts bring %zu adapters; a set holds at most %d", n, total,
                         HIVE_MAX_ADAPTERS_PER_SET);
    hive_status st = check_constraints(xs, n, err);
    if (st != HIVE_OK) return st;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        for (uint32_t r = 0; r < xs[i]->n_refs; r++) out->refs[out->n++] = xs[i]->refs[r];
        for (int b = 0; b < 8; b++) h = (h ^ ((xs[i]->identity >> (8 * b)) & 0xff)) * 1099511628211ull;
    }
    out->id = n ? (h ? h : 1) : 0;
    return HIVE_OK;
}

hive_status hive_expert_set_acquire(hive_expert_cache *c, const char *const *paths, size_t n, hive_expert_set *out,
                                    hive_error **err) {
    return hive_expert_set_acquire_weighted(c, paths, NULL, n, out, err);
}

hive_status hive_expert_set_acquire_weighted(hive_expert_cache *c, const char *const *paths, const double *weights,
                                             size_t n, hive_expert_set *out, hive_error **err) {
    memset(out, 0, sizeof *out);
    out->cache = c;
    if (n > HIVE_MAX_ADAPTERS_PER_SET)
        return hive_fail(err, HIVE_E_INVALID, "%zu experts given; a set holds at most %d", n, HIVE_MAX_ADAPTERS_PER_SET);
    hive_status st = HIVE_OK;
    for (size_t i = 0; i < n && st == HIVE_OK; i++) {
        st = hive_expert_cache_get_weighted(c, paths[i], weights ? weights[i] : 1.0, &out->members[i], err);
        if (st == HIVE_OK) out->n++;
    }
    if (st == HIVE_OK) st = hive_expert_compose(out->members, out->n, &out->set, err);
    if (st != HIVE_OK) hive_expert_set_release(out);
    return st;
}

void hive_expert_set_release(hive_expert_set *s) {
    for (size_t i = s->n; i-- > 0;) hive_expert_cache_release(s->cache, s->members[i]);
    hive_expert_cache *c = s->cache;
    memset(s, 0, sizeof *s);
    s->cache = c;
}
