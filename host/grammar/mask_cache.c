/* The per-grammar token-mask cache, shared by every matcher of a grammar
 * (same vocabulary) on any thread. Two parts:
 *
 * Rows (XGrammar's adaptive token-mask cache, on this matcher's stacks):
 * for a terminal position under a frame position (the stack's top two
 * nodes, so a string's character rule is keyed with the string body that
 * called it), the tokens accepted whatever stack lies below, and the trie
 * subtrees whose tokens depend on it ("uncertain"); every other token is
 * rejected. A row is the trie walk of the one-stack set {(pos, frame)}: a
 * token whose bytes all stay alive is accepted in any context; a subtree
 * that dies after its path left the frame's rule (an accepting set) with a
 * byte that may follow that rule somewhere (FOLLOW) is uncertain. A set's
 * mask is the union of its stacks' rows' accepted tokens plus what walking
 * the uncertain subtrees from the set itself allows. A row costs about a
 * trie walk, so a mask computes at most ROW_MAX_MISSING of them (a string
 * body's few; a value's start has a dozen tops and is walked instead).
 *
 * Whole masks, by the set's stacks spelled out (positions from each top
 * down): a set another matcher met (the same request shape again) is a copy.
 *
 * Entries are made by the asking matcher (rows with a scratch matcher of its
 * own, so matchers compute in parallel) and published with a
 * compare-and-swap; nothing is ever changed or removed until the grammar is
 * freed. Memory is bounded by HM_ROW_CACHE_BYTES per grammar; past it
 * entries are computed, used and dropped. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/matcher_impl.h"

#define HM_ROW_CACHE_BYTES (32u << 20) /* per grammar (docs/GRAMMAR.md "Limits") */
size_t hm_row_cache_budget = HM_ROW_CACHE_BYTES;
#define ROW_MAX_TOPS 16                /* distinct stack tops of a set served from rows */
#define ROW_MAX_MISSING 2              /* rows a mask may compute; more: it walks the trie */
#define ROW_STUB 2                     /* hm_row.useless of a (position, frame) met once: its row is made when met again */
#define ROW_MAX_UNCERTAIN_DIV 2        /* a row with more than n_tok / 2 uncertain tokens is not used */
#define FOLLOW_MAX_PASSES 64           /* fixpoint passes; past them every byte may follow */
#define FOLLOW_MAX_ELEMS (1u << 17)    /* bigger grammars: every byte may follow every rule */
#define SCRATCH_MAX_SETS (1u << 15)    /* a scratch matcher past this is made anew */
#define BIG_SUBTREE 256                /* uncertain subtrees of more trie nodes get the mask walk's shortcuts */

typedef struct hm_row {
    uint32_t frame_pos;  /* the key with the row's terminal position: its frame's position, UINT32_MAX none */
    _Atomic(struct hm_row *) next; /* the other rows of the terminal position */
    uint32_t useless;   /* walk the trie instead (too many uncertain tokens, or a limit); ROW_STUB: met once, not made */
    uint32_t n_acc;     /* accepted tokens: a token-id mask when acc_bits, else acc[n_acc] ids */
    uint32_t acc_bits;
    uint32_t n_unc;     /* uncertain subtrees: unc[n_unc] trie nodes, ascending */
    size_t bytes;
    uint32_t *acc, *unc;
} hm_row;

/* A whole mask, by its set's stacks spelled out (key): exact, and the same
 * in every matcher of the grammar. */
typedef struct hm_set_mask {
    _Atomic(struct hm_set_mask *) next; /* the bucket's list */
    uint64_t hash;
    uint32_t n_key, n_allowed;
    size_t bytes;
    uint32_t *mask, key[];
} hm_set_mask;

#define SET_BUCKETS 4096u   /* lists of hm_set_mask by hash */
#define SET_KEY_MAX 1024u   /* words of a set's key; bigger sets are not shared */
#define SET_KEY_STACKS 64u  /* stacks of a set's key */

struct hm_row_cache {
    uint64_t vocab_uid;
    size_t budget, fixed;
    int disabled;          /* the grammar is too big for the budget */
    uint32_t n_elems;
    _Atomic(hm_row *) *rows; /* by element position: a list, one row per frame position */
    uint32_t *elem_rule;
    hg_class *follow;      /* by rule: the bytes that may come right after it */
    _Atomic(hm_set_mask *) *sets; /* SET_BUCKETS lists */
    _Atomic size_t bytes;
};

static void class_or(hg_class *a, const hg_class *b, int *changed) {
    for (int w = 0; w < 4; w++) {
        uint64_t n = a->bits[w] | b->bits[w];
        if (n != a->bits[w]) a->bits[w] = n, *changed = 1;
    }
}

/* FIRST and nullable per rule, then FOLLOW; -1 when not converged. */
static int first_follow(const hive_grammar *g, hg_class *follow) {
    hg_class *first = calloc(g->n_rules ? g->n_rules : 1, sizeof *first);
    uint8_t *nullable = calloc(g->n_rules ? g->n_rules : 1, 1);
    int changed = 1, pass;
    if (!first || !nullable) {
        free(first);
        free(nullable);
        return -1;
    }
    for (pass = 0; changed && pass < FOLLOW_MAX_PASSES; pass++) {
        changed = 0;
        for (uint32_t r = 0; r < g->n_rules; r++)
            for (uint32_t a = g->rule_alts[r]; a < g->rule_alts[r + 1]; a++)
                for (uint32_t e = g->alt_start[a];; e++) {
                    hg_elem x = g->elems[e];
                    if (x.kind == HG_END) {
                        if (!nullable[r]) nullable[r] = 1, changed = 1;
                        break;
                    }
                    if (x.kind == HG_TERM) {
                        class_or(&first[r], &g->classes[x.val], &changed);
                        break;
                    }
                    class_or(&first[r], &first[x.val], &changed);
                    if (!nullable[x.val]) break;
                }
    }
    int ok = !changed;
    changed = ok;
    for (pass = 0; changed && pass < FOLLOW_MAX_PASSES; pass++) {
        changed = 0;
        for (uint32_t r = 0; r < g->n_rules; r++)
            for (uint32_t a = g->rule_alts[r]; a < g->rule_alts[r + 1]; a++)
                for (uint32_t e = g->alt_start[a]; g->elems[e].kind != HG_END; e++) {
                    if (g->elems[e].kind != HG_REF) continue;
                    hg_class *f = &follow[g->elems[e].val];
                    for (uint32_t j = e + 1;; j++) { /* FIRST of what comes after the reference */
                        hg_elem y = g->elems[j];
                        if (y.kind == HG_END) {
                            class_or(f, &follow[r], &changed);
                            break;
                        }
                        if (y.kind == HG_TERM) {
                            class_or(f, &g->classes[y.val], &changed);
                            break;
                        }
                        class_or(f, &first[y.val], &changed);
                        if (!nullable[y.val]) break;
                    }
                }
    }
    free(first);
    free(nullable);
    return ok && !changed ? 0 : -1;
}

static void row_free(hm_row *r) { free(r); }

void hm_row_cache_free(struct hm_row_cache *c) {
    if (!c) return;
    for (uint32_t i = 0; c->rows && i < c->n_elems; i++)
        for (hm_row *r = atomic_load(&c->rows[i]), *nx; r; r = nx) nx = atomic_load(&r->next), row_free(r);
    for (uint32_t i = 0; c->sets && i < SET_BUCKETS; i++)
        for (hm_set_mask *e = atomic_load(&c->sets[i]), *nx; e; e = nx) nx = atomic_load(&e->next), free(e);
    free(c->sets);
    free(c->rows);
    free(c->elem_rule);
    free(c->follow);
    free(c);
}

static struct hm_row_cache *cache_new(const hive_grammar *g, const hive_grammar_vocab *v) {
    struct hm_row_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->vocab_uid = v->uid;
    c->budget = hm_row_cache_budget;
    c->n_elems = g->n_elems;
    size_t fixed = (size_t)g->n_elems * (sizeof *c->rows + sizeof *c->elem_rule) +
                   (size_t)g->n_rules * sizeof *c->follow + SET_BUCKETS * sizeof *c->sets;
    c->fixed = fixed;
    if (fixed > c->budget / 4 * 3) { /* little room left for rows */
        c->disabled = 1;
        return c;
    }
    c->rows = calloc(g->n_elems, sizeof *c->rows);
    c->elem_rule = malloc((size_t)g->n_elems * sizeof *c->elem_rule);
    c->follow = calloc(g->n_rules ? g->n_rules : 1, sizeof *c->follow);
    c->sets = calloc(SET_BUCKETS, sizeof *c->sets);
    if (!c->rows || !c->elem_rule || !c->follow || !c->sets) {
        c->disabled = 1;
        return c;
    }
    for (uint32_t i = 0; i < g->n_elems; i++) atomic_init(&c->rows[i], NULL);
    for (uint32_t i = 0; i < SET_BUCKETS; i++) atomic_init(&c->sets[i], NULL);
    for (uint32_t r = 0; r < g->n_rules; r++)
        for (uint32_t a = g->rule_alts[r]; a < g->rule_alts[r + 1]; a++)
            for (uint32_t e = g->alt_start[a];; e++) {
                c->elem_rule[e] = r;
                if (g->elems[e].kind == HG_END) break;
            }
    if (g->n_elems > FOLLOW_MAX_ELEMS || first_follow(g, c->follow)) /* any byte may follow */
        memset(c->follow, 0xff, (size_t)g->n_rules * sizeof *c->follow);
    atomic_init(&c->bytes, fixed);
    return c;
}

/* The grammar's cache for this matcher's vocabulary, made on first use;
 * NULL when it cannot serve (another vocabulary, too big, no memory). */
static struct hm_row_cache *cache_of(const hive_grammar_matcher *m) {
    hive_grammar *g = (hive_grammar *)m->g; /* the cache is the one mutable part, and atomic */
    struct hm_row_cache *c = atomic_load_explicit(&g->mask_cache, memory_order_acquire);
    if (!c) {
        struct hm_row_cache *mine = cache_new(g, m->v), *expected = NULL;
        if (!mine) return NULL;
        if (atomic_compare_exchange_strong_explicit(&g->mask_cache, &expected, mine, memory_order_acq_rel,
                                                    memory_order_acquire))
            c = mine;
        else
            hm_row_cache_free(mine), c = expected;
    }
    return c->disabled || c->vocab_uid != m->v->uid ? NULL : c;
}

static hm_row *useless_row(uint32_t frame_pos, uint32_t why) {
    hm_row *r = calloc(1, sizeof *r);
    if (r) r->useless = why, r->bytes = sizeof *r, r->frame_pos = frame_pos, atomic_init(&r->next, NULL);
    return r;
}

/* The scratch matcher for rows, made (or made anew, bounding its memory) as needed. */
static hive_grammar_matcher *scratch_of(hive_grammar_matcher *m) {
    hive_grammar_matcher *s = m->rows_m;
    if (s && s->n_sets > SCRATCH_MAX_SETS) hive_grammar_matcher_free(s), s = m->rows_m = NULL;
    if (s) return s;
    const hive_grammar_vocab *v = m->v;
    s = hive_grammar_matcher_new(m->g, v, NULL);
    if (!s) return NULL;
    s->trie_ctx = malloc((size_t)v->max_depth + 2);
    if (!s->trie_ctx) {
        hive_grammar_matcher_free(s);
        return NULL;
    }
    memset(s->trie_bits, 0, ((size_t)v->n_tok / 64 + 1) * sizeof *s->trie_bits);
    return m->rows_m = s;
}

int hm_unc_root(hive_grammar_matcher *m, uint32_t i) {
    const hive_grammar_vocab *v = m->v;
    if (m->n_unc == m->cap_unc) {
        uint32_t cap = m->cap_unc ? m->cap_unc * 2 : 64;
        uint32_t *b = realloc(m->unc_buf, (size_t)cap * sizeof *b);
        if (!b) {
            snprintf(m->limit_msg, sizeof m->limit_msg, "grammar mask cache: out of memory");
            return -1;
        }
        m->unc_buf = b, m->cap_unc = cap;
    }
    m->unc_buf[m->n_unc++] = i;
    uint32_t end = v->subtree_end[i];
    m->unc_tokens += (end < v->n_nodes ? v->tok_first[end] : v->n_tok) - v->tok_first[i];
    return 0;
}

/* The row of terminal position `pos` under a frame at frame_pos, computed
 * by m's scratch matcher; NULL without memory. The frame makes a small
 * rule's terminal (a string's character) context-free up to the end of the
 * rule that called it (the string's body). */
static hm_row *row_compute(hive_grammar_matcher *m, const struct hm_row_cache *c, uint32_t pos, uint32_t frame_pos) {
    const hive_grammar_vocab *v = m->v;
    hive_grammar_matcher *s = scratch_of(m);
    if (!s) return NULL;
    hm_begin_call(s);
    s->limit_msg[0] = 0;
    s->n_unc = s->unc_tokens = 0;
    uint32_t start = hm_stack_set(s, pos, frame_pos), n_acc = 0;
    uint64_t *tb = s->trie_bits; /* zero between rows */
    const hg_class *follow = &c->follow[c->elem_rule[frame_pos == UINT32_MAX ? pos : frame_pos]];
    if (start == HM_ERROR || hm_trie_walk(s, start, 0, v->n_nodes, tb, follow, &n_acc)) {
        hive_grammar_matcher_free(s); /* a limit: its state is spent */
        m->rows_m = NULL;
        return useless_row(frame_pos, 1);
    }
    size_t w0 = s->walk_lo / 64, w1 = (s->walk_hi + 63) / 64; /* the words the walk wrote */
    size_t words = ((size_t)v->n_vocab + 31) / 32;
    uint32_t acc_bits = (size_t)n_acc > words; /* ids would take more room than a mask */
    size_t n_acc_words = acc_bits ? words : n_acc, bytes = sizeof(hm_row) + (n_acc_words + s->n_unc) * sizeof(uint32_t);
    int use = s->unc_tokens <= v->n_tok / ROW_MAX_UNCERTAIN_DIV;
    hm_row *r = use ? malloc(bytes) : useless_row(frame_pos, 1);
    if (r && use) {
        *r = (hm_row){.frame_pos = frame_pos, .n_acc = n_acc, .acc_bits = acc_bits, .n_unc = s->n_unc, .bytes = bytes};
        atomic_init(&r->next, NULL);
        r->acc = (uint32_t *)(r + 1);
        r->unc = r->acc + n_acc_words;
        if (s->n_unc) memcpy(r->unc, s->unc_buf, s->n_unc * sizeof *r->unc);
        if (acc_bits) hm_trie_bits_to_mask(v, tb, n_acc, r->acc);
        uint32_t na = 0;
        for (size_t w = w0; w < w1 && !acc_bits; w++)
            for (uint64_t a = tb[w]; a; a &= a - 1) r->acc[na++] = (uint32_t)v->tok_ids[w * 64 + (uint32_t)__builtin_ctzll(a)];
    }
    memset(tb + w0, 0, (w1 - w0) * sizeof *tb);
    return r;
}

/* The newest entry for frame_pos in a position's list (a row made after
 * its stub comes first), or with made_only the newest that is not a stub. */
static hm_row *row_find(hm_row *r, uint32_t frame_pos, int made_only) {
    while (r && (r->frame_pos != frame_pos || (made_only && r->useless == ROW_STUB)))
        r = atomic_load_explicit(&r->next, memory_order_acquire);
    return r;
}

/* Publishes r (pos's list, within the budget); returns the row to use and
 * whether the caller must free it (*own). */
static hm_row *row_publish(struct hm_row_cache *c, uint32_t pos, hm_row *r, int *own) {
    *own = 1;
    size_t before = atomic_fetch_add(&c->bytes, r->bytes);
    if (before + r->bytes > c->budget) {
        atomic_fetch_sub(&c->bytes, r->bytes);
        return r;
    }
    hm_row *head = atomic_load_explicit(&c->rows[pos], memory_order_acquire);
    for (;;) {
        hm_row *other = row_find(head, r->frame_pos, r->useless != ROW_STUB);
        if (other) { /* another matcher published it first */
            atomic_fetch_sub(&c->bytes, r->bytes);
            row_free(r);
            *own = 0;
            return other;
        }
        atomic_store_explicit(&r->next, head, memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&c->rows[pos], &head, r, memory_order_acq_rel, memory_order_acquire)) {
            *own = 0;
            return r;
        }
    }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Walks the uncertain subtrees (trie nodes, ascending) from `set`: the
 * path down to each (sharing the states of a common prefix with the one
 * before), then its subtree as a mask walk does; allowed gets what they allow. */
static int check_uncertain(hive_grammar_matcher *m, uint32_t set, const uint32_t *roots, uint32_t n, uint32_t *allowed) {
    const hive_grammar_vocab *v = m->v;
    uint64_t *tb = m->trie_bits;
    memset(tb, 0, ((size_t)v->n_tok / 64 + 1) * sizeof *tb);
    uint32_t *st = m->trie_state, have = 0, dead_len = UINT32_MAX, prev_len = 0, lo = UINT32_MAX, hi = 0;
    const uint8_t *prev = NULL;
    st[0] = set;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t r = roots[k], len = v->depth[r] - 1, id = (uint32_t)v->tok_ids[v->tok_first[r]], lcp = 0, nn;
        const uint8_t *path = v->bytes + v->tok_off[id]; /* the subtree's first token spells the path */
        while (prev && lcp < len && lcp < prev_len && path[lcp] == prev[lcp]) lcp++;
        if (lcp >= dead_len) continue; /* below a prefix that died before */
        uint32_t j = lcp < have ? lcp : have;
        for (; j < len; j++) {
            const uint32_t *next = m->sets[st[j]].next;
            uint32_t t = next ? next[path[j]] : HM_UNKNOWN;
            if (t == HM_UNKNOWN) t = hm_step(m, st[j], path[j]);
            if (t == HM_ERROR) return -1;
            if (t == HM_DEAD) break;
            st[j + 1] = t;
        }
        prev = path, prev_len = len, have = j; /* the walk below writes st past len */
        dead_len = j < len ? j + 1 : UINT32_MAX;
        if (j < len) continue;
        uint32_t end = v->subtree_end[r];
        if (end - r >= BIG_SUBTREE) { /* the mask walk, with its whole-subtree shortcuts */
            if (hm_trie_walk(m, st[len], r, end, tb, NULL, &nn)) return -1;
            if (m->walk_hi > m->walk_lo) lo = lo < m->walk_lo ? lo : m->walk_lo, hi = m->walk_hi;
            continue;
        }
        for (uint32_t i = r; i < end;) { /* a few nodes (a quote and what follows it): step each */
            uint32_t d = v->depth[i];
            const uint32_t *next = m->sets[st[d - 1]].next;
            uint32_t t = next ? next[v->byte[i]] : HM_UNKNOWN;
            if (t == HM_UNKNOWN) t = hm_step(m, st[d - 1], v->byte[i]);
            if (t == HM_ERROR) return -1;
            if (t == HM_DEAD) {
                i = v->subtree_end[i];
                continue;
            }
            st[d] = t;
            for (uint32_t k = v->tok_first[i]; k < v->tok_first[i] + v->tok_count[i]; k++) {
                uint32_t tok = (uint32_t)v->tok_ids[k];
                allowed[tok >> 5] |= 1u << (tok & 31);
            }
            i++;
        }
    }
    for (uint32_t w = lo / 64; lo < hi && w < (hi + 63) / 64; w++)
        for (uint64_t a = tb[w]; a; a &= a - 1) {
            uint32_t id = (uint32_t)v->tok_ids[w * 64 + (uint32_t)__builtin_ctzll(a)];
            allowed[id >> 5] |= 1u << (id & 31);
        }
    return 0;
}

size_t hm_row_cache_bytes(const hive_grammar *g, size_t *fixed) {
    struct hm_row_cache *c = atomic_load(&((hive_grammar *)g)->mask_cache);
    if (fixed) *fixed = c ? c->fixed : 0;
    return c ? atomic_load(&c->bytes) : 0;
}

int hm_mask_from_rows(hive_grammar_matcher *m, uint32_t set, uint32_t *allowed, uint32_t *n_allowed) {
    struct hm_row_cache *c = m->rows_off ? NULL : cache_of(m);
    if (!c) return 0;
    const hive_grammar_vocab *v = m->v;
    const hm_set *s = &m->sets[set];
    uint32_t tops[ROW_MAX_TOPS], frames[ROW_MAX_TOPS], n_tops = 0; /* distinct (position, frame position) */
    hm_row *rows[ROW_MAX_TOPS];
    int own[ROW_MAX_TOPS];
    for (uint32_t i = 0; i < s->len; i++) {
        uint32_t id = m->pool[s->off + i];
        if (!id) continue;
        uint32_t pos = m->nodes[id].pos, parent = m->nodes[id].parent, k = 0;
        uint32_t fpos = parent ? m->nodes[parent].pos : UINT32_MAX;
        while (k < n_tops && (tops[k] != pos || frames[k] != fpos)) k++;
        if (k < n_tops) continue;
        if (n_tops == ROW_MAX_TOPS) return 0;
        tops[n_tops] = pos, frames[n_tops++] = fpos;
    }
    /* a row costs about a trie walk, so it is made only for a (position,
     * frame) met before in another state (a string body in a second
     * context: the same state again is a whole-mask copy), and a mask makes
     * few: a state with many new tops (a value's start, cheap to walk) is
     * walked */
    uint32_t missing = 0, unseen = 0;
    for (uint32_t k = 0; k < n_tops; k++) {
        rows[k] = row_find(atomic_load_explicit(&c->rows[tops[k]], memory_order_acquire), frames[k], 0);
        missing += !rows[k] || rows[k]->useless == ROW_STUB;
        unseen += !rows[k];
    }
    if (unseen) { /* mark them met, then walk */
        for (uint32_t k = 0; k < n_tops; k++) {
            hm_row *stub = rows[k] ? NULL : useless_row(frames[k], ROW_STUB);
            int stub_own = 0;
            if (stub && row_publish(c, tops[k], stub, &stub_own) && stub_own) row_free(stub);
        }
        return 0;
    }
    if (missing > ROW_MAX_MISSING) return 0;
    int rc = 1;
    uint32_t n_rows = 0, n_unc = 0, unc_rows = 0;
    for (; n_rows < n_tops; n_rows++) {
        uint32_t pos = tops[n_rows];
        hm_row *r = rows[n_rows];
        own[n_rows] = 0;
        if (!r || r->useless == ROW_STUB) {
            if (!(r = row_compute(m, c, pos, frames[n_rows]))) break; /* no memory: walk the trie */
            r = row_publish(c, pos, r, &own[n_rows]);
        }
        rows[n_rows] = r;
        if (r->useless) {
            n_rows++;
            break;
        }
        n_unc += r->n_unc;
        unc_rows += r->n_unc > 0;
    }
    if (n_rows < n_tops || (n_rows && rows[n_rows - 1]->useless)) {
        rc = 0;
        goto out;
    }
    size_t words = ((size_t)v->n_vocab + 31) / 32;
    memset(allowed, 0, words * sizeof *allowed);
    for (uint32_t k = 0; k < n_rows; k++) {
        const hm_row *r = rows[k];
        if (r->acc_bits)
            for (size_t w = 0; w < words; w++) allowed[w] |= r->acc[w];
        else
            for (uint32_t j = 0; j < r->n_acc; j++) allowed[r->acc[j] >> 5] |= 1u << (r->acc[j] & 31);
    }
    if (n_unc) {
        const uint32_t *unc = NULL;
        if (unc_rows == 1) {
            for (uint32_t k = 0; k < n_rows && !unc; k++)
                if (rows[k]->n_unc) unc = rows[k]->unc;
        } else {
            if (n_unc > m->cap_unc) {
                uint32_t *b = realloc(m->unc_buf, (size_t)n_unc * sizeof *b);
                if (!b) {
                    rc = 0;
                    goto out;
                }
                m->unc_buf = b, m->cap_unc = n_unc;
            }
            uint32_t n = 0;
            for (uint32_t k = 0; k < n_rows; k++)
                memcpy(m->unc_buf + n, rows[k]->unc, rows[k]->n_unc * sizeof *m->unc_buf), n += rows[k]->n_unc;
            qsort(m->unc_buf, n, sizeof *m->unc_buf, cmp_u32);
            n_unc = 0;
            for (uint32_t k = 0; k < n; k++)
                if (!n_unc || m->unc_buf[k] != m->unc_buf[n_unc - 1]) m->unc_buf[n_unc++] = m->unc_buf[k];
            unc = m->unc_buf;
        }
        if (check_uncertain(m, set, unc, n_unc, allowed)) {
            rc = -1;
            goto out;
        }
    }
    if (hm_set_accepting(m, set))
        for (size_t k = 0; k < v->n_end; k++) allowed[v->end_ids[k] >> 5] |= 1u << (v->end_ids[k] & 31);
    uint32_t n = 0;
    for (size_t w = 0; w < words; w++) n += hm_popcount64(allowed[w]);
    *n_allowed = n;
    m->row_masks++;
out:
    for (uint32_t k = 0; k < n_rows; k++)
        if (own[k]) row_free(rows[k]);
    return rc;
}

/* m->key_buf: the set's stacks, each its positions from the top down and
 * UINT32_MAX, in the order of their hashes (ties: a matcher's order, which
 * may only cost a miss); key_n 0 when too big. */
static void set_key(hive_grammar_matcher *m, uint32_t set) {
    const hm_set *s = &m->sets[set];
    m->key_n = 0;
    if (s->len > SET_KEY_STACKS) return;
    if (!m->key_buf && !(m->key_buf = malloc(SET_KEY_MAX * sizeof *m->key_buf))) return;
    uint32_t ids[SET_KEY_STACKS], n = 0;
    for (uint32_t i = 0; i < s->len; i++) { /* insertion sort by hash */
        uint32_t id = m->pool[s->off + i], j = n++;
        for (; j && m->nodes[ids[j - 1]].h > m->nodes[id].h; j--) ids[j] = ids[j - 1];
        ids[j] = id;
    }
    uint64_t h = 0x2545f4914f6cdd1dULL;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t id = ids[i]; id; id = m->nodes[id].parent) {
            if (k + 1 >= SET_KEY_MAX) return;
            m->key_buf[k++] = m->nodes[id].pos;
        }
        m->key_buf[k++] = UINT32_MAX;
        h = (h ^ m->nodes[ids[i]].h) * 0x100000001b3ULL;
    }
    m->key_n = k, m->key_hash = h ^ (h >> 29);
}

int hm_mask_shared(hive_grammar_matcher *m, uint32_t set, uint32_t *allowed, uint32_t *n_allowed) {
    struct hm_row_cache *c = m->rows_off ? NULL : cache_of(m);
    m->key_n = 0;
    if (!c) return 0;
    set_key(m, set);
    if (!m->key_n) return 0;
    for (hm_set_mask *e = atomic_load_explicit(&c->sets[m->key_hash & (SET_BUCKETS - 1)], memory_order_acquire); e;
         e = atomic_load_explicit(&e->next, memory_order_acquire))
        if (e->hash == m->key_hash && e->n_key == m->key_n && !memcmp(e->key, m->key_buf, m->key_n * sizeof *e->key)) {
            memcpy(allowed, e->mask, ((size_t)m->v->n_vocab + 31) / 32 * sizeof *allowed);
            *n_allowed = e->n_allowed;
            m->row_masks++;
            m->key_n = 0;
            return 1;
        }
    return 0;
}

void hm_mask_share(hive_grammar_matcher *m, const uint32_t *allowed, uint32_t n_allowed) {
    struct hm_row_cache *c = m->key_n ? cache_of(m) : NULL;
    if (!c) return;
    size_t words = ((size_t)m->v->n_vocab + 31) / 32;
    size_t bytes = sizeof(hm_set_mask) + (m->key_n + words) * sizeof(uint32_t);
    size_t before = atomic_fetch_add(&c->bytes, bytes);
    hm_set_mask *e = before + bytes > c->budget ? NULL : malloc(bytes);
    if (!e) {
        atomic_fetch_sub(&c->bytes, bytes);
        return;
    }
    e->hash = m->key_hash, e->n_key = m->key_n, e->n_allowed = n_allowed, e->bytes = bytes;
    memcpy(e->key, m->key_buf, m->key_n * sizeof *e->key);
    e->mask = e->key + m->key_n;
    memcpy(e->mask, allowed, words * sizeof *allowed);
    _Atomic(hm_set_mask *) *head = &c->sets[m->key_hash & (SET_BUCKETS - 1)];
    hm_set_mask *first = atomic_load_explicit(head, memory_order_acquire);
    do { /* another matcher may have shared the same set meanwhile: two equal entries, harmless */
        atomic_store_explicit(&e->next, first, memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(head, &first, e, memory_order_acq_rel, memory_order_acquire));
    m->key_n = 0;
}
