/* Shipped grammars: any JSON value, any JSON object, the PostgreSQL subset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_gbnf.h"
#include "util/error.h"

void hive_grammar_opts_default(hive_grammar_opts *o) { o->json_ws_max = 2; }

void hg_json_prims(hg_text *t, uint32_t ws_max) {
    /* whitespace is bounded so sampling cannot loop on it: at most one line
     * break (pretty printing; never a blank line, which is a common stop
     * string) and ws_max spaces or tabs. One json-ws sits between any two
     * tokens, never two in a row. */
    hg_text_printf(t, "json-ws ::= [ \\t]{0,%u} | \"\\n\" [ \\t]{0,%u}\n", ws_max, ws_max);
    hg_text_puts(t,
                 "json-hex ::= [0-9a-fA-F]\n"
                 /* \\u escapes of surrogates are refused: a code point is one character */
                 "json-u4 ::= [0-9a-cA-C] json-hex json-hex json-hex | [dD] [0-7] json-hex json-hex"
                 " | [eEfF] json-hex json-hex json-hex\n"
                 "json-char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" json-u4)\n"
                 "json-string ::= \"\\\"\" json-char* \"\\\"\"\n"
                 "json-integer ::= \"-\"? (\"0\" | [1-9] [0-9]*)\n"
                 "json-number ::= json-integer (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)?\n"
                 "json-value ::= json-object | json-array | json-string | json-number | \"true\" | \"false\" | \"null\"\n"
                 "json-member ::= json-string json-ws \":\" json-ws json-value json-ws\n"
                 "json-object ::= \"{\" json-ws (json-member (\",\" json-ws json-member)*)? \"}\"\n"
                 "json-array ::= \"[\" json-ws (json-value json-ws (\",\" json-ws json-value json-ws)*)? \"]\"\n");
}

char *hive_grammar_builtin_gbnf(const char *name, const hive_grammar_opts *o) {
    hive_grammar_opts def;
    if (!o) hive_grammar_opts_default(&def), o = &def;
    hg_text t = {0};
    if (!strcmp(name, "sql-postgres")) {
        hg_sql_postgres(&t);
    } else if (!strcmp(name, "json") || !strcmp(name, "json-object")) {
        hg_text_printf(&t, "root ::= %s\n", !strcmp(name, "json") ? "json-value" : "json-object");
        hg_json_prims(&t, o->json_ws_max);
    } else {
        return NULL;
    }
    if (t.oom) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

hive_status hive_grammar_builtin(const char *name, const hive_grammar_opts *o, hive_grammar **out, hive_error **err) {
    *out = NULL;
    char *text = hive_grammar_builtin_gbnf(name, o);
    if (!text)
        return hive_fail(err, HIVE_E_NOTFOUND, "no shipped grammar '%s' (known: json, json-object, sql-postgres)", name);
    hive_status st = hive_grammar_from_gbnf(text, strlen(text), out, err);
    if (st != HIVE_OK && err && *err) hive_error_prefix(*err, "shipped grammar '%s'", name);
    free(text);
    return st;
}
