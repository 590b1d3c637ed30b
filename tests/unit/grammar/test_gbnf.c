/* GBNF syntax: every construct, and errors that name the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "util/error.h"

static void check(const char *grammar, const char *const *yes, const char *const *no) {
    hive_grammar *g = g_gbnf(grammar);
    for (; yes && *yes; yes++)
        if (!g_accepts(g, *yes)) fail_msg("'%s' should match %s", *yes, grammar);
    for (; no && *no; no++)
        if (g_accepts(g, *no)) fail_msg("'%s' should not match %s", *no, grammar);
    hive_grammar_free(g);
}

static void literals_and_alternatives(void **state) {
    (void)state;
    check("root ::= \"ab\" | \"cd\"  # comment\n", (const char *[]){"ab", "cd", NULL},
          (const char *[]){"", "a", "abcd", "ac", NULL});
    check("root ::= a b\na ::= \"x\"\nb ::= \"y\" | \"\"\n", (const char *[]){"xy", "x", NULL},
          (const char *[]){"y", "xyy", NULL});
    /* alternatives continued on the next line; a rule ends where the next begins */
    check("root ::= \"a\"\n  | \"b\"\nother ::= \"c\"", (const char *[]){"a", "b", NULL}, (const char *[]){"c", NULL});
}

static void repetition(void **state) {
    (void)state;
    check("root ::= \"a\"*", (const char *[]){"", "a", "aaaa", NULL}, (const char *[]){"b", NULL});
    check("root ::= \"a\"+ \"b\"?", (const char *[]){"a", "aab", NULL}, (const char *[]){"", "b", "abb", NULL});
    check("root ::= \"ab\"{2}", (const char *[]){"abab", NULL}, (const char *[]){"ab", "ababab", NULL});
    check("root ::= [0-9]{2,}", (const char *[]){"12", "12345", NULL}, (const char *[]){"1", NULL});
    check("root ::= [0-9]{1,3}", (const char *[]){"1", "123", NULL}, (const char *[]){"", "1234", NULL});
    check("root ::= [0-9]{0,2} \"x\"", (const char *[]){"x", "1x", "12x", NULL}, (const char *[]){"123x", NULL});
    check("root ::= (\"a\" | \"b\" \"c\")* \"d\"", (const char *[]){"d", "abcad", NULL}, (const char *[]){"bd", NULL});
    /* runs of * + ? fold into one repetition: x++ is x+, x+? and x?* are x*, x?? is x? */
    check("root ::= \"a\"++ \"b\"", (const char *[]){"ab", "aaab", NULL}, (const char *[]){"b", NULL});
    check("root ::= \"a\"+? \"b\"", (const char *[]){"b", "aab", NULL}, (const char *[]){"c", NULL});
    check("root ::= \"a\"?* \"b\"", (const char *[]){"b", "aaab", NULL}, NULL);
    check("root ::= \"a\"?? \"b\"", (const char *[]){"b", "ab", NULL}, (const char *[]){"aab", NULL});
    check("root ::= \"a\"{2}+ \"b\"", (const char *[]){"aab", "aaaab", NULL}, (const char *[]){"ab", "aaab", NULL});
    /* a fuzzer's find: eleven nested +, once past the matcher's parse limit
     * (seconds per mask); folded, a long string matches at once */
    check("root ::= \"x\" .+++++++++++", (const char *[]){"xabcdefghijabcdefghijabcdefghij", NULL},
          (const char *[]){"x", NULL});
}

static void classes(void **state) {
    (void)state;
    check("root ::= [a-cx]+", (const char *[]){"abcx", NULL}, (const char *[]){"d", "", NULL});
    check("root ::= [^a-c]", (const char *[]){"d", "\xC3\xA9", "\xF0\x9F\x98\x80", NULL},
          (const char *[]){"a", "\xC3", "\xFF", NULL});
    check("root ::= [\\u00e0-\\u00ff]", (const char *[]){"\xC3\xA0", "\xC3\xBF", NULL}, (const char *[]){"a", NULL});
    check("root ::= \"\\x41\\u00e9\\n\\\"\\\\\"", (const char *[]){"A\xC3\xA9\n\"\\", NULL}, NULL);
    check("root ::= .", (const char *[]){"a", "\xE2\x82\xAC", NULL},
          (const char *[]){"\xED\xA0\x80" /* a surrogate */, "\xC0\x80" /* overlong */, NULL});
    check("root ::= \"é\" [€-€]", (const char *[]){"\xC3\xA9\xE2\x82\xAC", NULL}, NULL);
    check("root ::= [\\]\\[-]", (const char *[]){"]", "[", "-", NULL}, NULL);
}

static void nested_groups_and_recursion(void **state) {
    (void)state;
    check("root ::= list\nlist ::= \"[\" (item (\",\" item)*)? \"]\"\nitem ::= [0-9]+ | list\n",
          (const char *[]){"[]", "[1,[2,[]],3]", NULL}, (const char *[]){"[", "[1,]", "[[]", NULL});
}

static void errors_name_the_problem(void **state) {
    (void)state;
    const char *e;
    assert_non_null(e = g_gbnf_error("root ::= foo"));
    assert_non_null(strstr(e, "'foo' is used but never defined"));
    assert_non_null(e = g_gbnf_error("rot ::= \"a\""));
    assert_non_null(strstr(e, "no 'root' rule"));
    assert_non_null(e = g_gbnf_error("root ::= \"a"));
    assert_non_null(strstr(e, "unterminated string"));
    assert_non_null(e = g_gbnf_error("root ::= [a-"));
    assert_non_null(strstr(e, "line 1"));
    assert_non_null(e = g_gbnf_error("root ::= (\"a\""));
    assert_non_null(strstr(e, "expected ')'"));
    assert_non_null(e = g_gbnf_error("root ::= \"a\"{3,1}"));
    assert_non_null(strstr(e, "below the minimum"));
    assert_non_null(e = g_gbnf_error("root ::= \"a\"{0,100000}"));
    assert_non_null(strstr(e, "limit"));
    assert_non_null(e = g_gbnf_error("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\""));
    assert_non_null(strstr(e, "left-recursive"));
    assert_non_null(e = g_gbnf_error("root ::= a\na ::= b? a \"x\" | \"y\"\nb ::= \"z\""));
    assert_non_null(strstr(e, "left-recursive"));
    assert_non_null(e = g_gbnf_error("root ::= (\"a\"?)*"));
    assert_non_null(strstr(e, "in rule 'root'"));
    assert_non_null(strstr(e, "match nothing"));
    assert_non_null(e = g_gbnf_error("root ::= \"a\"\nroot ::= \"b\""));
    assert_non_null(strstr(e, "defined twice"));
    assert_non_null(e = g_gbnf_error("root ::= [z-a]"));
    assert_non_null(strstr(e, "out of order"));
    assert_non_null(e = g_gbnf_error("root ::= \"\\q\""));
    assert_non_null(strstr(e, "unknown escape"));
    assert_non_null(e = g_gbnf_error(""));
    assert_non_null(e = g_gbnf_error("root ::= \"\xff\""));
    assert_non_null(strstr(e, "UTF-8"));
}

static void hostile_inputs_are_bounded(void **state) {
    (void)state;
    /* deep nesting */
    size_t depth = 5000;
    char *deep = malloc(depth * 2 + 32);
    strcpy(deep, "root ::= ");
    size_t n = strlen(deep);
    for (size_t i = 0; i < depth; i++) deep[n++] = '(';
    deep[n++] = '"', deep[n++] = 'a', deep[n++] = '"';
    for (size_t i = 0; i < depth; i++) deep[n++] = ')';
    deep[n] = 0;
    const char *e = g_gbnf_error(deep);
    assert_non_null(e);
    assert_non_null(strstr(e, "nested too deeply"));
    free(deep);
    /* nested repetitions compile to one rule reference per level (no blow-up);
     * the ambiguity they create hits the matcher's parse limit: an error, not a hang */
    hive_grammar *nested = g_gbnf("root ::= ((((\"a\"{0,9000}){0,9000}){0,9000}){0,9000})");
    hive_error *err = NULL;
    hive_grammar_matcher *m = hive_grammar_matcher_new(nested, NULL, &err);
    if (!m) assert_non_null(strstr(hive_error_message(err), "limit"));
    hive_error_free(err);
    hive_grammar_matcher_free(m);
    hive_grammar_free(nested);
    /* a huge alternation compiles and matches */
    size_t k = 20000;
    char *alts = malloc(k * 12 + 32);
    n = (size_t)sprintf(alts, "root ::= \"w0\"");
    for (size_t i = 1; i < k; i++) n += (size_t)sprintf(alts + n, " | \"w%zu\"", i);
    hive_grammar *g = g_gbnf(alts);
    assert_true(g_accepts(g, "w19999"));
    assert_false(g_accepts(g, "w20000"));
    hive_grammar_free(g);
    free(alts);
}

const struct CMUnitTest gbnf_tests[] = {
    cmocka_unit_test(literals_and_alternatives), cmocka_unit_test(repetition),
    cmocka_unit_test(classes), cmocka_unit_test(nested_groups_and_recursion),
    cmocka_unit_test(errors_name_the_problem), cmocka_unit_test(hostile_inputs_are_bounded),
};
const size_t n_gbnf_tests = sizeof gbnf_tests / sizeof gbnf_tests[0];
