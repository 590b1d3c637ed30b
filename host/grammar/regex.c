/* Regular expressions (ECMA-262 syntax, as JSON Schema uses) to GBNF:
 * alternation, groups, classes, escapes (\d \w \s ...), . and the
 * quantifiers * + ? {m} {m,} {m,n} (lazy forms match the same language).
 * Backreferences, lookaround and word boundaries are refused.
 *
 * Two outputs: raw (--regex: the whole output matches) and a JSON string's
 * body (JSON Schema "pattern": each character in its JSON-escaped form, the
 * pattern unanchored unless it starts with ^ / ends with $). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_schema_impl.h"
#include "util/error.h"

typedef struct rx {
    const char *start, *p, *end;
    int json;
    int depth;
    char *err;
    size_t errcap;
    int failed;
} rx;

static void rx_fail(rx *r, const char *msg) {
    if (r->failed) return;
    r->failed = 1;
    snprintf(r->err, r->errcap, "regex: %s (at offset %ld)", msg, (long)(r->p - r->start));
}

/* ---- code point sets ---- */

typedef struct cset {
    uint32_t lo[160], hi[160];
    size_t n;
} cset;

static void cs_add(rx *r, cset *s, uint32_t a, uint32_t b) {
    if (s->n == sizeof s->lo / sizeof s->lo[0]) {
        rx_fail(r, "character class too large");
        return;
    }
    s->lo[s->n] = a, s->hi[s->n] = b, s->n++;
}

static void cs_add_set(rx *r, cset *s, const cset *o) {
    for (size_t i = 0; i < o->n; i++) cs_add(r, s, o->lo[i], o->hi[i]);
}

static void cs_complement(cset *s) {
    s->n = hg_ranges_normalize(s->lo, s->hi, s->n);
    cset c;
    c.n = hg_ranges_complement(s->lo, s->hi, s->n, c.lo, c.hi);
    *s = c;
}

static void cs_builtin(rx *r, cset *s, char k) {
    cset t = {.n = 0};
    switch (k | 0x20) {
    case 'd': cs_add(r, &t, '0', '9'); break;
    case 'w':
        cs_add(r, &t, '0', '9'), cs_add(r, &t, 'A', 'Z'), cs_add(r, &t, 'a', 'z'), cs_add(r, &t, '_', '_');
        break;
    case 's':
        cs_add(r, &t, '\t', '\r'), cs_add(r, &t, ' ', ' '), cs_add(r, &t, 0xA0, 0xA0), cs_add(r, &t, 0x1680, 0x1680);
        cs_add(r, &t, 0x2000, 0x200A), cs_add(r, &t, 0x2028, 0x2029), cs_add(r, &t, 0x202F, 0x202F);
        cs_add(r, &t, 0x205F, 0x205F), cs_add(r, &t, 0x3000, 0x3000), cs_add(r, &t, 0xFEFF, 0xFEFF);
        break;
    }
    if (k >= 'A' && k <= 'Z') cs_complement(&t);
    cs_add_set(r, s, &t);
}

/* Writes the set as a GBNF expression (parenthesised alternatives). */
static void emit_set(rx *r, cset *s, hg_text *t) {
    s->n = hg_ranges_normalize(s->lo, s->hi, s->n);
    if (!s->n) {
        rx_fail(r, "a character class that matches nothing");
        return;
    }
    hg_text cls = {0};
    int alts = 0;
    hg_text_puts(t, "(");
    for (size_t i = 0; i < s->n; i++) {
        uint32_t a = s->lo[i], b = s->hi[i];
        if (r->json) { /* raw part: printable, not " or \ */
            for (uint32_t c = a; c <= b && c < 0x20; c++) {
                static const char *const named[] = {[8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r"};
                char esc[8];
                if (c < 14 && named[c]) snprintf(esc, sizeof esc, "%s", named[c]);
                else snprintf(esc, sizeof esc, "\\u%04x", c);
                hg_text_puts(t, alts++ ? " | " : "");
                hg_text_literal(t, esc, strlen(esc));
            }
            if (a <= '"' && b >= '"') hg_text_puts(t, alts++ ? " | \"\\\\\\\"\"" : "\"\\\\\\\"\"");
            if (a <= '\\' && b >= '\\') hg_text_puts(t, alts++ ? " | \"\\\\\\\\\"" : "\"\\\\\\\\\"");
            if (b < 0x20) continue;
            if (a < 0x20) a = 0x20;
            /* split around " and \ */
            uint32_t cuts[3][2] = {{a, b < '"' - 1 ? b : '"' - 1}, {a > '"' + 1 ? a : '"' + 1, b < '\\' - 1 ? b : '\\' - 1},
                                   {a > '\\' + 1 ? a : '\\' + 1, b}};
            for (int k = 0; k < 3; k++)
                if (cuts[k][0] <= cuts[k][1]) hg_text_printf(&cls, "\\U%08X-\\U%08X", cuts[k][0], cuts[k][1]);
        } else {
            hg_text_printf(&cls, "\\U%08X-\\U%08X", a, b);
        }
    }
    if (cls.s) hg_text_printf(t, "%s[%s]", alts++ ? " | " : "", cls.s);
    if (!alts) rx_fail(r, "a character class that matches nothing");
    hg_text_puts(t, ")");
    free(cls.s);
}

static void emit_char(rx *r, uint32_t c, hg_text *t) {
    cset s = {.n = 0};
    cs_add(r, &s, c, c);
    emit_set(r, &s, t);
}

static int hexv(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* After '\': one character, or a class letter (*cls set). */
static uint32_t parse_escape(rx *r, cset *cls, int *is_cls) {
    *is_cls = 0;
    if (r->p >= r->end) {
        rx_fail(r, "trailing backslash");
        return 0;
    }
    char c = *r->p++;
    switch (c) {
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
        *is_cls = 1;
        cs_builtin(r, cls, c);
        return 0;
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'f': return '\f';
    case 'v': return '\v';
    case '0': return 0;
    case 'x': case 'u': {
        int n = c == 'x' ? 2 : 4;
        uint32_t v = 0;
        if (c == 'u' && r->p < r->end && *r->p == '{') {
            r->p++;
            while (r->p < r->end && *r->p != '}' && hexv(*r->p) >= 0 && v <= 0x10FFFF) v = v * 16 + (uint32_t)hexv(*r->p++);
            if (r->p >= r->end || *r->p != '}') rx_fail(r, "bad \\u{...} escape");
            else r->p++;
        } else {
            for (int i = 0; i < n; i++) {
                if (r->p >= r->end || hexv(*r->p) < 0) {
                    rx_fail(r, "bad hex escape");
                    return 0;
                }
                v = v * 16 + (uint32_t)hexv(*r->p++);
            }
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) rx_fail(r, "escape is not a Unicode scalar value");
        return v;
    }
    case 'b': case 'B': rx_fail(r, "word boundaries (\\b, \\B) are not supported"); return 0;
    case 'p': case 'P': rx_fail(r, "Unicode property classes (\\p{...}) are not supported"); return 0;
    default:
        if (c >= '1' && c <= '9') {
            rx_fail(r, "backreferences are not supported");
            return 0;
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            rx_fail(r, "unknown escape");
            return 0;
        }
        return (uint8_t)c;
    }
}

static uint32_t next_cp(rx *r) {
    uint32_t cp = 0;
    size_t n = hg_utf8_decode((const uint8_t *)r->p, (size_t)(r->end - r->p), &cp);
    if (!n) {
        rx_fail(r, "invalid UTF-8");
        r->p = r->end;
        return 0;
    }
    r->p += n;
    return cp;
}

static void parse_class(rx *r, hg_text *t) {
    cset s = {.n = 0};
    int neg = 0;
    if (r->p < r->end && *r->p == '^') neg = 1, r->p++;
    while (!r->failed && r->p < r->end && *r->p != ']') {
        uint32_t a;
        int is_cls = 0;
        if (r->end - r->p >= 2 && r->p[0] == '\\' && r->p[1] == 'b') { /* backspace inside a class */
            r->p += 2;
            a = '\b';
        } else if (*r->p == '\\') {
            r->p++;
            a = parse_escape(r, &s, &is_cls);
            if (is_cls) continue;
        } else {
            a = next_cp(r);
        }
        uint32_t b = a;
        if (r->end - r->p >= 2 && r->p[0] == '-' && r->p[1] != ']') {
            r->p++;
            if (*r->p == '\\') {
                r->p++;
                b = parse_escape(r, &s, &is_cls);
                if (is_cls) {
                    rx_fail(r, "a class escape cannot end a range");
                    return;
                }
            } else {
                b = next_cp(r);
            }
            if (b < a) {
                rx_fail(r, "character range out of order");
                return;
            }
        }
        cs_add(r, &s, a, b);
    }
    if (r->p >= r->end) {
        rx_fail(r, "unterminated character class");
        return;
    }
    r->p++;
    if (neg) cs_complement(&s);
    emit_set(r, &s, t);
}

static void parse_alt(rx *r, hg_text *t, int top);

static int parse_count(rx *r, unsigned *v) {
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return -1;
    unsigned long x = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        x = x * 10 + (unsigned long)(*r->p++ - '0');
        if (x > 1000000) x = 1000000;
    }
    *v = (unsigned)x;
    return 0;
}

/* A quantifier after an atom; the atom's text starts at t->n = from. */
static void parse_quant(rx *r, hg_text *t) {
    if (r->p >= r->end) return;
    char c = *r->p;
    if (c == '*' || c == '+' || c == '?') {
        r->p++;
        hg_text_put(t, &c, 1);
    } else if (c == '{') {
        const char *save = r->p++;
        unsigned m, n = 0;
        int has_n = 0, comma = 0;
        if (parse_count(r, &m)) {
            r->p = save; /* a literal '{' */
            return;
        }
        if (r->p < r->end && *r->p == ',') {
            comma = 1, r->p++;
            if (!parse_count(r, &n)) has_n = 1;
        }
        if (r->p >= r->end || *r->p != '}') {
            r->p = save;
            return;
        }
        r->p++;
        if (!comma) hg_text_printf(t, "{%u}", m);
        else if (has_n) hg_text_printf(t, "{%u,%u}", m, n);
        else hg_text_printf(t, "{%u,}", m);
    } else {
        return;
    }
    if (r->p < r->end && *r->p == '?') r->p++; /* lazy: same language */
    if (r->p < r->end && (*r->p == '*' || *r->p == '+' || *r->p == '?' || *r->p == '{'))
        rx_fail(r, "nothing to repeat (a quantifier after a quantifier)");
}

static void parse_seq(rx *r, hg_text *t, int top, int *anchored_start, int *anchored_end) {
    int items = 0;
    while (!r->failed && r->p < r->end && *r->p != '|' && *r->p != ')') {
        char c = *r->p;
        if (c == '^') {
            r->p++;
            if (!top || items) rx_fail(r, "'^' is supported only at the start of the pattern");
            *anchored_start = 1;
            continue;
        }
        if (c == '$') {
            r->p++;
            if (!top || (r->p < r->end && *r->p != '|')) rx_fail(r, "'$' is supported only at the end of the pattern");
            *anchored_end = 1;
            continue;
        }
        hg_text_puts(t, " ");
        if (c == '(') {
            r->p++;
            if (r->p < r->end && *r->p == '?') {
                if (r->end - r->p >= 2 && r->p[1] == ':') r->p += 2;
                else if (r->end - r->p >= 2 && r->p[1] == '<' && r->end - r->p >= 3 && r->p[2] != '=' && r->p[2] != '!') {
                    while (r->p < r->end && *r->p != '>') r->p++; /* named group */
                    if (r->p < r->end) r->p++;
                } else {
                    rx_fail(r, "lookaround and inline flags are not supported");
                    return;
                }
            }
            if (++r->depth > HG_MAX_NESTING) {
                rx_fail(r, "groups nested too deeply");
                return;
            }
            hg_text_puts(t, "(");
            parse_alt(r, t, 0);
            r->depth--;
            if (r->p >= r->end || *r->p != ')') {
                rx_fail(r, "missing ')'");
                return;
            }
            r->p++;
            hg_text_puts(t, ")");
        } else if (c == '[') {
            r->p++;
            parse_class(r, t);
        } else if (c == '.') {
            r->p++;
            cset s = {.n = 0};
            cs_add(r, &s, '\n', '\n'), cs_add(r, &s, '\r', '\r'), cs_add(r, &s, 0x2028, 0x2029);
            cs_complement(&s);
            emit_set(r, &s, t);
        } else if (c == '\\') {
            r->p++;
            cset s = {.n = 0};
            int is_cls;
            uint32_t cp = parse_escape(r, &s, &is_cls);
            if (is_cls) emit_set(r, &s, t);
            else emit_char(r, cp, t);
        } else if (c == '*' || c == '+' || c == '?') {
            rx_fail(r, "nothing to repeat");
            return;
        } else {
            emit_char(r, next_cp(r), t);
        }
        parse_quant(r, t);
        items++;
    }
    if (!items) hg_text_puts(t, " \"\"");
}

static void parse_alt(rx *r, hg_text *t, int top) {
    for (int first = 1;; first = 0) {
        if (!first) hg_text_puts(t, " |");
        int as = 0, ae = 0;
        hg_text seq = {0};
        parse_seq(r, &seq, top, &as, &ae);
        const char *any = r->json ? "json-char*" : "[\\U00000000-\\U0010FFFF]*";
        if (!top || !r->json) as = ae = 1; /* groups; --regex: the whole output */
        hg_text_puts(t, " (");
        if (!as) hg_text_printf(t, "%s ", any);
        hg_text_puts(t, seq.s ? seq.s : "\"\"");
        if (!ae) hg_text_printf(t, " %s", any);
        hg_text_puts(t, ")");
        free(seq.s);
        if (r->failed || r->p >= r->end || *r->p != '|') return;
        r->p++;
    }
}

static int convert(const char *re, size_t len, int json, hg_text *t, char *errbuf, size_t errcap) {
    rx r = {re, re, re + len, json, 0, errbuf, errcap, 0};
    parse_alt(&r, t, 1);
    if (!r.failed && r.p < r.end) rx_fail(&r, "unbalanced ')'");
    if (!r.failed && t->oom) rx_fail(&r, "out of memory");
    return r.failed ? -1 : 0;
}

int hg_regex_json_body(const char *re, hg_text *t, char *errbuf, size_t errcap) {
    return convert(re, strlen(re), 1, t, errbuf, errcap);
}

hive_status hive_regex_to_gbnf(const char *re, size_t len, char **gbnf, hive_error **err) {
    *gbnf = NULL;
    if (len > HG_MAX_SOURCE) return hive_fail(err, HIVE_E_INVALID, "regex of %zu bytes exceeds the limit", len);
    hg_text body = {0};
    char msg[256];
    if (convert(re, len, 0, &body, msg, sizeof msg)) {
        free(body.s);
        return hive_fail(err, HIVE_E_UNSUPPORTED, "%s", msg);
    }
    hg_text t = {0};
    hg_text_printf(&t, "root ::=%s\n", body.s ? body.s : " \"\"");
    free(body.s);
    if (t.oom) {
        free(t.s);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    *gbnf = t.s;
    return HIVE_OK;
}

hive_status hive_grammar_from_regex(const char *re, size_t len, hive_grammar **out, hive_error **err) {
    *out = NULL;
    char *gbnf = NULL;
    hive_status st = hive_regex_to_gbnf(re, len, &gbnf, err);
    if (st != HIVE_OK) return st;
    st = hive_grammar_from_gbnf(gbnf, strlen(gbnf), out, err);
    if (st != HIVE_OK && err && *err) hive_error_prefix(*err, "regex");
    free(gbnf);
    return st;
}
