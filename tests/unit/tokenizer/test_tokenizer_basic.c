/* Tokenizer behaviour on a hand-built vocabulary, independent of any model:
 * merge order, special tokens, pre-tokenization, decoding, streaming, UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

/* Vocab: the bytes a..e, space (Ġ), 0xC3/0xA9 (é's bytes: Ã ©), some merged
 * tokens, and three added tokens. */
static const char *const TOKENS[] = {
    "a", "b", "c", "d", "e", "\xC4\xA0" /* Ġ */, "\xC3\x83" /* Ã = 0xC3 */, "\xC2\xA9" /* © = 0xA9 */,
    "ab", "bc", "abc", "aa", "\xC4\xA0" "a", "<|ctl|>", "<u>", "<u>x", "1", "2", "x",
};
enum { A, B, C, D, E, SP, XC3, XA9, AB, BC, ABC, AA, SPA, CTL, U, UX, ONE, TWO, X, N_TOK };

static hive_tokenizer *make(const char *const *merges, uint32_t n_merges, const char *pre) {
    static hive_str toks[N_TOK];
    static int32_t types[N_TOK];
    hive_str ms[8];
    for (int i = 0; i < N_TOK; i++) {
        toks[i].ptr = TOKENS[i];
        toks[i].len = strlen(TOKENS[i]);
        types[i] = HIVE_TOKEN_NORMAL;
    }
    types[CTL] = HIVE_TOKEN_CONTROL;
    types[U] = types[UX] = HIVE_TOKEN_USER_DEFINED;
    for (uint32_t i = 0; i < n_merges; i++) {
        ms[i].ptr = merges[i];
        ms[i].len = strlen(merges[i]);
    }
    hive_vocab_src src = {.n_tokens = N_TOK, .tokens = toks, .types = types, .n_merges = n_merges, .merges = ms,
                          .bos_id = CTL, .eos_id = CTL, .pad_id = -1, .unk_id = -1, .eot_id = -1};
    snprintf(src.pre, sizeof src.pre, "%s", pre);
    hive_tokenizer *t = NULL;
    hive_error *err = NULL;
    hive_status st = hive_tokenizer_new(&src, &t, &err);
    if (st != HIVE_OK) fprintf(stderr, "tokenizer_new: %s\n", hive_error_message(err));
    hive_error_free(err);
    assert_int_equal(st, HIVE_OK);
    return t;
}

/* Encodes and compares with the expected ids (terminated by -1). */
static void expect(const hive_tokenizer *t, const char *text, int parse_special, ...) {
    int32_t want[64];
    size_t nw = 0;
    va_list ap;
    va_start(ap, parse_special);
    for (int id; (id = va_arg(ap, int)) >= 0;) want[nw++] = id;
    va_end(ap);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(hive_tokenizer_encode(t, text, strlen(text), parse_special, 0, &ids, &n, NULL), HIVE_OK);
    if (n != nw || memcmp(ids, want, n * sizeof *ids)) {
        fprintf(stderr, "\"%s\": got", text);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, ", want");
        for (size_t i = 0; i < nw; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, nw);
    assert_memory_equal(ids, want, n * sizeof *ids);
    free(ids);
}

static void test_merge_rank_order(void **state) {
    (void)state;
    static const char *const ab_first[] = {"a b", "b c", "ab c"};
    static const char *const bc_first[] = {"b c", "a b", "a bc"};
    hive_tokenizer *t = make(ab_first, 3, "gpt2");
    expect(t, "abc", 1, ABC, -1); /* a b -> ab, then ab c */
    expect(t, "bcab", 1, BC, AB, -1);
    hive_tokenizer_free(t);
    t = make(bc_first, 3, "gpt2");
    expect(t, "abc", 1, ABC, -1); /* b c -> bc first, then a bc */
    hive_tokenizer_free(t);
    /* Only the first two merges: which pair wins decides the split. */
    t = make(ab_first, 2, "gpt2");
    expect(t, "abc", 1, AB, C, -1);
    hive_tokenizer_free(t);
    t = make(bc_first, 2, "gpt2");
    expect(t, "abc", 1, A, BC, -1);
    hive_tokenizer_free(t);
}

static void test_merge_leftmost_on_ties(void **state) {
    (void)state;
    static const char *const m[] = {"a a"};
    hive_tokenizer *t = make(m, 1, "gpt2");
    expect(t, "aaa", 1, AA, A, -1);
    expect(t, "aaaa", 1, AA, AA, -1);
    expect(t, "aaaaa", 1, AA, AA, A, -1);
    hive_tokenizer_free(t);
}

static void test_pretokenizer_bounds_merges(void **state) {
    (void)state;
    static const char *const m[] = {"Ġ a", "a b"};
    hive_tokenizer *t = make(m, 2, "gpt2");
    /* " ab" is one pre-token: Ġ a (rank 0) beats a b (rank 1) */
    expect(t, "ab ab", 1, AB, SPA, B, -1);
    /* "a  b": "a", " ", " b" — the double space splits before the word */
    expect(t, "a  b", 1, A, SP, SP, B, -1);
    hive_tokenizer_free(t);
}

static void test_added_tokens(void **state) {
    (void)state;
    static const char *const m[] = {"a b"};
    hive_tokenizer *t = make(m, 1, "gpt2");
    expect(t, "a<|ctl|>b", 1, A, CTL, B, -1);
    /* parse_special off: the control token is plain text; of its bytes only
     * "c" is in this vocab, the rest are dropped as HF BPE does without unk.
     * USER_DEFINED tokens are still matched. */
    expect(t, "ab<|ctl|>", 0, AB, C, -1);
    expect(t, "<u>ab", 0, U, AB, -1);
    expect(t, "<u>xab", 1, UX, AB, -1); /* longest added token at a position */
    expect(t, "ab<|ctl|><|ctl|>ab", 1, AB, CTL, CTL, AB, -1);
    /* added tokens split the text: no merge across them */
    expect(t, "a<u>b", 1, A, U, B, -1);
    hive_tokenizer_free(t);
}

static void test_bos(void **state) {
    (void)state;
    hive_tokenizer *t = make(NULL, 0, "gpt2");
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(hive_tokenizer_encode(t, "a", 1, 1, 1, &ids, &n, NULL), HIVE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], CTL);
    free(ids);
    assert_int_equal(hive_tokenizer_encode(t, "a", 1, 1, HIVE_ADD_BOS_DEFAULT, &ids, &n, NULL), HIVE_OK);
    assert_int_equal(n, 1); /* the vocab says no BOS */
    free(ids);
    assert_int_equal(hive_tokenizer_encode(t, "", 0, 1, 0, &ids, &n, NULL), HIVE_OK);
    assert_int_equal(n, 0);
    free(ids);
    hive_tokenizer_free(t);
}

static void test_decode(void **state) {
    (void)state;
    hive_tokenizer *t = make(NULL, 0, "gpt2");
    int32_t ids[] = {A, SPA, CTL, XC3, XA9, U};
    char *s = NULL;
    assert_int_equal(hive_tokenizer_decode(t, ids, 6, 0, &s, NULL), HIVE_OK);
    assert_string_equal(s, "a a<|ctl|>\xC3\xA9<u>");
    free(s);
    assert_int_equal(hive_tokenizer_decode(t, ids, 6, 1, &s, NULL), HIVE_OK);
    assert_string_equal(s, "a a\xC3\xA9<u>"); /* control dropped, user-defined kept */
    free(s);
    int32_t half[] = {XC3, B};
    assert_int_equal(hive_tokenizer_decode(t, half, 2, 0, &s, NULL), HIVE_OK);
    assert_string_equal(s, "\xEF\xBF\xBD" "b");
    free(s);
    /* nothing left to decode (no ids, or only skipped ones): "" without
     * arithmetic on the empty buffer's NULL (found by fuzz_gguf, UBSan) */
    assert_int_equal(hive_tokenizer_decode(t, NULL, 0, 0, &s, NULL), HIVE_OK);
    assert_string_equal(s, "");
    free(s);
    int32_t ctl[] = {CTL};
    assert_int_equal(hive_tokenizer_decode(t, ctl, 1, 1, &s, NULL), HIVE_OK);
    assert_string_equal(s, "");
    free(s);
    int32_t bad[] = {N_TOK};
    hive_error *err = NULL;
    assert_int_equal(hive_tokenizer_decode(t, bad, 1, 0, &s, &err), HIVE_E_INVALID);
    hive_error_free(err);
    char buf[8];
    size_t len = 0;
    assert_int_equal(hive_tokenizer_token_bytes(t, SPA, buf, sizeof buf, &len), HIVE_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, " a", 2);
    assert_int_equal(hive_tokenizer_token_bytes(t, CTL, buf, 3, &len), HIVE_E_INVALID);
    assert_int_equal(len, 7);
    hive_tokenizer_free(t);
}

static void test_detok_holds_partial_utf8(void **state) {
    (void)state;
    hive_tokenizer *t = make(NULL, 0, "gpt2");
    hive_detok d;
    char out[32];
    hive_detok_init(&d, t, 1);
    assert_int_equal(hive_detok_push(&d, A, out, sizeof out), 1);
    assert_string_equal(out, "a");
    assert_int_equal(hive_detok_push(&d, XC3, out, sizeof out), 0); /* first byte of é: held */
    assert_int_equal(hive_detok_push(&d, CTL, out, sizeof out), 0); /* skipped, still held */
    assert_int_equal(hive_detok_push(&d, XA9, out, sizeof out), 2);
    assert_string_equal(out, "\xC3\xA9");
    assert_int_equal(hive_detok_push(&d, XC3, out, sizeof out), 0);
    assert_int_equal(hive_detok_push(&d, B, out, sizeof out), 4); /* broken: U+FFFD then b */
    assert_string_equal(out, "\xEF\xBF\xBD" "b");
    assert_int_equal(hive_detok_push(&d, XC3, out, sizeof out), 0);
    assert_int_equal(hive_detok_flush(&d, out, sizeof out), 3);
    assert_string_equal(out, "\xEF\xBF\xBD");
    assert_int_equal(hive_detok_flush(&d, out, sizeof out), 0);
    hive_tokenizer_free(t);
}

static void test_token_lookup(void **state) {
    (void)state;
    hive_tokenizer *t = make(NULL, 0, "gpt2");
    assert_int_equal(hive_tokenizer_token_id(t, "<|ctl|>"), CTL);
    assert_int_equal(hive_tokenizer_token_id(t, " a"), SPA);
    assert_int_equal(hive_tokenizer_token_id(t, "abcd"), -1);
    assert_true(hive_tokenizer_is_control(t, CTL));
    assert_false(hive_tokenizer_is_control(t, U));
    assert_int_equal(hive_tokenizer_n_vocab(t), N_TOK);
    assert_int_equal(hive_tokenizer_bos(t), CTL);
    assert_int_equal(hive_tokenizer_eot(t), -1);
    hive_tokenizer_free(t);
}

static void test_utf8_lossy(void **state) {
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"ok \xC3\xA9", "ok \xC3\xA9"},
        {"\xE2\x82" "A", "\xEF\xBF\xBD" "A"},                 /* truncated 3-byte: one U+FFFD */
        {"\xF0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"},             /* F0 80 is not a valid start: two */
        {"\xFF" "x\x80", "\xEF\xBF\xBD" "x\xEF\xBF\xBD"},
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hive_buf b = {0};
        assert_int_equal(hive_buf_append_lossy(&b, cases[i].in, strlen(cases[i].in), 0, NULL), 0);
        assert_string_equal(b.data, cases[i].out);
        free(b.data);
    }
    hive_buf b = {0};
    size_t held = 0;
    assert_int_equal(hive_buf_append_lossy(&b, "a\xF0\x9F\xA6", 4, 1, &held), 0);
    assert_int_equal(held, 3);
    assert_string_equal(b.data, "a");
    free(b.data);
    assert_int_equal(hive_bl_byte_to_cp(' '), 0x120);
    assert_int_equal(hive_bl_cp_to_byte(0x120), ' ');
    for (int i = 0; i < 256; i++) assert_int_equal(hive_bl_cp_to_byte(hive_bl_byte_to_cp((uint8_t)i)), i);
}

typedef struct pieces {
    char text[16][32];
    int n;
} pieces;

static int collect(void *ctx, const char *s, size_t n) {
    pieces *p = ctx;
    if (p->n == 16 || n >= 32) return 1;
    memcpy(p->text[p->n], s, n);
    p->text[p->n++][n] = 0;
    return 0;
}

static void split(const char *pre, const char *text, const char *const *want, int nw) {
    hive_pretok *p = NULL;
    assert_int_equal(hive_pretok_new(pre, &p, NULL), HIVE_OK);
    pieces got = {0};
    assert_int_equal(hive_pretok_split(p, text, strlen(text), collect, &got, NULL), HIVE_OK);
    for (int i = 0; i < got.n && i < nw; i++)
        if (strcmp(got.text[i], want[i])) fprintf(stderr, "%s \"%s\": piece %d \"%s\"\n", pre, text, i, got.text[i]);
    assert_int_equal(got.n, nw);
    for (int i = 0; i < nw; i++) assert_string_equal(got.text[i], want[i]);
    hive_pretok_free(p);
}

static void test_pretokenizers(void **state) {
    (void)state;
    split("gpt2", "Hello world's  12345!!", (const char *const[]){"Hello", " world", "'s", " ", " 12345", "!!"}, 6);
    split("smollm", "a  12", (const char *const[]){"a", "  ", "1", "2"}, 4);
    split("qwen2", "Hi THERE'S 1234\n\n x", (const char *const[]){"Hi", " THERE", "'S", " ", "1", "2", "3", "4", "\n\n", " x"}, 10);
    split("llama-bpe", "12345 ab", (const char *const[]){"123", "45", " ab"}, 3);
    split("gpt2", "a\xFF" "b", (const char *const[]){"a", "\xFF", "b"}, 3); /* invalid UTF-8 is its own piece */
    hive_pretok *p = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_pretok_new("no-such-pre", &p, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(hive_error_message(err), "no-such-pre"));
    hive_error_free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rank_order),     cmocka_unit_test(test_merge_leftmost_on_ties),
        cmocka_unit_test(test_pretokenizer_bounds_merges), cmocka_unit_test(test_added_tokens),
        cmocka_unit_test(test_bos),                  cmocka_unit_test(test_decode),
        cmocka_unit_test(test_detok_holds_partial_utf8), cmocka_unit_test(test_token_lookup),
        cmocka_unit_test(test_utf8_lossy),           cmocka_unit_test(test_pretokenizers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
