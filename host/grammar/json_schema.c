/* JSON Schema to GBNF: keywords, local $ref, anyOf / oneOf / allOf. What
 * cannot be expressed exactly is refused naming the keyword and where it is,
 * never dropped (see docs/GRAMMAR.md for the supported subset). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_gbnf.h"
#include "grammar/json_schema_impl.h"
#include "util/error.h"

void sc_error(sc *c, int code, const char *fmt, ...) {
    if (c->err) return;
    va_list ap;
    va_start(ap, fmt);
    c->err = hive_error_newv(code, fmt, ap);
    va_end(ap);
}

void sc_unsupported(sc *c, const char *keyword, const char *path, const char *why) {
    sc_error(c, HIVE_E_UNSUPPORTED, "JSON Schema: unsupported keyword '%s' at %s%s%s", keyword, *path ? path : "#",
             why ? ": " : "", why ? why : "");
}

int sc_new_rule(sc *c) { return ++c->n_rules; }

void sc_define(sc *c, int rule, const char *body) { hg_text_printf(&c->out, "s-%d ::= %s\n", rule, body); }

/* Keywords that only annotate, and containers read through $ref. */
static const char *const k_ignored[] = {"$schema", "$id", "id", "title", "description", "default", "examples",
                                        "$comment", "readOnly", "writeOnly", "deprecated", "definitions", "$defs"};
/* Keywords some type generator or the combinators read. */
static const char *const k_supported[] = {
    "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "properties", "required", "additionalProperties",
    "items", "prefixItems", "additionalItems", "minItems", "maxItems", "minLength", "maxLength", "pattern",
    "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};

static int in_list(const char *k, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k, list[i])) return 1;
    return 0;
}
#define IN(k, list) in_list(k, list, sizeof list / sizeof list[0])

int sc_value_type(const cJSON *v) {
    if (cJSON_IsNull(v)) return JT_NULL;
    if (cJSON_IsBool(v)) return JT_BOOLEAN;
    if (cJSON_IsObject(v)) return JT_OBJECT;
    if (cJSON_IsArray(v)) return JT_ARRAY;
    if (cJSON_IsString(v)) return JT_STRING;
    if (cJSON_IsNumber(v)) return v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9e15 ? JT_INTEGER : JT_NUMBER;
    return 0;
}

char *sc_serialize(const cJSON *v) { return cJSON_PrintUnformatted(v); }

static int type_bit(const char *name) {
    if (!strcmp(name, "null")) return JT_NULL;
    if (!strcmp(name, "boolean")) return JT_BOOLEAN;
    if (!strcmp(name, "object")) return JT_OBJECT;
    if (!strcmp(name, "array")) return JT_ARRAY;
    if (!strcmp(name, "number")) return JT_NUMBER | JT_INTEGER;
    if (!strcmp(name, "integer")) return JT_INTEGER;
    if (!strcmp(name, "string")) return JT_STRING;
    return -1;
}

/* The "type" keyword as bits (all types when absent); -1 on error. */
static int schema_types(sc *c, const cJSON *s, const char *path) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (!t) return JT_ALL;
    int bits = 0;
    if (cJSON_IsString(t)) {
        bits = type_bit(t->valuestring);
    } else if (cJSON_IsArray(t)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, t) {
            int b = cJSON_IsString(e) ? type_bit(e->valuestring) : -1;
            if (b < 0) {
                bits = -1;
                break;
            }
            bits |= b;
        }
    } else {
        bits = -1;
    }
    if (bits < 0) sc_error(c, HIVE_E_INVALID, "JSON Schema: 'type' at %s is not a type name or a list of them", path);
    return bits;
}

/* ---- $ref ---- */

static void pointer_unescape(char *s) {
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '~' && r[1] == '0') *w++ = '~', r++;
        else if (r[0] == '~' && r[1] == '1') *w++ = '/', r++;
        else if (r[0] == '%' && r[1] && r[2]) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 2;
        } else *w++ = *r;
    }
    *w = 0;
}

static const cJSON *resolve(sc *c, const char *ref, const char *path) {
    if (ref[0] != '#' || (ref[1] && ref[1] != '/')) {
        sc_unsupported(c, "$ref", path, "only local references (#/...) are supported");
        return NULL;
    }
    const cJSON *node = c->doc;
    char *copy = strdup(ref + 1), *save = NULL;
    if (!copy) return NULL;
    for (char *tok = strtok_r(copy, "/", &save); tok && node; tok = strtok_r(NULL, "/", &save)) {
        pointer_unescape(tok);
        if (cJSON_IsArray(node)) {
            char *end;
            long i = strtol(tok, &end, 10);
            node = (*end || i < 0) ? NULL : cJSON_GetArrayItem(node, (int)i);
        } else {
            node = cJSON_GetObjectItemCaseSensitive(node, tok);
        }
    }
    free(copy);
    if (!node) sc_error(c, HIVE_E_INVALID, "JSON Schema: $ref '%s' at %s does not resolve", ref, path);
    return node;
}

static int schema_ref(sc *c, const char *ref, const char *path) {
    for (size_t i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, ref)) return c->refs[i].rule;
    const cJSON *target = resolve(c, ref, path);
    if (!target) return SC_FAIL;
    sc_ref *r = realloc(c->refs, (c->n_refs + 1) * sizeof *r);
    if (!r) return SC_FAIL;
    c->refs = r;
    /* the rule exists before its body so recursive schemas refer to it */
    int rule = sc_new_rule(c);
    c->refs[c->n_refs++] = (sc_ref){strdup(ref), rule};
    char sub[512];
    snprintf(sub, sizeof sub, "%.500s", ref);
    int body = sc_schema(c, target, sub);
    if (body == SC_FAIL) return SC_FAIL;
    if (body == SC_NEVER) {
        /* a reference may be recursive, so "nothing" cannot be propagated: refuse */
        sc_error(c, HIVE_E_UNSUPPORTED, "JSON Schema: $ref '%s' at %s accepts no value", ref, path);
        return SC_FAIL;
    }
    char txt[32];
    snprintf(txt, sizeof txt, "s-%d", body);
    sc_define(c, rule, txt);
    return rule;
}

/* ---- combinators ---- */

static int is_annotation_only(const cJSON *s) {
    const cJSON *k;
    cJSON_ArrayForEach(k, s) if (!IN(k->string, k_ignored)) return 0;
    return 1;
}

/* Type bits a (sub)schema can produce, for oneOf's disjointness check. */
static int possible_types(sc *c, const cJSON *s, int depth) {
    if (cJSON_IsBool(s)) return cJSON_IsTrue(s) ? JT_ALL : 0;
    if (depth > 16) return JT_ALL;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (cJSON_IsString(ref)) {
        const cJSON *t = resolve(c, ref->valuestring, "#");
        return t ? possible_types(c, t, depth + 1) : JT_ALL;
    }
    const cJSON *cst = cJSON_GetObjectItemCaseSensitive(s, "const");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    int bits = 0;
    if (cst) bits = sc_value_type(cst);
    else if (cJSON_IsArray(en)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, en) bits |= sc_value_type(e);
    } else {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
        bits = JT_ALL;
        if (t) {
            sc tmp = {0};
            bits = schema_types(&tmp, s, "#");
            hive_error_free(tmp.err);
            if (bits < 0) bits = JT_ALL;
        }
    }
    /* integers are numbers: "number" and "integer" overlap */
    if (bits & JT_NUMBER) bits |= JT_INTEGER;
    return bits;
}

static int alternatives(sc *c, const cJSON *list, const char *kw, const char *path) {
    if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list)) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: '%s' at %s must be a non-empty array", kw, path);
        return SC_FAIL;
    }
    if (!strcmp(kw, "oneOf")) {
        int seen = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, list) {
            int b = possible_types(c, e, 0);
            if (b & seen) {
                sc_unsupported(c, "oneOf", path,
                               "its branches may overlap (only branches of disjoint types reduce to a grammar)");
                return SC_FAIL;
            }
            seen |= b;
        }
    }
    hg_text t = {0};
    int n = 0, i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        char sub[512];
        snprintf(sub, sizeof sub, "%.400s/%s/%d", path, kw, i++);
        int r = sc_schema(c, e, sub);
        if (r == SC_FAIL) {
            free(t.s);
            return SC_FAIL;
        }
        if (r == SC_NEVER) continue;
        hg_text_printf(&t, "%ss-%d", n++ ? " | " : "", r);
    }
    int rule = SC_NEVER;
    if (n) {
        rule = sc_new_rule(c);
        sc_define(c, rule, t.s);
    }
    free(t.s);
    return rule;
}

/* allOf as one schema: keywords are combined where the result is exact
 * (type: intersection; required: union; bounds: the tighter one;
 * properties: each property's schemas combined), otherwise refused. */
static cJSON *merge(sc *c, const cJSON *a, const cJSON *b, const char *path, int depth);

static cJSON *as_object_schema(const cJSON *s) {
    if (cJSON_IsTrue(s)) return cJSON_CreateObject();
    return cJSON_Duplicate(s, 1);
}

static int merge_bound(cJSON *out, const cJSON *v, const char *k) {
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(out, k);
    if (!cJSON_IsNumber(cur) || !cJSON_IsNumber(v)) return -1;
    int take_max = strncmp(k, "min", 3) == 0;
    double x = take_max ? fmax(cur->valuedouble, v->valuedouble) : fmin(cur->valuedouble, v->valuedouble);
    cJSON_ReplaceItemInObjectCaseSensitive(out, k, cJSON_CreateNumber(x));
    return 0;
}

static cJSON *merge(sc *c, const cJSON *a, const cJSON *b, const char *path, int depth) {
    if (cJSON_IsFalse(a) || cJSON_IsFalse(b)) return cJSON_CreateFalse();
    if (depth > HG_MAX_NESTING) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: allOf nested too deeply at %s", path);
        return NULL;
    }
    if ((!cJSON_IsObject(a) && !cJSON_IsTrue(a)) || (!cJSON_IsObject(b) && !cJSON_IsTrue(b))) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: a schema at %s is neither an object nor a boolean", path);
        return NULL;
    }
    cJSON *out = as_object_schema(a);
    if (!out || cJSON_IsTrue(b)) return out;
    if (cJSON_GetObjectItemCaseSensitive(a, "$ref") || cJSON_GetObjectItemCaseSensitive(b, "$ref")) {
        const cJSON *ra = cJSON_GetObjectItemCaseSensitive(a, "$ref"), *rb = cJSON_GetObjectItemCaseSensitive(b, "$ref");
        if (!(ra && is_annotation_only(b)) && !(rb && is_annotation_only(a))) {
            sc_unsupported(c, "allOf", path, "a $ref combined with other constraints");
            cJSON_Delete(out);
            return NULL;
        }
    }
    int has_addl = cJSON_GetObjectItemCaseSensitive(a, "additionalProperties") ||
                   cJSON_GetObjectItemCaseSensitive(b, "additionalProperties");
    const cJSON *k;
    cJSON_ArrayForEach(k, b) {
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(out, k->string);
        if (IN(k->string, k_ignored)) continue;
        if (!cur) {
            if (!strcmp(k->string, "properties") && has_addl) {
                sc_unsupported(c, "allOf", path, "properties combined with additionalProperties of another branch");
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToObject(out, k->string, cJSON_Duplicate(k, 1));
            continue;
        }
        if (!strcmp(k->string, "type")) {
            sc tmp = {0};
            int ta = schema_types(&tmp, out, path), tb = schema_types(&tmp, b, path);
            hive_error_free(tmp.err);
            int both = ta & tb;
            cJSON *list = cJSON_CreateArray();
            static const char *const names[] = {"null", "boolean", "object", "array", "number", "integer", "string"};
            static const int bits[] = {JT_NULL, JT_BOOLEAN, JT_OBJECT, JT_ARRAY, JT_NUMBER | JT_INTEGER, JT_INTEGER,
                                       JT_STRING};
            for (int i = 0; i < 7; i++)
                if ((both & bits[i]) == bits[i] && !(i == 5 && (both & JT_NUMBER)))
                    cJSON_AddItemToArray(list, cJSON_CreateString(names[i]));
            if (!cJSON_GetArraySize(list)) {
                cJSON_Delete(list);
                cJSON_Delete(out);
                return cJSON_CreateFalse();
            }
            cJSON_ReplaceItemInObjectCaseSensitive(out, "type", list);
        } else if (!strcmp(k->string, "required")) {
            const cJSON *e;
            cJSON_ArrayForEach(e, k) cJSON_AddItemToArray(cur, cJSON_Duplicate(e, 1));
        } else if (!strcmp(k->string, "minLength") || !strcmp(k->string, "maxLength") || !strcmp(k->string, "minItems") ||
                   !strcmp(k->string, "maxItems") ||
                   ((!strcmp(k->string, "minimum") || !strcmp(k->string, "maximum")) && cJSON_IsNumber(k))) {
            merge_bound(out, k, k->string);
        } else if (!strcmp(k->string, "properties") && !has_addl && cJSON_IsObject(k) && cJSON_IsObject(cur)) {
            const cJSON *p;
            cJSON_ArrayForEach(p, k) {
                cJSON *mine = cJSON_GetObjectItemCaseSensitive(cur, p->string);
                if (!mine) {
                    cJSON_AddItemToObject(cur, p->string, cJSON_Duplicate(p, 1));
                    continue;
                }
                cJSON *m = merge(c, mine, p, path, depth + 1);
                if (!m) {
                    cJSON_Delete(out);
                    return NULL;
                }
                cJSON_ReplaceItemInObjectCaseSensitive(cur, p->string, m);
            }
        } else {
            sc_unsupported(c, "allOf", path, "two branches both set a keyword that does not combine exactly");
            cJSON_Delete(out);
            return NULL;
        }
    }
    return out;
}

static int keep(sc *c, cJSON *s) {
    cJSON **g = realloc(c->garbage, (c->n_garbage + 1) * sizeof *g);
    if (!g) {
        cJSON_Delete(s);
        return -1;
    }
    c->garbage = g;
    g[c->n_garbage++] = s;
    return 0;
}

/* The schema with allOf (and its siblings) folded into one schema. */
static const cJSON *fold_all_of(sc *c, const cJSON *s, const char *path) {
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(s, "allOf");
    if (!cJSON_IsArray(all) || !cJSON_GetArraySize(all)) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: 'allOf' at %s must be a non-empty array", path);
        return NULL;
    }
    cJSON *acc = cJSON_Duplicate(s, 1);
    if (!acc) return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(acc, "allOf");
    const cJSON *e;
    cJSON_ArrayForEach(e, all) {
        const cJSON *branch = e;
        if (cJSON_IsObject(e) && cJSON_GetObjectItemCaseSensitive(e, "allOf")) branch = fold_all_of(c, e, path);
        cJSON *m = branch ? merge(c, acc, branch, path, 0) : NULL;
        cJSON_Delete(acc);
        if (!m) return NULL;
        acc = m;
    }
    return keep(c, acc) ? NULL : acc;
}

/* ---- one schema ---- */

static int enum_rule(sc *c, const cJSON *s, int types, const char *path) {
    const cJSON *cst = cJSON_GetObjectItemCaseSensitive(s, "const");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    if (en && !cJSON_IsArray(en)) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: 'enum' at %s must be an array", path);
        return SC_FAIL;
    }
    if (en && cst) {
        sc_unsupported(c, "enum", path, "together with 'const'");
        return SC_FAIL;
    }
    hg_text t = {0};
    int n = 0;
    const cJSON *e = cst ? cst : en->child;
    for (; e; e = cst ? NULL : e->next) {
        if (!(sc_value_type(e) & types)) continue;
        char *txt = sc_serialize(e);
        if (!txt) continue;
        if (!hg_utf8_valid(txt, strlen(txt))) { /* a \\u escape of a lone surrogate */
            free(txt);
            free(t.s);
            sc_error(c, HIVE_E_INVALID, "JSON Schema: a value of 'enum'/'const' at %s is not valid Unicode", path);
            return SC_FAIL;
        }
        if (n++) hg_text_puts(&t, " | ");
        hg_text_literal(&t, txt, strlen(txt));
        free(txt);
    }
    int rule = SC_NEVER;
    if (n) {
        rule = sc_new_rule(c);
        sc_define(c, rule, t.s);
    }
    free(t.s);
    return rule;
}

int sc_schema(sc *c, const cJSON *s, const char *path) {
    if (c->err) return SC_FAIL;
    if (cJSON_IsBool(s)) {
        if (cJSON_IsFalse(s)) return SC_NEVER;
        int r = sc_new_rule(c);
        sc_define(c, r, "json-value");
        return r;
    }
    if (!cJSON_IsObject(s)) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: the schema at %s is not an object or a boolean", path);
        return SC_FAIL;
    }
    if (++c->depth > HG_MAX_NESTING) {
        sc_error(c, HIVE_E_INVALID, "JSON Schema: nested more than %d levels deep at %s (limit)", HG_MAX_NESTING, path);
        return SC_FAIL;
    }
    int rule = SC_FAIL;
    const cJSON *k;
    cJSON_ArrayForEach(k, s) {
        if (IN(k->string, k_ignored) || IN(k->string, k_supported)) continue;
        if (!strcmp(k->string, "uniqueItems") && cJSON_IsFalse(k)) continue; /* no constraint */
        sc_unsupported(c, k->string, path, NULL);
        goto out;
    }
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(s, "$id");
    if (!sub) sub = cJSON_GetObjectItemCaseSensitive(s, "id");
    if (cJSON_IsString(sub) && s != c->doc) {
        sc_unsupported(c, "$id", path, "a nested $id changes how references resolve");
        goto out;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    if (ref) {
        cJSON_ArrayForEach(k, s) if (!IN(k->string, k_ignored) && strcmp(k->string, "$ref")) {
            sc_unsupported(c, k->string, path, "beside $ref (drafts up to 7 ignore it; later drafts apply it)");
            goto out;
        }
        if (!cJSON_IsString(ref)) {
            sc_error(c, HIVE_E_INVALID, "JSON Schema: '$ref' at %s is not a string", path);
            goto out;
        }
        rule = schema_ref(c, ref->valuestring, path);
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(s, "allOf")) {
        const cJSON *folded = fold_all_of(c, s, path);
        rule = folded ? sc_schema(c, folded, path) : SC_FAIL;
        goto out;
    }
    const char *comb = cJSON_GetObjectItemCaseSensitive(s, "anyOf") ? "anyOf"
                       : cJSON_GetObjectItemCaseSensitive(s, "oneOf") ? "oneOf" : NULL;
    if (comb) {
        if (cJSON_GetObjectItemCaseSensitive(s, "anyOf") && cJSON_GetObjectItemCaseSensitive(s, "oneOf")) {
            sc_unsupported(c, "oneOf", path, "together with anyOf");
            goto out;
        }
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(s, comb);
        if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list)) { /* before merging its items as schemas */
            sc_error(c, HIVE_E_INVALID, "JSON Schema: '%s' at %s must be a non-empty array", comb, path);
            goto out;
        }
        /* siblings apply to every branch: distribute them (exact for anyOf / disjoint oneOf) */
        cJSON *siblings = cJSON_Duplicate(s, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(siblings, comb);
        if (is_annotation_only(siblings)) {
            cJSON_Delete(siblings);
            rule = alternatives(c, list, comb, path);
            goto out;
        }
        cJSON *branches = cJSON_CreateArray();
        const cJSON *e;
        cJSON_ArrayForEach(e, list) {
            cJSON *m = merge(c, siblings, e, path, 0);
            if (!m) break;
            cJSON_AddItemToArray(branches, m);
        }
        cJSON_Delete(siblings);
        if (keep(c, branches) || c->err) goto out; /* kept first: a failed merge must not leak it */
        rule = alternatives(c, branches, comb, path);
        goto out;
    }
    int types = schema_types(c, s, path);
    if (types < 0) goto out;
    if (cJSON_GetObjectItemCaseSensitive(s, "enum") || cJSON_GetObjectItemCaseSensitive(s, "const")) {
        cJSON_ArrayForEach(k, s) {
            if (IN(k->string, k_ignored) || !strcmp(k->string, "type") || !strcmp(k->string, "enum") ||
                !strcmp(k->string, "const"))
                continue;
            sc_unsupported(c, k->string, path, "beside enum/const");
            goto out;
        }
        rule = enum_rule(c, s, types, path);
        goto out;
    }
    hg_text t = {0};
    int n = 0, r;
    if (types & JT_NULL) hg_text_puts(&t, n++ ? " | \"null\"" : "\"null\"");
    if (types & JT_BOOLEAN) hg_text_puts(&t, n++ ? " | \"true\" | \"false\"" : "\"true\" | \"false\"");
#define PART(call)                                                                                                     \
    do {                                                                                                               \
        hg_text p = {0};                                                                                               \
        r = call;                                                                                                      \
        if (r == SC_FAIL) {                                                                                            \
            free(p.s), free(t.s);                                                                                      \
            goto out;                                                                                                  \
        }                                                                                                              \
        if (r != SC_NEVER && p.s) {                                                                                    \
            hg_text_printf(&t, "%s%s", n++ ? " | " : "", p.s);                                                         \
        }                                                                                                              \
        free(p.s);                                                                                                     \
    } while (0)
    if (types & JT_STRING) PART(sc_gen_string(c, s, path, &p));
    if (types & (JT_NUMBER | JT_INTEGER)) PART(sc_gen_numeric(c, s, path, types, &p));
    if (types & JT_OBJECT) PART(sc_gen_object(c, s, path, &p));
    if (types & JT_ARRAY) PART(sc_gen_array(c, s, path, &p));
#undef PART
    rule = SC_NEVER;
    if (n) {
        rule = sc_new_rule(c);
        sc_define(c, rule, t.s);
    }
    free(t.s);
out:
    c->depth--;
    return c->err ? SC_FAIL : rule;
}

/* ---- entry points ---- */

hive_status hive_json_schema_to_gbnf(const char *schema, size_t len, const hive_grammar_opts *o, char **gbnf,
                                     hive_error **err) {
    *gbnf = NULL;
    hive_grammar_opts def;
    if (!o) hive_grammar_opts_default(&def), o = &def;
    if (len > HG_MAX_SOURCE)
        return hive_fail(err, HIVE_E_INVALID, "JSON Schema of %zu bytes exceeds the limit of %u bytes", len,
                         HG_MAX_SOURCE);
    if (!hg_utf8_valid(schema, len)) return hive_fail(err, HIVE_E_INVALID, "JSON Schema: the text is not valid UTF-8");
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(schema, len, &end, 0);
    if (!doc) {
        size_t at = end && end >= schema ? (size_t)(end - schema) : 0;
        return hive_fail(err, HIVE_E_INVALID, "JSON Schema: not valid JSON (near byte %zu)", at);
    }
    sc c = {0};
    c.doc = doc;
    c.ws_max = o->json_ws_max;
    int root = sc_schema(&c, doc, "#");
    if (root == SC_NEVER && !c.err) sc_error(&c, HIVE_E_INVALID, "JSON Schema: the schema accepts no value");
    hive_status st = HIVE_OK;
    if (c.err) {
        st = c.err->code;
        if (err) *err = c.err, c.err = NULL;
    } else {
        hg_text t = {0};
        hg_text_printf(&t, "root ::= s-%d\n", root);
        hg_json_prims(&t, o->json_ws_max);
        hg_text_put(&t, c.out.s ? c.out.s : "", c.out.n);
        if (t.oom || c.out.oom) {
            free(t.s);
            st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
        } else {
            *gbnf = t.s;
        }
    }
    hive_error_free(c.err);
    free(c.out.s);
    for (size_t i = 0; i < c.n_refs; i++) free(c.refs[i].ref);
    free(c.refs);
    for (size_t i = 0; i < c.n_garbage; i++) cJSON_Delete(c.garbage[i]);
    free(c.garbage);
    cJSON_Delete(doc);
    return st;
}

hive_status hive_grammar_from_json_schema(const char *schema, size_t len, const hive_grammar_opts *o,
                                          hive_grammar **out, hive_error **err) {
    *out = NULL;
    char *gbnf = NULL;
    hive_status st = hive_json_schema_to_gbnf(schema, len, o, &gbnf, err);
    if (st != HIVE_OK) return st;
    st = hive_grammar_from_gbnf(gbnf, strlen(gbnf), out, err);
    if (st != HIVE_OK && err && *err) hive_error_prefix(*err, "JSON Schema compiled to an invalid grammar");
    free(gbnf);
    return st;
}
