/* The grammar of each JSON type under its schema keywords: strings (length,
 * pattern, format), integers in a range, objects (properties in schema
 * order, required, additionalProperties), arrays (prefix items, items,
 * counts). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_schema_impl.h"
#include "util/error.h"

static const cJSON *kw(const cJSON *s, const char *k) { return cJSON_GetObjectItemCaseSensitive(s, k); }

/* A non-negative integer keyword; -1 absent, -2 invalid (error set). */
static int64_t count_kw(sc *c, const cJSON *s, const char *k, const char *path) {
    const cJSON *v = kw(s, k);
    if (!v) return -1;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble)) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: '%s' at %s must be a non-negative integer", k, path);
        return -2;
    }
    return v->valuedouble > 1e12 ? (int64_t)1e12 : (int64_t)v->valuedouble;
}

static int over_limit(sc *c, const char *k, int64_t n, const char *path) {
    if (n <= (int64_t)HG_MAX_REPEAT) return 0;
    sc_error(c, HIVE_E_UNSUPPORTED, "JSON Schema: '%s' %lld at %s exceeds the limit of %u", k, (long long)n, path,
             HG_MAX_REPEAT);
    return 1;
}

/* ---- strings ---- */

static const char *const k_formats[][2] = {
    {"date", "json-date"},
    {"time", "json-time"},
    {"date-time", "json-date [Tt] json-time"}, /* RFC 3339 5.6: T and Z may be lower case */
    {"uuid", "json-hex{8} \"-\" json-hex{4} \"-\" json-hex{4} \"-\" json-hex{4} \"-\" json-hex{12}"},
};

/* Calendar-exact dates (30/31-day months, February 29 only in leap years);
 * times without leap seconds (a leap second is valid only at 23:59:60 UTC,
 * which a grammar cannot check against an offset). */
static void define_date_time(sc *c) {
    hg_text_puts(&c->out,
                 "json-date ::= json-year \"-\" (json-m31 \"-\" json-d31 | json-m30 \"-\" json-d30 | \"02-\" json-d28)"
                 " | json-leap-year \"-02-29\"\n"
                 "json-year ::= [0-9]{4}\n"
                 "json-leap-year ::= [0-9] [0-9] (\"0\" [48] | [2468] [048] | [13579] [26])"
                 " | ([02468] [048] | [13579] [26]) \"00\"\n"
                 "json-m31 ::= \"01\" | \"03\" | \"05\" | \"07\" | \"08\" | \"10\" | \"12\"\n"
                 "json-m30 ::= \"04\" | \"06\" | \"09\" | \"11\"\n"
                 "json-d28 ::= \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]\n"
                 "json-d30 ::= json-d28 | \"29\" | \"30\"\n"
                 "json-d31 ::= json-d30 | \"31\"\n"
                 "json-hh ::= [01] [0-9] | \"2\" [0-3]\n"
                 "json-mm ::= [0-5] [0-9]\n"
                 "json-time ::= json-hh \":\" json-mm \":\" json-mm (\".\" [0-9]+)? ([Zz] | [+-] json-hh \":\" json-mm)\n");
}

int sc_gen_string(sc *c, const cJSON *s, const char *path, hg_text *t) {
    int64_t min = count_kw(c, s, "minLength", path), max = count_kw(c, s, "maxLength", path);
    if (min == -2 || max == -2) return SC_FAIL;
    const cJSON *pattern = kw(s, "pattern"), *format = kw(s, "format");
    if (format) {
        if (!cJSON_IsString(format)) {
            sc_error(c, HIVE_E_INVALID, "JSON Schema: 'format' at %s must be a string", path);
            return SC_FAIL;
        }
        const char *rule = NULL;
        for (size_t i = 0; i < sizeof k_formats / sizeof k_formats[0]; i++)
            if (!strcmp(format->valuestring, k_formats[i][0])) rule = k_formats[i][1];
        if (!rule) {
            char why[160];
            snprintf(why, sizeof why, "format '%.64s' (supported: date, time, date-time, uuid)", format->valuestring);
            sc_unsupported(c, "format", path, why);
            return SC_FAIL;
        }
        if (pattern || min >= 0 || max >= 0) {
            sc_unsupported(c, pattern ? "pattern" : min >= 0 ? "minLength" : "maxLength", path, "together with format");
            return SC_FAIL;
        }
        int r = sc_new_rule(c);
        char body[256];
        snprintf(body, sizeof body, "\"\\\"\" %s \"\\\"\"", rule);
        sc_define(c, r, body);
        if (strcmp(format->valuestring, "uuid") && !c->have_date_time) { /* once per document */
            define_date_time(c);
            c->have_date_time = 1;
        }
        hg_text_printf(t, "s-%d", r);
        return 0;
    }
    if (pattern) {
        if (!cJSON_IsString(pattern)) {
            sc_error(c, HIVE_E_INVALID, "JSON Schema: 'pattern' at %s must be a string", path);
            return SC_FAIL;
        }
        if (min >= 0 || max >= 0) {
            sc_unsupported(c, min >= 0 ? "minLength" : "maxLength", path, "together with pattern");
            return SC_FAIL;
        }
        hg_text body = {0};
        char msg[256];
        if (hg_regex_json_body(pattern->valuestring, &body, msg, sizeof msg)) {
            free(body.s);
            sc_error(c, HIVE_E_UNSUPPORTED, "JSON Schema: 'pattern' at %s: %s", path, msg);
            return SC_FAIL;
        }
        int r = sc_new_rule(c);
        hg_text def = {0};
        hg_text_printf(&def, "\"\\\"\" (%s) \"\\\"\"", body.s ? body.s : "\"\"");
        sc_define(c, r, def.s ? def.s : "\"\"");
        free(def.s);
        free(body.s);
        hg_text_printf(t, "s-%d", r);
        return 0;
    }
    if (min < 0) min = 0;
    if (max >= 0 && max < min) return SC_NEVER;
    if (over_limit(c, "minLength", min, path) || (max >= 0 && over_limit(c, "maxLength", max, path))) return SC_FAIL;
    if (min == 0 && max < 0) hg_text_puts(t, "json-string");
    else if (max < 0) hg_text_printf(t, "(\"\\\"\" json-char{%lld,} \"\\\"\")", (long long)min);
    else hg_text_printf(t, "(\"\\\"\" json-char{%lld,%lld} \"\\\"\")", (long long)min, (long long)max);
    return 0;
}

/* ---- integers in a range ---- */

static int n_digits(uint64_t x) {
    int n = 1;
    while (x >= 10) x /= 10, n++;
    return n;
}

static uint64_t pow10u(int n) {
    uint64_t p = 1;
    while (n-- > 0) p *= 10;
    return p;
}

/* Digit strings of length L between lo and hi (same length, lo <= hi). */
static void digits_range(hg_text *t, const char *lo, const char *hi, int L) {
    if (lo[0] == hi[0]) {
        hg_text_printf(t, "\"%c\"", lo[0]);
        if (L > 1) {
            hg_text_puts(t, " (");
            digits_range(t, lo + 1, hi + 1, L - 1);
            hg_text_puts(t, ")");
        }
        return;
    }
    int lo_zero = 1, hi_nine = 1;
    for (int i = 1; i < L; i++) lo_zero &= lo[i] == '0', hi_nine &= hi[i] == '9';
    char nines[24], zeros[24];
    memset(nines, '9', sizeof nines), memset(zeros, '0', sizeof zeros);
    char a = lo_zero ? lo[0] : (char)(lo[0] + 1), b = hi_nine ? hi[0] : (char)(hi[0] - 1);
    int alts = 0;
    hg_text_puts(t, "(");
    if (!lo_zero) {
        hg_text_printf(t, "\"%c\" (", lo[0]);
        digits_range(t, lo + 1, nines, L - 1);
        hg_text_puts(t, ")");
        alts++;
    }
    if (a <= b) {
        hg_text_printf(t, "%s[%c-%c]", alts++ ? " | " : "", a, b);
        if (L > 1) hg_text_printf(t, " [0-9]{%d}", L - 1);
    }
    if (!hi_nine) {
        hg_text_printf(t, "%s\"%c\" (", alts++ ? " | " : "", hi[0]);
        digits_range(t, zeros, hi + 1, L - 1);
        hg_text_puts(t, ")");
    }
    hg_text_puts(t, ")");
}

/* Non-negative integers in [a, b] without leading zeros (b = UINT64_MAX: unbounded). */
static void pos_range(hg_text *t, uint64_t a, uint64_t b) {
    hg_text_puts(t, "(");
    int la = n_digits(a), lb = b == UINT64_MAX ? la : n_digits(b), alts = 0;
    for (int L = la; L <= lb; L++) {
        uint64_t lo = L == 1 ? 0 : pow10u(L - 1), hi = pow10u(L) - 1;
        if (lo < a) lo = a;
        if (b != UINT64_MAX && hi > b) hi = b;
        if (lo > hi) continue;
        char ls[24], hs[24];
        snprintf(ls, sizeof ls, "%llu", (unsigned long long)lo);
        snprintf(hs, sizeof hs, "%llu", (unsigned long long)hi);
        if (alts++) hg_text_puts(t, " | ");
        digits_range(t, ls, hs, L);
    }
    if (b == UINT64_MAX) hg_text_printf(t, "%s[1-9] [0-9]{%d,}", alts++ ? " | " : "", la);
    hg_text_puts(t, ")");
}

static void int_range(hg_text *t, int has_lo, int64_t lo, int has_hi, int64_t hi) {
    int alts = 0;
    hg_text_puts(t, "(");
    if (!has_lo || lo < 0) {
        uint64_t from = (has_hi && hi < 0) ? (uint64_t)(-hi) : 1, to = has_lo ? (uint64_t)(-lo) : UINT64_MAX;
        hg_text_puts(t, "\"-\" ");
        pos_range(t, from, to);
        alts++;
    }
    if (!has_hi || hi >= 0) {
        hg_text_puts(t, alts++ ? " | " : "");
        pos_range(t, has_lo && lo > 0 ? (uint64_t)lo : 0, has_hi ? (uint64_t)hi : UINT64_MAX);
    }
    hg_text_puts(t, ")");
}

/* One bound: minimum/maximum with draft 4's boolean exclusive* or draft 6's numeric form. */
static int bound(sc *c, const cJSON *s, const char *path, int upper, int *has, int64_t *out) {
    const char *inc_k = upper ? "maximum" : "minimum", *exc_k = upper ? "exclusiveMaximum" : "exclusiveMinimum";
    const cJSON *inc = kw(s, inc_k), *exc = kw(s, exc_k);
    double v = 0;
    int strict = 0;
    *has = 0;
    if (inc && !cJSON_IsNumber(inc)) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: '%s' at %s must be a number", inc_k, path);
        return -1;
    }
    if (inc) *has = 1, v = inc->valuedouble;
    if (cJSON_IsBool(exc)) {
        strict = cJSON_IsTrue(exc) && inc;
    } else if (cJSON_IsNumber(exc)) {
        if (!*has || (upper ? exc->valuedouble <= v : exc->valuedouble >= v)) v = exc->valuedouble, strict = 1;
        *has = 1;
    } else if (exc) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: '%s' at %s must be a number", exc_k, path);
        return -1;
    }
    if (!*has) return 0;
    if (fabs(v) > 9e15) {
        sc_unsupported(c, inc ? inc_k : exc_k, path, "bounds beyond +-9e15 are not supported");
        return -1;
    }
    double r = upper ? floor(v) : ceil(v);
    if (strict && r == v) r += upper ? -1 : 1;
    *out = (int64_t)r;
    return 0;
}

int sc_gen_numeric(sc *c, const cJSON *s, const char *path, int types, hg_text *t) {
    static const char *const bounds[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    const char *first = NULL;
    for (int i = 0; i < 4; i++)
        if (kw(s, bounds[i]) && !first) first = bounds[i];
    if (!first) {
        hg_text_puts(t, types & JT_NUMBER ? "json-number" : "json-integer");
        return 0;
    }
    if (types & JT_NUMBER) {
        sc_unsupported(c, first, path, "bounds are supported on integers only (\"type\": \"integer\")");
        return SC_FAIL;
    }
    int has_lo, has_hi;
    int64_t lo = 0, hi = 0;
    if (bound(c, s, path, 0, &has_lo, &lo) || bound(c, s, path, 1, &has_hi, &hi)) return SC_FAIL;
    if (has_lo && has_hi && lo > hi) return SC_NEVER;
    int_range(t, has_lo, lo, has_hi, hi);
    return 0;
}

/* ---- objects ---- */

/* Code point trie of the listed keys' JSON bodies, for "any key but these". */
typedef struct key_node {
    uint32_t *cp;
    int *child;
    size_t n;
    int is_key;
    int rule;
} key_node;

typedef struct key_trie {
    key_node *nodes;
    size_t n, cap;
} key_trie;

static int trie_add_node(key_trie *k) {
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        key_node *n = realloc(k->nodes, cap * sizeof *n);
        if (!n) return -1;
        k->nodes = n;
        k->cap = cap;
    }
    memset(&k->nodes[k->n], 0, sizeof k->nodes[0]);
    return (int)k->n++;
}

static int trie_insert(key_trie *k, const char *body, size_t len) {
    int node = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = hg_utf8_decode((const uint8_t *)body + i, len - i, &cp);
        if (!l) return -1;
        i += l;
        key_node *n = &k->nodes[node];
        int next = -1;
        for (size_t j = 0; j < n->n; j++)
            if (n->cp[j] == cp) next = n->child[j];
        if (next < 0) {
            next = trie_add_node(k);
            if (next < 0) return -1;
            n = &k->nodes[node];
            uint32_t *cps = realloc(n->cp, (n->n + 1) * sizeof *cps);
            if (cps) n->cp = cps;
            int *ch = realloc(n->child, (n->n + 1) * sizeof *ch);
            if (ch) n->child = ch;
            if (!cps || !ch) return -1;
            n->cp[n->n] = cp;
            n->child[n->n++] = next;
        }
        node = next;
    }
    k->nodes[node].is_key = 1;
    return 0;
}

/* Rule: the rest of a key (after the opening quote, closing quote included)
 * that is none of the listed keys. Escapes that could spell a listed key's
 * character are left out where they could (see docs/GRAMMAR.md). */
static void emit_key_node(sc *c, key_trie *k, int node) {
    key_node *n = &k->nodes[node];
    hg_text t = {0};
    int alts = 0, escapes = 1;
    if (!n->is_key) hg_text_puts(&t, "\"\\\"\""), alts++;
    hg_text others = {0};
    for (size_t j = 0; j < n->n; j++) {
        uint8_t u[4];
        size_t l = hg_utf8_encode(n->cp[j], u);
        if (n->cp[j] == '\\') escapes = 0;
        hg_text_puts(&t, alts++ ? " | " : "");
        hg_text_literal(&t, (const char *)u, l);
        hg_text_printf(&t, " s-%d", k->nodes[n->child[j]].rule);
        if (n->cp[j] >= 0x20 && n->cp[j] != '"' && n->cp[j] != '\\') hg_text_printf(&others, "\\U%08X", n->cp[j]);
    }
    hg_text_printf(&t, "%s[^\"\\\\\\x00-\\x1F%s] json-char* \"\\\"\"", alts++ ? " | " : "", others.s ? others.s : "");
    if (escapes) hg_text_puts(&t, " | \"\\\\\" ([\"\\\\bfnrt] | \"u00\" [01] json-hex) json-char* \"\\\"\"");
    sc_define(c, n->rule, t.s ? t.s : "\"\"");
    free(t.s);
    free(others.s);
}

static int not_keys_rule(sc *c, char **bodies, size_t n_keys) {
    key_trie k = {0};
    int rc = trie_add_node(&k) < 0 ? -1 : 0;
    for (size_t i = 0; i < n_keys && !rc; i++) rc = trie_insert(&k, bodies[i], strlen(bodies[i]));
    int root = SC_FAIL;
    if (!rc) {
        for (size_t i = 0; i < k.n; i++) k.nodes[i].rule = sc_new_rule(c);
        for (size_t i = 0; i < k.n; i++) emit_key_node(c, &k, (int)i);
        root = k.nodes[0].rule;
    } else {
        sc_error(c, HIVE_E_NOMEM, "JSON Schema: property names: out of memory or invalid UTF-8");
    }
    for (size_t i = 0; i < k.n; i++) free(k.nodes[i].cp), free(k.nodes[i].child);
    free(k.nodes);
    return root;
}

typedef struct prop {
    char *key;  /* serialized, quotes included */
    int value;  /* rule */
    int required;
} prop;

static int is_required(const cJSON *req, const char *name) {
    const cJSON *e;
    cJSON_ArrayForEach(e, req) if (cJSON_IsString(e) && !strcmp(e->valuestring, name)) return 1;
    return 0;
}

int sc_gen_object(sc *c, const cJSON *s, const char *path, hg_text *t) {
    const cJSON *props = kw(s, "properties"), *req = kw(s, "required"), *addl = kw(s, "additionalProperties");
    if ((props && !cJSON_IsObject(props)) || (req && !cJSON_IsArray(req))) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: '%s' at %s has the wrong type", props && !cJSON_IsObject(props) ? "properties" : "required", path);
        return SC_FAIL;
    }
    int n_max = cJSON_GetArraySize(props) + cJSON_GetArraySize(req);
    prop *p = calloc((size_t)n_max + 1, sizeof *p);
    char **bodies = calloc((size_t)n_max + 1, sizeof *bodies);
    int n = 0, rc = 0;
    if (!p || !bodies) rc = SC_FAIL;
    /* additional properties: value rule, or SC_NEVER when forbidden */
    int extra = SC_NEVER;
    if (!rc) {
        char sub[512];
        snprintf(sub, sizeof sub, "%.450s/additionalProperties", path);
        extra = addl ? sc_schema(c, addl, sub) : SC_NEVER;
        if (extra == SC_FAIL) rc = SC_FAIL;
    }
    int extra_any = !addl;
    const cJSON *e;
    if (!rc) cJSON_ArrayForEach(e, props) {
        char sub[512];
        snprintf(sub, sizeof sub, "%.400s/properties/%.80s", path, e->string);
        int r = sc_schema(c, e, sub);
        if (r == SC_FAIL) {
            rc = SC_FAIL;
            break;
        }
        int need = is_required(req, e->string);
        if (r == SC_NEVER && need) {
            rc = SC_NEVER;
            break;
        }
        /* a property whose schema is false may not appear: kept (value SC_NEVER) so
         * the additional-property keys exclude it, but never written */
        if (!hg_utf8_valid(e->string, strlen(e->string))) {
            sc_error(c, HIVE_E_INVALID, "JSON Schema: a property name at %s is not valid Unicode", path);
            rc = SC_FAIL;
            break;
        }
        cJSON *ks = cJSON_CreateString(e->string);
        p[n] = (prop){ks ? cJSON_PrintUnformatted(ks) : NULL, r, need};
        cJSON_Delete(ks);
        if (!p[n].key) rc = SC_FAIL;
        else n++;
        if (rc) break;
    }
    /* required names not under properties take the additionalProperties schema */
    if (!rc) cJSON_ArrayForEach(e, req) {
        if (!cJSON_IsString(e) || (props && kw(props, e->valuestring))) continue;
        if (!hg_utf8_valid(e->valuestring, strlen(e->valuestring))) {
            sc_error(c, HIVE_E_INVALID, "JSON Schema: a 'required' name at %s is not valid Unicode", path);
            rc = SC_FAIL;
            break;
        }
        int dup = 0;
        for (int i = 0; i < n; i++) {
            cJSON *ks = cJSON_CreateString(e->valuestring);
            char *txt = ks ? cJSON_PrintUnformatted(ks) : NULL;
            dup |= txt && !strcmp(txt, p[i].key);
            free(txt);
            cJSON_Delete(ks);
        }
        if (dup) continue;
        int r = extra;
        if (extra_any) {
            r = sc_new_rule(c);
            sc_define(c, r, "json-value");
        }
        if (r == SC_NEVER) {
            rc = SC_NEVER;
            break;
        }
        cJSON *ks = cJSON_CreateString(e->valuestring);
        p[n] = (prop){ks ? cJSON_PrintUnformatted(ks) : NULL, r, 1};
        cJSON_Delete(ks);
        if (!p[n].key) rc = SC_FAIL;
        else n++;
    }
    int result = rc;
    if (!rc) {
        /* rest(i, first): properties i.. after `first ? nothing : something` was written */
        int base = c->n_rules + 1;
        for (int i = 0; i <= n; i++) sc_new_rule(c), sc_new_rule(c);
        int extra_value = extra;
        if (extra_any) {
            extra_value = sc_new_rule(c);
            sc_define(c, extra_value, "json-value");
        }
        int extra_key = SC_NEVER;
        if (extra_value != SC_NEVER) {
            for (int i = 0; i < n; i++) {
                size_t l = strlen(p[i].key);
                bodies[i] = strndup(p[i].key + 1, l - 2);
            }
            extra_key = not_keys_rule(c, bodies, (size_t)n);
        }
        for (int i = 0; i <= n; i++)
            for (int first = 0; first < 2; first++) {
                hg_text r = {0};
                const char *sep = first ? "" : "\",\" json-ws ";
                if (i == n) {
                    if (extra_key >= 0)
                        hg_text_printf(&r, "(%s\"\\\"\" s-%d json-ws \":\" json-ws s-%d json-ws (\",\" json-ws \"\\\"\" s-%d json-ws \":\" json-ws s-%d json-ws)*)?",
                                       sep, extra_key, extra_value, extra_key, extra_value);
                    else hg_text_puts(&r, "\"\"");
                } else if (p[i].value == SC_NEVER) {
                    hg_text_printf(&r, "s-%d", base + 2 * (i + 1) + first);
                } else {
                    hg_text_printf(&r, "%s", sep);
                    hg_text_literal(&r, p[i].key, strlen(p[i].key));
                    hg_text_printf(&r, " json-ws \":\" json-ws s-%d json-ws s-%d", p[i].value, base + 2 * (i + 1));
                    if (!p[i].required) hg_text_printf(&r, " | s-%d", base + 2 * (i + 1) + first);
                }
                sc_define(c, base + 2 * i + first, r.s ? r.s : "\"\"");
                free(r.s);
            }
        hg_text_printf(t, "(\"{\" json-ws s-%d \"}\")", base + 1);
        result = 0;
    }
    for (int i = 0; i < n_max && p; i++) free(p[i].key), free(bodies[i]);
    free(p);
    free(bodies);
    return c->err ? SC_FAIL : result;
}

/* ---- arrays ---- */

int sc_gen_array(sc *c, const cJSON *s, const char *path, hg_text *t) {
    const cJSON *items = kw(s, "items"), *prefix = kw(s, "prefixItems"), *addl = kw(s, "additionalItems");
    int64_t min = count_kw(c, s, "minItems", path), max = count_kw(c, s, "maxItems", path);
    if (min == -2 || max == -2) return SC_FAIL;
    if (min < 0) min = 0;
    if (max >= 0 && max < min) return SC_NEVER;
    if (prefix && cJSON_IsArray(items)) {
        sc_unsupported(c, "items", path, "an array of items together with prefixItems");
        return SC_FAIL;
    }
    const cJSON *tuple = prefix ? prefix : cJSON_IsArray(items) ? items : NULL;
    const cJSON *rest = prefix ? items : cJSON_IsArray(items) ? addl : items; /* NULL = any */
    int k = tuple ? cJSON_GetArraySize(tuple) : 0;
    if (over_limit(c, "prefixItems", k, path) || over_limit(c, "minItems", min, path)) return SC_FAIL;
    int *pre = calloc((size_t)k + 1, sizeof *pre);
    if (!pre) return SC_FAIL;
    int kk = 0;
    for (int i = 0; i < k; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%.450s/items/%d", path, i);
        pre[i] = sc_schema(c, cJSON_GetArrayItem(tuple, i), sub);
        if (pre[i] == SC_FAIL) {
            free(pre);
            return SC_FAIL;
        }
        if (pre[i] == SC_NEVER) break; /* no array can reach item i */
        kk++;
    }
    int limit_from_prefix = kk < k; /* item kk is impossible: at most kk items */
    int r_rest = SC_NEVER;
    if (!limit_from_prefix) {
        if (!rest) {
            r_rest = sc_new_rule(c);
            sc_define(c, r_rest, "json-value");
        } else {
            char sub[512];
            snprintf(sub, sizeof sub, "%.450s/items", path);
            r_rest = sc_schema(c, rest, sub);
            if (r_rest == SC_FAIL) {
                free(pre);
                return SC_FAIL;
            }
        }
    }
    /* most items possible */
    int64_t cap = r_rest == SC_NEVER ? kk : -1;
    if (cap >= 0 && (max < 0 || max > cap)) max = cap;
    if (max >= 0 && max < min) {
        free(pre);
        return SC_NEVER;
    }
    if (max >= 0 && max - kk > (int64_t)HG_MAX_REPEAT && over_limit(c, "maxItems", max, path)) {
        free(pre);
        return SC_FAIL;
    }
    /* after(i): items i.. when i items are written (i >= 1) */
    int base = c->n_rules + 1;
    for (int i = 1; i <= kk; i++) sc_new_rule(c);
    for (int i = 1; i <= kk; i++) {
        hg_text r = {0};
        int alts = 0;
        if (i >= min) hg_text_puts(&r, "\"\""), alts++;
        if (max < 0 || i < max) {
            if (i < kk) {
                hg_text_printf(&r, "%s\",\" json-ws s-%d json-ws s-%d", alts++ ? " | " : "", pre[i], base + i);
            } else if (r_rest != SC_NEVER) {
                int64_t lo = min > i ? min - i : 0;
                hg_text_printf(&r, "%s(\",\" json-ws s-%d json-ws)", alts++ ? " | " : "", r_rest);
                if (max < 0) hg_text_printf(&r, "{%lld,}", (long long)(lo ? lo : 1));
                else hg_text_printf(&r, "{%lld,%lld}", (long long)(lo ? lo : 1), (long long)(max - i));
            }
        }
        if (!alts) hg_text_puts(&r, "\"\"");
        sc_define(c, base + i - 1, r.s);
        free(r.s);
    }
    /* the first item, then the rest */
    hg_text_puts(t, "(\"[\" json-ws ");
    if (max == 0) {
        hg_text_puts(t, "\"]\")");
    } else {
        hg_text_puts(t, "(");
        if (kk > 0) {
            hg_text_printf(t, "s-%d json-ws s-%d", pre[0], base);
        } else {
            int64_t lo = min > 1 ? min - 1 : 0;
            hg_text_printf(t, "s-%d json-ws (\",\" json-ws s-%d json-ws)", r_rest, r_rest);
            if (max < 0) hg_text_printf(t, "{%lld,}", (long long)lo);
            else hg_text_printf(t, "{%lld,%lld}", (long long)lo, (long long)(max - 1));
        }
        hg_text_printf(t, ")%s \"]\")", min == 0 ? "?" : "");
    }
    free(pre);
    return 0;
}
