/* Matcher states: interned stacks and stack sets, byte transitions,
 * accept / rollback (see matcher_impl.h for the representation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/matcher_impl.h"
#include "util/error.h"

/* ---- hash map ---- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static int map_init(hm_map *m, uint32_t cap) {
    m->keys = malloc((size_t)cap * sizeof *m->keys);
    m->vals = malloc((size_t)cap * sizeof *m->vals);
    if (!m->keys || !m->vals) return -1;
    memset(m->keys, 0xff, (size_t)cap * sizeof *m->keys);
    m->cap = cap;
    m->n = 0;
    return 0;
}

static void map_free(hm_map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static uint32_t *map_find(const hm_map *m, uint64_t key) {
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) return &m->vals[i];
        if (m->keys[i] == UINT64_MAX) return NULL;
    }
}

static int map_put(hm_map *m, uint64_t key, uint32_t val);

static int map_grow(hm_map *m) {
    hm_map bigger;
    if (m->cap >= (1u << 30) || map_init(&bigger, m->cap * 2)) return -1;
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->keys[i] != UINT64_MAX) map_put(&bigger, m->keys[i], m->vals[i]);
    map_free(m);
    *m = bigger;
    return 0;
}

static int map_put(hm_map *m, uint64_t key, uint32_t val) {
    if ((m->n + 1) * 4 > m->cap * 3 && map_grow(m)) return -1;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == UINT64_MAX) {
            m->keys[i] = key;
            m->vals[i] = val;
            m->n++;
            return 0;
        }
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return 0;
        }
    }
}

static void map_clear(hm_map *m) {
    memset(m->keys, 0xff, (size_t)m->cap * sizeof *m->keys);
    m->n = 0;
}

/* ---- nodes and sets ---- */

static int limit(hive_grammar_matcher *m, const char *what, uint32_t n) {
    if (!m->limit_msg[0])
        snprintf(m->limit_msg, sizeof m->limit_msg,
                 "grammar matcher limit: more than %u %s (the grammar is too ambiguous or the output too deep)", n,
                 what);
    return -1;
}

static uint32_t intern_node(hive_grammar_matcher *m, uint32_t pos, uint32_t parent) {
    uint64_t key = (uint64_t)pos << 32 | parent;
    uint32_t *v = map_find(&m->node_map, key);
    if (v) return *v;
    if (m->n_nodes >= HM_MAX_NODES) return limit(m, "stack nodes", HM_MAX_NODES), HM_ERROR;
    if (m->n_nodes == m->cap_nodes) {
        uint32_t cap = m->cap_nodes * 2;
        hm_node *n = realloc(m->nodes, (size_t)cap * sizeof *n);
        if (!n) return limit(m, "bytes of memory for nodes", m->cap_nodes), HM_ERROR;
        m->nodes = n;
        m->cap_nodes = cap;
    }
    m->nodes[m->n_nodes] = (hm_node){pos, parent, mix64(m->nodes[parent].h * 0x9e3779b97f4a7c15ULL + pos)};
    if (map_put(&m->node_map, key, m->n_nodes)) return limit(m, "nodes (out of memory)", m->n_nodes), HM_ERROR;
    return m->n_nodes++;
}

static uint64_t hash_ids(const uint32_t *ids, uint32_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (uint32_t i = 0; i < n; i++) h = mix64(h ^ ids[i]) + i;
    return h == UINT64_MAX ? 0 : h;
}

/* Interns the sorted, unique ids. Sets with equal hashes are chained by
 * probing key + k. */
static uint32_t intern_set(hive_grammar_matcher *m, const uint32_t *ids, uint32_t n) {
    uint64_t h = hash_ids(ids, n);
    for (uint64_t k = 0;; k++) {
        uint64_t key = h + k;
        if (key == UINT64_MAX) continue;
        uint32_t *v = map_find(&m->set_map, key);
        if (!v) {
            if (m->n_sets >= HM_MAX_SETS) return limit(m, "parser states", HM_MAX_SETS), HM_ERROR;
            if (m->n_sets == m->cap_sets) {
                uint32_t cap = m->cap_sets * 2;
                hm_set *s = realloc(m->sets, (size_t)cap * sizeof *s);
                if (!s) return limit(m, "states (out of memory)", m->n_sets), HM_ERROR;
                m->sets = s;
                m->cap_sets = cap;
            }
            if (m->pool_len + n > m->pool_cap) {
                size_t cap = m->pool_cap * 2;
                while (cap < m->pool_len + n) cap *= 2;
                uint32_t *p = realloc(m->pool, cap * sizeof *p);
                if (!p) return limit(m, "states (out of memory)", m->n_sets), HM_ERROR;
                m->pool = p;
                m->pool_cap = cap;
            }
            memcpy(m->pool + m->pool_len, ids, n * sizeof *ids);
            m->sets[m->n_sets] = (hm_set){.off = (uint32_t)m->pool_len, .len = n};
            m->pool_len += n;
            if (map_put(&m->set_map, key, m->n_sets)) return limit(m, "states (out of memory)", m->n_sets), HM_ERROR;
            return m->n_sets++;
        }
        const hm_set *s = &m->sets[*v];
        if (s->len == n && !memcmp(m->pool + s->off, ids, n * sizeof *ids)) return *v;
    }
}

int hm_set_accepting(const hive_grammar_matcher *m, uint32_t set) {
    const hm_set *s = &m->sets[set];
    return s->len && m->pool[s->off] == 0;
}

/* ---- closure: from an element position to the stacks whose top is a terminal ---- */

static int push_work(hive_grammar_matcher *m, uint32_t pos, uint32_t parent) {
    if (m->n_work == m->cap_work) {
        uint32_t cap = m->cap_work * 2;
        uint64_t *w = realloc(m->work, (size_t)cap * sizeof *w);
        if (!w) return limit(m, "work items (out of memory)", m->n_work);
        m->work = w;
        m->cap_work = cap;
    }
    m->work[m->n_work++] = (uint64_t)pos << 32 | parent;
    return 0;
}

static int push_out(hive_grammar_matcher *m, uint32_t id) {
    if (m->n_out >= HM_MAX_SET_SIZE) return limit(m, "simultaneous parses", HM_MAX_SET_SIZE);
    if (m->n_out == m->cap_out) {
        uint32_t cap = m->cap_out * 2;
        uint32_t *o = realloc(m->out, (size_t)cap * sizeof *o);
        if (!o) return limit(m, "parses (out of memory)", m->n_out);
        m->out = o;
        m->cap_out = cap;
    }
    m->out[m->n_out++] = id;
    return 0;
}

/* Expands every queued (position, parent) until terminals or the end of the
 * root; a reference that is the last element of its alternative pushes no
 * frame (tail call), so right recursion (x*) keeps stacks flat. */
static int closure(hive_grammar_matcher *m) {
    const hive_grammar *g = m->g;
    while (m->n_work) {
        if (!m->work_left--) return limit(m, "parse steps for one token", HM_MAX_WORK);
        uint64_t item = m->work[--m->n_work];
        if (map_find(&m->seen, item)) continue;
        if (map_put(&m->seen, item, 1)) return limit(m, "work items (out of memory)", m->seen.n);
        if (m->n_seen_keys < m->cap_seen_keys) m->seen_keys[m->n_seen_keys++] = item;
        uint32_t pos = (uint32_t)(item >> 32), parent = (uint32_t)item;
        hg_elem e = g->elems[pos];
        if (e.kind == HG_END) {
            if (parent == 0) {
                if (push_out(m, 0)) return -1;
            } else if (push_work(m, m->nodes[parent].pos + 1, m->nodes[parent].parent)) {
                return -1;
            }
        } else if (e.kind == HG_TERM) {
            uint32_t id = intern_node(m, pos, parent);
            if (id == HM_ERROR || push_out(m, id)) return -1;
        } else {
            uint32_t frame = parent;
            if (g->elems[pos + 1].kind != HG_END && (frame = intern_node(m, pos, parent)) == HM_ERROR) return -1;
            for (uint32_t a = g->rule_alts[e.val]; a < g->rule_alts[e.val + 1]; a++)
                if (push_work(m, g->alt_start[a], frame)) return -1;
        }
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The queued work closed, sorted, deduplicated and interned. */
static uint32_t finish_set(hive_grammar_matcher *m) {
    if (closure(m)) return HM_ERROR;
    if (!m->n_out) return HM_DEAD;
    if (m->n_out <= 16) /* the usual size: an insertion sort beats qsort's call overhead */
        for (uint32_t i = 1; i < m->n_out; i++) {
            uint32_t x = m->out[i], j = i;
            for (; j && m->out[j - 1] > x; j--) m->out[j] = m->out[j - 1];
            m->out[j] = x;
        }
    else qsort(m->out, m->n_out, sizeof *m->out, cmp_u32);
    uint32_t n = 1;
    for (uint32_t i = 1; i < m->n_out; i++)
        if (m->out[i] != m->out[n - 1]) m->out[n++] = m->out[i];
    return intern_set(m, m->out, n);
}

static void begin_step(hive_grammar_matcher *m) {
    m->n_work = m->n_out = 0;
    if (!m->seen.n) return;
    if (m->n_seen_keys == m->seen.n && m->n_seen_keys * 8 < m->seen.cap) {
        /* a few keys in a big table: find all their slots, then empty them
         * (emptying one before finding the next would cut probe chains) */
        for (uint32_t i = 0; i < m->n_seen_keys; i++)
            m->seen_keys[i] = (uint64_t)(map_find(&m->seen, m->seen_keys[i]) - m->seen.vals);
        for (uint32_t i = 0; i < m->n_seen_keys; i++) m->seen.keys[m->seen_keys[i]] = UINT64_MAX;
        m->seen.n = 0;
    } else {
        map_clear(&m->seen);
    }
    m->n_seen_keys = 0;
}

/* A set's direct transition table, and the outcomes already computed by
 * which of its stacks take the byte (its signature): bytes with the same
 * signature push the same work, so they reach the same set. In a string
 * body some 90 bytes share one signature, and a UTF-8 lead byte's 64
 * continuation bytes a few: one closure each instead of one per byte. */
#define HM_SIGS 16
#define HM_SIG_STACKS 64 /* sets with more stacks step byte by byte */
typedef struct hm_direct {
    uint32_t next[256]; /* first: hm_set.next points here */
    uint32_t n_sig;
    uint32_t sig_to[HM_SIGS];
    uint64_t sig[HM_SIGS];
    /* the class of each stack's terminal (NULL: the empty stack), looked up
     * once: a byte's signature then costs a bit test per stack */
    const hg_class *cls[HM_SIG_STACKS];
} hm_direct;

uint32_t hm_step(hive_grammar_matcher *m, uint32_t set, uint8_t byte) {
    /* mask walks step the same few sets by every byte of the trie: a direct
     * table for them, the hash map for the rest */
    uint32_t *next = m->sets[set].next;
    hm_direct *dt = NULL;
    const hive_grammar *g = m->g;
    if (!next && m->n_direct < HM_MAX_DIRECT_SETS && (dt = malloc(sizeof *dt))) {
        for (int i = 0; i < 256; i++) dt->next[i] = HM_UNKNOWN;
        dt->n_sig = 0;
        const hm_set *s = &m->sets[set];
        for (uint32_t i = 0; i < s->len && i < HM_SIG_STACKS; i++) {
            uint32_t id = m->pool[s->off + i];
            dt->cls[i] = id ? &g->classes[g->elems[m->nodes[id].pos].val] : NULL;
        }
        m->sets[set].next = next = dt->next;
        m->n_direct++;
    }
    if (next && next[byte] != HM_UNKNOWN) return next[byte];
    dt = (hm_direct *)next;
    uint64_t key = (uint64_t)set << 8 | byte;
    uint32_t *v = next ? NULL : map_find(&m->trans, key);
    if (v) return *v;
    const hm_set *s = &m->sets[set];
    uint64_t sig = 0;
    int by_sig = dt && s->len <= HM_SIG_STACKS;
    if (by_sig) {
        for (uint32_t i = 0; i < s->len; i++)
            if (dt->cls[i] && hg_class_has(dt->cls[i], byte)) sig |= 1ull << i;
        if (!sig) return next[byte] = HM_DEAD;
        for (uint32_t k = 0; k < dt->n_sig; k++)
            if (dt->sig[k] == sig) return next[byte] = dt->sig_to[k];
    }
    begin_step(m);
    for (uint32_t i = 0; i < s->len; i++) {
        uint32_t id = m->pool[s->off + i];
        if (!id) continue;
        const hm_node *nd = &m->nodes[id];
        if (hg_class_has(&g->classes[g->elems[nd->pos].val], byte) && push_work(m, nd->pos + 1, nd->parent))
            return HM_ERROR;
    }
    uint32_t r = m->n_work ? finish_set(m) : HM_DEAD;
    if (r == HM_ERROR) return r;
    if (next) { /* the sets array may have moved, `next` has not */
        next[byte] = r;
        if (by_sig && dt->n_sig < HM_SIGS) dt->sig[dt->n_sig] = sig, dt->sig_to[dt->n_sig++] = r;
    } else if (map_put(&m->trans, key, r)) {
        return limit(m, "transitions (out of memory)", m->trans.n), HM_ERROR;
    }
    return r;
}

uint32_t hm_stack_set(hive_grammar_matcher *m, uint32_t pos, uint32_t frame_pos) {
    uint32_t frame = frame_pos == UINT32_MAX ? 0 : intern_node(m, frame_pos, 0);
    uint32_t id = frame == HM_ERROR ? HM_ERROR : intern_node(m, pos, frame);
    return id == HM_ERROR ? HM_ERROR : intern_set(m, &id, 1);
}

/* ---- public ---- */

void hive_grammar_matcher_free(hive_grammar_matcher *m) {
    if (!m) return;
    for (uint32_t i = 0; i < m->n_sets; i++) free(m->sets[i].mask), free(m->sets[i].next);
    free(m->nodes);
    map_free(&m->node_map);
    free(m->pool);
    free(m->sets);
    map_free(&m->set_map);
    map_free(&m->trans);
    map_free(&m->seen);
    free(m->work);
    free(m->out);
    free(m->trie_state);
    free(m->trie_next);
    free(m->trie_bits);
    free(m->seen_keys);
    free(m->hist);
    hive_grammar_matcher_free(m->rows_m);
    free(m->trie_ctx);
    free(m->unc_buf);
    free(m->key_buf);
    free(m);
}

hive_grammar_matcher *hive_grammar_matcher_new(const hive_grammar *g, const hive_grammar_vocab *v, hive_error **err) {
    if (!g) {
        hive_fail(err, HIVE_E_INVALID, "no grammar");
        return NULL;
    }
    hive_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m) goto oom;
    m->g = g;
    m->v = v;
    m->cap_nodes = 1024;
    m->cap_sets = 256;
    m->pool_cap = 4096;
    m->cap_work = m->cap_out = 256;
    m->cap_hist = 64;
    m->nodes = malloc(m->cap_nodes * sizeof *m->nodes);
    m->sets = malloc(m->cap_sets * sizeof *m->sets);
    m->pool = malloc(m->pool_cap * sizeof *m->pool);
    m->work = malloc(m->cap_work * sizeof *m->work);
    m->out = malloc(m->cap_out * sizeof *m->out);
    m->hist = malloc(m->cap_hist * sizeof *m->hist);
    m->trie_state = malloc(((v ? v->max_depth : 0) + 2) * sizeof *m->trie_state);
    m->trie_next = malloc(((v ? v->max_depth : 0) + 2) * sizeof *m->trie_next);
    m->cap_seen_keys = 1024;
    m->seen_keys = malloc(m->cap_seen_keys * sizeof *m->seen_keys);
    m->trie_bits = malloc(((v ? (size_t)v->n_tok : 0) / 64 + 1) * sizeof *m->trie_bits);
    if (!m->nodes || !m->sets || !m->pool || !m->work || !m->out || !m->hist || !m->trie_state || !m->trie_next || !m->trie_bits ||
        !m->seen_keys ||
        map_init(&m->node_map, 4096) || map_init(&m->set_map, 1024) || map_init(&m->trans, 4096) ||
        map_init(&m->seen, 1024))
        goto oom;
    m->nodes[0] = (hm_node){0, 0, 0x51ed270b1f5e4d3bULL};
    m->n_nodes = 1;
    hm_begin_call(m);
    begin_step(m);
    for (uint32_t a = g->rule_alts[g->root]; a < g->rule_alts[g->root + 1]; a++)
        if (push_work(m, g->alt_start[a], 0)) goto oom;
    uint32_t start = finish_set(m);
    if (start == HM_ERROR || start == HM_DEAD) {
        hive_fail(err, HIVE_E_INVALID, "%s", m->limit_msg[0] ? m->limit_msg : "the grammar matches nothing");
        hive_grammar_matcher_free(m);
        return NULL;
    }
    m->hist[0] = start;
    m->n_hist = 1;
    return m;
oom:
    hive_grammar_matcher_free(m);
    hive_fail(err, HIVE_E_NOMEM, "grammar matcher: out of memory");
    return NULL;
}

static int push_hist(hive_grammar_matcher *m, uint32_t set) {
    if (m->n_hist == m->cap_hist) {
        uint32_t cap = m->cap_hist * 2;
        uint32_t *h = realloc(m->hist, (size_t)cap * sizeof *h);
        if (!h) return -1;
        m->hist = h;
        m->cap_hist = cap;
    }
    m->hist[m->n_hist++] = set;
    return 0;
}

/* Runs bytes from the current state; returns how many were taken and the state reached. */
static size_t walk(hive_grammar_matcher *m, const uint8_t *b, size_t n, uint32_t *state, int *error) {
    uint32_t s = hm_current(m);
    hm_begin_call(m);
    size_t i = 0;
    *error = 0;
    for (; i < n; i++) {
        uint32_t t = hm_step(m, s, b[i]);
        if (t == HM_ERROR) {
            *error = 1;
            break;
        }
        if (t == HM_DEAD) break;
        s = t;
    }
    *state = s;
    return i;
}

hive_status hive_grammar_matcher_accept(hive_grammar_matcher *m, int32_t token, hive_error **err) {
    const hive_grammar_vocab *v = m->v;
    if (!v || token < 0 || (uint32_t)token >= v->n_vocab)
        return hive_fail(err, HIVE_E_INVALID, "token %d is outside the grammar's vocabulary", token);
    if (hive_grammar_vocab_is_end(v, token)) {
        if (!hive_grammar_matcher_is_accepting(m))
            return hive_fail(err, HIVE_E_INVALID, "end of sequence where the grammar is not complete");
        return push_hist(m, hm_current(m)) ? hive_fail(err, HIVE_E_NOMEM, "out of memory") : HIVE_OK;
    }
    uint32_t len = v->tok_len[token], state;
    if (!len) return hive_fail(err, HIVE_E_INVALID, "token %d has no text the grammar can match", token);
    int error;
    size_t took = walk(m, v->bytes + v->tok_off[token], len, &state, &error);
    if (error) return hive_fail(err, HIVE_E_INVALID, "%s", m->limit_msg);
    if (took < len)
        return hive_fail(err, HIVE_E_INVALID, "token %d is not allowed by the grammar here (byte %zu of %u)", token,
                         took, len);
    return push_hist(m, state) ? hive_fail(err, HIVE_E_NOMEM, "out of memory") : HIVE_OK;
}

size_t hive_grammar_matcher_accept_bytes(hive_grammar_matcher *m, const char *bytes, size_t len) {
    uint32_t state;
    int error;
    size_t took = walk(m, (const uint8_t *)bytes, len, &state, &error);
    if (took && push_hist(m, state)) return 0;
    return took;
}

hive_status hive_grammar_matcher_rollback(hive_grammar_matcher *m, uint32_t n, hive_error **err) {
    if (n >= m->n_hist)
        return hive_fail(err, HIVE_E_INVALID, "rollback of %u steps: only %u were accepted", n, m->n_hist - 1);
    m->n_hist -= n;
    return HIVE_OK;
}

void hive_grammar_matcher_reset(hive_grammar_matcher *m) { m->n_hist = 1; }

int hive_grammar_matcher_is_accepting(const hive_grammar_matcher *m) { return hm_set_accepting(m, hm_current(m)); }

int hive_grammar_matcher_is_complete(const hive_grammar_matcher *m) {
    const hm_set *s = &m->sets[hm_current(m)];
    return s->len == 1 && m->pool[s->off] == 0;
}
