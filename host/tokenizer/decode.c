/* Decoding ids back to text: byte-level tokens map back to their bytes,
 * added tokens are their own text; invalid UTF-8 becomes U+FFFD as in HF. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"

static int is_added(const hive_tokenizer *t, int32_t id) {
    return t->types[id] == HIVE_TOKEN_CONTROL || t->types[id] == HIVE_TOKEN_USER_DEFINED;
}

hive_status hive_tokenizer_token_bytes(const hive_tokenizer *t, int32_t id, char *buf, size_t cap, size_t *len) {
    if (!t || id < 0 || (uint32_t)id >= t->n_vocab) return HIVE_E_INVALID;
    const char *s = t->text[id];
    size_t n = t->len[id];
    char stack[256];
    char *tmp = n <= sizeof stack ? stack : malloc(n);
    if (!tmp) return HIVE_E_NOMEM;
    size_t m = is_added(t, id) ? (memcpy(tmp, s, n), n) : hive_bl_decode(s, n, tmp);
    if (len) *len = m;
    hive_status st = HIVE_OK;
    if (m > cap) st = HIVE_E_INVALID; /* *len says how much is needed */
    else if (m) memcpy(buf, tmp, m);
    if (tmp != stack) free(tmp);
    return st;
}

/* Appends the raw bytes of id to b (never longer than its vocab string). */
static int append_token(const hive_tokenizer *t, int32_t id, hive_buf *b) {
    size_t n = t->len[id], m = 0;
    if (hive_buf_append(b, t->text[id], n)) return -1; /* reserves room, then overwritten */
    b->len -= n;
    if (hive_tokenizer_token_bytes(t, id, b->data + b->len, n, &m) != HIVE_OK) return -1;
    b->len += m;
    b->data[b->len] = 0;
    return 0;
}

hive_status hive_tokenizer_decode(const hive_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                                  char **text, hive_error **err) {
    if (!t || (!ids && n) || !text) return hive_fail(err, HIVE_E_INVALID, "decode: bad arguments");
    hive_buf raw = {0}, out = {0};
    hive_status st = HIVE_OK;
    for (size_t i = 0; i < n && st == HIVE_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || (uint32_t)id >= t->n_vocab) {
            st = hive_fail(err, HIVE_E_INVALID, "decode: token id %d out of range [0, %u)", id, t->n_vocab);
            break;
        }
        if (skip_special && t->types[id] == HIVE_TOKEN_CONTROL) continue;
        if (append_token(t, id, &raw)) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    if (st == HIVE_OK && (hive_buf_append_lossy(&out, raw.data, raw.len, 0, NULL) || hive_buf_append(&out, NULL, 0)))
        st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    free(raw.data);
    if (st != HIVE_OK) {
        free(out.data);
        return st;
    }
    *text = out.data;
    return HIVE_OK;
}

void hive_detok_init(hive_detok *d, const hive_tokenizer *t, int skip_special) {
    memset(d, 0, sizeof *d);
    d->t = t;
    d->skip_special = skip_special;
}

/* Copies b into out (cap incl. NUL), cutting at a character boundary. */
static size_t copy_out(const hive_buf *b, char *out, size_t cap) {
    if (!out || cap == 0) return 0;
    size_t n = b->len < cap - 1 ? b->len : cap - 1;
    while (n < b->len && n > 0 && ((uint8_t)b->data[n] & 0xC0) == 0x80) n--;
    if (n) memcpy(out, b->data, n);
    out[n] = 0;
    return n;
}

size_t hive_detok_push(hive_detok *d, int32_t id, char *out, size_t cap) {
    const hive_tokenizer *t = d->t;
    if (out && cap) out[0] = 0;
    if (id < 0 || (uint32_t)id >= t->n_vocab) return 0;
    if (d->skip_special && t->types[id] == HIVE_TOKEN_CONTROL) return 0;
    hive_buf raw = {0}, txt = {0};
    size_t held = 0, w = 0;
    if (!hive_buf_append(&raw, d->pending, d->n_pending) && !append_token(t, id, &raw) &&
        !hive_buf_append_lossy(&txt, raw.data, raw.len, 1, &held)) {
        if (held > sizeof d->pending) held = 0; /* cannot happen: a truncated character is < 4 bytes */
        memcpy(d->pending, raw.data + raw.len - held, held);
        d->n_pending = held;
        w = copy_out(&txt, out, cap);
    }
    free(raw.data);
    free(txt.data);
    return w;
}

size_t hive_detok_flush(hive_detok *d, char *out, size_t cap) {
    hive_buf txt = {0};
    size_t w = 0;
    if (out && cap) out[0] = 0;
    if (d->n_pending && !hive_buf_append_lossy(&txt, d->pending, d->n_pending, 0, NULL)) w = copy_out(&txt, out, cap);
    d->n_pending = 0;
    free(txt.data);
    return w;
}
