/* The per-grammar token-mask cache (host/grammar/mask_cache.c): every mask
 * it serves equals the uncached computation (the trie walk, itself checked
 * against accepting each token one by one in test_matcher.c), on the
 * test_matcher grammars and on random walks through JSON-Schema and GBNF
 * grammars; two matchers fill one grammar's cache in parallel; the cache
 * stays within its byte budget. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/matcher_impl.h"
#include "tests.h"
#include "util/error.h"

/* A vocabulary of every byte plus tokens glued from JSON, SQL and UTF-8
 * pieces (strings that leave a string, keys with their colon, partial and
 * stray UTF-8), so rows have accepted, uncertain and rejected tokens. */
#define N_PIECES (sizeof k_pieces / sizeof k_pieces[0])
static const char *const k_pieces[] = {
    "{\"", "\":", "\",", "\"}", "\"", "[", "]", ",", " ", "\n", "  ", "true", "null", "false", "0", "12", "7",
    "-", ".", "e+", "name", "age", "tags", "kind", "a", "bb", "ccc", "foo", "x", "\\", "\\n", "\\u00", "\xC3\xA9",
    "\xE2\x82\xAC", "\xE6\x97\xA5", "\xE2\x82", "\x80", "SELECT", " FROM", " WHERE", "(", ")", "*", "+", "1", "}",
    "{", ":", "\t", "Z"};
enum { N_GLUED = 3000, N_CV = 256 + N_GLUED + 1 };
static char g_text[N_GLUED][32];

static uint32_t rnd(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static hive_grammar_vocab *cache_vocab(void) {
    static char singles[256][1];
    const char *toks[N_CV];
    uint32_t lens[N_CV];
    uint64_t seed = 7;
    for (int i = 0; i < 256; i++) singles[i][0] = (char)i, toks[i] = singles[i], lens[i] = 1;
    for (int i = 0; i < N_GLUED; i++) {
        size_t n = 0;
        for (uint32_t k = 0, parts = 2 + rnd(&seed) % 3; k < parts; k++) {
            const char *p = k_pieces[rnd(&seed) % N_PIECES];
            size_t l = strlen(p);
            if (n + l < sizeof g_text[i]) memcpy(g_text[i] + n, p, l), n += l;
        }
        toks[256 + i] = g_text[i], lens[256 + i] = (uint32_t)n;
    }
    int32_t end = N_CV - 1;
    toks[end] = "</s>", lens[end] = 4;
    hive_grammar_vocab *v = NULL;
    assert_int_equal(hive_grammar_vocab_new(N_CV, toks, lens, &end, 1, &v, NULL), HIVE_OK);
    return v;
}

enum { WORDS = (N_CV + 31) / 32 };

/* One step's masks, cached (a) and uncached (b): 0 when equal. */
static int masks_differ(hive_grammar_matcher *a, hive_grammar_matcher *b, uint32_t *ma, size_t *n) {
    uint32_t mb[WORDS];
    size_t na = hive_grammar_matcher_fill_mask(a, ma, NULL), nb = hive_grammar_matcher_fill_mask(b, mb, NULL);
    *n = na;
    return na != nb || memcmp(ma, mb, sizeof mb);
}

/* A random walk from the start: at each step the cached mask must equal the
 * uncached one; then a random allowed token (the end token last). Returns
 * the number of steps where they differed; *served counts the cache's masks. */
static int random_walk(const hive_grammar *g, const hive_grammar_vocab *v, uint64_t seed, int steps,
                       uint32_t *served) {
    hive_grammar_matcher *a = hive_grammar_matcher_new(g, v, NULL), *b = hive_grammar_matcher_new(g, v, NULL);
    if (!a || !b) return 1000;
    b->rows_off = 1;
    int bad = 0;
    for (int s = 0; s < steps; s++) {
        uint32_t ma[WORDS];
        size_t n;
        if (masks_differ(a, b, ma, &n)) {
            fprintf(stderr, "seed %llu step %d: cached mask differs\n", (unsigned long long)seed, s);
            bad++;
        }
        uint32_t pick = n > 1 ? rnd(&seed) % (uint32_t)(n - 1) : 0, seen = 0;
        int32_t tok = -1;
        for (int32_t t = 0; t < N_CV - 1 && tok < 0; t++)
            if ((ma[t >> 5] >> (t & 31)) & 1 && seen++ == pick) tok = t;
        if (tok < 0) break; /* only the end token (or nothing) is left */
        if (hive_grammar_matcher_accept(a, tok, NULL) != HIVE_OK || hive_grammar_matcher_accept(b, tok, NULL) != HIVE_OK) {
            fprintf(stderr, "seed %llu step %d: token %d in the mask but not accepted\n", (unsigned long long)seed,
                    s, tok);
            bad++;
            break;
        }
    }
    *served += a->row_masks;
    hive_grammar_matcher_free(a);
    hive_grammar_matcher_free(b);
    return bad;
}

/* The grammars of test_matcher.c, fed their texts byte by byte. */
static void cached_equals_uncached_on_matcher_cases(void **state) {
    (void)state;
    hive_grammar_vocab *v = cache_vocab();
    static const char *const cases[][2] = {
        {NULL, "{\"name\": \"\xC3\xA9\xE2\x82\xAC\", \"age\": [12, true, null]}"}, /* builtin json */
        {"root ::= \"SELECT\" (\" *\" | \" \" [a-z]+) \" FROM t\"", "SELECT * FROM t"},
        {"root ::= \"\\\"\" [a-z0-9 ]{0,6} \"\\\"\"", "\"ab 12\""},
        {"root ::= \"\\\"\" [^\"\\\\]* \"a\" [^\"\\\\]* \"\\\"\" \"\\n\"?", "\"xxaayy\""},
        {"root ::= \"{\\\"\" (\"name\" | [^\"\\\\]*) \"\\\":\" [0-9]+ \"}\"", "{\"nam\":12}"},
        {"root ::= \"\\\"\" [\\u00e0-\\u00ff\\u20ac]+ \"\\\"\"", "\"\xC3\xA9\xE2\x82\xAC\""},
        {"root ::= (\"a\" | \"b\")* \"c\"", "ababc"},
    };
    uint32_t served = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hive_grammar *g = NULL;
        if (cases[i][0]) g = g_gbnf(cases[i][0]);
        else assert_int_equal(hive_grammar_builtin("json", NULL, &g, NULL), HIVE_OK);
        for (int round = 0; round < 2; round++) { /* the second: every row from the cache */
            hive_grammar_matcher *a = hive_grammar_matcher_new(g, v, NULL), *b = hive_grammar_matcher_new(g, v, NULL);
            b->rows_off = 1;
            uint32_t ma[WORDS];
            size_t n;
            for (const char *p = cases[i][1];; p++) {
                if (masks_differ(a, b, ma, &n)) fail_msg("case %zu at byte %zu: cached mask differs", i, (size_t)(p - cases[i][1]));
                if (!*p) break;
                assert_int_equal(hive_grammar_matcher_accept(a, (uint8_t)*p, NULL), HIVE_OK);
                assert_int_equal(hive_grammar_matcher_accept(b, (uint8_t)*p, NULL), HIVE_OK);
            }
            assert_true((ma[(N_CV - 1) >> 5] >> ((N_CV - 1) & 31)) & 1); /* complete: the end token */
            served += a->row_masks;
            assert_int_equal(b->row_masks, 0);
            hive_grammar_matcher_free(a);
            hive_grammar_matcher_free(b);
        }
        assert_true(hm_row_cache_bytes(g, NULL) > 0);
        hive_grammar_free(g);
    }
    assert_true(served > 20); /* the cache served masks, so the comparison means something */
    hive_grammar_vocab_free(v);
}

static const char *const k_schemas[] = {
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"kind\":{\"enum\":[\"a\",\"bb\",\"ccc\"]}},\"required\":[\"name\"]}",
    "{\"type\":\"string\",\"pattern\":\"a+\"}",
    "{\"anyOf\":[{\"type\":\"number\"},{\"type\":\"array\",\"items\":{\"type\":\"boolean\"}},{\"type\":\"null\"}]}",
    "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"minLength\":2}}",
};
static const char *const k_gbnf[] = {
    "root ::= expr\nexpr ::= term ((\"+\" | \"-\") term)*\nterm ::= [0-9]+ | \"(\" expr \")\" | \"x\"",
    "root ::= \"[\" (item (\", \" item)*)? \"]\"\nitem ::= \"\\\"\" [^\"\\\\\\x00-\\x1f]* \"\\\"\" | [0-9]+ (\".\" [0-9]+)?",
    "root ::= (\"SELECT\" | \"select\") \" \" ([a-z]+ | \"*\") \" FROM \" [a-z]+ (\" WHERE \" [a-z]+ \"=\" [0-9]+)?",
};

static hive_grammar *nth_grammar(int i) {
    hive_grammar *g = NULL;
    int ns = (int)(sizeof k_schemas / sizeof k_schemas[0]), ng = (int)(sizeof k_gbnf / sizeof k_gbnf[0]);
    if (i < ns) assert_int_equal(hive_grammar_from_json_schema(k_schemas[i], strlen(k_schemas[i]), NULL, &g, NULL), HIVE_OK);
    else if (i < ns + ng) g = g_gbnf(k_gbnf[i - ns]);
    else assert_int_equal(hive_grammar_builtin(i == ns + ng ? "json" : "sql-postgres", NULL, &g, NULL), HIVE_OK);
    return g;
}
#define N_GRAMMARS ((int)(sizeof k_schemas / sizeof k_schemas[0] + sizeof k_gbnf / sizeof k_gbnf[0]) + 2)

static void cached_equals_uncached_on_random_walks(void **state) {
    (void)state;
    hive_grammar_vocab *v = cache_vocab();
    uint32_t served = 0;
    for (int i = 0; i < N_GRAMMARS; i++) {
        hive_grammar *g = nth_grammar(i);
        int bad = 0;
        for (uint64_t seed = 1; seed <= 12; seed++) bad += random_walk(g, v, seed * 1000 + (uint64_t)i, 40, &served);
        if (bad) fail_msg("grammar %d: %d steps where the cached mask differs", i, bad);
        hive_grammar_free(g);
    }
    assert_true(served > 500);
    hive_grammar_vocab_free(v);
}

typedef struct walker {
    const hive_grammar *g;
    const hive_grammar_vocab *v;
    uint64_t seed;
    int bad;
    uint32_t served;
} walker;

static void *walk_thread(void *p) {
    walker *w = p;
    for (int k = 0; k < 6; k++) w->bad += random_walk(w->g, w->v, w->seed + (uint64_t)k, 40, &w->served);
    return NULL;
}

/* Two matchers of one grammar on two threads fill its (empty) cache at
 * once: both compute rows, one publishes each; every mask stays exact. */
static void two_matchers_share_a_cache_in_parallel(void **state) {
    (void)state;
    hive_grammar_vocab *v = cache_vocab();
    for (int i = 0; i < N_GRAMMARS; i++) {
        hive_grammar *g = nth_grammar(i);
        walker w[2] = {{g, v, 11, 0, 0}, {g, v, 11, 0, 0}}; /* the same walks: the same rows, raced for */
        pthread_t t[2];
        for (int k = 0; k < 2; k++) assert_int_equal(pthread_create(&t[k], NULL, walk_thread, &w[k]), 0);
        for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
        if (w[0].bad || w[1].bad) fail_msg("grammar %d: %d + %d steps where the cached mask differs", i, w[0].bad, w[1].bad);
        assert_true(w[0].served + w[1].served > 0);
        hive_grammar_free(g);
    }
    hive_grammar_vocab_free(v);
}

/* Random walks through the JSON grammar with an unbounded cache, then the
 * same walks on a fresh copy with a budget of 3/4 of what its rows took:
 * the cache stops growing at the budget (rows past it are computed, used
 * and dropped) and every mask stays exact. */
static void cache_stays_within_its_budget(void **state) {
    (void)state;
    hive_grammar_vocab *v = cache_vocab();
    size_t saved = hm_row_cache_budget, rows = 0, fixed = 0, budget = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) hm_row_cache_budget = budget = fixed + rows / 4 * 3;
        hive_grammar *g = NULL;
        assert_int_equal(hive_grammar_builtin("json", NULL, &g, NULL), HIVE_OK);
        uint32_t served = 0;
        int bad = 0;
        for (uint64_t seed = 1; seed <= 6; seed++) bad += random_walk(g, v, seed, 60, &served);
        size_t bytes = hm_row_cache_bytes(g, &fixed);
        hive_grammar_free(g);
        hm_row_cache_budget = saved;
        assert_int_equal(bad, 0);
        assert_true(served > 0);
        if (!pass) rows = bytes - fixed;
        else assert_true(bytes <= budget && bytes - fixed > rows / 2);
    }
    hive_grammar_vocab_free(v);
}

const struct CMUnitTest mask_cache_tests[] = {
    cmocka_unit_test(cached_equals_uncached_on_matcher_cases),
    cmocka_unit_test(cached_equals_uncached_on_random_walks),
    cmocka_unit_test(two_matchers_share_a_cache_in_parallel),
    cmocka_unit_test(cache_stays_within_its_budget),
};
const size_t n_mask_cache_tests = sizeof mask_cache_tests / sizeof mask_cache_tests[0];
