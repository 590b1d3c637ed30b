/* GBNF (llama.cpp's grammar syntax) into the grammar builder.
 *
 *   rule ::= alt1 | alt2        # comment
 *   items: "literal"  [a-z\x41-\u00FF]  [^"\\]  .  name  ( group )
 *   postfix: * + ? {m} {m,} {m,n}
 *
 * Escapes: \n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH (code points, as in
 * llama.cpp). Newlines are whitespace; a rule ends where `name ::=` starts
 * the next one (so alternatives may continue on a new line). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_impl.h"
#include "util/error.h"

typedef struct parser {
    const char *src, *end, *p;
    hg_builder *b;
} parser;

static void fail_at(parser *ps, const char *what) {
    int line = 1, col = 1;
    for (const char *q = ps->src; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') line++, col = 1;
        else col++;
    }
    hg_fail(ps->b, HIVE_E_INVALID, "grammar line %d, column %d: %s", line, col, what);
}

static int is_name_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '-'; }

static void skip_space(parser *ps) {
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') ps->p++;
        else if (c == '#')
            while (ps->p < ps->end && *ps->p != '\n') ps->p++;
        else break;
    }
}

/* At a name followed by `::=`: the start of the next rule. */
static int at_rule_start(const parser *ps) {
    const char *q = ps->p;
    if (q >= ps->end || !is_name_char(*q)) return 0;
    while (q < ps->end && is_name_char(*q)) q++;
    while (q < ps->end && (*q == ' ' || *q == '\t')) q++;
    return ps->end - q >= 3 && !memcmp(q, "::=", 3);
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One (possibly escaped) character of a literal or class; -1 on error. */
static int64_t parse_char(parser *ps) {
    if (ps->p >= ps->end) {
        fail_at(ps, "unexpected end of grammar");
        return -1;
    }
    if (*ps->p == '\\') {
        ps->p++;
        if (ps->p >= ps->end) {
            fail_at(ps, "unexpected end after '\\'");
            return -1;
        }
        char c = *ps->p++;
        int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        if (digits) {
            uint32_t v = 0;
            for (int i = 0; i < digits; i++) {
                int h = ps->p < ps->end ? hexval(*ps->p) : -1;
                if (h < 0) {
                    fail_at(ps, "expected a hex digit in the escape");
                    return -1;
                }
                v = v * 16 + (uint32_t)h;
                ps->p++;
            }
            if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
                fail_at(ps, "escape is not a Unicode scalar value");
                return -1;
            }
            return v;
        }
        switch (c) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case 'f': return '\f';
        case 'v': return '\v';
        case '0': return 0;
        default:
            if (isalnum((unsigned char)c)) {
                ps->p--;
                fail_at(ps, "unknown escape");
                return -1;
            }
            return (unsigned char)c; /* \\ \" \[ \] \- \^ ... */
        }
    }
    uint32_t cp;
    size_t n = hg_utf8_decode((const uint8_t *)ps->p, (size_t)(ps->end - ps->p), &cp);
    if (!n) {
        fail_at(ps, "invalid UTF-8");
        return -1;
    }
    ps->p += n;
    return cp;
}

static int parse_literal(parser *ps, hg_seq *s) {
    ps->p++; /* " */
    while (ps->p < ps->end && *ps->p != '"') {
        int64_t c = parse_char(ps);
        if (c < 0) return -1;
        uint8_t u[4];
        size_t n = hg_utf8_encode((uint32_t)c, u);
        if (hg_seq_push_bytes(ps->b, s, u, n)) return -1;
    }
    if (ps->p >= ps->end) {
        fail_at(ps, "unterminated string literal");
        return -1;
    }
    ps->p++;
    return 0;
}

static int parse_class(parser *ps, hg_seq *s, const char *rule) {
    ps->p++; /* [ */
    int negated = 0;
    if (ps->p < ps->end && *ps->p == '^') negated = 1, ps->p++;
    size_t n = 0, cap = 16;
    uint32_t *lo = malloc(cap * sizeof *lo), *hi = malloc(cap * sizeof *hi);
    int rc = -1;
    if (!lo || !hi) {
        hg_fail(ps->b, HIVE_E_NOMEM, "out of memory");
        goto out;
    }
    while (ps->p < ps->end && *ps->p != ']') {
        int64_t a = parse_char(ps), z = a;
        if (a < 0) goto out;
        if (ps->end - ps->p >= 2 && ps->p[0] == '-' && ps->p[1] != ']') {
            ps->p++;
            z = parse_char(ps);
            if (z < 0) goto out;
            if (z < a) {
                fail_at(ps, "character range is out of order");
                goto out;
            }
        }
        if (n == cap) {
            cap *= 2;
            uint32_t *l2 = realloc(lo, cap * sizeof *lo);
            if (l2) lo = l2;
            uint32_t *h2 = realloc(hi, cap * sizeof *hi);
            if (h2) hi = h2;
            if (!l2 || !h2) {
                hg_fail(ps->b, HIVE_E_NOMEM, "out of memory");
                goto out;
            }
        }
        lo[n] = (uint32_t)a, hi[n] = (uint32_t)z, n++;
    }
    if (ps->p >= ps->end) {
        fail_at(ps, "unterminated character class");
        goto out;
    }
    ps->p++;
    n = hg_ranges_normalize(lo, hi, n);
    if (negated) {
        uint32_t *cl = malloc((n + 1) * sizeof *cl), *ch = malloc((n + 1) * sizeof *ch);
        if (!cl || !ch) {
            free(cl), free(ch);
            hg_fail(ps->b, HIVE_E_NOMEM, "out of memory");
            goto out;
        }
        size_t m = hg_ranges_complement(lo, hi, n, cl, ch);
        free(lo), free(hi);
        lo = cl, hi = ch, n = m;
    }
    if (!n) {
        fail_at(ps, "character class matches nothing");
        goto out;
    }
    rc = hg_seq_push_codepoints(ps->b, s, lo, hi, n, rule);
out:
    free(lo), free(hi);
    return rc;
}

static int parse_uint(parser *ps, uint32_t *v) {
    if (ps->p >= ps->end || !isdigit((unsigned char)*ps->p)) {
        fail_at(ps, "expected a number in {m,n}");
        return -1;
    }
    uint64_t x = 0;
    while (ps->p < ps->end && isdigit((unsigned char)*ps->p)) {
        x = x * 10 + (uint64_t)(*ps->p++ - '0');
        if (x > 0xFFFFFFF) x = 0xFFFFFFF; /* saturate; the repeat limit reports it */
    }
    *v = (uint32_t)x;
    return 0;
}

static int parse_alternatives(parser *ps, int32_t rule, int depth);

static int apply_repeat(parser *ps, hg_seq *s, uint32_t item, uint32_t min, uint32_t max, const char *rule) {
    if (!hg_seq_repeat(ps->b, s, item, min, max, rule)) return 0;
    if (!hg_failed(ps->b)) fail_at(ps, "bad repetition");
    return -1;
}

/* A run of * + ? folds into one repetition before it is built: x++ is x+,
 * x+? and x?* are x*. Nested, each would wrap the last in another rule, and
 * the number of ways to parse a string grows exponentially with the depth
 * (a fuzzer found `.++++++++++` taking seconds per mask). */
static int parse_postfix(parser *ps, hg_seq *s, uint32_t item, const char *rule) {
    int run = 0;              /* a folded * + ? run is pending */
    uint32_t rmin = 1, rmax = 1;
    for (;;) {
        const char *save = ps->p;
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t')) ps->p++;
        char c = ps->p < ps->end ? *ps->p : 0;
        uint32_t min, max;
        if (c == '*' || c == '+' || c == '?') {
            ps->p++;
            min = c == '+', max = c == '?' ? 1 : UINT32_MAX;
            /* {a,b}{c,d} with a, c in {0, 1} and b, d in {1, inf}: {a c, b d} */
            rmin = rmin && min;
            rmax = rmax == UINT32_MAX || max == UINT32_MAX ? UINT32_MAX : 1;
            run = 1;
            continue;
        }
        if (run && apply_repeat(ps, s, item, rmin, rmax, rule)) return -1;
        run = 0, rmin = rmax = 1;
        if (c == '{') {
            ps->p++;
            skip_space(ps);
            if (parse_uint(ps, &min)) return -1;
            skip_space(ps);
            max = min;
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                skip_space(ps);
                max = UINT32_MAX;
                if (ps->p < ps->end && *ps->p != '}' && parse_uint(ps, &max)) return -1;
                skip_space(ps);
            }
            if (ps->p >= ps->end || *ps->p != '}') {
                fail_at(ps, "expected '}' to close {m,n}");
                return -1;
            }
            ps->p++;
            if (apply_repeat(ps, s, item, min, max, rule)) return -1;
        } else {
            ps->p = save;
            return 0;
        }
    }
}

static int parse_sequence(parser *ps, int32_t rule, hg_seq *s, int depth) {
    const char *rname = hg_rule_name(ps->b, rule);
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p == '|' || *ps->p == ')' || at_rule_start(ps)) return 0;
        uint32_t item = s->n;
        char c = *ps->p;
        int rc;
        if (c == '"') rc = parse_literal(ps, s);
        else if (c == '[') rc = parse_class(ps, s, rname);
        else if (c == '.') {
            ps->p++;
            uint32_t lo = 0, hi = 0x10FFFF;
            rc = hg_seq_push_codepoints(ps->b, s, &lo, &hi, 1, rname);
        } else if (c == '(') {
            if (depth >= HG_MAX_NESTING) {
                fail_at(ps, "groups nested too deeply (limit 128)");
                return -1;
            }
            ps->p++;
            int32_t g = hg_rule_anon(ps->b, rname);
            rc = g < 0 ? -1 : parse_alternatives(ps, g, depth + 1);
            if (!rc) {
                skip_space(ps);
                if (ps->p >= ps->end || *ps->p != ')') {
                    fail_at(ps, "expected ')'");
                    return -1;
                }
                ps->p++;
                rc = hg_seq_push(ps->b, s, HG_REF, (uint32_t)g);
            }
        } else if (is_name_char(c)) {
            const char *q = ps->p;
            while (ps->p < ps->end && is_name_char(*ps->p)) ps->p++;
            int32_t r = hg_rule_named(ps->b, q, (size_t)(ps->p - q));
            rc = r < 0 ? -1 : hg_seq_push(ps->b, s, HG_REF, (uint32_t)r);
        } else {
            fail_at(ps, c == ':' ? "unexpected '::=' (a rule name must come first)" : "unexpected character");
            return -1;
        }
        if (rc || parse_postfix(ps, s, item, rname)) return -1;
    }
}

static int parse_alternatives(parser *ps, int32_t rule, int depth) {
    for (;;) {
        hg_seq s = {0};
        if (parse_sequence(ps, rule, &s, depth) || hg_rule_add_alt(ps->b, rule, &s)) {
            hg_seq_free(&s);
            return -1;
        }
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == '|') {
            ps->p++;
            continue;
        }
        return 0;
    }
}

static int parse_grammar(parser *ps) {
    skip_space(ps);
    if (ps->p >= ps->end) {
        fail_at(ps, "empty grammar");
        return -1;
    }
    while (ps->p < ps->end) {
        const char *q = ps->p;
        while (ps->p < ps->end && is_name_char(*ps->p)) ps->p++;
        if (ps->p == q) {
            fail_at(ps, "expected a rule name");
            return -1;
        }
        size_t len = (size_t)(ps->p - q);
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t')) ps->p++;
        if (ps->end - ps->p < 3 || memcmp(ps->p, "::=", 3)) {
            fail_at(ps, "expected '::=' after the rule name");
            return -1;
        }
        ps->p += 3;
        int32_t r = hg_rule_named(ps->b, q, len);
        if (r < 0) return -1;
        if (hg_rule_defined(ps->b, r)) {
            char msg[160];
            snprintf(msg, sizeof msg, "rule '%.*s' is defined twice", (int)(len > 64 ? 64 : len), q);
            fail_at(ps, msg);
            return -1;
        }
        hg_rule_mark_defined(ps->b, r);
        if (parse_alternatives(ps, r, 0)) return -1;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ')') {
            fail_at(ps, "unbalanced ')'");
            return -1;
        }
    }
    return 0;
}

hive_status hive_grammar_from_gbnf(const char *text, size_t len, hive_grammar **out, hive_error **err) {
    *out = NULL;
    if (!text) return hive_fail(err, HIVE_E_INVALID, "no grammar text");
    if (len > HG_MAX_SOURCE)
        return hive_fail(err, HIVE_E_INVALID, "grammar of %zu bytes exceeds the limit of %u bytes", len, HG_MAX_SOURCE);
    hg_builder *b = hg_builder_new();
    if (!b) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    parser ps = {text, text + len, text, b};
    parse_grammar(&ps);
    hive_status st = hg_builder_finish(b, "root", out, err);
    hg_builder_free(b);
    return st;
}
