/* Stop-string matcher: matches split across chunks, hold-back of possible
 * prefixes, multiple and overlapping stop strings, flush, UTF-8, small buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine/stop.h"
#include "util/error.h"

static hive_stop *make(const char *const *strs, size_t n) {
    hive_error *err = NULL;
    hive_stop *st = hive_stop_new(strs, n, &err);
    if (!st) fail_msg("hive_stop_new: %s", hive_error_message(err));
    return st;
}

/* Streams text in chunks of `chunk` bytes, then flushes; returns everything emitted. */
static void stream(const char *const *stops, size_t n_stops, const char *text, size_t chunk, char *out,
                   size_t out_cap, int *matched) {
    hive_stop *st = make(stops, n_stops);
    size_t len = strlen(text), got = 0;
    *matched = 0;
    for (size_t at = 0; at < len; at += chunk) {
        size_t step = len - at < chunk ? len - at : chunk;
        int m = 0;
        got += hive_stop_feed(st, text + at, step, out + got, out_cap - 1 - got, &m);
        if (*matched) assert_true(m); /* matched is sticky */
        *matched = m;
    }
    got += hive_stop_flush(st, out + got, out_cap - 1 - got);
    assert_int_equal(hive_stop_pending(st), 0);
    out[got] = '\0';
    hive_stop_free(st);
}

/* The result must not depend on how the text is chunked. */
static void expect(const char *const *stops, size_t n_stops, const char *text, const char *want, int want_match) {
    char out[256];
    size_t len = strlen(text);
    for (size_t chunk = 1; chunk <= len; chunk++) {
        int matched;
        stream(stops, n_stops, text, chunk, out, sizeof out, &matched);
        if (strcmp(out, want) != 0 || matched != want_match)
            fail_msg("\"%s\" in chunks of %zu: got \"%s\" (matched %d), want \"%s\" (matched %d)", text, chunk, out,
                     matched, want, want_match);
    }
}

static void test_match_split_across_chunks(void **state) {
    (void)state;
    const char *stops[] = {"STOP"};
    expect(stops, 1, "Hello STOP world", "Hello ", 1);
    expect(stops, 1, "STOP", "", 1);
    expect(stops, 1, "xSTO", "xSTO", 0);
}

static void test_overlapping_prefix(void **state) {
    (void)state;
    const char *ab[] = {"ab"};
    expect(ab, 1, "aab", "a", 1);
    expect(ab, 1, "aaac", "aaac", 0);
    const char *aab[] = {"aab"};
    expect(aab, 1, "aaab", "a", 1);
    expect(aab, 1, "aaaaab", "aaa", 1);
    const char *abab[] = {"abac"};
    expect(abab, 1, "ababac!", "ab", 1);
}

static void test_multiple_stop_strings(void **state) {
    (void)state;
    const char *stops[] = {"xyz", "END", "</s>"};
    expect(stops, 3, "abc</s>def END", "abc", 1);
    expect(stops, 3, "1 END 2 </s>", "1 ", 1);
    expect(stops, 3, "no stop here <", "no stop here <", 0);
    /* Both complete in the same chunk: the earlier one wins. */
    const char *nested[] = {"bc", "abcd"};
    expect(nested, 2, "xabce", "xa", 1);
}

static void test_no_match_flushes_everything(void **state) {
    (void)state;
    const char *stops[] = {"STOP"};
    hive_stop *st = make(stops, 1);
    char out[64];
    int matched = -1;
    size_t n = hive_stop_feed(st, "abc ST", 6, out, sizeof out, &matched);
    assert_int_equal(matched, 0);
    assert_int_equal(n, 4); /* "ST" could begin "STOP" */
    assert_memory_equal(out, "abc ", 4);
    assert_int_equal(hive_stop_pending(st), 2);
    n = hive_stop_feed(st, "O", 1, out, sizeof out, &matched);
    assert_int_equal(n, 0);
    n = hive_stop_flush(st, out, sizeof out);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "STO", 3);
    assert_int_equal(hive_stop_flush(st, out, sizeof out), 0);
    hive_stop_free(st);
}

static void test_after_match_input_ignored_and_reset(void **state) {
    (void)state;
    const char *stops[] = {"\n\n"};
    hive_stop *st = make(stops, 1);
    char out[64];
    int matched = 0;
    size_t n = hive_stop_feed(st, "line\n\nmore", 10, out, sizeof out, &matched);
    assert_int_equal(matched, 1);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "line", 4);
    assert_int_equal(hive_stop_feed(st, "tail", 4, out, sizeof out, &matched), 0);
    assert_int_equal(matched, 1);
    assert_int_equal(hive_stop_flush(st, out, sizeof out), 0);

    hive_stop_reset(st);
    n = hive_stop_feed(st, "again", 5, out, sizeof out, &matched);
    assert_int_equal(matched, 0);
    assert_int_equal(n, 5);
    hive_stop_free(st);
}

static void test_utf8(void **state) {
    (void)state;
    const char *stops[] = {"\xe3\x80\x82"}; /* "。" */
    expect(stops, 1, "\xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82\xe4\xb8\x96", "\xe4\xbd\xa0\xe5\xa5\xbd", 1);
    const char *e_acute[] = {"\xc3\xa9"};                 /* "é" */
    expect(e_acute, 1, "caf\xc3\xa8!", "caf\xc3\xa8!", 0); /* "è" shares the lead byte */
    expect(e_acute, 1, "caf\xc3\xa9!", "caf", 1);

    /* A character split across chunks is held until complete, even without stops. */
    hive_stop *st = make(NULL, 0);
    char out[16];
    assert_int_equal(hive_stop_feed(st, "a\xe4\xbd", 3, out, sizeof out, NULL), 1);
    assert_int_equal(hive_stop_feed(st, "\xa0", 1, out, sizeof out, NULL), 3);
    assert_memory_equal(out, "\xe4\xbd\xa0", 3);
    /* Stray continuation bytes are not held forever. */
    assert_int_equal(hive_stop_feed(st, "\xa0\xa0", 2, out, sizeof out, NULL), 2);
    /* Flush releases an incomplete tail. */
    assert_int_equal(hive_stop_feed(st, "\xf0\x9f", 2, out, sizeof out, NULL), 0);
    assert_int_equal(hive_stop_flush(st, out, sizeof out), 2);
    hive_stop_free(st);
}

static void test_small_output_buffer_queues(void **state) {
    (void)state;
    const char *stops[] = {"!"};
    hive_stop *st = make(stops, 1);
    char out[8];
    int matched = 0;
    assert_int_equal(hive_stop_feed(st, "hello", 5, out, 2, &matched), 2);
    assert_memory_equal(out, "he", 2);
    assert_int_equal(hive_stop_feed(st, "", 0, out, 2, &matched), 2);
    assert_memory_equal(out, "ll", 2);
    assert_int_equal(hive_stop_feed(st, " x!y", 4, out, 2, &matched), 2);
    assert_int_equal(matched, 1);
    assert_memory_equal(out, "o ", 2);
    assert_int_equal(hive_stop_flush(st, out, 2), 1);
    assert_memory_equal(out, "x", 1);
    assert_int_equal(hive_stop_flush(st, out, 2), 0);
    hive_stop_free(st);
}

static void test_empty_and_no_stops_pass_through(void **state) {
    (void)state;
    const char *stops[] = {"", "zz"};
    expect(stops, 1, "anything at all", "anything at all", 0);
    expect(stops, 2, "fizz buzz", "fi", 1);
    expect(NULL, 0, "plain text", "plain text", 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_split_across_chunks),
        cmocka_unit_test(test_overlapping_prefix),
        cmocka_unit_test(test_multiple_stop_strings),
        cmocka_unit_test(test_no_match_flushes_everything),
        cmocka_unit_test(test_after_match_input_ignored_and_reset),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_small_output_buffer_queues),
        cmocka_unit_test(test_empty_and_no_stops_pass_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
