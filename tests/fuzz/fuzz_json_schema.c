/* Fuzzes the JSON Schema compiler (host/grammar/json_schema*.c, regex.c) and
 * the grammar it emits: the schema text compiles to GBNF (which must then
 * parse: a compiler that emits bad GBNF is a bug, so that aborts), and a
 * matcher is fed a few JSON instances. The input is the schema, optionally
 * followed by a NUL byte and an instance to feed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "grammar/grammar.h"
#include "util/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    return 0;
}

static void feed(const hive_grammar *g, const char *s, size_t n) {
    hive_grammar_matcher *m = hive_grammar_matcher_new(g, NULL, NULL);
    if (!m) return;
    hive_grammar_matcher_accept_bytes(m, s, n);
    (void)hive_grammar_matcher_is_accepting(m);
    hive_grammar_matcher_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    hive_grammar_opts o;
    hive_grammar_opts_default(&o);
    char *gbnf = NULL;
    hive_error *err = NULL;
    if (hive_json_schema_to_gbnf((const char *)data, len, &o, &gbnf, &err) != HIVE_OK) {
        fuzz_touch(hive_error_message(err), strlen(hive_error_message(err)));
        hive_error_free(err);
        return 0;
    }
    hive_grammar *g = NULL;
    if (hive_grammar_from_gbnf(gbnf, strlen(gbnf), &g, &err) != HIVE_OK) {
        /* only the documented limits may refuse what the compiler wrote */
        const char *msg = hive_error_message(err);
        if (!strstr(msg, "limit") && !strstr(msg, "left-recursive")) {
            fprintf(stderr, "the schema compiler wrote GBNF that does not parse: %s\n%s\n", msg, gbnf);
            abort();
        }
        hive_error_free(err);
        free(gbnf);
        return 0;
    }
    static const char *const instances[] = {"{}", "[]", "null", "true", "0", "-12.5e3", "\"\"", "\"abc\"",
                                            "{\"a\":1}", "[1,\"x\",null]", "{\"name\":\"x\",\"age\":3}"};
    for (size_t i = 0; i < sizeof instances / sizeof instances[0]; i++) feed(g, instances[i], strlen(instances[i]));
    if (nul) feed(g, (const char *)nul + 1, size - len - 1);
    hive_grammar_free(g);
    free(gbnf);
    return 0;
}
