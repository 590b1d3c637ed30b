/* JSON Schema and regex front ends: what compiles matches exactly, what
 * cannot be expressed is refused naming the keyword. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "util/error.h"

static hive_grammar *schema(const char *text) {
    hive_grammar *g = NULL;
    hive_error *err = NULL;
    if (hive_grammar_from_json_schema(text, strlen(text), NULL, &g, &err) != HIVE_OK) {
        fprintf(stderr, "%s\n", hive_error_message(err));
        hive_error_free(err);
        fail_msg("schema did not compile: %s", text);
    }
    return g;
}

static const char *schema_error(const char *text) {
    static char msg[512];
    hive_grammar *g = NULL;
    hive_error *err = NULL;
    if (hive_grammar_from_json_schema(text, strlen(text), NULL, &g, &err) == HIVE_OK) {
        hive_grammar_free(g);
        return NULL;
    }
    snprintf(msg, sizeof msg, "%s", hive_error_message(err));
    hive_error_free(err);
    return msg;
}

static void check(hive_grammar *g, const char *const *yes, const char *const *no) {
    for (; yes && *yes; yes++)
        if (!g_accepts(g, *yes)) fail_msg("'%s' should be accepted", *yes);
    for (; no && *no; no++)
        if (g_accepts(g, *no)) fail_msg("'%s' should be rejected", *no);
    hive_grammar_free(g);
}

static void objects_in_schema_order(void **state) {
    (void)state;
    check(schema("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
                 "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]},\"maxItems\":2}},"
                 "\"required\":[\"name\"],\"additionalProperties\":false}"),
          (const char *[]){"{\"name\":\"x\"}", "{\"name\":\"x\",\"age\":3}", "{\"name\":\"x\", \"tags\":[\"a\",\"b\"]}",
                           "{ \"name\" : \"x\" ,\"age\":-1,\"tags\":[]}", NULL},
          (const char *[]){"{}", "{\"age\":3,\"name\":\"x\"}", "{\"name\":\"x\",\"other\":1}",
                           "{\"name\":\"x\",\"tags\":[\"a\",\"b\",\"a\"]}", "{\"name\":\"x\",\"tags\":[\"c\"]}",
                           "{\"name\":\"x\"}   " /* trailing whitespace beyond the bound */,
                           "{\"name\":\"x\",\"age\":1.5}", NULL});
    /* additional properties: any key but the listed ones */
    check(schema("{\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}"),
          (const char *[]){"{\"a\":1,\"b\":\"x\"}", "{\"ab\":\"x\"}", "{\"\":\"x\"}", "7", NULL},
          (const char *[]){"{\"a\":1,\"a\":\"x\"}", "{\"b\":1}", NULL});
}

static void strings_numbers_formats(void **state) {
    (void)state;
    check(schema("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}"),
          (const char *[]){"\"ab\"", "\"\xC3\xA9\xC3\xA9\xC3\xA9\"", "\"a\\n\"", NULL},
          (const char *[]){"\"a\"", "\"abcd\"", "ab", NULL});
    check(schema("{\"type\":\"string\",\"format\":\"uuid\"}"),
          (const char *[]){"\"123e4567-e89b-12d3-a456-426614174000\"", NULL},
          (const char *[]){"\"123e4567-e89b-12d3-a456-42661417400\"", NULL});
    check(schema("{\"type\":\"string\",\"format\":\"date\"}"),
          (const char *[]){"\"2024-02-29\"", "\"2023-12-31\"", NULL},
          (const char *[]){"\"2023-02-29\"", "\"2023-11-31\"", "\"1900-02-29\"", "\"2023-13-01\"", NULL});
    check(schema("{\"type\":\"string\",\"pattern\":\"^(ab)+c?$\"}"), (const char *[]){"\"abab\"", "\"abc\"", NULL},
          (const char *[]){"\"aba\"", "\"\"", NULL});
    check(schema("{\"type\":\"string\",\"pattern\":\"[0-9]{2}\"}"), (const char *[]){"\"x12y\"", "\"12\"", NULL},
          (const char *[]){"\"x1y\"", NULL});
    check(schema("{\"type\":[\"number\",\"null\"]}"), (const char *[]){"1", "-0.5e3", "null", NULL},
          (const char *[]){"01", "1.", "true", NULL});
}

/* Every integer from -1200 to 1200 against a range, both ways. */
static void integer_ranges_are_exact(void **state) {
    (void)state;
    static const long bounds[][2] = {{-15, 237}, {0, 9}, {10, 99}, {-1000, -7}, {19, 1001}, {5, 5}, {-9, 0}};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        char text[160];
        snprintf(text, sizeof text, "{\"type\":\"integer\",\"minimum\":%ld,\"maximum\":%ld}", bounds[b][0], bounds[b][1]);
        hive_grammar *g = schema(text);
        for (long x = -1200; x <= 1200; x++) {
            char num[32];
            snprintf(num, sizeof num, "%ld", x);
            int want = x >= bounds[b][0] && x <= bounds[b][1];
            if (g_accepts(g, num) != want) fail_msg("%s: %ld should be %s", text, x, want ? "accepted" : "rejected");
        }
        hive_grammar_free(g);
    }
    hive_grammar *g = schema("{\"type\":\"integer\",\"exclusiveMinimum\":99}");
    assert_false(g_accepts(g, "99"));
    assert_true(g_accepts(g, "100"));
    assert_true(g_accepts(g, "123456789012"));
    hive_grammar_free(g);
    g = schema("{\"type\":\"integer\",\"maximum\":-3}");
    assert_true(g_accepts(g, "-3"));
    assert_true(g_accepts(g, "-123456789"));
    assert_false(g_accepts(g, "-2"));
    assert_false(g_accepts(g, "5"));
    hive_grammar_free(g);
}

static void combinators_and_refs(void **state) {
    (void)state;
    check(schema("{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}"),
          (const char *[]){"3", "\"a\"", NULL}, (const char *[]){"\"ab\"", "null", NULL});
    check(schema("{\"oneOf\":[{\"type\":\"boolean\"},{\"type\":\"null\"}]}"), (const char *[]){"true", "null", NULL},
          (const char *[]){"1", NULL});
    check(schema("{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}},{\"required\":[\"a\"]}]}"),
          (const char *[]){"{\"a\":1}", NULL}, (const char *[]){"{}", NULL});
    check(schema("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                 "\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":\"null\"}]}},"
                 "\"required\":[\"v\",\"next\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}"),
          (const char *[]){"{\"v\":1,\"next\":{\"v\":2,\"next\":null}}", NULL},
          (const char *[]){"{\"v\":1,\"next\":{\"v\":2}}", NULL});
    check(schema("{\"const\":{\"a\":[1,\"x\"]}}"), (const char *[]){"{\"a\":[1,\"x\"]}", NULL},
          (const char *[]){"{\"a\":[1]}", NULL});
    check(schema("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"},{\"type\":\"string\"}],\"items\":false}"),
          (const char *[]){"[]", "[1]", "[1,\"a\"]", NULL}, (const char *[]){"[1,\"a\",2]", "[\"a\"]", NULL});
}

/* 40000 enum values: the alternation is factored into a trie, so one parse
 * is alive after each byte (else it would exceed the live-parse limit). */
static void huge_enum(void **state) {
    (void)state;
    size_t cap = 40000 * 12 + 64, n = 0;
    char *s = malloc(cap);
    n += (size_t)sprintf(s, "{\"enum\":[");
    for (int i = 0; i < 40000; i++) n += (size_t)sprintf(s + n, "%s\"v%d\"", i ? "," : "", i);
    sprintf(s + n, "]}");
    hive_grammar *g = schema(s);
    assert_true(g_accepts(g, "\"v39999\""));
    assert_true(g_accepts(g, "\"v7\""));
    assert_false(g_accepts(g, "\"v40000\""));
    assert_false(g_accepts(g, "\"v\""));
    hive_grammar_free(g);
    free(s);
}

static void refusals_name_the_keyword(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"{\"type\":\"object\",\"patternProperties\":{\"^a\":{}}}", "'patternProperties'"},
        {"{\"not\":{\"type\":\"string\"}}", "'not'"},
        {"{\"type\":\"number\",\"minimum\":1.5}", "'minimum'"},
        {"{\"type\":\"array\",\"uniqueItems\":true}", "'uniqueItems'"},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":3}]}", "'oneOf'"},
        {"{\"$ref\":\"http://example.com/s.json\"}", "'$ref'"},
        {"{\"type\":\"string\",\"format\":\"email\"}", "'format'"},
        {"{\"type\":\"integer\",\"multipleOf\":2}", "'multipleOf'"},
        {"{\"if\":{},\"then\":{}}", "'if'"},
        {"{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "backreferences"},
        {"{\"type\":\"string\",\"maxLength\":100000}", "limit"},
        {"{\"type\":\"object\",\"properties\":", "not valid JSON"},
        /* combinators that are not arrays of schemas (fuzz_json_schema found a crash here) */
        {"{\"type\":\"array\",\"anyOf\":{\"enum\":[1,2]}}", "'anyOf' at # must be a non-empty array"},
        {"{\"allOf\":[{\"type\":\"integer\"},[1]]}", "neither an object nor a boolean"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *e = schema_error(cases[i][0]);
        if (!e || !strstr(e, cases[i][1])) fail_msg("%s: expected an error naming %s, got %s", cases[i][0], cases[i][1], e ? e : "success");
    }
    /* deep nesting is a limit error, not a stack overflow */
    size_t depth = 10000;
    char *deep = malloc(depth * 16 + 16);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) n += (size_t)sprintf(deep + n, "{\"items\":");
    n += (size_t)sprintf(deep + n, "{}");
    for (size_t i = 0; i < depth; i++) deep[n++] = '}';
    deep[n] = 0;
    assert_non_null(schema_error(deep));
    free(deep);
}

static void regex_anchored(void **state) {
    (void)state;
    hive_grammar *g = NULL;
    const char *re = "[A-Z][a-z]+ \\d{3}(-\\d{2})?|x.y";
    assert_int_equal(hive_grammar_from_regex(re, strlen(re), &g, NULL), HIVE_OK);
    check(g, (const char *[]){"Abc 123", "Zz 999-12", "x\xC3\xA9y", NULL},
          (const char *[]){"abc 123", "Abc 12", "Abc 123-1", "x\ny", "Abc 1234", NULL});
    hive_error *err = NULL;
    assert_int_not_equal(hive_grammar_from_regex("a(?=b)", 6, &g, &err), HIVE_OK);
    assert_non_null(strstr(hive_error_message(err), "lookaround"));
    hive_error_free(err);
}

const struct CMUnitTest schema_tests[] = {
    cmocka_unit_test(objects_in_schema_order), cmocka_unit_test(strings_numbers_formats),
    cmocka_unit_test(integer_ranges_are_exact), cmocka_unit_test(combinators_and_refs), cmocka_unit_test(huge_enum),
    cmocka_unit_test(refusals_name_the_keyword), cmocka_unit_test(regex_anchored),
};
const size_t n_schema_tests = sizeof schema_tests / sizeof schema_tests[0];
