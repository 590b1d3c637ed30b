#include "engine/stop.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

struct hive_stop {
    char **strs;
    size_t *lens;
    size_t n;
    size_t max_len;
    char *buf;       /* text not yet handed out */
    size_t len, cap;
    size_t safe;     /* buf[0..safe) may be handed out */
    int matched;
};

hive_stop *hive_stop_new(const char *const *strs, size_t n, hive_error **err) {
    hive_stop *st = calloc(1, sizeof *st);
    if (!st) goto nomem;
    if (n) {
        st->strs = calloc(n, sizeof *st->strs);
        st->lens = calloc(n, sizeof *st->lens);
        if (!st->strs || !st->lens) goto nomem;
    }
    for (size_t i = 0; i < n; i++) {
        if (!strs[i] || !strs[i][0]) continue;
        size_t len = strlen(strs[i]);
        st->strs[st->n] = malloc(len);
        if (!st->strs[st->n]) goto nomem;
        memcpy(st->strs[st->n], strs[i], len);
        st->lens[st->n++] = len;
        if (len > st->max_len) st->max_len = len;
    }
    return st;
nomem:
    hive_stop_free(st);
    hive_fail(err, HIVE_E_NOMEM, "stop matcher for %zu strings: out of memory", n);
    return NULL;
}

void hive_stop_free(hive_stop *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) free(st->strs[i]);
    free(st->strs);
    free(st->lens);
    free(st->buf);
    free(st);
}

void hive_stop_reset(hive_stop *st) {
    st->len = st->safe = 0;
    st->matched = 0;
}

size_t hive_stop_pending(const hive_stop *st) { return st->len; }

/* Start of the earliest stop string in buf at or after `from`; len if none. */
static size_t find_earliest(const hive_stop *st, size_t from) {
    for (size_t i = from; i < st->len; i++)
        for (size_t s = 0; s < st->n; s++)
            if (st->lens[s] <= st->len - i && memcmp(st->buf + i, st->strs[s], st->lens[s]) == 0) return i;
    return st->len;
}

/* Length of the longest suffix of buf that is a proper prefix of some stop string. */
static size_t partial_suffix(const hive_stop *st) {
    size_t k = st->max_len ? st->max_len - 1 : 0;
    if (k > st->len) k = st->len;
    for (; k > 0; k--)
        for (size_t s = 0; s < st->n; s++)
            if (st->lens[s] > k && memcmp(st->buf + st->len - k, st->strs[s], k) == 0) return k;
    return 0;
}

/* Where a trailing incomplete UTF-8 sequence starts; len if the tail is complete.
 * Invalid bytes are not held: only a lead byte still waiting for its continuations. */
static size_t utf8_complete_len(const char *buf, size_t len) {
    for (size_t back = 1; back <= 4 && back <= len; back++) {
        unsigned char b = (unsigned char)buf[len - back];
        if ((b & 0xC0) == 0x80) continue; /* continuation byte: keep looking for the lead */
        size_t need = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
        return back < need ? len - back : len;
    }
    return len;
}

static int append(hive_stop *st, const char *chunk, size_t len) {
    if (st->len + len > st->cap) {
        size_t cap = st->cap ? st->cap : 64;
        while (cap < st->len + len) cap *= 2;
        char *buf = realloc(st->buf, cap);
        if (!buf) return 0;
        st->buf = buf;
        st->cap = cap;
    }
    if (len) memcpy(st->buf + st->len, chunk, len);
    st->len += len;
    return 1;
}

/* Hands out up to cap of the safe bytes and drops them from the buffer. */
static size_t emit(hive_stop *st, char *out, size_t cap) {
    size_t m = st->safe < cap ? st->safe : cap;
    if (m == 0) return 0;
    memcpy(out, st->buf, m);
    memmove(st->buf, st->buf + m, st->len - m);
    st->len -= m;
    st->safe -= m;
    return m;
}

size_t hive_stop_feed(hive_stop *st, const char *chunk, size_t len, char *out, size_t cap, int *matched) {
    if (!st->matched && len) {
        size_t old_len = st->len;
        if (!append(st, chunk, len)) {
            if (matched) *matched = 0;
            return 0;
        }
        /* The old buffer held no complete match, so a new one must end in the chunk. */
        size_t from = old_len + 1 > st->max_len ? old_len + 1 - st->max_len : 0;
        size_t at = find_earliest(st, from);
        if (at < st->len) {
            st->len = st->safe = at;
            st->matched = 1;
        } else {
            size_t safe = st->len - partial_suffix(st);
            size_t whole = utf8_complete_len(st->buf, st->len);
            st->safe = safe < whole ? safe : whole;
        }
    }
    if (matched) *matched = st->matched;
    return emit(st, out, cap);
}

size_t hive_stop_flush(hive_stop *st, char *out, size_t cap) {
    st->safe = st->len;
    return emit(st, out, cap);
}
