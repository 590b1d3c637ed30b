/* Shared helpers of the grammar unit tests. */
#ifndef HIVE_TESTS_GRAMMAR_H
#define HIVE_TESTS_GRAMMAR_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "grammar/grammar.h"

/* 1 when the whole text is a complete sentence of the grammar. */
int g_accepts(const hive_grammar *g, const char *text);
/* Compiles GBNF (fails the test on error). */
hive_grammar *g_gbnf(const char *text);
/* The compile error message for GBNF that must not compile (static buffer). */
const char *g_gbnf_error(const char *text);

extern const struct CMUnitTest gbnf_tests[];
extern const size_t n_gbnf_tests;
extern const struct CMUnitTest matcher_tests[];
extern const size_t n_matcher_tests;
extern const struct CMUnitTest schema_tests[];
extern const size_t n_schema_tests;
extern const struct CMUnitTest mask_cache_tests[];
extern const size_t n_mask_cache_tests;

#endif
