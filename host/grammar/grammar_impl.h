/* The compiled grammar and the builder the front ends (GBNF) fill in.
 *
 * A grammar is a set of rules; a rule is a list of alternatives; an
 * alternative is a sequence of elements ending in END. An element is a
 * terminal (a set of bytes) or a reference to a rule. Everything is bytes:
 * a character class over code points becomes a small rule whose alternatives
 * are UTF-8 byte sequences, so the matcher never decodes UTF-8 and a
 * character split across tokens needs no special case. */
#ifndef HIVE_GRAMMAR_GRAMMAR_IMPL_H
#define HIVE_GRAMMAR_GRAMMAR_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "grammar/grammar.h"

/* Limits that keep hostile grammars from costing unbounded time or memory
 * (docs/GRAMMAR.md "Limits"). */
#define HG_MAX_ELEMS (1u << 21)      /* elements in the compiled grammar */
#define HG_MAX_RULES (1u << 19)
#define HG_MAX_REPEAT 10000u         /* the n of {m,n} */
#define HG_MAX_NESTING 128           /* nested groups / schema depth */
#define HG_MAX_SOURCE (16u << 20)    /* bytes of grammar or schema text */

enum { HG_END = 0, HG_TERM = 1, HG_REF = 2 };

typedef struct hg_elem {
    uint32_t kind : 2;
    uint32_t val : 30; /* class index (TERM) or rule index (REF) */
} hg_elem;

typedef struct hg_class {
    uint64_t bits[4];
} hg_class;

struct hive_grammar {
    hg_elem *elems;
    uint32_t n_elems;
    uint32_t *alt_start;  /* element index of each alternative's first element */
    uint32_t *rule_alts;  /* rule r's alternatives: alt_start[rule_alts[r] .. rule_alts[r + 1]) */
    uint32_t n_rules, n_alts, root;
    hg_class *classes;
    uint32_t n_classes;
    char **rule_names;
    /* The per-grammar token-mask cache (mask_cache.c): made on the first
     * mask, thread safe; the rest of the grammar never changes. */
    struct hm_row_cache *_Atomic mask_cache;
};

void hm_row_cache_free(struct hm_row_cache *c); /* mask_cache.c */

static inline int hg_class_has(const hg_class *c, uint8_t b) { return (int)((c->bits[b >> 6] >> (b & 63)) & 1); }

/* ---- builder ---- */

typedef struct hg_builder hg_builder;
typedef struct hg_seq {
    hg_elem *e;
    uint32_t n, cap;
} hg_seq;

hg_builder *hg_builder_new(void);
void hg_builder_free(hg_builder *b);
/* The rule with this name, created (undefined) if new; -1 on a limit (error set). */
int32_t hg_rule_named(hg_builder *b, const char *name, size_t len);
/* A fresh anonymous rule named after `base`. */
int32_t hg_rule_anon(hg_builder *b, const char *base);
const char *hg_rule_name(const hg_builder *b, int32_t r);
int hg_rule_defined(const hg_builder *b, int32_t r);
void hg_rule_mark_defined(hg_builder *b, int32_t r);
/* Moves seq (then empty) in as an alternative of rule r. */
int hg_rule_add_alt(hg_builder *b, int32_t r, hg_seq *seq);

int hg_seq_push(hg_builder *b, hg_seq *s, uint32_t kind, uint32_t val);
void hg_seq_free(hg_seq *s);
/* A terminal for one byte set (deduplicated); -1 on a limit. */
int32_t hg_class_id(hg_builder *b, const hg_class *c);
/* Appends the bytes of a literal. */
int hg_seq_push_bytes(hg_builder *b, hg_seq *s, const uint8_t *bytes, size_t n);
/* Appends one element matching any code point in the sorted, disjoint
 * ranges [lo[i], hi[i]] (surrogates never match). */
int hg_seq_push_codepoints(hg_builder *b, hg_seq *s, const uint32_t *lo, const uint32_t *hi, size_t n,
                           const char *base);
/* Repeats the elements s[from..] min..max times (max UINT32_MAX = unbounded). */
int hg_seq_repeat(hg_builder *b, hg_seq *s, uint32_t from, uint32_t min, uint32_t max, const char *base);

/* Error of the builder (first one wins): printf-style. */
void hg_fail(hg_builder *b, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int hg_failed(const hg_builder *b);

/* Checks (undefined rules, left recursion) and flattens into a grammar. */
hive_status hg_builder_finish(hg_builder *b, const char *root, hive_grammar **out, hive_error **err);

/* Code point ranges: sorts and merges; complement within [0, 0x10FFFF]. */
size_t hg_ranges_normalize(uint32_t *lo, uint32_t *hi, size_t n);
size_t hg_ranges_complement(const uint32_t *lo, const uint32_t *hi, size_t n, uint32_t *out_lo, uint32_t *out_hi);

/* Appends UTF-8 of cp to out (4 bytes room); returns the length. */
size_t hg_utf8_encode(uint32_t cp, uint8_t *out);
/* Decodes one code point; returns its length (0 on invalid). */
size_t hg_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* 1 when all n bytes are valid UTF-8 (no surrogates, no overlong forms). */
int hg_utf8_valid(const char *s, size_t n);

/* A growable text buffer for the front ends that emit GBNF. */
typedef struct hg_text {
    char *s;
    size_t n, cap;
    int oom;
} hg_text;
void hg_text_put(hg_text *t, const char *s, size_t n);
void hg_text_puts(hg_text *t, const char *s);
void hg_text_printf(hg_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A GBNF string literal "..." for the bytes. */
void hg_text_literal(hg_text *t, const char *s, size_t n);

#endif
