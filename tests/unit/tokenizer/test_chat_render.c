/* hive_chat_render against transformers' apply_chat_template with each
 * model's own template (SmolLM2, Qwen2.5, Qwen3), from smollm2_golden.json. */
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
#include "util/error.h"

static void test_matches_transformers(void **state) {
    (void)state;
    cJSON *g = tt_load_json(tt_data_path("smollm2_golden.json"));
    assert_non_null(g);
    int n = 0, fails = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g, "chat")) {
        char rel[64];
        snprintf(rel, sizeof rel, "templates/%s.jinja", cJSON_GetObjectItem(c, "template")->valuestring);
        char *tpl = tt_read_text(tt_data_path(rel));
        assert_non_null(tpl);
        hive_chat_msg msgs[16];
        size_t nm = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(c, "messages")) {
            assert_true(nm < 16);
            msgs[nm].role = cJSON_GetObjectItem(m, "role")->valuestring;
            msgs[nm++].content = cJSON_GetObjectItem(m, "content")->valuestring;
        }
        const cJSON *think = cJSON_GetObjectItem(c, "enable_thinking");
        int enable = cJSON_IsBool(think) ? cJSON_IsTrue(think) : HIVE_THINKING_DEFAULT;
        int gen = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"));
        char *out = NULL;
        hive_error *err = NULL;
        assert_int_equal(hive_chat_render(msgs, nm, gen, enable, tpl, &out, &err), HIVE_OK);
        const char *want = cJSON_GetObjectItem(c, "text")->valuestring;
        if (strcmp(out, want)) {
            fprintf(stderr, "chat %d (%s):\n--- want\n%s\n--- got\n%s\n---\n", n, rel, want, out);
            fails++;
        }
        free(out);
        free(tpl);
        n++;
    }
    cJSON_Delete(g);
    fprintf(stderr, "%d chats, %d mismatches\n", n, fails);
    assert_true(n >= 20);
    assert_int_equal(fails, 0);
}

static void test_plain_and_unsupported(void **state) {
    (void)state;
    hive_chat_msg msgs[] = {{"user", "hi"}};
    char *out = NULL;
    assert_int_equal(hive_chat_render(msgs, 1, 1, HIVE_THINKING_DEFAULT, NULL, &out, NULL), HIVE_OK);
    assert_string_equal(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    free(out);
    /* without a Qwen3 template, enable_thinking changes nothing */
    assert_int_equal(hive_chat_render(msgs, 1, 1, 0, NULL, &out, NULL), HIVE_OK);
    assert_string_equal(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    free(out);
    hive_error *err = NULL;
    assert_int_equal(hive_chat_render(msgs, 1, 1, HIVE_THINKING_DEFAULT,
                                      "{{ bos_token }}<|start_header_id|>user<|end_header_id|>", &out, &err),
                     HIVE_E_UNSUPPORTED);
    hive_error_free(err);
    err = NULL;
    hive_chat_msg bad[] = {{"user", NULL}};
    assert_int_equal(hive_chat_render(bad, 1, 1, HIVE_THINKING_DEFAULT, NULL, &out, &err), HIVE_E_INVALID);
    hive_error_free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_transformers),
        cmocka_unit_test(test_plain_and_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
