/* Building a tokenizer from a vocab source, and simple look-ups. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"
#include "util/log.h"

static hive_status copy_tokens(hive_tokenizer *t, const hive_vocab_src *src, hive_error **err) {
    t->n_vocab = src->n_tokens;
    t->text = calloc(t->n_vocab ? t->n_vocab : 1, sizeof *t->text);
    t->len = calloc(t->n_vocab ? t->n_vocab : 1, sizeof *t->len);
    t->types = calloc(t->n_vocab ? t->n_vocab : 1, sizeof *t->types);
    t->by_text_nodes = calloc(t->n_vocab ? t->n_vocab : 1, sizeof *t->by_text_nodes);
    if (!t->text || !t->len || !t->types || !t->by_text_nodes) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        const hive_str *s = &src->tokens[i];
        t->text[i] = malloc(s->len + 1);
        if (!t->text[i]) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        if (s->len) memcpy(t->text[i], s->ptr, s->len);
        t->text[i][s->len] = 0;
        t->len[i] = (uint32_t)s->len;
        t->types[i] = src->types ? src->types[i] : HIVE_TOKEN_NORMAL;
        if (t->types[i] == HIVE_TOKEN_UNUSED && s->len == 0) continue;
        /* Duplicate strings: the first id wins (HF vocabularies are maps). */
        tok_by_text *e = NULL;
        HASH_FIND(hh, t->by_text, t->text[i], s->len, e);
        if (e) continue;
        e = &t->by_text_nodes[i];
        e->key = t->text[i];
        e->id = (int32_t)i;
        HASH_ADD_KEYPTR(hh, t->by_text, e->key, s->len, e);
    }
    for (unsigned b = 0; b < 256; b++) {
        char cp[4];
        size_t l = hive_utf8_put(hive_bl_byte_to_cp((uint8_t)b), cp);
        t->byte_id[b] = hive_tok_lookup(t, cp, l);
    }
    return HIVE_OK;
}

static hive_status copy_merges(hive_tokenizer *t, const hive_vocab_src *src, hive_error **err) {
    if (hive_merge_table_init(&t->merges, src->n_merges)) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    uint32_t skipped = 0;
    char *joined = NULL;
    size_t joined_cap = 0;
    for (uint32_t r = 0; r < src->n_merges; r++) {
        const char *m = src->merges[r].ptr;
        size_t n = src->merges[r].len;
        /* "left right": the separator is the first space after the first
         * character (byte-level tokens never contain a plain space). */
        const char *sp = n > 1 ? memchr(m + 1, ' ', n - 1) : NULL;
        if (!sp) {
            skipped++;
            continue;
        }
        size_t ln = (size_t)(sp - m), rn = n - ln - 1;
        if (ln + rn + 1 > joined_cap) {
            joined_cap = (ln + rn + 1) * 2;
            char *j = realloc(joined, joined_cap);
            if (!j) {
                free(joined);
                return hive_fail(err, HIVE_E_NOMEM, "out of memory");
            }
            joined = j;
        }
        memcpy(joined, m, ln);
        memcpy(joined + ln, sp + 1, rn);
        int32_t a = hive_tok_lookup(t, m, ln), b = hive_tok_lookup(t, sp + 1, rn);
        int32_t ab = hive_tok_lookup(t, joined, ln + rn);
        if (a < 0 || b < 0 || ab < 0) {
            skipped++;
            continue;
        }
        hive_merge_table_add(&t->merges, hive_merge_key(a, b), (int32_t)r, ab);
    }
    free(joined);
    if (skipped) HLOG_WARN("tokenizer: %u of %u merges name tokens not in the vocabulary; ignored", skipped,
                           src->n_merges);
    return HIVE_OK;
}

static int added_cmp(const void *pa, const void *pb) {
    const tok_added *a = pa, *b = pb;
    uint8_t x = (uint8_t)a->text[0], y = (uint8_t)b->text[0];
    if (x != y) return x < y ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static hive_status collect_added(hive_tokenizer *t, hive_error **err) {
    size_t n = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++)
        if ((t->types[i] == HIVE_TOKEN_CONTROL || t->types[i] == HIVE_TOKEN_USER_DEFINED) && t->len[i]) n++;
    t->added = calloc(n ? n : 1, sizeof *t->added);
    if (!t->added) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        if (!((t->types[i] == HIVE_TOKEN_CONTROL || t->types[i] == HIVE_TOKEN_USER_DEFINED) && t->len[i])) continue;
        tok_added *a = &t->added[t->n_added++];
        a->id = (int32_t)i;
        a->special = t->types[i] == HIVE_TOKEN_CONTROL;
        a->text = t->text[i];
        a->len = t->len[i];
    }
    qsort(t->added, t->n_added, sizeof *t->added, added_cmp);
    size_t k = 0;
    for (unsigned b = 0; b <= 256; b++) {
        while (k < t->n_added && (uint8_t)t->added[k].text[0] < b) k++;
        t->added_start[b] = k;
    }
    return HIVE_OK;
}

static int32_t valid_id(const hive_tokenizer *t, int32_t id) {
    return id >= 0 && (uint32_t)id < t->n_vocab ? id : -1;
}

hive_status hive_tokenizer_new(const hive_vocab_src *src, hive_tokenizer **out, hive_error **err) {
    if (!src || !out || (src->n_tokens && !src->tokens) || (src->n_merges && !src->merges))
        return hive_fail(err, HIVE_E_INVALID, "tokenizer: missing vocabulary");
    hive_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    hive_status st = copy_tokens(t, src, err);
    if (st == HIVE_OK) st = copy_merges(t, src, err);
    if (st == HIVE_OK) st = collect_added(t, err);
    if (st == HIVE_OK) st = hive_pretok_new(src->pre, &t->pretok, err);
    if (st != HIVE_OK) {
        hive_tokenizer_free(t);
        return st;
    }
    t->ignore_merges = hive_pretok_ignore_merges(t->pretok);
    t->bos = valid_id(t, src->bos_id);
    t->eos = valid_id(t, src->eos_id);
    t->pad = valid_id(t, src->pad_id);
    t->unk = valid_id(t, src->unk_id);
    t->eot = valid_id(t, src->eot_id);
    if (t->eot < 0) { /* GGUFs often leave eot unset; the ChatML/Llama-3 names say it */
        static const char *const names[] = {"<|im_end|>", "<|eot_id|>", "<end_of_turn>"};
        for (size_t i = 0; i < 3 && t->eot < 0; i++) t->eot = hive_tok_lookup(t, names[i], strlen(names[i]));
    }
    t->add_bos = src->add_bos;
    *out = t;
    return HIVE_OK;
}

void hive_tokenizer_free(hive_tokenizer *t) {
    if (!t) return;
    HASH_CLEAR(hh, t->by_text);
    if (t->text)
        for (uint32_t i = 0; i < t->n_vocab; i++) free(t->text[i]);
    free(t->text);
    free(t->len);
    free(t->types);
    free(t->by_text_nodes);
    hive_merge_table_free(&t->merges);
    free(t->added);
    hive_pretok_free(t->pretok);
    free(t);
}

uint32_t hive_tokenizer_n_vocab(const hive_tokenizer *t) { return t->n_vocab; }
int32_t hive_tokenizer_bos(const hive_tokenizer *t) { return t->bos; }
int32_t hive_tokenizer_eos(const hive_tokenizer *t) { return t->eos; }
int32_t hive_tokenizer_eot(const hive_tokenizer *t) { return t->eot; }

int hive_tokenizer_is_control(const hive_tokenizer *t, int32_t id) {
    return id >= 0 && (uint32_t)id < t->n_vocab && t->types[id] == HIVE_TOKEN_CONTROL;
}

/* Added tokens are spelled as raw text; normal ones in the byte alphabet. */
int32_t hive_tokenizer_token_id(const hive_tokenizer *t, const char *text) {
    size_t n = strlen(text);
    int32_t id = hive_tok_lookup(t, text, n);
    if (id >= 0 && (t->types[id] == HIVE_TOKEN_CONTROL || t->types[id] == HIVE_TOKEN_USER_DEFINED)) return id;
    if (n == 0) return -1;
    char *bl = malloc(2 * n);
    if (!bl) return -1;
    id = hive_tok_lookup(t, bl, hive_bl_encode(text, n, bl));
    free(bl);
    return id;
}
