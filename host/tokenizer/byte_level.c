#include "tokenizer/byte_level.h"

#include <stdlib.h>
#include <string.h>

/* GPT-2's table: printable Latin-1 bytes stand for themselves; the other 68
 * bytes take 256, 257, ... in byte order: 0x00-0x20 -> 256-288,
 * 0x7F-0xA0 -> 289-322, 0xAD -> 323. */
uint32_t hive_bl_byte_to_cp(uint8_t b) {
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return (uint32_t)b + 162u;
    if (b == 0xAD) return 323;
    return b;
}

int hive_bl_cp_to_byte(uint32_t cp) {
    if (cp < 256) return (cp > 0x20 && !(cp >= 0x7F && cp <= 0xA0) && cp != 0xAD) ? (int)cp : -1;
    if (cp <= 288) return (int)(cp - 256);
    if (cp <= 322) return (int)(cp - 162);
    if (cp == 323) return 0xAD;
    return -1;
}

size_t hive_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Scans the sequence starting at s: returns its full length when complete and
 * valid; otherwise 0 and *valid_prefix = how many bytes form a valid start
 * (Unicode's "maximal subpart"), *truncated = 1 when only the end of input
 * cut it short. */
static size_t utf8_scan(const unsigned char *s, size_t n, size_t *valid_prefix, int *truncated) {
    unsigned char b = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    *truncated = 0;
    *valid_prefix = 1;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) need = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    for (size_t k = 1; k < need; k++) {
        if (k >= n) {
            *truncated = 1;
            *valid_prefix = k;
            return 0;
        }
        unsigned char c = s[k];
        if (c < lo || c > hi) {
            *valid_prefix = k;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}

size_t hive_utf8_get(const char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    size_t vp;
    int tr;
    const unsigned char *u = (const unsigned char *)s;
    size_t len = utf8_scan(u, n, &vp, &tr);
    if (!len) return 0;
    uint32_t c;
    if (len == 1) c = u[0];
    else if (len == 2) c = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    else if (len == 3) c = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    else
        c = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) |
            (u[3] & 0x3F);
    if (cp) *cp = c;
    return len;
}

size_t hive_utf8_incomplete_prefix(const char *s, size_t n) {
    if (n == 0) return 0;
    size_t vp;
    int tr;
    if (utf8_scan((const unsigned char *)s, n, &vp, &tr)) return 0;
    return tr ? vp : 0;
}

size_t hive_bl_decode(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = hive_utf8_get(s + i, n - i, &cp);
        int b = l ? hive_bl_cp_to_byte(cp) : -1;
        if (b < 0) {
            memcpy(out, s, n);
            return n;
        }
        out[o++] = (char)b;
        i += l;
    }
    return o;
}

size_t hive_bl_encode(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += hive_utf8_put(hive_bl_byte_to_cp((uint8_t)s[i]), out + o);
    return o;
}

int hive_buf_append(hive_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int hive_buf_append_lossy(hive_buf *b, const char *s, size_t n, int hold_tail, size_t *held) {
    static const char repl[] = "\xEF\xBF\xBD";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* [run, i) is valid text not yet copied */
    if (held) *held = 0;
    if (!n) return hive_buf_append(b, NULL, 0); /* s may be NULL: no arithmetic on it */
    while (i < n) {
        size_t vp;
        int tr;
        size_t len = utf8_scan(u + i, n - i, &vp, &tr);
        if (len) {
            i += len;
            continue;
        }
        if (hive_buf_append(b, s + run, i - run)) return -1;
        if (tr && hold_tail) {
            if (held) *held = n - i;
            return 0;
        }
        if (hive_buf_append(b, repl, 3)) return -1;
        i += vp;
        run = i;
    }
    return hive_buf_append(b, s + run, i - run);
}
