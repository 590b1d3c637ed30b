/* Matcher internals shared by matcher.c (states, transitions) and mask.c
 * (vocabulary trie, masks).
 *
 * A parse is a set of stacks (the Earley-style "stack set" of llama.cpp's
 * grammar engine). A stack is a persistent linked list of nodes interned by
 * (element position, parent node), so equal stacks are the same node id and
 * a set of stacks is a sorted array of ids. Sets are interned too: the parse
 * state is one set id, a byte moves it to another set id, and that
 * transition is remembered. Masks are a walk of the vocabulary trie over
 * these cached transitions, and the mask of a set is cached as well, so a
 * state seen before (a JSON string's body, say) costs a copy. */
#ifndef HIVE_GRAMMAR_MATCHER_IMPL_H
#define HIVE_GRAMMAR_MATCHER_IMPL_H

#include <stdint.h>

#include "grammar/grammar_impl.h"

#define HM_DEAD UINT32_MAX        /* transition to nothing: the byte is not allowed */
#define HM_ERROR (UINT32_MAX - 1) /* a limit was hit */

/* Per-matcher limits (docs/GRAMMAR.md "Limits"). */
#define HM_MAX_NODES (1u << 22)
#define HM_MAX_SETS (1u << 20)
#define HM_MAX_SET_SIZE 32768u     /* stacks alive at once (ambiguity, huge alternations) */
#define HM_MASK_CACHE_BYTES (64u << 20)
#define HM_MAX_WORK (1u << 21)     /* closure steps per call (accept, mask): bounds time on ambiguous grammars (~20-40 ms) */

typedef struct hm_node {
    uint32_t pos, parent; /* node 0: the empty stack (the root rule completed) */
    uint64_t h;           /* hash of the stack's positions, the same in every matcher (mask_cache.c) */
} hm_node;

typedef struct hm_set {
    uint32_t off, len; /* into the id pool; sorted node ids */
    uint32_t *mask;    /* cached mask, or NULL */
    uint32_t n_allowed;
    uint32_t *next;    /* 256 transitions (HM_UNKNOWN until computed), or NULL: the hash map */
    /* Its uniform step, once uni_known (mask.c): the ASCII bytes that all
     * lead to one set, uni_next (itself in a string body, the next position
     * in a bounded one), and uni_run, how many sets of that chain from this
     * one on share those bytes (UINT32_MAX: a self-loop). A trie subtree
     * spelled with them, no deeper than uni_run, is allowed whole. */
    uint64_t uni[2];
    uint32_t uni_next, uni_run, uni_known;
    /* Once utf8_known: the one set every valid multi-byte UTF-8 character
     * leads to from this one, every prefix of it alive on the way; HM_DEAD
     * when there is no such set (mask.c utf8_target). A self-loop whose
     * utf8_to is itself is a body that takes any character. */
    uint32_t utf8_to, utf8_known;
    uint32_t family_stamp; /* == the matcher's family_stamp: in the family of the mask being walked */
} hm_set;

#define HM_UNKNOWN (UINT32_MAX - 2)

#define HM_UTF8_BOUNDARY 1  /* the node's bytes from the root are whole UTF-8 characters */
#define HM_UTF8_HIGH 2      /* a byte >= 0x80 below the node */
#define HM_UTF8_INVALID 4   /* a path below it is not a valid UTF-8 prefix (from the root) */
#define HM_UTF8_LEAD 8      /* its own byte starts a multi-byte character (valid lead at a boundary) */
#define HM_MAX_DIRECT_SETS 16384u /* sets with a direct transition table (1 KiB each) */

/* Open-addressing map from a 64-bit key to a 32-bit value. */
typedef struct hm_map {
    uint64_t *keys;
    uint32_t *vals;
    uint32_t cap, n; /* cap is a power of two; key UINT64_MAX = empty */
} hm_map;

struct hive_grammar_vocab {
    uint32_t n_vocab;
    uint64_t uid; /* unique per vocabulary made: what a grammar's mask cache was built for */
    /* trie in preorder: node i has byte, depth (1 = child of the root), the
     * index one past its subtree, and the tokens whose bytes end there */
    uint32_t n_nodes, max_depth;
    uint8_t *byte;
    uint16_t *depth;
    uint32_t *subtree_end;
    uint32_t *tok_first; /* into tok_ids: the first token of the node's subtree (tokens sorted by bytes) */
    uint16_t *tok_count;
    int32_t *tok_ids;
    uint32_t n_tok;      /* tokens in the trie (tok_ids) */
    uint32_t *in_trie;   /* mask (by token id) of the tokens in the trie */
    /* the ASCII bytes below each node, how many levels its subtree goes
     * below it, and its HM_UTF8_* flags */
    uint64_t (*below)[2];
    uint16_t *height;
    uint8_t *utf8;
    /* every token's bytes, for accept() */
    uint32_t *tok_off, *tok_len;
    uint8_t *bytes;
    int32_t *end_ids;
    size_t n_end;
};

struct hive_grammar_matcher {
    const hive_grammar *g;
    const hive_grammar_vocab *v;
    hm_node *nodes;
    uint32_t n_nodes, cap_nodes;
    hm_map node_map; /* (pos, parent) -> node */
    uint32_t *pool;  /* set contents */
    size_t pool_len, pool_cap;
    hm_set *sets;
    uint32_t n_sets, cap_sets;
    hm_map set_map;   /* hash of contents -> first set with it (chained by probing) */
    hm_map trans;     /* (set << 8 | byte) -> set or HM_DEAD, for sets without `next` */
    uint32_t n_direct; /* sets with a `next` table */
    size_t mask_bytes; /* cached masks */
    /* scratch for one transition */
    uint64_t *work;
    uint32_t n_work, cap_work;
    uint32_t *out;
    uint32_t n_out, cap_out;
    hm_map seen;
    uint64_t *seen_keys; /* what `seen` holds, so clearing it costs its size, not its capacity */
    uint32_t n_seen_keys, cap_seen_keys;
    uint32_t *trie_state; /* per trie depth */
    const uint32_t **trie_next; /* per trie depth: that state's direct transition table, or NULL (mask.c) */
    uint64_t *trie_bits;  /* a mask under construction, by position in tok_ids (subtrees are ranges) */
    /* history of states: [0] is the start; rollback pops */
    uint32_t *hist;
    uint32_t n_hist, cap_hist;
    uint32_t work_left; /* closure steps left in this call (HM_MAX_WORK at each public call) */
    uint32_t family_stamp; /* bumped per mask walk (mask.c family_of) */
    /* the grammar's mask cache (mask_cache.c): this matcher's scratch
     * matcher for the cache's rows, and room to merge uncertain tokens */
    struct hive_grammar_matcher *rows_m;
    uint8_t *trie_ctx;  /* per trie depth: a path that left the row's rule may still be alive (rows_m only) */
    uint32_t *unc_buf;  /* a row walk's uncertain subtrees (trie nodes, ascending), or the merged ones of a mask */
    uint32_t n_unc, cap_unc, unc_tokens;
    uint32_t walk_lo, walk_hi; /* the trie positions the last hm_trie_walk wrote: [lo, hi) */
    uint32_t *key_buf;   /* the current set's stacks spelled out, its key in the grammar's cache */
    uint32_t key_n;      /* words in key_buf; 0: the set has no key (too big) */
    uint64_t key_hash;
    uint32_t rows_off;   /* tests: never use the cache (the uncached computation) */
    uint32_t row_masks;  /* masks the cache served (tests) */
    char limit_msg[160];
};

/* The set reached from `set` by `byte`: a set id, HM_DEAD or HM_ERROR. */
uint32_t hm_step(hive_grammar_matcher *m, uint32_t set, uint8_t byte);
int hm_set_accepting(const hive_grammar_matcher *m, uint32_t set);
/* The set of one stack for the mask cache's rows: the terminal at `pos`
 * over a frame at frame_pos (UINT32_MAX: none) over the empty stack, so
 * leaving the frame's rule reads as accepting; or HM_ERROR. */
uint32_t hm_stack_set(hive_grammar_matcher *m, uint32_t pos, uint32_t frame_pos);
/* The trie walk of a mask over trie nodes [i0, i1) (the whole trie, or one
 * subtree whose parent's state is `set`) into tb (by trie position, cleared
 * by the caller); *n_allowed counts them. With follow (row walks of the
 * mask cache), a subtree whose path left the row's rule (an accepting set
 * on the way) with a next byte in `follow`, then died, is recorded with
 * hm_unc_root instead of dropped. 0, or -1 at a limit (m->limit_msg). */
int hm_trie_walk(hive_grammar_matcher *m, uint32_t set, uint32_t i0, uint32_t i1, uint64_t *tb,
                 const hg_class *follow, uint32_t *n_allowed);
/* Records trie node i's subtree as uncertain (mask_cache.c); -1 without memory. */
int hm_unc_root(hive_grammar_matcher *m, uint32_t i);
/* The mask of `set` from the grammar's cache: 1 done (allowed, *n_allowed),
 * 0 the cache cannot serve it (walk the trie), -1 at a limit. */
int hm_mask_from_rows(hive_grammar_matcher *m, uint32_t set, uint32_t *allowed, uint32_t *n_allowed);
/* The grammar's cache of whole masks, by the set's stacks' contents (equal
 * in every matcher): 1 found (allowed, *n_allowed), 0 not; then
 * hm_mask_share stores the mask computed for that same set. */
int hm_mask_shared(hive_grammar_matcher *m, uint32_t set, uint32_t *allowed, uint32_t *n_allowed);
void hm_mask_share(hive_grammar_matcher *m, const uint32_t *allowed, uint32_t n_allowed);
/* Bytes a grammar's mask cache holds (0 before the first mask), of them
 * *fixed for its tables, and the budget a cache made from now on gets
 * (tests lower it; HM_ROW_CACHE_BYTES). */
size_t hm_row_cache_bytes(const hive_grammar *g, size_t *fixed);
extern size_t hm_row_cache_budget;
void hm_trie_bits_to_mask(const hive_grammar_vocab *v, const uint64_t *tb, uint32_t n, uint32_t *allowed);

/* Bits set in x (builds without -mpopcnt call a slow library routine). */
static inline uint32_t hm_popcount64(uint64_t x) {
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (uint32_t)((x * 0x0101010101010101ull) >> 56);
}

static inline uint32_t hm_current(const hive_grammar_matcher *m) { return m->hist[m->n_hist - 1]; }
static inline void hm_begin_call(hive_grammar_matcher *m) { m->work_left = HM_MAX_WORK; }

#endif
