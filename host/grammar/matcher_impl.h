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
    uint64_t *trie_bits;  /* a mask under construction, by position in tok_ids (subtrees are ranges) */
    /* history of states: [0] is the start; rollback pops */
    uint32_t *hist;
    uint32_t n_hist, cap_hist;
    uint32_t work_left; /* closure steps left in this call (HM_MAX_WORK at each public call) */
    uint32_t family_stamp; /* bumped per mask walk (mask.c family_of) */
    char limit_msg[160];
};

/* The set reached from `set` by `byte`: a set id, HM_DEAD or HM_ERROR. */
uint32_t hm_step(hive_grammar_matcher *m, uint32_t set, uint8_t byte);
int hm_set_accepting(const hive_grammar_matcher *m, uint32_t set);
static inline uint32_t hm_current(const hive_grammar_matcher *m) { return m->hist[m->n_hist - 1]; }
static inline void hm_begin_call(hive_grammar_matcher *m) { m->work_left = HM_MAX_WORK; }

#endif
