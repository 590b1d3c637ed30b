/* The text a grammar forces next, as tokens: a draft for speculative
 * decoding (host/engine/speculate.c). A JSON schema spells its keys and
 * punctuation (`{"name":"`), the model only its values; those bytes need no
 * model to guess them. The target verifies every draft, so a guess here
 * never changes the output, only how many tokens one pass produces. */
#include "grammar/matcher_impl.h"

#define FORCED_MAX_BYTES 256

static int is_ws(int b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

/* The one byte the grammar allows in `set` apart from whitespace, or -1: none
 * or several, or the input may end here. Whitespace is never forced: where a
 * grammar allows only whitespace (SQL between two keywords), a BPE model
 * writes it at the start of the next word's token, which is not known yet. */
static int forced_byte(const hive_grammar_matcher *m, uint32_t set) {
    if (hm_set_accepting(m, set)) return -1;
    const hm_set *s = &m->sets[set];
    hg_class u = {{0, 0, 0, 0}};
    for (uint32_t i = 0; i < s->len; i++) {
        uint32_t id = m->pool[s->off + i];
        if (!id) continue;
        const hg_class *c = &m->g->classes[m->g->elems[m->nodes[id].pos].val];
        for (int w = 0; w < 4; w++) u.bits[w] |= c->bits[w];
    }
    int only = -1, n = 0;
    for (int b = 0; b < 256; b++)
        if (hg_class_has(&u, (uint8_t)b) && !is_ws(b)) only = b, n++;
    return n == 1 ? only : -1;
}

/* The longest token spelling a prefix of bytes[0..len) (-1: none), its
 * length in *used and its trie node in *node. */
static int32_t longest_token(const hive_grammar_vocab *v, const uint8_t *bytes, size_t len, size_t *used,
                             uint32_t *node) {
    int32_t best = -1;
    uint32_t lo = 0, hi = v->n_nodes; /* the current node's children: siblings from lo, by subtree_end */
    for (size_t d = 0; d < len; d++) {
        uint32_t j = lo;
        while (j < hi && v->byte[j] != bytes[d]) j = v->subtree_end[j];
        if (j >= hi) break;
        if (v->tok_count[j]) best = v->tok_ids[v->tok_first[j]], *used = d + 1, *node = j;
        lo = j + 1, hi = v->subtree_end[j];
    }
    return best;
}

/* Whether a token longer than trie node `node`'s may go on from state `set`
 * (where the node's bytes lead): some child's byte is alive there. */
static int may_go_on(hive_grammar_matcher *m, uint32_t node, uint32_t set) {
    const hive_grammar_vocab *v = m->v;
    for (uint32_t j = node + 1; j < v->subtree_end[node]; j = v->subtree_end[j]) {
        uint32_t next = hm_step(m, set, v->byte[j]);
        if (next != HM_DEAD) return 1; /* HM_ERROR too: unsure, so not forced */
    }
    return 0;
}

size_t hive_grammar_matcher_forced_tokens(hive_grammar_matcher *m, int32_t *out, size_t max) {
    uint8_t bytes[FORCED_MAX_BYTES];
    size_t n_bytes = 0, n = 0;
    if (!m->v) return 0; /* a matcher fed bytes only has no tokens to spell them with */
    uint32_t set = hm_current(m);
    hm_begin_call(m);
    while (n_bytes < sizeof bytes) {
        int b = forced_byte(m, set);
        if (b < 0) break;
        uint32_t next = hm_step(m, set, (uint8_t)b);
        if (next == HM_DEAD || next == HM_ERROR) break;
        bytes[n_bytes++] = (uint8_t)b;
        set = next;
    }
    size_t at = 0;
    uint32_t node = 0;
    while (at < n_bytes && n < max) {
        size_t used = 0;
        int32_t t = longest_token(m->v, bytes + at, n_bytes - at, &used, &node);
        if (t < 0) break;
        out[n++] = t;
        at += used;
    }
    /* The last token ends where the free text starts: when a longer token
     * could run on into that text (COUNT's `(` where a model writes `(*`),
     * the tokenizer would likely have merged them, so it is left out. */
    if (n && at == n_bytes && may_go_on(m, node, set)) n--;
    return n;
}
