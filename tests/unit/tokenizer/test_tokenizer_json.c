/* hive_vocab_from_tokenizer_json on small hand-written tokenizer.json files:
 * both merge spellings, added tokens, pre-tokenizer detection, and the
 * tokenizer_config.json / chat_template.jinja beside it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

static char dir[64];

static void write_file(const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hive-tok-json-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    remove_file("tokenizer.json");
    remove_file("tokenizer_config.json");
    remove_file("chat_template.jinja");
    return rmdir(dir);
}

#define VOCAB "\"vocab\": {\"h\": 0, \"i\": 1, \"hi\": 2, \"\\u0120\": 3, \"\\u0120hi\": 4, \"1\": 5}"
#define ADDED "\"added_tokens\": [{\"id\": 6, \"content\": \"<|im_start|>\", \"special\": true}," \
              "{\"id\": 7, \"content\": \"<|im_end|>\", \"special\": true}, {\"id\": 9, \"content\": \"<think>\", \"special\": false}]"

static void test_string_merges_and_config(void **state) {
    (void)state;
    write_file("tokenizer.json",
               "{" ADDED ", \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
               "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
               "\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false},"
               "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
               "\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [\"h i\", \"\\u0120 hi\"]}}");
    write_file("tokenizer_config.json", "{\"bos_token\": {\"content\": \"<|im_start|>\"}, \"eos_token\": \"<|im_end|>\","
                                        "\"add_bos_token\": true, \"chat_template\": \"{{ messages }}<|im_start|>\"}");
    hive_vocab_src v;
    char *tpl = NULL;
    hive_error *err = NULL;
    hive_status st = hive_vocab_from_tokenizer_json(dir, &v, &tpl, &err); /* a directory works too */
    if (st) fprintf(stderr, "%s\n", hive_error_message(err));
    assert_int_equal(st, HIVE_OK);
    assert_string_equal(v.pre, "qwen2");
    assert_int_equal(v.n_tokens, 10);
    assert_int_equal(v.types[8], HIVE_TOKEN_UNUSED); /* a gap in the ids */
    assert_int_equal(v.types[6], HIVE_TOKEN_CONTROL);
    assert_int_equal(v.types[9], HIVE_TOKEN_USER_DEFINED);
    assert_int_equal(v.bos_id, 6);
    assert_int_equal(v.eos_id, 7);
    assert_int_equal(v.eot_id, 7);
    assert_int_equal(v.add_bos, 1);
    assert_string_equal(tpl, "{{ messages }}<|im_start|>");
    assert_int_equal(v.n_merges, 2);

    hive_tokenizer *t = NULL;
    assert_int_equal(hive_tokenizer_new(&v, &t, NULL), HIVE_OK);
    hive_vocab_src_free(&v);
    free(tpl);
    int32_t *ids = NULL;
    size_t n = 0;
    const char *text = "hi hi<think>1";
    assert_int_equal(hive_tokenizer_encode(t, text, strlen(text), 1, HIVE_ADD_BOS_DEFAULT, &ids, &n, NULL), HIVE_OK);
    int32_t want[] = {6, 2, 4, 9, 5};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    hive_tokenizer_free(t);
}

static void test_pair_merges_and_template_file(void **state) {
    (void)state;
    write_file("tokenizer.json", "{" ADDED ", \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false,"
                                 "\"use_regex\": true}, \"model\": {\"type\": \"BPE\", " VOCAB
                                 ", \"merges\": [[\"h\", \"i\"], [\"\\u0120\", \"hi\"]]}}");
    remove_file("tokenizer_config.json");
    write_file("chat_template.jinja", "T");
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    hive_vocab_src v;
    char *tpl = NULL;
    assert_int_equal(hive_vocab_from_tokenizer_json(path, &v, &tpl, NULL), HIVE_OK);
    assert_string_equal(v.pre, "gpt2");
    assert_int_equal(v.bos_id, -1);
    assert_int_equal(v.add_bos, 0);
    assert_string_equal(tpl, "T");
    assert_int_equal(v.merges[1].len, strlen("\xC4\xA0 hi"));
    assert_memory_equal(v.merges[1].ptr, "\xC4\xA0 hi", v.merges[1].len);
    hive_tokenizer *t = NULL;
    assert_int_equal(hive_tokenizer_new(&v, &t, NULL), HIVE_OK);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(hive_tokenizer_encode(t, "hi hi", 5, 1, 0, &ids, &n, NULL), HIVE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[1], 4);
    free(ids);
    hive_tokenizer_free(t);
    hive_vocab_src_free(&v);
    free(tpl);
    remove_file("chat_template.jinja");
}

static void test_rejects_what_it_cannot_do(void **state) {
    (void)state;
    hive_vocab_src v;
    hive_error *err = NULL;
    write_file("tokenizer.json", "{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {\"type\": \"BPE\", " VOCAB
                                 ", \"merges\": []}}");
    assert_int_equal(hive_vocab_from_tokenizer_json(dir, &v, NULL, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(hive_error_message(err), "Whitespace"));
    hive_error_free(err);
    err = NULL;
    write_file("tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
    assert_int_equal(hive_vocab_from_tokenizer_json(dir, &v, NULL, &err), HIVE_E_UNSUPPORTED);
    hive_error_free(err);
    err = NULL;
    write_file("tokenizer.json", "{not json");
    assert_int_equal(hive_vocab_from_tokenizer_json(dir, &v, NULL, &err), HIVE_E_INVALID);
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_vocab_from_tokenizer_json("/nonexistent/tokenizer.json", &v, NULL, &err), HIVE_E_IO);
    hive_error_free(err);
    err = NULL;
    /* one huge id would make millions of empty tokens (found by fuzz_tokenizer_json: a timeout) */
    write_file("tokenizer.json", "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
                                 "\"vocab\": {\"a\": 0, \"b\": 5000000}, \"merges\": []}}");
    assert_int_equal(hive_vocab_from_tokenizer_json(dir, &v, NULL, &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "token ids run up to 5000000 but only 2 tokens are defined"));
    hive_error_free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_merges_and_config),
        cmocka_unit_test(test_pair_merges_and_template_file),
        cmocka_unit_test(test_rejects_what_it_cannot_do),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
