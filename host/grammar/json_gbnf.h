/* GBNF building blocks for JSON, shared by the "json" builtins and the JSON
 * Schema compiler. Rule names start with "json-" so a schema's own names
 * (which become "s-...") never collide. */
#ifndef HIVE_GRAMMAR_JSON_GBNF_H
#define HIVE_GRAMMAR_JSON_GBNF_H

#include <stdint.h>

#include "grammar/grammar_impl.h"

/* Defines json-ws (at most ws_max whitespace characters), json-char (one
 * character of a string body, escapes included), json-string, json-number,
 * json-integer, json-value, json-object, json-array. */
void hg_json_prims(hg_text *t, uint32_t ws_max);

/* The PostgreSQL-subset grammar (sql_postgres.c). */
void hg_sql_postgres(hg_text *t);

/* Rule `name`: words of one first character from `first` then any number
 * from `rest` (both plain ASCII character lists), except the given words. */
void hg_not_words(hg_text *t, const char *name, const char *const *words, size_t n, const char *first,
                  const char *rest);

#endif
