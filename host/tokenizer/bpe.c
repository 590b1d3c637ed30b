/* Byte-level BPE on one pre-token piece. Same order as HF tokenizers' BPE:
 * always apply the lowest-ranked merge present, the leftmost one on ties,
 * one at a time (a min-heap of candidate pairs, stale ones skipped). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"

int32_t hive_tok_lookup(const hive_tokenizer *t, const char *s, size_t n) {
    tok_by_text *e = NULL;
    HASH_FIND(hh, t->by_text, s, n, e);
    return e ? e->id : -1;
}

int hive_tok_ids_push(tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v) return -1;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

typedef struct bpe_sym {
    int32_t id;
    int32_t prev, next; /* -1 at the ends; id -1 once merged into its left */
} bpe_sym;

typedef struct bpe_cand {
    int32_t rank, pos;   /* order: rank, then position */
    int32_t left, right; /* ids when pushed: stale when they changed */
    int32_t merged;
} bpe_cand;

typedef struct bpe_heap {
    bpe_cand *v;
    size_t n, cap;
} bpe_heap;

static int cand_less(const bpe_cand *a, const bpe_cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static int heap_push(bpe_heap *h, bpe_cand c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 32;
        bpe_cand *v = realloc(h->v, cap * sizeof *v);
        if (!v) return -1;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!cand_less(&c, &h->v[up])) break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = c;
    return 0;
}

static bpe_cand heap_pop(bpe_heap *h) {
    bpe_cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const bpe_cand *best = &last;
        if (l < h->n && cand_less(&h->v[l], best)) {
            m = l;
            best = &h->v[l];
        }
        if (r < h->n && cand_less(&h->v[r], best)) m = r;
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static int push_pair(const hive_tokenizer *t, bpe_heap *h, const bpe_sym *sy, int32_t pos) {
    int32_t nx = sy[pos].next;
    if (nx < 0) return 0;
    const hive_merge_slot *m = hive_merge_table_find(&t->merges, hive_merge_key(sy[pos].id, sy[nx].id));
    if (!m) return 0;
    bpe_cand c = {m->rank, pos, sy[pos].id, sy[nx].id, m->merged};
    return heap_push(h, c);
}

int hive_tok_bpe_piece(const hive_tokenizer *t, const char *s, size_t n, tok_ids *out) {
    if (n == 0) return 0;
    if (t->ignore_merges) {
        /* Llama-3 style: a piece that is already a token is taken whole. */
        char stack[256];
        char *bl = 2 * n <= sizeof stack ? stack : malloc(2 * n);
        if (!bl) return -1;
        size_t bn = hive_bl_encode(s, n, bl);
        int32_t id = hive_tok_lookup(t, bl, bn);
        if (bl != stack) free(bl);
        if (id >= 0) return hive_tok_ids_push(out, id);
    }
    bpe_sym small[64];
    bpe_sym *sy = n <= 64 ? small : malloc(n * sizeof *sy);
    if (!sy) return -1;
    int32_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[(uint8_t)s[i]];
        if (id < 0) continue; /* HF BPE without unk_token drops unknown characters */
        sy[cnt].id = id;
        sy[cnt].prev = cnt - 1;
        sy[cnt].next = -1;
        if (cnt > 0) sy[cnt - 1].next = cnt;
        cnt++;
    }
    bpe_heap h = {0};
    int rc = 0;
    for (int32_t i = 0; i + 1 < cnt && !rc; i++) rc = push_pair(t, &h, sy, i);
    while (!rc && h.n) {
        bpe_cand c = heap_pop(&h);
        bpe_sym *a = &sy[c.pos];
        if (a->id != c.left || a->next < 0 || sy[a->next].id != c.right) continue; /* stale */
        bpe_sym *b = &sy[a->next];
        a->id = c.merged;
        a->next = b->next;
        if (b->next >= 0) sy[b->next].prev = c.pos;
        b->id = -1;
        if (a->prev >= 0) rc = push_pair(t, &h, sy, a->prev);
        if (!rc) rc = push_pair(t, &h, sy, c.pos);
    }
    for (int32_t i = cnt ? 0 : -1; !rc && i >= 0; i = sy[i].next) rc = hive_tok_ids_push(out, sy[i].id);
    free(h.v);
    if (sy != small) free(sy);
    return rc;
}
