/* Code point classes as UTF-8 byte sequences, and the GBNF text buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_impl.h"

size_t hg_utf8_encode(uint32_t cp, uint8_t *o) {
    if (cp < 0x80) return o[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12), o[1] = (uint8_t)(0x80 | ((cp >> 6) & 63)), o[2] = (uint8_t)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18), o[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 63)), o[3] = (uint8_t)(0x80 | (cp & 63));
    return 4;
}

size_t hg_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    if (!n) return 0;
    uint8_t c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || len > n) return 0;
    uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 63u);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int hg_utf8_valid(const char *s, size_t n) {
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t l = hg_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

static int cmp_range(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

size_t hg_ranges_normalize(uint32_t *lo, uint32_t *hi, size_t n) {
    if (!n) return 0;
    uint32_t(*p)[2] = malloc(n * sizeof *p);
    if (!p) return n; /* unsorted but still correct for membership */
    for (size_t i = 0; i < n; i++) p[i][0] = lo[i], p[i][1] = hi[i];
    qsort(p, n, sizeof *p, cmp_range);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && p[i][0] <= hi[m - 1] + 1) {
            if (p[i][1] > hi[m - 1]) hi[m - 1] = p[i][1];
        } else {
            lo[m] = p[i][0], hi[m] = p[i][1], m++;
        }
    }
    free(p);
    return m;
}

size_t hg_ranges_complement(const uint32_t *lo, const uint32_t *hi, size_t n, uint32_t *olo, uint32_t *ohi) {
    size_t m = 0;
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (lo[i] > next) olo[m] = next, ohi[m] = lo[i] - 1, m++;
        next = hi[i] + 1;
    }
    if (next <= 0x10FFFF) olo[m] = next, ohi[m] = 0x10FFFF, m++;
    return m;
}

/* One alternative: a sequence of byte ranges (the utf8-ranges algorithm:
 * split [lo, hi] until every byte position is an independent range). */
typedef struct seq_sink {
    hg_builder *b;
    int32_t rule;
    hg_class ascii;
    int has_ascii;
} seq_sink;

static void emit_ranges(seq_sink *k, const uint8_t *lo, const uint8_t *hi, size_t len) {
    if (len == 1) {
        for (unsigned c = lo[0]; c <= hi[0]; c++) k->ascii.bits[c >> 6] |= 1ull << (c & 63);
        k->has_ascii = 1;
        return;
    }
    hg_seq s = {0};
    for (size_t i = 0; i < len; i++) {
        hg_class c = {{0}};
        for (unsigned x = lo[i]; x <= hi[i]; x++) c.bits[x >> 6] |= 1ull << (x & 63);
        int32_t id = hg_class_id(k->b, &c);
        if (id < 0 || hg_seq_push(k->b, &s, HG_TERM, (uint32_t)id)) {
            hg_seq_free(&s);
            return;
        }
    }
    if (hg_rule_add_alt(k->b, k->rule, &s)) hg_seq_free(&s);
}

static void split_range(seq_sink *k, uint32_t lo, uint32_t hi, int depth) {
    if (lo > hi || hg_failed(k->b) || depth > 64) return;
    static const uint32_t bounds[] = {0x7F, 0x7FF, 0xFFFF};
    for (int i = 0; i < 3; i++)
        if (lo <= bounds[i] && hi > bounds[i]) {
            split_range(k, lo, bounds[i], depth + 1);
            split_range(k, bounds[i] + 1, hi, depth + 1);
            return;
        }
    if (lo <= 0xDFFF && hi >= 0xD800) { /* surrogates are not characters */
        if (lo < 0xD800) split_range(k, lo, 0xD7FF, depth + 1);
        if (hi > 0xDFFF) split_range(k, 0xE000, hi, depth + 1);
        return;
    }
    if (hi >= 0x80)
        for (int i = 1; i < 4; i++) {
            uint32_t m = (1u << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m)) {
                if ((lo & m) != 0) {
                    split_range(k, lo, lo | m, depth + 1);
                    split_range(k, (lo | m) + 1, hi, depth + 1);
                    return;
                }
                if ((hi & m) != m) {
                    split_range(k, lo, (hi & ~m) - 1, depth + 1);
                    split_range(k, hi & ~m, hi, depth + 1);
                    return;
                }
            }
        }
    uint8_t a[4], z[4];
    size_t n = hg_utf8_encode(lo, a);
    hg_utf8_encode(hi, z);
    emit_ranges(k, a, z, n);
}

int hg_seq_push_codepoints(hg_builder *b, hg_seq *s, const uint32_t *lo, const uint32_t *hi, size_t n,
                           const char *base) {
    int ascii_only = 1;
    for (size_t i = 0; i < n; i++)
        if (hi[i] >= 0x80) ascii_only = 0;
    if (ascii_only) {
        hg_class c = {{0}};
        for (size_t i = 0; i < n; i++)
            for (uint32_t x = lo[i]; x <= hi[i]; x++) c.bits[x >> 6] |= 1ull << (x & 63);
        int32_t id = hg_class_id(b, &c);
        return id < 0 ? -1 : hg_seq_push(b, s, HG_TERM, (uint32_t)id);
    }
    seq_sink k = {b, hg_rule_anon(b, base), {{0}}, 0};
    if (k.rule < 0) return -1;
    for (size_t i = 0; i < n; i++) split_range(&k, lo[i], hi[i], 0);
    if (k.has_ascii) {
        hg_seq a = {0};
        int32_t id = hg_class_id(b, &k.ascii);
        if (id < 0 || hg_seq_push(b, &a, HG_TERM, (uint32_t)id) || hg_rule_add_alt(b, k.rule, &a)) {
            hg_seq_free(&a);
            return -1;
        }
    }
    return hg_failed(b) ? -1 : hg_seq_push(b, s, HG_REF, (uint32_t)k.rule);
}

/* ---- text ---- */

void hg_text_put(hg_text *t, const char *s, size_t n) {
    if (t->oom) return;
    if (t->n + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + n + 1) cap *= 2;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->oom = 1;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = 0;
}

void hg_text_puts(hg_text *t, const char *s) { hg_text_put(t, s, strlen(s)); }

void hg_text_printf(hg_text *t, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof buf) {
        hg_text_put(t, buf, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        t->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    hg_text_put(t, big, (size_t)n);
    free(big);
}

void hg_text_literal(hg_text *t, const char *s, size_t n) {
    hg_text_put(t, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            hg_text_put(t, e, 2);
        } else if (c < 0x20 || c == 0x7F) {
            hg_text_printf(t, "\\x%02X", c);
        } else {
            hg_text_put(t, (const char *)&c, 1);
        }
    }
    hg_text_put(t, "\"", 1);
}
