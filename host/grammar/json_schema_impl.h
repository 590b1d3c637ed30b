/* JSON Schema compiler internals: json_schema.c walks schemas (keywords,
 * $ref, combinators); json_schema_types.c writes the GBNF of each JSON type.
 *
 * A schema compiles to the union, over the JSON types it allows, of that
 * type's grammar with the keywords that apply to it (so a schema without
 * "type" still accepts a string when it only constrains objects, as the
 * specification says). Every rule is named s-N. */
#ifndef HIVE_GRAMMAR_JSON_SCHEMA_IMPL_H
#define HIVE_GRAMMAR_JSON_SCHEMA_IMPL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "grammar/grammar_impl.h"

enum {
    JT_NULL = 1,
    JT_BOOLEAN = 2,
    JT_OBJECT = 4,
    JT_ARRAY = 8,
    JT_NUMBER = 16, /* non-integers; JT_INTEGER is separate so "integer" can be exact */
    JT_INTEGER = 32,
    JT_STRING = 64,
    JT_ALL = 127,
};

#define SC_NEVER (-2) /* the schema accepts no value */
#define SC_FAIL (-1)  /* error set */

typedef struct sc_ref {
    char *ref;
    int rule;
} sc_ref;

typedef struct sc {
    hg_text out;
    cJSON *doc;
    uint32_t ws_max;
    int n_rules;
    int depth;
    hive_error *err;
    sc_ref *refs;
    size_t n_refs;
    int have_date_time; /* the json-date / json-time rules are written */
    cJSON **garbage; /* schemas made by merging allOf, freed at the end */
    size_t n_garbage;
} sc;

/* A rule for the schema (its id), SC_NEVER, or SC_FAIL. */
int sc_schema(sc *c, const cJSON *schema, const char *path);
/* Reserves a rule id; its text is written later with sc_define. */
int sc_new_rule(sc *c);
void sc_define(sc *c, int rule, const char *body);
void sc_error(sc *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "unsupported keyword 'k' at PATH" */
void sc_unsupported(sc *c, const char *keyword, const char *path, const char *why);

/* Per type: append the grammar expression for values of that type under
 * the schema's keywords to `t`; return 0, SC_NEVER or SC_FAIL. */
int sc_gen_string(sc *c, const cJSON *s, const char *path, hg_text *t);
int sc_gen_numeric(sc *c, const cJSON *s, const char *path, int types, hg_text *t);
int sc_gen_object(sc *c, const cJSON *s, const char *path, hg_text *t);
int sc_gen_array(sc *c, const cJSON *s, const char *path, hg_text *t);

/* The JSON text of a value as our grammar writes it (cJSON's compact form). */
char *sc_serialize(const cJSON *v);
/* JSON type bit of a value (JT_INTEGER for integral numbers). */
int sc_value_type(const cJSON *v);

/* Regex (JSON Schema "pattern", unanchored) as GBNF over a JSON string's
 * body: regex.c. */
int hg_regex_json_body(const char *re, hg_text *t, char *errbuf, size_t errcap);

#endif
