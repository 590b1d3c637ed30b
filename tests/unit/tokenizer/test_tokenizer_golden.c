/* The tokenizer against the reference (transformers), on the fixtures made by
 * scripts/make-tokenizer-fixtures.py: SmolLM2 from its committed tokenizer.json
 * and from the real GGUF (through the model layer), and, when their
 * tokenizer.json files have been generated, the Qwen2/Qwen3.5/Llama-3/
 * StarCoder/GPT-2 vocabularies llama.cpp ships. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tok_test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"
#include "util/error.h"
#ifdef HIVE_TEST_HAVE_MODEL
#include "model/model.h"
#endif

static cJSON *golden;

static int setup(void **state) {
    (void)state;
    golden = tt_load_json(tt_data_path("smollm2_golden.json"));
    if (!golden) fprintf(stderr, "cannot read %s\n", tt_data_path("smollm2_golden.json"));
    return golden ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    cJSON_Delete(golden);
    return 0;
}

static hive_tokenizer *build(const hive_vocab_src *v, const char *pre_override) {
    hive_vocab_src copy = *v;
    if (pre_override) snprintf(copy.pre, sizeof copy.pre, "%s", pre_override);
    hive_tokenizer *t = NULL;
    hive_error *err = NULL;
    hive_status st = hive_tokenizer_new(&copy, &t, &err);
    if (st) fprintf(stderr, "tokenizer_new: %s\n", hive_error_message(err));
    hive_error_free(err);
    assert_int_equal(st, HIVE_OK);
    return t;
}

static const char *str_of(const cJSON *o, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(o, key)->valuestring;
}
static const cJSON *arr_of(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

/* Every SmolLM2 golden case through one vocab source. */
static void check_smollm2(const hive_vocab_src *v, const char *label) {
    hive_tokenizer *t = build(v, NULL);
    assert_int_equal(hive_tokenizer_n_vocab(t), cJSON_GetObjectItem(golden, "n_vocab")->valueint);
    assert_int_equal(hive_tokenizer_bos(t), cJSON_GetObjectItem(golden, "bos")->valueint);
    assert_int_equal(hive_tokenizer_eos(t), cJSON_GetObjectItem(golden, "eos")->valueint);
    assert_int_equal(hive_tokenizer_eot(t), hive_tokenizer_token_id(t, "<|im_end|>"));
    int fails = 0, n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, arr_of(golden, "cases")) {
        const char *text = str_of(c, "text");
        n++;
        fails += !tt_encode_matches(t, text, arr_of(c, "ids"), 1, label);
        fails += !tt_encode_matches(t, text, arr_of(c, "ids_no_special"), 0, label);
        fails += !tt_decode_matches(t, arr_of(c, "ids"), 0, str_of(c, "decoded"), label);
        fails += !tt_decode_matches(t, arr_of(c, "ids"), 1, str_of(c, "decoded_skip_special"), label);
        fails += !tt_stream_matches(t, arr_of(c, "ids"), 0, str_of(c, "decoded"), label);
        fails += !tt_stream_matches(t, arr_of(c, "ids"), 1, str_of(c, "decoded_skip_special"), label);
    }
    cJSON_ArrayForEach(c, arr_of(golden, "decode")) {
        fails += !tt_decode_matches(t, arr_of(c, "ids"), 0, str_of(c, "text"), label);
        fails += !tt_decode_matches(t, arr_of(c, "ids"), 1, str_of(c, "text_skip_special"), label);
        fails += !tt_stream_matches(t, arr_of(c, "ids"), 0, str_of(c, "text"), label);
    }
    hive_tokenizer_free(t);
    /* Plain GPT-2 pre-tokenization (what transformers builds from this GGUF). */
    t = build(v, "gpt2");
    cJSON_ArrayForEach(c, arr_of(golden, "cases")) fails += !tt_encode_matches(t, str_of(c, "text"), arr_of(c, "ids_gpt2"), 1, label);
    hive_tokenizer_free(t);
    fprintf(stderr, "%s: %d cases, %d mismatches\n", label, n, fails);
    assert_true(n > 50);
    assert_int_equal(fails, 0);
}

static void test_smollm2_tokenizer_json(void **state) {
    (void)state;
    const char *dir = tt_data_path("smollm2");
    hive_vocab_src v;
    char *tpl = NULL;
    hive_error *err = NULL;
    hive_status st = hive_vocab_from_tokenizer_json(dir, &v, &tpl, &err);
    if (st) fprintf(stderr, "%s\n", hive_error_message(err));
    hive_error_free(err);
    assert_int_equal(st, HIVE_OK);
    assert_string_equal(v.pre, "smollm");
    char *want_tpl = tt_read_text(tt_data_path("templates/smollm2.jinja"));
    assert_non_null(tpl);
    assert_string_equal(tpl, want_tpl);
    free(want_tpl);
    free(tpl);
    check_smollm2(&v, "smollm2 tokenizer.json");
    hive_vocab_src_free(&v);
}

static void test_smollm2_gguf(void **state) {
    (void)state;
#ifdef HIVE_TEST_HAVE_MODEL
    char path[4096];
    const char *env = getenv("HIVE_TEST_GGUF");
    if (env && *env) snprintf(path, sizeof path, "%s", env);
    else snprintf(path, sizeof path, "%s/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf", getenv("HOME") ? getenv("HOME") : "/root");
    if (!tt_file_exists(path)) {
        fprintf(stderr, "skip: %s absent (set HIVE_TEST_GGUF)\n", path);
        skip();
    }
    hive_model_files *m = NULL;
    hive_error *err = NULL;
    hive_status st = hive_model_open(path, &m, &err);
    if (st) fprintf(stderr, "%s\n", hive_error_message(err));
    hive_error_free(err);
    assert_int_equal(st, HIVE_OK);
    assert_string_equal(m->vocab.pre, "smollm");
    char *want_tpl = tt_read_text(tt_data_path("templates/smollm2.jinja"));
    assert_non_null(m->chat_template);
    assert_string_equal(m->chat_template, want_tpl);
    free(want_tpl);
    check_smollm2(&m->vocab, "smollm2 gguf");
    hive_model_close(m);
#else
    fprintf(stderr, "skip: hive_model is not built, the GGUF path cannot be tested\n");
    skip();
#endif
}

/* Other vocabularies: tokenizer.json files the fixture script writes to
 * $HIVE_TEST_TOKENIZERS (default ~/.cache/hive/tokenizers). */
static void test_other_vocabs(void **state) {
    (void)state;
    static const char *const names[] = {"qwen2", "qwen35", "llama-bpe", "starcoder", "gpt-2"};
    char base[2048];
    const char *env = getenv("HIVE_TEST_TOKENIZERS");
    if (env && *env) snprintf(base, sizeof base, "%s", env);
    else snprintf(base, sizeof base, "%s/.cache/hive/tokenizers", getenv("HOME") ? getenv("HOME") : "/root");
    int tested = 0, fails = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[4096], rel[64];
        snprintf(path, sizeof path, "%s/%s/tokenizer.json", base, names[k]);
        snprintf(rel, sizeof rel, "vocab_golden/%s.json", names[k]);
        cJSON *g = tt_load_json(tt_data_path(rel));
        assert_non_null(g);
        if (!tt_file_exists(path)) {
            fprintf(stderr, "%s: %s absent, not tested (run scripts/make-tokenizer-fixtures.py)\n", names[k], path);
            cJSON_Delete(g);
            continue;
        }
        hive_vocab_src v;
        hive_error *err = NULL;
        hive_status st = hive_vocab_from_tokenizer_json(path, &v, NULL, &err);
        if (st) fprintf(stderr, "%s: %s\n", names[k], hive_error_message(err));
        hive_error_free(err);
        assert_int_equal(st, HIVE_OK);
        hive_tokenizer *t = build(&v, str_of(g, "pre")); /* the GGUF's name for it */
        assert_int_equal(hive_tokenizer_n_vocab(t), cJSON_GetObjectItem(g, "n_vocab")->valueint);
        int f = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, arr_of(g, "cases")) f += !tt_encode_matches(t, str_of(c, "text"), arr_of(c, "ids"), 1, names[k]);
        cJSON_ArrayForEach(c, arr_of(g, "llama_cpp_cases")) {
            f += !tt_encode_matches(t, str_of(c, "text"), arr_of(c, "ids"), 1, names[k]);
            char *dec = NULL;
            int32_t *ids = NULL;
            size_t n = 0;
            const char *text = str_of(c, "text");
            assert_int_equal(hive_tokenizer_encode(t, text, strlen(text), 1, 0, &ids, &n, NULL), HIVE_OK);
            assert_int_equal(hive_tokenizer_decode(t, ids, n, 0, &dec, NULL), HIVE_OK);
            if (strcmp(dec, text)) fprintf(stderr, "%s: round trip of \"%s\" gave \"%s\"\n", names[k], text, dec);
            f += strcmp(dec, text) != 0;
            free(dec);
            free(ids);
        }
        fprintf(stderr, "%s: %d mismatches\n", names[k], f);
        fails += f;
        tested++;
        hive_tokenizer_free(t);
        hive_vocab_src_free(&v);
        cJSON_Delete(g);
    }
    assert_int_equal(fails, 0);
    if (!tested) skip();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smollm2_tokenizer_json),
        cmocka_unit_test(test_smollm2_gguf),
        cmocka_unit_test(test_other_vocabs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
