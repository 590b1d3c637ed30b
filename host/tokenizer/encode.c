/* Encoding: added tokens are cut out of the raw text first (leftmost match,
 * longest at that position, as HF's added-vocabulary split), then each stretch
 * between them is pre-tokenized and BPE'd. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"

/* The added token that starts at s (longest if several), or NULL. */
static const tok_added *added_at(const hive_tokenizer *t, const char *s, size_t n, int parse_special) {
    uint8_t b = (uint8_t)s[0];
    const tok_added *best = NULL;
    for (size_t k = t->added_start[b]; k < t->added_start[b + 1]; k++) {
        const tok_added *a = &t->added[k];
        if (a->special && !parse_special) continue;
        if (a->len > n || (best && a->len <= best->len)) continue;
        if (!memcmp(s, a->text, a->len)) best = a;
    }
    return best;
}

typedef struct piece_ctx {
    const hive_tokenizer *t;
    tok_ids *ids;
} piece_ctx;

static int on_piece(void *ctx, const char *s, size_t n) {
    piece_ctx *c = ctx;
    return hive_tok_bpe_piece(c->t, s, n, c->ids);
}

static hive_status encode_plain(const hive_tokenizer *t, const char *s, size_t n, tok_ids *ids, hive_error **err) {
    if (n == 0) return HIVE_OK;
    piece_ctx c = {t, ids};
    return hive_pretok_split(t->pretok, s, n, on_piece, &c, err);
}

hive_status hive_tokenizer_encode(const hive_tokenizer *t, const char *text, size_t len, int parse_special,
                                  int add_bos, int32_t **ids_out, size_t *n_out, hive_error **err) {
    if (!t || (!text && len) || !ids_out || !n_out) return hive_fail(err, HIVE_E_INVALID, "encode: bad arguments");
    tok_ids ids = {0};
    hive_status st = HIVE_OK;
    if (add_bos < 0) add_bos = t->add_bos;
    if (add_bos && t->bos >= 0 && hive_tok_ids_push(&ids, t->bos)) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    size_t start = 0; /* plain text not yet encoded begins here */
    for (size_t i = 0; st == HIVE_OK && i < len;) {
        const tok_added *a = t->n_added ? added_at(t, text + i, len - i, parse_special) : NULL;
        if (!a) {
            i++;
            continue;
        }
        st = encode_plain(t, text + start, i - start, &ids, err);
        if (st == HIVE_OK && hive_tok_ids_push(&ids, a->id)) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
        i += a->len;
        start = i;
    }
    if (st == HIVE_OK) st = encode_plain(t, text + start, len - start, &ids, err);
    if (st != HIVE_OK) {
        free(ids.v);
        return st;
    }
    if (!ids.v && !(ids.v = malloc(sizeof *ids.v))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    *ids_out = ids.v;
    *n_out = ids.n;
    return HIVE_OK;
}
