/* Matcher and masks: every mask equals what accepting each token one by one
 * gives (brute force), end tokens only where the grammar is complete, partial
 * UTF-8 across tokens, rollback, and a batch of rows equal to solo rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "util/error.h"

#define N_SINGLE 256
static const char *const k_multi[] = {"{\"", "\":", "\"}", "true", "false", "null", "12", "\xC3\xA9", " \"", ",\"",
                                      "name", "\":\"", "\"\n", "  ", "age", "\": ", "[1", ",2]", "}\n", "\xA9\"",
                                      "abc", "SELECT", " FROM", " *", "\xE2\x82", "\xAC",
                                      /* a string body's bytes, then one that ends it: the mask walk may not
                                       * take these subtrees whole (mask.c's self-loop skip) */
                                      "ab\"", "nam\",", "99\"", "12345"};
#define N_MULTI (sizeof k_multi / sizeof k_multi[0])
#define END_ID (N_SINGLE + (int32_t)N_MULTI)
#define N_VOCAB (END_ID + 2) /* + the end token + a control token with no text */

static hive_grammar_vocab *test_vocab(void) {
    static char singles[N_SINGLE][1];
    const char *toks[N_VOCAB];
    uint32_t lens[N_VOCAB];
    for (int i = 0; i < N_SINGLE; i++) singles[i][0] = (char)i, toks[i] = singles[i], lens[i] = 1;
    for (size_t i = 0; i < N_MULTI; i++) toks[N_SINGLE + i] = k_multi[i], lens[N_SINGLE + i] = (uint32_t)strlen(k_multi[i]);
    toks[END_ID] = "</s>", lens[END_ID] = 4;
    toks[END_ID + 1] = NULL, lens[END_ID + 1] = 0;
    int32_t end = END_ID;
    hive_grammar_vocab *v = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_grammar_vocab_new(N_VOCAB, toks, lens, &end, 1, &v, &err), HIVE_OK);
    return v;
}

static int bit(const uint32_t *m, int32_t i) { return (int)((m[i >> 5] >> (i & 31)) & 1); }

/* The mask at the current state equals accepting each token then rolling back. */
static void check_mask_brute_force(hive_grammar_matcher *m) {
    uint32_t mask[(N_VOCAB + 31) / 32];
    hive_error *err = NULL;
    size_t n = hive_grammar_matcher_fill_mask(m, mask, &err);
    assert_null(err);
    size_t count = 0;
    for (int32_t t = 0; t < N_VOCAB; t++) {
        int ok = hive_grammar_matcher_accept(m, t, NULL) == HIVE_OK;
        if (ok) assert_int_equal(hive_grammar_matcher_rollback(m, 1, NULL), HIVE_OK);
        if (ok != bit(mask, t)) fail_msg("token %d: mask says %d, accept says %d", t, bit(mask, t), ok);
        count += (size_t)ok;
    }
    assert_int_equal(n, count);
    if (bit(mask, END_ID)) assert_true(hive_grammar_matcher_is_accepting(m));
    assert_false(bit(mask, END_ID + 1)); /* no text: never allowed */
}

static void walk_and_check(const hive_grammar *g, const hive_grammar_vocab *v, const char *text) {
    hive_grammar_matcher *m = hive_grammar_matcher_new(g, v, NULL);
    assert_non_null(m);
    check_mask_brute_force(m);
    /* feed byte by byte (single-byte tokens), checking the mask at every step */
    for (const char *p = text; *p; p++) {
        assert_int_equal(hive_grammar_matcher_accept(m, (uint8_t)*p, NULL), HIVE_OK);
        check_mask_brute_force(m);
    }
    assert_true(hive_grammar_matcher_is_accepting(m));
    assert_int_equal(hive_grammar_matcher_accept(m, END_ID, NULL), HIVE_OK);
    hive_grammar_matcher_free(m);
}

static void masks_equal_brute_force(void **state) {
    (void)state;
    hive_grammar_vocab *v = test_vocab();
    hive_grammar *g = NULL;
    assert_int_equal(hive_grammar_builtin("json", NULL, &g, NULL), HIVE_OK);
    walk_and_check(g, v, "{\"name\": \"\xC3\xA9\xE2\x82\xAC\", \"age\": [12, true, null]}");
    hive_grammar_free(g);
    g = g_gbnf("root ::= \"SELECT\" (\" *\" | \" \" [a-z]+) \" FROM t\"");
    walk_and_check(g, v, "SELECT * FROM t");
    hive_grammar_free(g);
    /* a bounded string: each position a set of its own, so near the end a
     * token like "12345" no longer fits (mask.c's uniform chains and heights) */
    g = g_gbnf("root ::= \"\\\"\" [a-z0-9 ]{0,6} \"\\\"\"");
    walk_and_check(g, v, "\"ab 12\"");
    hive_grammar_free(g);
    /* an unanchored pattern's body: a family of sets ("before an a", "after
     * one") that body bytes move between (mask.c family_of); a quote ends
     * it only after an a, so tokens with one ("ab\"", "nam\",") are walked */
    g = g_gbnf("root ::= \"\\\"\" [^\"\\\\]* \"a\" [^\"\\\\]* \"\\\"\" \"\\n\"?");
    walk_and_check(g, v, "\"xxaayy\"");
    walk_and_check(g, v, "\"a\"\n");
    hive_grammar_free(g);
    /* a key: a known name or any other string, then a colon (the family
     * of the key's start loses the quote, which leaves it) */
    g = g_gbnf("root ::= \"{\\\"\" (\"name\" | [^\"\\\\]*) \"\\\":\" [0-9]+ \"}\"");
    walk_and_check(g, v, "{\"nam\":12}");
    walk_and_check(g, v, "{\"name\":1}");
    hive_grammar_free(g);
    /* 65 parses at once: a transition is reused for bytes that the same
     * parses take (matcher.c hm_step's signatures), which must tell the
     * 65th parse (only "b" then "1") from the first 64 ("a" to "c", "0") */
    char wide[2048];
    size_t wn = (size_t)snprintf(wide, sizeof wide, "root ::= [b] \"1\"");
    for (int k = 0; k < 64; k++)
        wn += (size_t)snprintf(wide + wn, sizeof wide - wn, " | [a-c] \"0\" \"%c\"?", 'A' + k % 26);
    g = g_gbnf(wide);
    walk_and_check(g, v, "a0");
    walk_and_check(g, v, "b1");
    hive_grammar_free(g);
    hive_grammar_vocab_free(v);
}

/* Subtrees with multi-byte characters below a string body (mask.c's UTF-8
 * skip, which only runs for subtrees of 512+ nodes): valid ones allowed
 * whole, a stray continuation byte, a character the class lacks, and a quote
 * never; every mask equals accepting each token one by one. */
static void masks_with_utf8_subtrees(void **state) {
    (void)state;
    enum { N_EURO = 600, N_ODD = 20, N = 256 + 4 * N_EURO + 2 * N_ODD + 3 };
    static char text[N][16];
    const char *toks[N];
    uint32_t lens[N];
    int n = 0;
    for (int i = 0; i < 256; i++) text[n][0] = (char)i, toks[n] = text[n], lens[n++] = 1;
    for (int i = 0; i < N_EURO; i++) /* e a EURO x y */
        lens[n] = (uint32_t)snprintf(text[n], 16, "\xC3\xA9" "a\xE2\x82\xAC%c%c", 'a' + i / 26, 'a' + i % 26),
        toks[n] = text[n], n++;
    for (int i = 0; i < N_EURO; i++) { /* x EURO EURO x y: two characters after ASCII */
        lens[n] = (uint32_t)snprintf(text[n], 16, "x\xE2\x82\xAC\xE2\x82\xAC%c%c", 'a' + i / 26, 'a' + i % 26);
        toks[n] = text[n], n++;
    }
    for (int i = 0; i < N_EURO; i++) /* quote EURO x y: a character right after a string's end */
        lens[n] = (uint32_t)snprintf(text[n], 16, "\"\xE2\x82\xAC%c%c", 'a' + i / 26, 'a' + i % 26),
        toks[n] = text[n], n++;
    for (int i = 0; i < N_EURO; i++) /* ZHE x y, and one ZHE <stray continuation>: no quote below the lead byte */
        lens[n] = (uint32_t)snprintf(text[n], 16, "\xD0\x96%c%c", 'a' + i / 26, 'a' + i % 26), toks[n] = text[n], n++;
    lens[n] = (uint32_t)snprintf(text[n], 16, "\xD0\x96\x80"), toks[n] = text[n], n++;
    for (int i = 0; i < N_ODD; i++) { /* e b <stray continuation> x ; e c u-umlaut x (e d EURO quote below) */
        lens[n] = (uint32_t)snprintf(text[n], 16, "\xC3\xA9" "b\x80%c", 'a' + i), toks[n] = text[n], n++;
        lens[n] = (uint32_t)snprintf(text[n], 16, "\xC3\xA9" "c\xC3\xBC%c", 'a' + i), toks[n] = text[n], n++;
    }
    lens[n] = (uint32_t)snprintf(text[n], 16, "\xC3\xA9" "d\xE2\x82\xAC\""), toks[n] = text[n], n++;
    int32_t end = n;
    lens[n] = 4, toks[n] = "</s>", n++;
    hive_grammar_vocab *v = NULL;
    assert_int_equal(hive_grammar_vocab_new((uint32_t)n, toks, lens, &end, 1, &v, NULL), HIVE_OK);
    const char *grammars[] = {
        "root ::= \"\\\"\" [^\"\\\\]* \"\\\"\"",      /* any character: the skip applies */
        "root ::= \"\\\"\" [a-z\\u00e9\\u20ac]* \"\\\"\"", /* not every character */
        /* a family of two sets (before an a, after one), any character
         * keeps it: skipped whole (mask.c family_utf8) */
        "root ::= \"\\\"\" [^\"\\\\]* \"a\" [^\"\\\\]* \"\\\"\"",
        /* one multi-byte character at most: it leaves the family (alive),
         * so "x EURO EURO x y" is not allowed */
        "root ::= \"\\\"\" [ !#-Z^-~]* ([\\u0080-\\U0010FFFF] [ !#-Z^-~]*)? \"\\\"\"",
        /* after the string a EURO and one letter: "quote EURO x y" starts
         * out of the family, so it is walked, not taken whole */
        "root ::= \"\\\"\" [^\"\\\\]* \"\\\"\" (\"\\u20ac\" [a-z])?"};
    for (int gi = 0; gi < (int)(sizeof grammars / sizeof grammars[0]); gi++) {
        hive_grammar *g = g_gbnf(grammars[gi]);
        hive_grammar_matcher *m = hive_grammar_matcher_new(g, v, NULL);
        assert_int_equal(hive_grammar_matcher_accept(m, '"', NULL), HIVE_OK);
        for (int round = 0; round < 2; round++) { /* the second mask: the cached one */
            uint32_t mask[(N + 31) / 32];
            size_t allowed = hive_grammar_matcher_fill_mask(m, mask, NULL), count = 0;
            for (int32_t t = 0; t < n; t++) {
                int ok = hive_grammar_matcher_accept(m, t, NULL) == HIVE_OK;
                if (ok) assert_int_equal(hive_grammar_matcher_rollback(m, 1, NULL), HIVE_OK);
                if (ok != bit(mask, t)) fail_msg("grammar %d, token %d: mask says %d, accept says %d", gi, t, bit(mask, t), ok);
                count += (size_t)ok;
            }
            assert_int_equal(allowed, count);
        }
        hive_grammar_matcher_free(m);
        hive_grammar_free(g);
    }
    hive_grammar_vocab_free(v);
}

static void utf8_split_across_tokens(void **state) {
    (void)state;
    hive_grammar_vocab *v = test_vocab();
    hive_grammar *g = g_gbnf("root ::= \"\\\"\" [\\u00e0-\\u00ff\\u20ac]+ \"\\\"\"");
    hive_grammar_matcher *m = hive_grammar_matcher_new(g, v, NULL);
    assert_int_equal(hive_grammar_matcher_accept(m, '"', NULL), HIVE_OK);
    /* "\xE2\x82" then "\xAC": the euro sign in two tokens */
    assert_int_equal(hive_grammar_matcher_accept(m, N_SINGLE + 24, NULL), HIVE_OK);
    assert_false(hive_grammar_matcher_is_accepting(m));
    uint32_t mask[(N_VOCAB + 31) / 32];
    hive_grammar_matcher_fill_mask(m, mask, NULL);
    assert_true(bit(mask, N_SINGLE + 25));  /* \xAC completes it */
    assert_false(bit(mask, '"'));           /* a quote cannot cut a character */
    assert_false(bit(mask, END_ID));
    assert_int_equal(hive_grammar_matcher_accept(m, N_SINGLE + 25, NULL), HIVE_OK);
    assert_int_equal(hive_grammar_matcher_accept(m, N_SINGLE + 7, NULL), HIVE_OK); /* é */
    assert_int_equal(hive_grammar_matcher_accept(m, 0xC3, NULL), HIVE_OK);
    assert_int_equal(hive_grammar_matcher_accept(m, N_SINGLE + 19, NULL), HIVE_OK); /* \xA9" */
    assert_true(hive_grammar_matcher_is_complete(m));
    hive_grammar_matcher_free(m);
    hive_grammar_free(g);
    hive_grammar_vocab_free(v);
}

static void end_only_when_accepting_and_rollback(void **state) {
    (void)state;
    hive_grammar_vocab *v = test_vocab();
    hive_grammar *g = g_gbnf("root ::= [0-9]+");
    hive_grammar_matcher *m = hive_grammar_matcher_new(g, v, NULL);
    hive_error *err = NULL;
    assert_int_not_equal(hive_grammar_matcher_accept(m, END_ID, &err), HIVE_OK);
    assert_non_null(strstr(hive_error_message(err), "not complete"));
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_grammar_matcher_accept(m, N_SINGLE + 6, NULL), HIVE_OK); /* "12" */
    assert_true(hive_grammar_matcher_is_accepting(m));
    assert_false(hive_grammar_matcher_is_complete(m)); /* more digits may follow */
    assert_int_not_equal(hive_grammar_matcher_accept(m, 'x', NULL), HIVE_OK);
    assert_int_equal(hive_grammar_matcher_accept(m, '3', NULL), HIVE_OK);
    assert_int_equal(hive_grammar_matcher_rollback(m, 2, NULL), HIVE_OK);
    assert_false(hive_grammar_matcher_is_accepting(m));
    assert_int_not_equal(hive_grammar_matcher_rollback(m, 1, &err), HIVE_OK);
    hive_error_free(err);
    hive_grammar_matcher_free(m);
    hive_grammar_free(g);
    hive_grammar_vocab_free(v);
}

/* Eight rows with eight grammars: masks computed together (in parallel)
 * equal masks computed row by row, at every step. */
static void batch_rows_equal_solo_rows(void **state) {
    (void)state;
    hive_grammar_vocab *v = test_vocab();
    const char *sources[8] = {"root ::= [0-9]+", "root ::= \"SELECT\" \" *\" \" FROM\" \" t\"",
                              "root ::= (\"a\" | \"b\")* \"c\"", "root ::= \"true\" | \"false\" | \"null\"",
                              "root ::= \"[\" [0-9] (\",\" [0-9])* \"]\"", "root ::= [^\"]* \"\\\"\"",
                              "root ::= \"name\" \": \" [a-z]+", "root ::= \"\\u00e9\"+"};
    const char *texts[8] = {"1234", "SELECT * FROM t", "ababc", "null", "[1,2]", "xy\"", "name: bob", "\xC3\xA9\xC3\xA9"};
    hive_grammar *g[8];
    hive_grammar_matcher *batch[8], *solo[8];
    uint32_t *bm[8], *sm[8];
    size_t words = (N_VOCAB + 31) / 32;
    for (int i = 0; i < 8; i++) {
        g[i] = g_gbnf(sources[i]);
        batch[i] = hive_grammar_matcher_new(g[i], v, NULL);
        solo[i] = hive_grammar_matcher_new(g[i], v, NULL);
        bm[i] = calloc(words, sizeof **bm);
        sm[i] = calloc(words, sizeof **sm);
    }
    for (size_t step = 0; step < 16; step++) {
        assert_int_equal(hive_grammar_fill_masks(batch, bm, 8, NULL), HIVE_OK);
        for (int i = 0; i < 8; i++) {
            hive_grammar_matcher_fill_mask(solo[i], sm[i], NULL);
            assert_memory_equal(bm[i], sm[i], words * sizeof **bm);
            if (step < strlen(texts[i])) {
                int32_t t = (uint8_t)texts[i][step];
                assert_true(bit(bm[i], t));
                assert_int_equal(hive_grammar_matcher_accept(batch[i], t, NULL), HIVE_OK);
                assert_int_equal(hive_grammar_matcher_accept(solo[i], t, NULL), HIVE_OK);
            } else {
                assert_true(bit(bm[i], END_ID));
            }
        }
    }
    for (int i = 0; i < 8; i++) {
        hive_grammar_matcher_free(batch[i]);
        hive_grammar_matcher_free(solo[i]);
        hive_grammar_free(g[i]);
        free(bm[i]);
        free(sm[i]);
    }
    hive_grammar_vocab_free(v);
}

static void ambiguity_hits_a_limit_not_a_hang(void **state) {
    (void)state;
    /* every split of a run of a's is a parse: the stack set grows with the input */
    hive_grammar *g = g_gbnf("root ::= x*\nx ::= \"a\" | \"aa\" | y\ny ::= \"a\" x \"b\" | \"a\"");
    hive_grammar_matcher *m = hive_grammar_matcher_new(g, NULL, NULL);
    char buf[1500];
    memset(buf, 'a', sizeof buf);
    size_t took = hive_grammar_matcher_accept_bytes(m, buf, sizeof buf);
    assert_true(took <= sizeof buf); /* either way it returns */
    hive_grammar_matcher_free(m);
    hive_grammar_free(g);
}

static int32_t multi_id(const char *text) {
    for (size_t i = 0; i < N_MULTI; i++)
        if (!strcmp(k_multi[i], text)) return N_SINGLE + (int32_t)i;
    fail_msg("no test token '%s'", text);
    return -1;
}

/* The forced text as tokens (speculative drafts): longest tokens first,
 * whitespace never forced, a last token that a longer one could extend into
 * the free text left out, nothing where the input may end, the state kept. */
static void forced_tokens_spell_what_the_grammar_fixes(void **state) {
    (void)state;
    hive_grammar_vocab *v = test_vocab();
    hive_grammar *g = g_gbnf("root ::= \"{\\\"name\\\":\" ws \"\\\"\" [a-z]+ \"\\\",\" ws \"\\\"age\\\":\" ws [0-9]+ \"}\"\n"
                             "ws ::= [ ]?");
    hive_grammar_matcher *m = hive_grammar_matcher_new(g, v, NULL);
    int32_t out[8];
    /* {"name":" : the space the grammar allows after the colon is not taken */
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 8), 3);
    assert_int_equal(out[0], multi_id("{\""));
    assert_int_equal(out[1], multi_id("name"));
    assert_int_equal(out[2], multi_id("\":\""));
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 1), 1); /* at most max */
    assert_int_equal(out[0], multi_id("{\""));
    const int32_t spelled[3] = {multi_id("{\""), multi_id("name"), multi_id("\":\"")};
    for (int i = 0; i < 3; i++) assert_int_equal(hive_grammar_matcher_accept(m, spelled[i], NULL), HIVE_OK);
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 8), 0); /* the value is the model's */
    assert_int_equal(hive_grammar_matcher_accept_bytes(m, "bob\"", 4), 4);
    /* ,"age": then a space or a digit: `":` would likely be `": ` in the
     * model's tokens, so only ,"age is drafted */
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 8), 2);
    assert_int_equal(out[0], multi_id(",\""));
    assert_int_equal(out[1], multi_id("age"));
    assert_int_equal(hive_grammar_matcher_accept(m, out[0], NULL), HIVE_OK); /* the state was kept */
    hive_grammar_matcher_free(m);
    hive_grammar_free(g);

    /* where only whitespace may come, nothing is forced; nor where the input may end */
    g = g_gbnf("root ::= \"SELECT\" [ ]+ \"x\" | \"ab\" | \"abz\"");
    m = hive_grammar_matcher_new(g, v, NULL);
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 8), 0); /* S or a */
    assert_int_equal(hive_grammar_matcher_accept(m, 'S', NULL), HIVE_OK);
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 8), 5); /* E L E C T: no multi-byte token spells ELECT */
    assert_int_equal(out[0], 'E');
    assert_int_equal(out[4], 'T');
    hive_grammar_matcher_reset(m);
    assert_int_equal(hive_grammar_matcher_accept_bytes(m, "SELECT", 6), 6);
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 8), 0);
    hive_grammar_matcher_reset(m);
    assert_int_equal(hive_grammar_matcher_accept(m, 'a', NULL), HIVE_OK);
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 8), 1); /* b, then it may end */
    assert_int_equal(out[0], 'b');
    assert_int_equal(hive_grammar_matcher_accept(m, 'b', NULL), HIVE_OK);
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 8), 0);
    hive_grammar_matcher_free(m);
    /* a matcher without a vocabulary (fed bytes only) has no tokens to spell "abz" with */
    m = hive_grammar_matcher_new(g, NULL, NULL);
    assert_int_equal(hive_grammar_matcher_accept_bytes(m, "a", 1), 1);
    assert_int_equal(hive_grammar_matcher_forced_tokens(m, out, 8), 0);
    hive_grammar_matcher_free(m);
    hive_grammar_free(g);
    hive_grammar_vocab_free(v);
}

const struct CMUnitTest matcher_tests[] = {
    cmocka_unit_test(forced_tokens_spell_what_the_grammar_fixes),
    cmocka_unit_test(masks_equal_brute_force),
    cmocka_unit_test(utf8_split_across_tokens),
    cmocka_unit_test(masks_with_utf8_subtrees),
    cmocka_unit_test(end_only_when_accepting_and_rollback),
    cmocka_unit_test(batch_rows_equal_solo_rows),
    cmocka_unit_test(ambiguity_hits_a_limit_not_a_hang),
};
const size_t n_matcher_tests = sizeof matcher_tests / sizeof matcher_tests[0];
