/* The vocabulary as a byte trie, and token masks: a preorder walk of the
 * trie where each node's state is its parent's state stepped by one byte
 * (cached transitions); a dead state skips the whole subtree. Masks are
 * cached per state. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/matcher_impl.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

void hive_grammar_vocab_free(hive_grammar_vocab *v) {
    if (!v) return;
    free(v->byte);
    free(v->depth);
    free(v->subtree_end);
    free(v->tok_first);
    free(v->tok_count);
    free(v->tok_ids);
    free(v->in_trie);
    free(v->below);
    free(v->height);
    free(v->utf8);
    free(v->tok_off);
    free(v->tok_len);
    free(v->bytes);
    free(v->end_ids);
    free(v);
}

uint32_t hive_grammar_vocab_size(const hive_grammar_vocab *v) { return v->n_vocab; }

int hive_grammar_vocab_is_end(const hive_grammar_vocab *v, int32_t id) {
    for (size_t i = 0; i < v->n_end; i++)
        if (v->end_ids[i] == id) return 1;
    return 0;
}

static const hive_grammar_vocab *g_sort_vocab; /* qsort has no context argument; build is single-threaded */
static pthread_mutex_t g_sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int cmp_tokens(const void *pa, const void *pb) {
    const hive_grammar_vocab *v = g_sort_vocab;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    uint32_t la = v->tok_len[a], lb = v->tok_len[b];
    int c = memcmp(v->bytes + v->tok_off[a], v->bytes + v->tok_off[b], la < lb ? la : lb);
    if (c) return c;
    if (la != lb) return la < lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as
 * the grammar's character classes encode it: 0 at a character boundary,
 * 1-3 continuation bytes to go, 4-7 a lead byte whose next byte is narrower
 * (E0, ED, F0, F4), UTF8_BAD after an invalid byte (sticky). */
#define UTF8_BAD 255
static uint8_t utf8_next(uint8_t st, uint8_t c) {
    static const uint8_t lo[8] = {0, 0x80, 0x80, 0x80, 0xA0, 0x80, 0x90, 0x80};
    static const uint8_t hi[8] = {0, 0xBF, 0xBF, 0xBF, 0xBF, 0x9F, 0xBF, 0x8F};
    static const uint8_t then[8] = {0, 0, 1, 2, 1, 1, 2, 2};
    if (st == UTF8_BAD) return UTF8_BAD;
    if (st == 0) {
        if (c < 0x80) return 0;
        if (c >= 0xC2 && c <= 0xDF) return 1;
        if (c == 0xE0) return 4;
        if (c == 0xED) return 5;
        if (c >= 0xE1 && c <= 0xEF) return 2;
        if (c == 0xF0) return 6;
        if (c == 0xF4) return 7;
        if (c >= 0xF1 && c <= 0xF3) return 3;
        return UTF8_BAD;
    }
    return c >= lo[st] && c <= hi[st] ? then[st] : UTF8_BAD;
}

static void byte_bit(uint64_t *b, uint8_t c) {
    if (c < 128) b[c >> 6] |= 1ull << (c & 63);
}

/* below[i], height[i] and utf8[i] (matcher_impl.h). The UTF-8 state of a
 * node follows from its parent's (preorder, one per depth). In reverse
 * preorder a node comes right after its whole subtree, so acc[d + 1],
 * up[d + 1] and fl[d + 1] then hold exactly what its children (depth d + 1)
 * and their subtrees contribute. */
static hive_status below_bytes(hive_grammar_vocab *v) {
    size_t levels = (size_t)v->max_depth + 2;
    size_t nn = v->n_nodes ? v->n_nodes : 1;
    v->below = calloc(nn, sizeof *v->below);
    v->height = calloc(nn, sizeof *v->height);
    v->utf8 = calloc(nn, 1);
    uint64_t (*acc)[2] = calloc(levels, sizeof *acc);
    uint16_t *up = calloc(levels, sizeof *up);
    uint8_t *dec = calloc(levels, 1), *fl = calloc(levels, 1);
    hive_status st = v->below && v->height && v->utf8 && acc && up && dec && fl ? HIVE_OK : HIVE_E_NOMEM;
    for (uint32_t i = 0; st == HIVE_OK && i < v->n_nodes; i++) {
        uint32_t d = v->depth[i];
        dec[d] = utf8_next(dec[d - 1], v->byte[i]); /* dec[0] = 0: a token starts at a boundary */
        v->utf8[i] = dec[d] == 0 ? HM_UTF8_BOUNDARY : 0;
        if (dec[d] == UTF8_BAD) v->utf8[i] |= HM_UTF8_INVALID; /* itself; folded into its parent below */
        else if (dec[d - 1] == 0 && v->byte[i] >= 0x80) v->utf8[i] |= HM_UTF8_LEAD;
    }
    for (uint32_t i = v->n_nodes; st == HIVE_OK && i-- > 0;) {
        uint32_t d = v->depth[i];
        uint8_t self_bad = v->utf8[i] & HM_UTF8_INVALID;
        v->below[i][0] = acc[d + 1][0], v->below[i][1] = acc[d + 1][1];
        v->height[i] = up[d + 1];
        v->utf8[i] = (uint8_t)((v->utf8[i] & (HM_UTF8_BOUNDARY | HM_UTF8_LEAD)) | fl[d + 1]);
        acc[d + 1][0] = acc[d + 1][1] = 0;
        up[d + 1] = 0;
        fl[d + 1] = 0;
        acc[d][0] |= v->below[i][0], acc[d][1] |= v->below[i][1];
        byte_bit(acc[d], v->byte[i]);
        if (v->height[i] + 1 > up[d]) up[d] = (uint16_t)(v->height[i] + 1);
        fl[d] |= (uint8_t)((v->utf8[i] & (HM_UTF8_HIGH | HM_UTF8_INVALID)) | self_bad |
                           (v->byte[i] >= 0x80 ? HM_UTF8_HIGH : 0));
    }
    free(acc);
    free(up);
    free(dec);
    free(fl);
    return st;
}

static hive_status build_trie(hive_grammar_vocab *v) {
    uint32_t n_tok = 0;
    uint64_t total = 0;
    for (uint32_t i = 0; i < v->n_vocab; i++)
        if (v->tok_len[i]) n_tok++, total += v->tok_len[i];
    v->tok_ids = malloc(((size_t)n_tok + 1) * sizeof *v->tok_ids);
    size_t cap = (size_t)total + 1;
    v->byte = malloc(cap);
    v->depth = malloc(cap * sizeof *v->depth);
    v->subtree_end = malloc(cap * sizeof *v->subtree_end);
    v->tok_first = malloc(cap * sizeof *v->tok_first);
    v->tok_count = calloc(cap, sizeof *v->tok_count);
    uint32_t *path = malloc(70000 * sizeof *path);
    if (!v->tok_ids || !v->byte || !v->depth || !v->subtree_end || !v->tok_first || !v->tok_count || !path) {
        free(path);
        return HIVE_E_NOMEM;
    }
    n_tok = 0;
    for (uint32_t i = 0; i < v->n_vocab; i++)
        if (v->tok_len[i]) v->tok_ids[n_tok++] = (int32_t)i;
    pthread_mutex_lock(&g_sort_lock);
    g_sort_vocab = v;
    qsort(v->tok_ids, n_tok, sizeof *v->tok_ids, cmp_tokens);
    g_sort_vocab = NULL;
    pthread_mutex_unlock(&g_sort_lock);

    uint32_t depth = 0, n = 0; /* path[d] = node at depth d + 1 */
    const uint8_t *prev = NULL;
    uint32_t prev_len = 0;
    for (uint32_t k = 0; k < n_tok; k++) {
        int32_t t = v->tok_ids[k];
        const uint8_t *s = v->bytes + v->tok_off[t];
        uint32_t len = v->tok_len[t], lcp = 0;
        while (prev && lcp < len && lcp < prev_len && s[lcp] == prev[lcp]) lcp++;
        while (depth > lcp) v->subtree_end[path[--depth]] = n;
        for (; depth < len; depth++) {
            v->byte[n] = s[depth];
            v->depth[n] = (uint16_t)(depth + 1);
            v->tok_first[n] = k;
            v->tok_count[n] = 0;
            path[depth] = n++;
        }
        uint32_t node = path[len - 1];
        if (!v->tok_count[node]) v->tok_first[node] = k;
        if (v->tok_count[node] < UINT16_MAX) v->tok_count[node]++;
        if (len > v->max_depth) v->max_depth = len;
        prev = s;
        prev_len = len;
    }
    while (depth) v->subtree_end[path[--depth]] = n;
    v->n_nodes = n;
    v->n_tok = n_tok;
    free(path);
    v->in_trie = calloc(((size_t)v->n_vocab + 31) / 32 + 1, sizeof *v->in_trie);
    if (!v->in_trie) return HIVE_E_NOMEM;
    for (uint32_t k = 0; k < n_tok; k++) v->in_trie[v->tok_ids[k] >> 5] |= 1u << (v->tok_ids[k] & 31);
    return below_bytes(v);
}

hive_status hive_grammar_vocab_new(uint32_t n_vocab, const char *const *tokens, const uint32_t *lens,
                                   const int32_t *end_ids, size_t n_end, hive_grammar_vocab **out, hive_error **err) {
    *out = NULL;
    static _Atomic uint64_t next_uid;
    hive_grammar_vocab *v = calloc(1, sizeof *v);
    if (!v) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    v->n_vocab = n_vocab;
    v->uid = atomic_fetch_add(&next_uid, 1) + 1;
    v->tok_off = malloc(((size_t)n_vocab + 1) * sizeof *v->tok_off);
    v->tok_len = malloc(((size_t)n_vocab + 1) * sizeof *v->tok_len);
    v->end_ids = malloc((n_end + 1) * sizeof *v->end_ids);
    size_t total = 0;
    for (uint32_t i = 0; i < n_vocab; i++) {
        uint32_t l = tokens[i] ? lens[i] : 0;
        if (l > 65535) {
            hive_grammar_vocab_free(v);
            return hive_fail(err, HIVE_E_INVALID, "token %u is %u bytes long (limit 65535)", i, l);
        }
        total += l;
    }
    v->bytes = malloc(total + 1);
    if (!v->tok_off || !v->tok_len || !v->end_ids || !v->bytes) {
        hive_grammar_vocab_free(v);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    size_t off = 0;
    for (uint32_t i = 0; i < n_vocab; i++) {
        uint32_t l = tokens[i] ? lens[i] : 0;
        int is_end = 0;
        for (size_t k = 0; k < n_end; k++) is_end |= end_ids[k] == (int32_t)i;
        if (is_end) l = 0; /* end tokens are allowed by state, never by text */
        v->tok_off[i] = (uint32_t)off;
        v->tok_len[i] = l;
        if (l) memcpy(v->bytes + off, tokens[i], l);
        off += l;
    }
    for (size_t k = 0; k < n_end; k++)
        if (end_ids[k] >= 0 && (uint32_t)end_ids[k] < n_vocab) v->end_ids[v->n_end++] = end_ids[k];
    if (build_trie(v) != HIVE_OK) {
        hive_grammar_vocab_free(v);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    *out = v;
    return HIVE_OK;
}

hive_status hive_grammar_vocab_from_tokenizer(const struct hive_tokenizer *tok, hive_grammar_vocab **out,
                                              hive_error **err) {
    uint32_t n = hive_tokenizer_n_vocab(tok);
    char **toks = calloc(n ? n : 1, sizeof *toks);
    uint32_t *lens = calloc(n ? n : 1, sizeof *lens);
    hive_status st = (!toks || !lens) ? hive_fail(err, HIVE_E_NOMEM, "out of memory") : HIVE_OK;
    for (uint32_t i = 0; i < n && st == HIVE_OK; i++) {
        if (hive_tokenizer_is_control(tok, (int32_t)i)) continue;
        char buf[512];
        size_t len = 0;
        if (hive_tokenizer_token_bytes(tok, (int32_t)i, buf, sizeof buf, &len) != HIVE_OK || !len) continue;
        toks[i] = malloc(len);
        if (!toks[i]) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
        else memcpy(toks[i], buf, len), lens[i] = (uint32_t)len;
    }
    int32_t ends[2] = {hive_tokenizer_eos(tok), hive_tokenizer_eot(tok)};
    if (st == HIVE_OK) st = hive_grammar_vocab_new(n, (const char *const *)toks, lens, ends, 2, out, err);
    for (uint32_t i = 0; toks && i < n; i++) free(toks[i]);
    free(toks);
    free(lens);
    return st;
}

static void set_bit(uint32_t *w, uint32_t i) { w[i >> 5] |= 1u << (i & 31); }

static size_t words(const hive_grammar_vocab *v) { return ((size_t)v->n_vocab + 31) / 32; }

static void cache_mask(hive_grammar_matcher *m, uint32_t set, const uint32_t *mask, uint32_t n_allowed) {
    size_t bytes = words(m->v) * sizeof *mask;
    if (m->mask_bytes + bytes > HM_MASK_CACHE_BYTES) { /* full: start over */
        for (uint32_t i = 0; i < m->n_sets; i++) {
            free(m->sets[i].mask);
            m->sets[i].mask = NULL;
        }
        m->mask_bytes = 0;
    }
    uint32_t *c = malloc(bytes);
    if (!c) return;
    memcpy(c, mask, bytes);
    m->sets[set].mask = c;
    m->sets[set].n_allowed = n_allowed;
    m->mask_bytes += bytes;
}

/* hm_set's uniform step of `set`: the successor most ASCII bytes share
 * (ties: the lower id) and those bytes. 0, or HM_ERROR at a limit. */
static uint32_t uniform_step_compute(hive_grammar_matcher *m, uint32_t set);
static inline uint32_t uniform_step(hive_grammar_matcher *m, uint32_t set) {
    return m->sets[set].uni_known ? 0 : uniform_step_compute(m, set);
}
static uint32_t uniform_step_compute(hive_grammar_matcher *m, uint32_t set) {
    uint32_t to[128], best = HM_DEAD, best_n = 0;
    for (int b = 0; b < 128; b++)
        if ((to[b] = hm_step(m, set, (uint8_t)b)) == HM_ERROR) return HM_ERROR; /* may grow m->sets */
    for (int b = 0; b < 128; b++) {
        if (to[b] == HM_DEAD || to[b] == best) continue;
        uint32_t n = 0;
        for (int c = b; c < 128; c++) n += to[c] == to[b];
        if (n > best_n || (n == best_n && to[b] < best)) best = to[b], best_n = n;
    }
    hm_set *s = &m->sets[set];
    s->uni[0] = s->uni[1] = 0;
    for (int b = 0; b < 128 && best != HM_DEAD; b++)
        if (to[b] == best) s->uni[b >> 6] |= 1ull << (b & 63);
    s->uni_next = best;
    s->uni_run = best == set ? UINT32_MAX : 0; /* 0: not computed (uniform_run) */
    s->uni_known = 1;
    return 0;
}

/* uni_run of `set` (its uniform step known): follow the chain while the next
 * set steps uniformly on the same bytes, at most max_depth sets. */
static uint32_t uniform_run(hive_grammar_matcher *m, uint32_t set, uint32_t max_depth) {
    uint32_t chain[64], n = 0, s = set;
    if (max_depth > 64) max_depth = 64;
    while (n < max_depth && !m->sets[s].uni_run) {
        chain[n++] = s;
        uint32_t nx = m->sets[s].uni_next;
        if (nx == HM_DEAD || uniform_step(m, nx) == HM_ERROR) break;
        if (m->sets[nx].uni[0] != m->sets[s].uni[0] || m->sets[nx].uni[1] != m->sets[s].uni[1]) break;
        s = nx;
    }
    /* each set's run is one more than its successor's (when it shares the bytes) */
    uint32_t run = n && m->sets[s].uni_run && s != chain[n - 1] ? m->sets[s].uni_run : 0;
    while (n--) {
        run = run == UINT32_MAX ? run : run + 1;
        m->sets[chain[n]].uni_run = run;
    }
    return m->sets[set].uni_run;
}

/* Checking utf8_target costs about a thousand transitions once per set and
 * matcher: worth it only to skip a subtree at least this big (a vocabulary
 * rich in CJK has many; SmolLM2's has few). Once known, any size is. */
#define UTF8_SKIP_MIN_NODES 512

/* hm_set.utf8_to of `set`: every valid UTF-8 character from U+0080 on, byte
 * by byte, stays alive and ends in one and the same set, returned; HM_DEAD
 * when not (or more than 64 (set, UTF-8 state) pairs to explore, each
 * explored once), HM_ERROR at a limit. */
static uint32_t utf8_target_compute(hive_grammar_matcher *m, uint32_t set);
static inline uint32_t utf8_target(hive_grammar_matcher *m, uint32_t set) {
    return m->sets[set].utf8_known ? m->sets[set].utf8_to : utf8_target_compute(m, set);
}
static uint32_t utf8_target_compute(hive_grammar_matcher *m, uint32_t set) {
    enum { MAX_PAIRS = 64 };
    uint32_t pg[MAX_PAIRS], to = HM_UNKNOWN, n = 1, next = 0;
    uint8_t pd[MAX_PAIRS];
    int ok = 1;
    pg[0] = set, pd[0] = 0;
    while (next < n && ok) {
        uint32_t g = pg[next];
        uint8_t d = pd[next++];
        for (int c = d ? 0x80 : 0xC2; c <= (d ? 0xBF : 0xF4) && ok; c++) {
            uint8_t d2 = utf8_next(d, (uint8_t)c);
            if (d2 == UTF8_BAD) continue;
            uint32_t g2 = hm_step(m, g, (uint8_t)c);
            if (g2 == HM_ERROR) return HM_ERROR;
            if (g2 == HM_DEAD) ok = 0;
            else if (d2 == 0) { /* a whole character: always the same set */
                if (to == HM_UNKNOWN) to = g2;
                ok = g2 == to;
            }
            if (d2 == 0 || !ok) continue;
            uint32_t k = 0;
            while (k < n && (pg[k] != g2 || pd[k] != d2)) k++;
            if (k < n) continue;
            if (n == MAX_PAIRS) ok = 0;
            else pg[n] = g2, pd[n++] = d2;
        }
    }
    m->sets[set].utf8_to = ok && to != HM_UNKNOWN ? to : HM_DEAD;
    m->sets[set].utf8_known = 1;
    return m->sets[set].utf8_to;
}

/* 1 when `set` is a body that takes any character (a self-loop on its
 * uniform bytes and on every multi-byte character), 0 if not, HM_ERROR. */
static uint32_t any_char_body(hive_grammar_matcher *m, uint32_t set) {
    if (uniform_step(m, set) == HM_ERROR) return HM_ERROR;
    if (m->sets[set].uni_next != set) return 0;
    uint32_t to = utf8_target(m, set);
    return to == HM_ERROR ? HM_ERROR : to == set;
}

/* A family: sets closed under a byte set U. Every member steps every byte of
 * U to a member (never dead), so any token spelled with U's bytes is allowed
 * from any member, however long. A string body is a family of one; an
 * unanchored pattern's body ("x*a+x*") or a key that is a known name or any
 * string are families of a few (the bytes move between members, never out).
 * Built per mask walk for the walk's state, when it allows most ASCII bytes
 * (a string-like state), so states that allow few (a value's start) pay
 * nothing. */
#define FAMILY_MAX 16
#define FAMILY_MIN_BYTES 64 /* ASCII bytes the state must allow to try */
#define FAMILY_UTF8_MAX 4   /* members, for the UTF-8 check (family_utf8) */
#define UNIFORM_MIN_BYTES 16 /* a walk's state with fewer first bytes is no string: no uniform step at its start */

typedef struct hm_family {
    uint64_t u[2];  /* U (ASCII only) */
    uint32_t n;     /* members, marked by the matcher's family_stamp */
    uint32_t mem[FAMILY_MAX];
    uint32_t utf8;  /* every multi-byte character leads each member into the family: 0 unknown, 1 yes, 2 no */
} hm_family;

static int popcount2(const uint64_t u[2]) { return (int)(hm_popcount64(u[0]) + hm_popcount64(u[1])); }

/* A fresh stamp: no set carries it yet. */
static uint32_t next_family_stamp(hive_grammar_matcher *m) {
    if (++m->family_stamp == 0) { /* wrapped: clear every mark */
        for (uint32_t i = 0; i < m->n_sets; i++) m->sets[i].family_stamp = 0;
        m->family_stamp = 1;
    }
    return m->family_stamp;
}

/* The family of `set` in f (f->n = 0: none); first: the ASCII bytes it
 * steps by. 0, or HM_ERROR at a limit. */
static uint32_t family_of(hive_grammar_matcher *m, uint32_t set, const uint64_t first[2], hm_family *f) {
    uint32_t stamp = next_family_stamp(m);
    f->n = 0, f->utf8 = 0;
    f->u[0] = first[0], f->u[1] = first[1]; /* the ASCII bytes `set` steps by (its stacks' classes) */
    if (popcount2(f->u) < FAMILY_MIN_BYTES) return 0;
    /* breadth first from `set` over U's bytes; a member with a byte of U
     * dead (a string's end, an escape) is taken out by removing the byte
     * that reached it from U, and the search starts over */
    uint8_t via[FAMILY_MAX];
    for (int restarts = 0; restarts < 32; restarts++) {
        if (restarts) stamp = next_family_stamp(m);
        f->n = 1, f->mem[0] = set, via[0] = 0;
        m->sets[set].family_stamp = stamp;
        int bad = 0;
        for (uint32_t k = 0; k < f->n && !bad; k++)
            for (int b = 0; b < 128 && !bad; b++) {
                if (!((f->u[b >> 6] >> (b & 63)) & 1)) continue;
                uint32_t g = hm_step(m, f->mem[k], (uint8_t)b);
                if (g == HM_ERROR) return HM_ERROR;
                if (g == HM_DEAD) {
                    uint8_t drop = k ? via[k] : (uint8_t)b; /* k = 0 never: U is what `set` allows */
                    f->u[drop >> 6] &= ~(1ull << (drop & 63));
                    bad = 1;
                } else if (m->sets[g].family_stamp != stamp) {
                    if (f->n == FAMILY_MAX) goto none;
                    m->sets[g].family_stamp = stamp;
                    via[f->n] = (uint8_t)b; /* the byte into it: removing it cuts it off */
                    f->mem[f->n++] = g;
                }
            }
        if (popcount2(f->u) < FAMILY_MIN_BYTES) goto none;
        if (!bad) return 0;
    }
none:
    next_family_stamp(m); /* unmarks the members */
    f->n = 0;
    return 0;
}

/* f->utf8: every member's multi-byte characters lead into the family (each
 * prefix alive). 1, 2 (no, or not checked), or HM_ERROR. */
static uint32_t family_utf8(hive_grammar_matcher *m, hm_family *f) {
    if (f->utf8) return f->utf8;
    /* each member's check explores its own multi-byte states (hundreds of
     * transitions): a big family (a key that may be a known name or any
     * other string) costs more than walking its characters */
    if (f->n > FAMILY_UTF8_MAX) return f->utf8 = 2;
    uint32_t res = 1;
    for (uint32_t k = 0; k < f->n && res == 1; k++) {
        uint32_t to = utf8_target(m, f->mem[k]);
        if (to == HM_ERROR) return HM_ERROR;
        if (to == HM_DEAD || m->sets[to].family_stamp != m->family_stamp) res = 2;
    }
    return f->utf8 = res;
}

/* Sets bits [a, b) of a bit array. */
static void set_range(uint64_t *bits, uint32_t a, uint32_t b) {
    if (a >= b) return;
    uint32_t wa = a >> 6, wb = (b - 1) >> 6;
    uint64_t first = ~0ull << (a & 63), last = ~0ull >> (63 - ((b - 1) & 63));
    if (wa == wb) {
        bits[wa] |= first & last;
        return;
    }
    bits[wa] |= first;
    for (uint32_t w = wa + 1; w < wb; w++) bits[w] = ~0ull;
    bits[wb] |= last;
}

/* The mask by token id from one by trie position (tb, n_tok bits, n of
 * them set): when most tokens are allowed, start from every trie token and
 * clear the few that are not, else set the few that are. */
void hm_trie_bits_to_mask(const hive_grammar_vocab *v, const uint64_t *tb, uint32_t n, uint32_t *allowed) {
    uint32_t nw = (v->n_tok + 63) / 64;
    int most = n > v->n_tok / 2;
    if (most) memcpy(allowed, v->in_trie, words(v) * sizeof *allowed);
    else memset(allowed, 0, words(v) * sizeof *allowed);
    for (uint32_t w = 0; w < nw; w++) {
        uint64_t x = most ? ~tb[w] : tb[w];
        if (most && w == nw - 1 && (v->n_tok & 63)) x &= (1ull << (v->n_tok & 63)) - 1; /* past n_tok */
        for (; x; x &= x - 1) {
            uint32_t id = (uint32_t)v->tok_ids[w * 64 + (uint32_t)__builtin_ctzll(x)];
            if (most) allowed[id >> 5] &= ~(1u << (id & 31));
            else set_bit(allowed, id);
        }
    }
}

int hm_trie_walk(hive_grammar_matcher *m, uint32_t cur, uint32_t i0, uint32_t i1, uint64_t *tb,
                 const hg_class *follow, uint32_t *n_out) {
    const hive_grammar_vocab *v = m->v;
    uint32_t *st = m->trie_state, n_allowed = 0, lo = UINT32_MAX, hi = 0; /* trie positions written (preorder: ascending) */
    const uint32_t **nx = m->trie_next; /* m->sets[st[d]].next, without the loads through the set */
    uint8_t *ctx = m->trie_ctx;
    const uint32_t d0 = i0 < i1 ? v->depth[i0] : 1; /* the walk's first level */
    st[d0 - 1] = cur;
    nx[d0 - 1] = m->sets[cur].next;
    if (follow) ctx[d0 - 1] = 0;
    /* the first bytes allowed: the stacks' terminals' classes (a first
     * visit then skips the trie root's dead children without stepping) */
    hg_class first = {{0, 0, 0, 0}};
    const hm_set *cs = &m->sets[cur];
    for (uint32_t k = 0; k < cs->len; k++) {
        uint32_t id = m->pool[cs->off + k];
        if (!id) continue;
        const hg_class *c = &m->g->classes[m->g->elems[m->nodes[id].pos].val];
        for (int w = 0; w < 4; w++) first.bits[w] |= c->bits[w];
    }
    /* so a bounded string's first position chains (few bytes: no string) */
    if (popcount2(first.bits) >= UNIFORM_MIN_BYTES && uniform_step(m, cur) == HM_ERROR) return -1;
    hm_family fam;
    if (family_of(m, cur, first.bits, &fam) == HM_ERROR) return -1;
    const uint32_t stamp = m->family_stamp;
    for (uint32_t i = i0; i < i1;) {
        uint32_t d = v->depth[i];
        const uint32_t *next = nx[d - 1]; /* the common case without a call */
        uint32_t t = next ? next[v->byte[i]] : HM_UNKNOWN;
        if (t == HM_UNKNOWN) {
            t = d == d0 && !hg_class_has(&first, v->byte[i]) ? HM_DEAD : hm_step(m, st[d - 1], v->byte[i]);
            nx[d - 1] = m->sets[st[d - 1]].next; /* hm_step may have made the table */
        }
        if (t == HM_ERROR) return -1;
        if (follow) { /* a path that left the rule (an accepting set) continues with a byte that may follow it */
            const hm_set *ps = &m->sets[st[d - 1]];
            uint8_t c = ctx[d - 1] || (ps->len && !m->pool[ps->off] && hg_class_has(follow, v->byte[i]));
            if (t == HM_DEAD && c && hm_unc_root(m, i)) return -1;
            ctx[d] = c;
        }
        if (t == HM_DEAD) {
            i = v->subtree_end[i];
            continue;
        }
        st[d] = t;
        nx[d] = m->sets[t].next;
        const uint64_t *below = v->below[i];
        const uint8_t u8 = v->utf8[i];
        uint32_t whole = 0;
        if (fam.n && !(below[0] & ~fam.u[0]) && !(below[1] & ~fam.u[1])) {
            /* inside the family with only its bytes below: allowed whole if
             * ASCII, else if valid UTF-8 from a character boundary (or from
             * this node's lead byte, out of a member) whose characters keep
             * the family */
            int in = m->sets[t].family_stamp == stamp;
            if (in && !(u8 & HM_UTF8_HIGH)) whole = 1;
            else if (!(u8 & HM_UTF8_INVALID) &&
                     ((in && (u8 & HM_UTF8_BOUNDARY)) ||
                      ((u8 & HM_UTF8_LEAD) && m->sets[st[d - 1]].family_stamp == stamp)) &&
                     (fam.utf8 || v->subtree_end[i] - i >= UTF8_SKIP_MIN_NODES)) {
                uint32_t r = family_utf8(m, &fam);
                if (r == HM_ERROR) return -1;
                whole = r == 1;
            }
        }
        if (!whole && (u8 & HM_UTF8_LEAD) && !(u8 & HM_UTF8_INVALID)) {
            /* a multi-byte character starts here: when every character
             * takes the parent to one body that takes any character, the
             * subtree is allowed whole if its ASCII bytes are the body's */
            uint32_t p = st[d - 1];
            if (m->sets[p].utf8_known || v->subtree_end[i] - i >= UTF8_SKIP_MIN_NODES) {
                uint32_t to = utf8_target(m, p);
                if (to == HM_ERROR) return -1;
                if (to != HM_DEAD) {
                    uint32_t body = any_char_body(m, to);
                    if (body == HM_ERROR) return -1;
                    whole = body && !(below[0] & ~m->sets[to].uni[0]) && !(below[1] & ~m->sets[to].uni[1]);
                }
            }
        }
        const hm_set *ps = &m->sets[st[d - 1]];
        int chained = ps->uni_known && t == ps->uni_next; /* a step along a uniform chain */
        /* or back into a known body (after a multi-byte character) */
        int body = m->sets[t].uni_known && m->sets[t].uni_next == t;
        if (!whole && (t == st[d - 1] || chained || body) && (below[0] | below[1] | (u8 & HM_UTF8_HIGH))) {
            /* a string body or a bounded string's next position: if every
             * token below stays on the chain, the subtree is allowed whole */
            if (uniform_step(m, t) == HM_ERROR) return -1;
            uint32_t run = uniform_run(m, t, v->max_depth);
            const hm_set *ts = &m->sets[t];
            if (!(below[0] & ~ts->uni[0]) && !(below[1] & ~ts->uni[1])) {
                if (!(u8 & HM_UTF8_HIGH)) whole = v->height[i] <= run;
                /* non-ASCII below: valid UTF-8 from a character boundary,
                 * into a body that takes any character */
                else if (ts->uni_next == t && (u8 & HM_UTF8_BOUNDARY) && !(u8 & HM_UTF8_INVALID) &&
                         (ts->utf8_known || v->subtree_end[i] - i >= UTF8_SKIP_MIN_NODES)) {
                    uint32_t r = utf8_target(m, t);
                    if (r == HM_ERROR) return -1;
                    whole = r == t;
                }
            }
        }
        if (whole) {
            uint32_t end = v->subtree_end[i];
            uint32_t k1 = end < v->n_nodes ? v->tok_first[end] : v->n_tok;
            set_range(tb, v->tok_first[i], k1);
            if (k1 > v->tok_first[i]) lo = lo < v->tok_first[i] ? lo : v->tok_first[i], hi = k1;
            n_allowed += k1 - v->tok_first[i]; /* ranges never overlap: each node is visited or skipped once */
            i = end;
            continue;
        }
        if (v->tok_count[i]) {
            set_range(tb, v->tok_first[i], v->tok_first[i] + v->tok_count[i]);
            lo = lo < v->tok_first[i] ? lo : v->tok_first[i], hi = v->tok_first[i] + v->tok_count[i];
        }
        n_allowed += v->tok_count[i];
        i++;
    }
    *n_out = n_allowed;
    m->walk_lo = lo < hi ? lo : 0, m->walk_hi = hi;
    return 0;
}

size_t hive_grammar_matcher_fill_mask(hive_grammar_matcher *m, uint32_t *allowed, hive_error **err) {
    const hive_grammar_vocab *v = m->v;
    if (!v) {
        hive_fail(err, HIVE_E_INVALID, "the matcher has no vocabulary");
        return 0;
    }
    uint32_t cur = hm_current(m);
    const hm_set *cs = &m->sets[cur];
    if (cs->mask) {
        memcpy(allowed, cs->mask, words(v) * sizeof *allowed);
        return cs->n_allowed;
    }
    hm_begin_call(m);
    uint32_t n_allowed = 0;
    if (hm_mask_shared(m, cur, allowed, &n_allowed)) { /* another matcher of the grammar met this set */
        cache_mask(m, cur, allowed, n_allowed);
        return n_allowed;
    }
    int r = hm_mask_from_rows(m, cur, allowed, &n_allowed);
    if (r < 0) goto limit;
    if (!r) {
        uint64_t *tb = m->trie_bits;
        memset(tb, 0, ((size_t)v->n_tok / 64 + 1) * sizeof *tb);
        if (hm_trie_walk(m, cur, 0, v->n_nodes, tb, NULL, &n_allowed)) goto limit;
        hm_trie_bits_to_mask(v, tb, n_allowed, allowed);
        if (hm_set_accepting(m, cur))
            for (size_t k = 0; k < v->n_end; k++) set_bit(allowed, (uint32_t)v->end_ids[k]), n_allowed++;
    }
    hm_mask_share(m, allowed, n_allowed);
    cache_mask(m, cur, allowed, n_allowed);
    return n_allowed;
limit: /* a parse limit (matcher_impl.h) was hit: the message says which */
    hive_fail(err, HIVE_E_INVALID, "%s", m->limit_msg);
    return 0;
}

hive_status hive_grammar_fill_masks(hive_grammar_matcher *const *rows, uint32_t *const *allowed, size_t n_rows,
                                    hive_error **err) {
    hive_error **errs = calloc(n_rows ? n_rows : 1, sizeof *errs);
    if (!errs) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    /* rows are independent (each matcher has its own caches) */
#pragma omp parallel for schedule(dynamic, 1) if (n_rows > 1)
    for (long i = 0; i < (long)n_rows; i++)
        if (rows[i]) hive_grammar_matcher_fill_mask(rows[i], allowed[i], &errs[i]);
    hive_status st = HIVE_OK;
    for (size_t i = 0; i < n_rows; i++) {
        if (errs[i] && st == HIVE_OK) {
            st = errs[i]->code;
            hive_error_prefix(errs[i], "row %zu", i);
            if (err) *err = errs[i], errs[i] = NULL;
        }
        hive_error_free(errs[i]);
    }
    free(errs);
    return st;
}
