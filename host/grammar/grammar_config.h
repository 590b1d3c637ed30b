/* The grammar a request asks for, from the effective configuration:
 * grammar.file, grammar.gbnf, grammar.json_schema, grammar.regex,
 * grammar.builtin (--grammar-file, --grammar, --json-schema, --regex,
 * --json / a manifest's grammar_type). The key with the highest source wins
 * (command line > expert manifest > config file); two at the same level are
 * an error. */
#ifndef HIVE_GRAMMAR_GRAMMAR_CONFIG_H
#define HIVE_GRAMMAR_GRAMMAR_CONFIG_H

#include "config/config.h"
#include "grammar/grammar.h"

/* *out = NULL when no grammar is configured. `what` (may be NULL) receives a
 * short description ("--json-schema person.json (command line)"). */
hive_status hive_grammar_from_config(const hive_config *cfg, hive_grammar **out, char *what, size_t what_cap,
                                     hive_error **err);

/* Reads a whole file (malloc'd, NUL-terminated) up to `limit` bytes. */
hive_status hive_grammar_read_file(const char *path, size_t limit, char **text, size_t *len, hive_error **err);

/* Compiles one grammar source by kind: "gbnf-file", "gbnf", "json-schema"
 * (a file path, or the schema text when it starts with '{' or 't'/'f'),
 * "regex", "builtin". */
hive_status hive_grammar_compile(const char *kind, const char *value, const hive_grammar_opts *o, hive_grammar **out,
                                 hive_error **err);

#endif
