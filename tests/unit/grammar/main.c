#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "util/error.h"

int g_accepts(const hive_grammar *g, const char *text) {
    hive_error *err = NULL;
    hive_grammar_matcher *m = hive_grammar_matcher_new(g, NULL, &err);
    if (!m) {
        fprintf(stderr, "matcher: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 0;
    }
    size_t n = strlen(text);
    int ok = hive_grammar_matcher_accept_bytes(m, text, n) == n && hive_grammar_matcher_is_accepting(m);
    hive_grammar_matcher_free(m);
    return ok;
}

hive_grammar *g_gbnf(const char *text) {
    hive_grammar *g = NULL;
    hive_error *err = NULL;
    if (hive_grammar_from_gbnf(text, strlen(text), &g, &err) != HIVE_OK) {
        fprintf(stderr, "grammar: %s\n", hive_error_message(err));
        hive_error_free(err);
        fail_msg("GBNF did not compile");
    }
    return g;
}

const char *g_gbnf_error(const char *text) {
    static char msg[512];
    hive_grammar *g = NULL;
    hive_error *err = NULL;
    if (hive_grammar_from_gbnf(text, strlen(text), &g, &err) == HIVE_OK) {
        hive_grammar_free(g);
        return NULL;
    }
    snprintf(msg, sizeof msg, "%s", hive_error_message(err));
    hive_error_free(err);
    return msg;
}

int main(void) {
    int rc = 0;
    rc |= _cmocka_run_group_tests("gbnf", gbnf_tests, n_gbnf_tests, NULL, NULL);
    rc |= _cmocka_run_group_tests("matcher", matcher_tests, n_matcher_tests, NULL, NULL);
    rc |= _cmocka_run_group_tests("schema", schema_tests, n_schema_tests, NULL, NULL);
    rc |= _cmocka_run_group_tests("mask_cache", mask_cache_tests, n_mask_cache_tests, NULL, NULL);
    return rc;
}
