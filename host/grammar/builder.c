/* Grammar builder: rules by name, deduplicated byte classes, repetition
 * expansion, then the checks and the flat layout the matcher walks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "grammar/grammar_impl.h"
#include "util/error.h"

typedef struct hg_rule {
    char *name;
    hg_seq *alts;
    uint32_t n_alts, cap_alts;
    int defined;
    int anon; /* made for a group or a repetition: messages name the rule it is in */
} hg_rule;

typedef struct class_entry {
    hg_class c;
    uint32_t id;
    UT_hash_handle hh;
} class_entry;

typedef struct name_entry {
    char *name;
    int32_t rule;
    UT_hash_handle hh;
} name_entry;

struct hg_builder {
    hg_rule *rules;
    uint32_t n_rules, cap_rules;
    class_entry *class_map;
    hg_class *classes;
    uint32_t n_classes, cap_classes;
    name_entry *names;
    uint64_t n_elems; /* over all alternatives, for the limit */
    uint32_t n_anon;
    hive_error *err;
};

void hg_fail(hg_builder *b, int code, const char *fmt, ...) {
    if (b->err) return;
    va_list ap;
    va_start(ap, fmt);
    b->err = hive_error_newv(code, fmt, ap);
    va_end(ap);
}

int hg_failed(const hg_builder *b) { return b->err != NULL; }

hg_builder *hg_builder_new(void) { return calloc(1, sizeof(hg_builder)); }

void hg_seq_free(hg_seq *s) {
    free(s->e);
    memset(s, 0, sizeof *s);
}

void hg_builder_free(hg_builder *b) {
    if (!b) return;
    for (uint32_t r = 0; r < b->n_rules; r++) {
        for (uint32_t a = 0; a < b->rules[r].n_alts; a++) hg_seq_free(&b->rules[r].alts[a]);
        free(b->rules[r].alts);
        free(b->rules[r].name);
    }
    free(b->rules);
    class_entry *ce, *ct;
    HASH_ITER(hh, b->class_map, ce, ct) {
        HASH_DEL(b->class_map, ce);
        free(ce);
    }
    name_entry *ne, *nt;
    HASH_ITER(hh, b->names, ne, nt) {
        HASH_DEL(b->names, ne);
        free(ne->name);
        free(ne);
    }
    free(b->classes);
    hive_error_free(b->err);
    free(b);
}

static int32_t new_rule(hg_builder *b, char *name) {
    if (!name) {
        hg_fail(b, HIVE_E_NOMEM, "out of memory");
        return -1;
    }
    if (b->n_rules >= HG_MAX_RULES) {
        free(name);
        hg_fail(b, HIVE_E_INVALID, "grammar too large: more than %u rules (limit)", HG_MAX_RULES);
        return -1;
    }
    if (b->n_rules == b->cap_rules) {
        uint32_t cap = b->cap_rules ? b->cap_rules * 2 : 64;
        hg_rule *r = realloc(b->rules, cap * sizeof *r);
        if (!r) {
            free(name);
            hg_fail(b, HIVE_E_NOMEM, "out of memory");
            return -1;
        }
        b->rules = r;
        b->cap_rules = cap;
    }
    b->rules[b->n_rules] = (hg_rule){name, NULL, 0, 0, 0, 0};
    return (int32_t)b->n_rules++;
}

int32_t hg_rule_named(hg_builder *b, const char *name, size_t len) {
    name_entry *e = NULL;
    HASH_FIND(hh, b->names, name, len, e);
    if (e) return e->rule;
    e = calloc(1, sizeof *e);
    char *key = strndup(name, len);
    if (!e || !key) {
        free(e);
        free(key);
        hg_fail(b, HIVE_E_NOMEM, "out of memory");
        return -1;
    }
    int32_t r = new_rule(b, strndup(name, len));
    if (r < 0) {
        free(e);
        free(key);
        return -1;
    }
    e->name = key;
    e->rule = r;
    HASH_ADD_KEYPTR(hh, b->names, e->name, len, e);
    return r;
}

int32_t hg_rule_anon(hg_builder *b, const char *base) {
    char buf[96];
    snprintf(buf, sizeof buf, "%.64s_%u", base ? base : "anon", ++b->n_anon);
    int32_t r = new_rule(b, strdup(buf));
    if (r >= 0) b->rules[r].defined = b->rules[r].anon = 1;
    return r;
}

const char *hg_rule_name(const hg_builder *b, int32_t r) { return b->rules[r].name; }
int hg_rule_defined(const hg_builder *b, int32_t r) { return b->rules[r].defined; }
void hg_rule_mark_defined(hg_builder *b, int32_t r) { b->rules[r].defined = 1; }

int hg_rule_add_alt(hg_builder *b, int32_t r, hg_seq *seq) {
    hg_rule *rule = &b->rules[r];
    if (rule->n_alts == rule->cap_alts) {
        uint32_t cap = rule->cap_alts ? rule->cap_alts * 2 : 4;
        hg_seq *a = realloc(rule->alts, cap * sizeof *a);
        if (!a) {
            hg_fail(b, HIVE_E_NOMEM, "out of memory");
            return -1;
        }
        rule->alts = a;
        rule->cap_alts = cap;
    }
    rule->alts[rule->n_alts++] = *seq;
    b->n_elems += seq->n + 1;
    memset(seq, 0, sizeof *seq);
    if (b->n_elems > HG_MAX_ELEMS) {
        hg_fail(b, HIVE_E_INVALID, "grammar too large: more than %u elements (limit)", HG_MAX_ELEMS);
        return -1;
    }
    return 0;
}

int hg_seq_push(hg_builder *b, hg_seq *s, uint32_t kind, uint32_t val) {
    if (b->err) return -1;
    if (s->n >= HG_MAX_ELEMS) {
        hg_fail(b, HIVE_E_INVALID, "grammar too large: more than %u elements (limit)", HG_MAX_ELEMS);
        return -1;
    }
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 8;
        hg_elem *e = realloc(s->e, cap * sizeof *e);
        if (!e) {
            hg_fail(b, HIVE_E_NOMEM, "out of memory");
            return -1;
        }
        s->e = e;
        s->cap = cap;
    }
    s->e[s->n++] = (hg_elem){kind, val};
    return 0;
}

int32_t hg_class_id(hg_builder *b, const hg_class *c) {
    class_entry *e = NULL;
    HASH_FIND(hh, b->class_map, c, sizeof *c, e);
    if (e) return (int32_t)e->id;
    if (b->n_classes == b->cap_classes) {
        uint32_t cap = b->cap_classes ? b->cap_classes * 2 : 64;
        hg_class *n = realloc(b->classes, cap * sizeof *n);
        if (!n) {
            hg_fail(b, HIVE_E_NOMEM, "out of memory");
            return -1;
        }
        b->classes = n;
        b->cap_classes = cap;
    }
    e = calloc(1, sizeof *e);
    if (!e) {
        hg_fail(b, HIVE_E_NOMEM, "out of memory");
        return -1;
    }
    e->c = *c;
    e->id = b->n_classes;
    b->classes[b->n_classes++] = *c;
    HASH_ADD(hh, b->class_map, c, sizeof e->c, e);
    return (int32_t)e->id;
}

int hg_seq_push_bytes(hg_builder *b, hg_seq *s, const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; i++) {
        hg_class c = {{0}};
        c.bits[bytes[i] >> 6] |= 1ull << (bytes[i] & 63);
        int32_t id = hg_class_id(b, &c);
        if (id < 0 || hg_seq_push(b, s, HG_TERM, (uint32_t)id)) return -1;
    }
    return 0;
}

/* Wraps s[from..] into one element (a rule ref) unless it already is one. */
static int single_element(hg_builder *b, hg_seq *s, uint32_t from, const char *base, hg_elem *out) {
    if (s->n - from == 1) {
        *out = s->e[from];
        s->n = from;
        return 0;
    }
    int32_t r = hg_rule_anon(b, base);
    if (r < 0) return -1;
    hg_seq inner = {0};
    for (uint32_t i = from; i < s->n; i++)
        if (hg_seq_push(b, &inner, s->e[i].kind, s->e[i].val)) {
            hg_seq_free(&inner);
            return -1;
        }
    s->n = from;
    if (hg_rule_add_alt(b, r, &inner)) {
        hg_seq_free(&inner);
        return -1;
    }
    *out = (hg_elem){HG_REF, (uint32_t)r};
    return 0;
}

/* x* as `r ::= x r | ` (the reference is the last element, so the matcher's
 * stacks do not grow with the number of repetitions). */
static int32_t star_rule(hg_builder *b, hg_elem x, const char *base) {
    int32_t r = hg_rule_anon(b, base);
    if (r < 0) return -1;
    hg_seq a = {0}, empty = {0};
    if (hg_seq_push(b, &a, x.kind, x.val) || hg_seq_push(b, &a, HG_REF, (uint32_t)r) || hg_rule_add_alt(b, r, &a) ||
        hg_rule_add_alt(b, r, &empty)) {
        hg_seq_free(&a);
        return -1;
    }
    return r;
}

int hg_seq_repeat(hg_builder *b, hg_seq *s, uint32_t from, uint32_t min, uint32_t max, const char *base) {
    if (b->err) return -1;
    if (min > HG_MAX_REPEAT || (max != UINT32_MAX && max > HG_MAX_REPEAT)) {
        hg_fail(b, HIVE_E_INVALID, "repetition {%u,%u} in rule '%s' exceeds the limit of %u", min, max, base,
                HG_MAX_REPEAT);
        return -1;
    }
    if (max != UINT32_MAX && max < min) {
        hg_fail(b, HIVE_E_INVALID, "repetition {%u,%u} in rule '%s': the maximum is below the minimum", min, max, base);
        return -1;
    }
    if (s->n == from) return 0; /* repeating nothing */
    hg_elem x;
    if (single_element(b, s, from, base, &x)) return -1;
    for (uint32_t i = 0; i < min; i++)
        if (hg_seq_push(b, s, x.kind, x.val)) return -1;
    if (max == UINT32_MAX) {
        int32_t r = star_rule(b, x, base);
        return r < 0 ? -1 : hg_seq_push(b, s, HG_REF, (uint32_t)r);
    }
    /* up to (max - min) more: opt_k ::= x opt_{k-1} | , opt_1 ::= x | */
    int32_t prev = -1;
    for (uint32_t k = 0; k < max - min; k++) {
        int32_t r = hg_rule_anon(b, base);
        if (r < 0) return -1;
        hg_seq a = {0}, empty = {0};
        if (hg_seq_push(b, &a, x.kind, x.val) || (prev >= 0 && hg_seq_push(b, &a, HG_REF, (uint32_t)prev)) ||
            hg_rule_add_alt(b, r, &a) || hg_rule_add_alt(b, r, &empty)) {
            hg_seq_free(&a);
            return -1;
        }
        prev = r;
    }
    return prev >= 0 ? hg_seq_push(b, s, HG_REF, (uint32_t)prev) : 0;
}

/* ---- literal alternations as a trie ---- */

/* A rule with many alternatives that are all plain terminal sequences (a big
 * enum, a keyword list) is rewritten as a trie of rules, so after each byte
 * one parse is alive instead of one per alternative: `r ::= "ab" | "ac"`
 * becomes `r ::= "a" r_1`, `r_1 ::= "b" | "c"`. Same language. */
#define FACTOR_MIN_ALTS 16
#define FACTOR_MAX_LEN 256

static int cmp_seq(const void *pa, const void *pb) {
    const hg_seq *a = *(hg_seq *const *)pa, *b = *(hg_seq *const *)pb;
    uint32_t n = a->n < b->n ? a->n : b->n;
    for (uint32_t i = 0; i < n; i++)
        if (a->e[i].val != b->e[i].val) return a->e[i].val < b->e[i].val ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n;
}

/* Alternatives of `target` for the sorted sequences [lo, hi), which agree on their first d elements. */
static int factor_range(hg_builder *b, hg_seq **seqs, uint32_t lo, uint32_t hi, uint32_t d, int32_t target,
                        const char *base) {
    uint32_t i = lo;
    if (seqs[i]->n == d) { /* a word ends here */
        hg_seq empty = {0};
        if (hg_rule_add_alt(b, target, &empty)) return -1;
        while (i < hi && seqs[i]->n == d) i++;
    }
    while (i < hi) {
        uint32_t j = i, c = seqs[i]->e[d].val;
        while (j < hi && seqs[j]->e[d].val == c) j++;
        hg_seq alt = {0};
        if (hg_seq_push(b, &alt, HG_TERM, c)) return -1;
        if (j - i == 1) {
            for (uint32_t k = d + 1; k < seqs[i]->n; k++)
                if (hg_seq_push(b, &alt, HG_TERM, seqs[i]->e[k].val)) {
                    hg_seq_free(&alt);
                    return -1;
                }
        } else if (seqs[j - 1]->n > d + 1) { /* something continues after this element */
            int32_t child = hg_rule_anon(b, base);
            if (child < 0 || factor_range(b, seqs, i, j, d + 1, child, base) ||
                hg_seq_push(b, &alt, HG_REF, (uint32_t)child)) {
                hg_seq_free(&alt);
                return -1;
            }
        }
        if (hg_rule_add_alt(b, target, &alt)) {
            hg_seq_free(&alt);
            return -1;
        }
        i = j;
    }
    return 0;
}

static int factor_literal_rules(hg_builder *b) {
    uint32_t n_rules = b->n_rules; /* rules made here are already factored */
    for (uint32_t r = 0; r < n_rules && !b->err; r++) {
        hg_rule *rule = &b->rules[r];
        if (rule->n_alts < FACTOR_MIN_ALTS) continue;
        int plain = 1;
        for (uint32_t a = 0; a < rule->n_alts && plain; a++) {
            const hg_seq *s = &rule->alts[a];
            if (s->n > FACTOR_MAX_LEN) plain = 0;
            for (uint32_t i = 0; i < s->n && plain; i++) plain = s->e[i].kind == HG_TERM;
        }
        if (!plain) continue;
        hg_seq *old = rule->alts;
        uint32_t n_old = rule->n_alts;
        hg_seq **sorted = malloc(n_old * sizeof *sorted);
        if (!sorted) {
            hg_fail(b, HIVE_E_NOMEM, "out of memory");
            return -1;
        }
        for (uint32_t a = 0; a < n_old; a++) sorted[a] = &old[a], b->n_elems -= old[a].n + 1;
        qsort(sorted, n_old, sizeof *sorted, cmp_seq);
        rule->alts = NULL;
        rule->n_alts = rule->cap_alts = 0;
        char base[72];
        snprintf(base, sizeof base, "%.64s", rule->name);
        int rc = factor_range(b, sorted, 0, n_old, 0, (int32_t)r, base);
        for (uint32_t a = 0; a < n_old; a++) hg_seq_free(&old[a]);
        free(old);
        free(sorted);
        if (rc) return -1;
    }
    return 0;
}

/* ---- checks ---- */

static void compute_nullable(const hg_builder *b, uint8_t *nullable) {
    memset(nullable, 0, b->n_rules);
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t r = 0; r < b->n_rules; r++) {
            if (nullable[r]) continue;
            for (uint32_t a = 0; a < b->rules[r].n_alts && !nullable[r]; a++) {
                const hg_seq *s = &b->rules[r].alts[a];
                uint32_t i = 0;
                while (i < s->n && s->e[i].kind == HG_REF && nullable[s->e[i].val]) i++;
                if (i == s->n) nullable[r] = changed = 1;
            }
        }
    }
}

/* Left recursion: rule A reaches A again through references that can each
 * be the first thing matched. The matcher would push frames forever, so it
 * is refused with the cycle named. Iterative DFS (colours) over the
 * left-corner graph. */
static int check_left_recursion(hg_builder *b, const uint8_t *nullable) {
    uint32_t n = b->n_rules;
    uint8_t *colour = calloc(n, 1);
    uint32_t *stack = malloc((size_t)n * sizeof *stack), *edge = malloc((size_t)n * 2 * sizeof *edge);
    if (!colour || !stack || !edge) {
        free(colour), free(stack), free(edge);
        hg_fail(b, HIVE_E_NOMEM, "out of memory");
        return -1;
    }
    int rc = 0;
    for (uint32_t start = 0; start < n && !rc; start++) {
        if (colour[start]) continue;
        size_t sp = 0;
        stack[sp] = start;
        edge[2 * sp] = edge[2 * sp + 1] = 0; /* alt, elem */
        colour[start] = 1;
        sp++;
        while (sp && !rc) {
            uint32_t r = stack[sp - 1];
            uint32_t *alt = &edge[2 * (sp - 1)], *el = &edge[2 * (sp - 1) + 1];
            int pushed = 0;
            while (*alt < b->rules[r].n_alts && !pushed) {
                const hg_seq *s = &b->rules[r].alts[*alt];
                if (*el >= s->n || (*el > 0 && !(s->e[*el - 1].kind == HG_REF && nullable[s->e[*el - 1].val]))) {
                    (*alt)++;
                    *el = 0;
                    continue;
                }
                hg_elem e = s->e[(*el)++];
                if (e.kind != HG_REF) {
                    *el = s->n; /* a terminal ends the left corner */
                    continue;
                }
                if (colour[e.val] == 1 && b->rules[e.val].anon) {
                    /* the name is "<rule>_<n>": say which rule the group or repetition is in */
                    const char *nm = b->rules[e.val].name, *us = strrchr(nm, '_');
                    hg_fail(b, HIVE_E_UNSUPPORTED,
                            "a group or repetition in rule '%.*s' is left-recursive: it repeats something that can "
                            "match nothing (like (x?)* or (\"\")+); make the repeated part non-empty",
                            (int)(us ? us - nm : (ptrdiff_t)strlen(nm)), nm);
                    rc = -1;
                    break;
                }
                if (colour[e.val] == 1) {
                    hg_fail(b, HIVE_E_UNSUPPORTED,
                            "rule '%s' is left-recursive (through '%s'): rewrite it with repetition, e.g. "
                            "`list ::= item (\",\" item)*`",
                            b->rules[e.val].name, b->rules[r].name);
                    rc = -1;
                    break;
                }
                if (colour[e.val] == 0) {
                    colour[e.val] = 1;
                    stack[sp] = e.val;
                    edge[2 * sp] = edge[2 * sp + 1] = 0;
                    sp++;
                    pushed = 1;
                }
            }
            if (!pushed && !rc) {
                colour[r] = 2;
                sp--;
            }
        }
    }
    free(colour), free(stack), free(edge);
    return rc;
}

void hive_grammar_free(hive_grammar *g) {
    if (!g) return;
    hm_row_cache_free(g->mask_cache);
    for (uint32_t r = 0; r < g->n_rules && g->rule_names; r++) free(g->rule_names[r]);
    free(g->rule_names);
    free(g->elems);
    free(g->alt_start);
    free(g->rule_alts);
    free(g->classes);
    free(g);
}

void hive_grammar_get_stats(const hive_grammar *g, hive_grammar_stats *st) {
    st->n_rules = g->n_rules;
    st->n_elems = g->n_elems;
    st->n_classes = g->n_classes;
}

hive_status hg_builder_finish(hg_builder *b, const char *root, hive_grammar **out, hive_error **err) {
    *out = NULL;
    name_entry *re = NULL;
    if (!b->err) {
        HASH_FIND_STR(b->names, root, re);
        if (!re || !b->rules[re->rule].defined) hg_fail(b, HIVE_E_INVALID, "the grammar has no '%s' rule", root);
    }
    for (uint32_t r = 0; r < b->n_rules && !b->err; r++)
        if (!b->rules[r].defined) hg_fail(b, HIVE_E_INVALID, "rule '%s' is used but never defined", b->rules[r].name);
    if (!b->err) factor_literal_rules(b);
    uint8_t *nullable = b->err ? NULL : malloc(b->n_rules ? b->n_rules : 1);
    if (!b->err && !nullable) hg_fail(b, HIVE_E_NOMEM, "out of memory");
    if (!b->err) {
        compute_nullable(b, nullable);
        check_left_recursion(b, nullable);
    }
    free(nullable);
    hive_grammar *g = b->err ? NULL : calloc(1, sizeof *g);
    if (!b->err && !g) hg_fail(b, HIVE_E_NOMEM, "out of memory");
    if (!b->err) {
        uint32_t n_alts = 0;
        for (uint32_t r = 0; r < b->n_rules; r++) n_alts += b->rules[r].n_alts;
        g->n_rules = b->n_rules;
        g->n_alts = n_alts;
        g->n_elems = (uint32_t)b->n_elems;
        g->root = (uint32_t)re->rule;
        g->elems = malloc((b->n_elems + 1) * sizeof *g->elems);
        g->alt_start = malloc((n_alts + 1) * sizeof *g->alt_start);
        g->rule_alts = malloc((b->n_rules + 1) * sizeof *g->rule_alts);
        g->rule_names = calloc(b->n_rules + 1, sizeof *g->rule_names);
        g->classes = malloc((b->n_classes + 1) * sizeof *g->classes);
        if (!g->elems || !g->alt_start || !g->rule_alts || !g->rule_names || !g->classes) {
            hg_fail(b, HIVE_E_NOMEM, "out of memory");
        } else {
            if (b->n_classes) memcpy(g->classes, b->classes, b->n_classes * sizeof *g->classes);
            g->n_classes = b->n_classes;
            uint32_t e = 0, a = 0;
            for (uint32_t r = 0; r < b->n_rules; r++) {
                g->rule_alts[r] = a;
                g->rule_names[r] = b->rules[r].name;
                b->rules[r].name = NULL;
                for (uint32_t k = 0; k < b->rules[r].n_alts; k++) {
                    const hg_seq *s = &b->rules[r].alts[k];
                    g->alt_start[a++] = e;
                    for (uint32_t i = 0; i < s->n; i++) g->elems[e++] = s->e[i];
                    g->elems[e++] = (hg_elem){HG_END, 0};
                }
            }
            g->rule_alts[b->n_rules] = a;
            g->alt_start[a] = e;
            g->n_elems = e;
        }
    }
    if (b->err) {
        hive_grammar_free(g);
        hive_status code = b->err->code;
        if (err) {
            *err = b->err;
            b->err = NULL;
        }
        return code;
    }
    *out = g;
    return HIVE_OK;
}
