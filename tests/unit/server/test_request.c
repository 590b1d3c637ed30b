/* The OpenAI request parser: fields, defaults, every kind of bad input (status,
 * param), the model-as-expert-set syntax, and structured output (response_format,
 * grammar, regex: parsed, then compiled with the engine's message on failure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "grammar/grammar.h"
#include "server/request.h"

static int parse(const char *body, int chat, hive_api_request *r, hive_api_error *e) {
    return hive_api_parse_request(body, strlen(body), chat, r, e);
}

static void test_chat_fields(void **state) {
    (void)state;
    hive_api_request r;
    hive_api_error e;
    const char *body = "{\"model\":\"sql+json\",\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},{\"type\":\"text\",\"text\":\"there\"}]},"
                       "{\"role\":\"assistant\",\"content\":null}],"
                       "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":-1,\"min_p\":0.1,\"max_tokens\":10,"
                       "\"max_completion_tokens\":20,\"stop\":\"END\",\"seed\":42,\"n\":3,\"presence_penalty\":1,"
                       "\"frequency_penalty\":-1,\"repetition_penalty\":1.2,\"logprobs\":true,\"top_logprobs\":5,"
                       "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"experts\":[\"ia3\"],"
                       "\"chat_template_kwargs\":{\"enable_thinking\":false},\"user\":\"ignored\",\"tools\":null}";
    assert_int_equal(parse(body, 1, &r, &e), 0);
    assert_string_equal(r.model, "sql+json");
    assert_int_equal(r.n_msgs, 3);
    assert_string_equal(r.msgs[0].role, "system");
    assert_string_equal(r.msgs[1].content, "Hi there");
    assert_string_equal(r.msgs[2].content, "");
    assert_true(r.temperature.has && r.temperature.v == 0.5);
    assert_true(r.top_k.has && r.top_k.v == 0);
    assert_true(r.max_tokens.has && r.max_tokens.v == 20); /* max_completion_tokens wins */
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "END");
    assert_int_equal(r.n, 3);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 5);
    assert_true(r.stream && r.include_usage);
    assert_int_equal(r.n_experts, 1);
    assert_string_equal(r.experts[0], "ia3");
    assert_int_equal(r.thinking, 0);
    hive_api_request_free(&r);
}

static void test_defaults_and_completions(void **state) {
    (void)state;
    hive_api_request r;
    hive_api_error e;
    assert_int_equal(parse("{\"model\":\"m\",\"prompt\":[\"once\"],\"logprobs\":2,\"stop\":null}", 0, &r, &e), 0);
    assert_string_equal(r.prompt, "once");
    assert_int_equal(r.n, 1);
    assert_false(r.temperature.has);
    assert_false(r.has_stop);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 2);
    assert_int_equal(r.thinking, -1);
    hive_api_request_free(&r);
}

static void expect_bad(const char *body, int chat, int http, const char *param) {
    hive_api_request r;
    hive_api_error e;
    if (parse(body, chat, &r, &e) == 0) fail_msg("accepted: %s", body);
    assert_int_equal(e.http, http);
    assert_true(e.message[0] != 0);
    if (param) assert_string_equal(e.param, param);
}

/* speculative: draft (a string, checked by the server) and k (1..14), nothing else */
static void test_speculative_field(void **state) {
    (void)state;
    hive_api_request r;
    hive_api_error e;
    assert_int_equal(parse("{\"model\":\"m\",\"prompt\":\"a\"}", 0, &r, &e), 0);
    assert_false(r.has_speculative);
    hive_api_request_free(&r);
    assert_int_equal(parse("{\"model\":\"m\",\"prompt\":\"a\",\"speculative\":{\"draft\":\"lookup:2\",\"k\":14}}", 0,
                           &r, &e), 0);
    assert_true(r.has_speculative);
    assert_string_equal(r.spec_draft, "lookup:2");
    assert_true(r.spec_k.has);
    assert_true(r.spec_k.v == 14);
    hive_api_request_free(&r);
    assert_int_equal(parse("{\"model\":\"m\",\"prompt\":\"a\",\"speculative\":{}}", 0, &r, &e), 0);
    assert_true(r.has_speculative);
    assert_null(r.spec_draft);
    assert_false(r.spec_k.has);
    hive_api_request_free(&r);
    static const char *const bad[][2] = {
        {"\"lookup\"", "speculative"},          {"{\"drafter\":\"lookup\"}", "speculative"},
        {"{\"draft\":1}", "speculative.draft"}, {"{\"k\":0}", "speculative.k"},
        {"{\"k\":15}", "speculative.k"},       {"{\"k\":\"8\"}", "speculative.k"},
        {"{\"k\":1.5}", "speculative.k"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"a\",\"speculative\":%s}", bad[i][0]);
        expect_bad(body, 0, 400, bad[i][1]);
    }
}

static void test_bad_input(void **state) {
    (void)state;
    expect_bad("", 1, 400, NULL);
    expect_bad("{", 1, 400, NULL);
    expect_bad("[1]", 1, 400, NULL);
    expect_bad("{\"messages\":[]}", 1, 400, "model");
    expect_bad("{\"model\":1,\"messages\":[]}", 1, 400, "model");
    expect_bad("{\"model\":\"m\"}", 1, 400, "messages");
    expect_bad("{\"model\":\"m\",\"messages\":[]}", 1, 400, "messages");
    expect_bad("{\"model\":\"m\",\"messages\":\"hi\"}", 1, 400, "messages");
    expect_bad("{\"model\":\"m\",\"messages\":[1]}", 1, 400, "messages[0]");
    expect_bad("{\"model\":\"m\",\"messages\":[{\"role\":\"x\",\"content\":\"a\"}]}", 1, 400, "messages[0]");
    expect_bad("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 1, 400,
               "messages[0].content");
    expect_bad("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 1, 400, "messages[0].content");
    const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]";
    char b[512];
    static const char *bad[][2] = {
        {"\"temperature\":\"hot\"", "temperature"}, {"\"temperature\":3", "temperature"}, {"\"top_p\":0", "top_p"},
        {"\"top_p\":1.5", "top_p"},                 {"\"top_k\":1.5", "top_k"},           {"\"min_p\":-0.1", "min_p"},
        {"\"max_tokens\":0", "max_tokens"},         {"\"max_tokens\":true", "max_tokens"}, {"\"n\":9", "n"},
        {"\"n\":0", "n"},                           {"\"stop\":5", "stop"},               {"\"stop\":[\"a\",1]", "stop"},
        {"\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop"}, {"\"stream\":\"yes\"", "stream"},
        {"\"stream_options\":1", "stream_options"}, {"\"logprobs\":1", "logprobs"},
        {"\"top_logprobs\":21,\"logprobs\":true", "top_logprobs"}, {"\"top_logprobs\":2", "top_logprobs"},
        {"\"experts\":\"sql\"", "experts"},         {"\"experts\":[1]", "experts"},
        {"\"presence_penalty\":2.5", "presence_penalty"}, {"\"seed\":1.5", "seed"},
        {"\"chat_template_kwargs\":{\"enable_thinking\":1}", "enable_thinking"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(b, sizeof b, "{\"model\":\"m\",%s,%s}", msgs, bad[i][0]);
        expect_bad(b, 1, 400, bad[i][1]);
    }
    expect_bad("{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", 0, 400, "prompt");
    expect_bad("{\"model\":\"m\",\"prompt\":7}", 0, 400, "prompt");
    expect_bad("{\"model\":\"m\",\"prompt\":\"a\",\"logprobs\":6}", 0, 400, "logprobs");
    /* a NUL inside the body ends the JSON text: not valid JSON either way */
    hive_api_request r;
    hive_api_error e;
    assert_int_equal(hive_api_parse_request("{\"model\"\0:1}", 12, 1, &r, &e), -1);
}

static void test_structured_output(void **state) {
    (void)state;
    hive_api_request r;
    hive_api_error e;
    const char *m = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]";
    char b[1024];
    snprintf(b, sizeof b, "%s}", m);
    assert_int_equal(parse(b, 1, &r, &e), 0);
    assert_int_equal(r.grammar, HIVE_API_GRAMMAR_NONE);
    hive_api_request_free(&r);
    static const struct {
        const char *field;
        hive_api_grammar_kind kind;
        const char *text;
    } ok[] = {
        {"\"response_format\":{\"type\":\"text\"}", HIVE_API_GRAMMAR_OFF, NULL},
        {"\"response_format\":{\"type\":\"json_object\"}", HIVE_API_GRAMMAR_JSON_OBJECT, NULL},
        {"\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\",\"strict\":true,"
         "\"schema\":{\"type\":\"object\", \"required\": [\"a\"]}}}",
         HIVE_API_GRAMMAR_JSON_SCHEMA, "{\"type\":\"object\",\"required\":[\"a\"]}"},
        /* llama.cpp's form: a schema beside json_object */
        {"\"response_format\":{\"type\":\"json_object\",\"schema\":{\"type\":\"integer\"}}", HIVE_API_GRAMMAR_JSON_SCHEMA,
         "{\"type\":\"integer\"}"},
        {"\"grammar\":\"root ::= [a-z]+\"", HIVE_API_GRAMMAR_GBNF, "root ::= [a-z]+"},
        {"\"regex\":\"[0-9]{3}\"", HIVE_API_GRAMMAR_REGEX, "[0-9]{3}"},
        /* text is no grammar source of its own: a grammar beside it applies */
        {"\"response_format\":{\"type\":\"text\"},\"grammar\":\"root ::= \\\"x\\\"\"", HIVE_API_GRAMMAR_GBNF,
         "root ::= \"x\""},
        {"\"response_format\":null,\"grammar\":null", HIVE_API_GRAMMAR_NONE, NULL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(b, sizeof b, "%s,%s}", m, ok[i].field);
        if (parse(b, 1, &r, &e)) fail_msg("refused %s: %s", b, e.message);
        assert_int_equal(r.grammar, ok[i].kind);
        if (ok[i].text) assert_string_equal(r.grammar_text, ok[i].text);
        else assert_null(r.grammar_text);
        hive_api_request_free(&r);
    }
    static const char *bad[][2] = {
        {"\"response_format\":\"json\"", "response_format"},
        {"\"response_format\":{}", "response_format"},
        {"\"response_format\":{\"type\":\"xml\"}", "response_format"},
        {"\"response_format\":{\"type\":\"json_schema\"}", "response_format"},
        {"\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"p\"}}", "response_format"},
        {"\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":[1]}}", "response_format"},
        {"\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{},\"strict\":1}}", "response_format"},
        {"\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{},\"name\":2}}", "response_format"},
        {"\"grammar\":7", "grammar"},
        {"\"regex\":[\"a\"]", "regex"},
        /* two sources: the second is named */
        {"\"response_format\":{\"type\":\"json_object\"},\"grammar\":\"root ::= \\\"x\\\"\"", "grammar"},
        {"\"grammar\":\"root ::= \\\"x\\\"\",\"regex\":\"x\"", "regex"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(b, sizeof b, "%s,%s}", m, bad[i][0]);
        expect_bad(b, 1, 400, bad[i][1]);
    }
}

/* Compiling: the grammar engine's message, under the field it came from. */
static void test_structured_compile(void **state) {
    (void)state;
    static const struct {
        hive_api_grammar_kind kind;
        const char *text, *param, *says;
    } cases[] = {
        {HIVE_API_GRAMMAR_JSON_OBJECT, NULL, NULL, NULL},
        {HIVE_API_GRAMMAR_JSON_SCHEMA, "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", NULL, NULL},
        {HIVE_API_GRAMMAR_GBNF, "root ::= [a-z]+", NULL, NULL},
        {HIVE_API_GRAMMAR_REGEX, "[0-9]{3}-[0-9]{4}", NULL, NULL},
        {HIVE_API_GRAMMAR_JSON_SCHEMA, "{\"not\":{\"type\":\"string\"}}", "response_format", "unsupported keyword 'not'"},
        {HIVE_API_GRAMMAR_JSON_SCHEMA, "{\"type\":\"strin\"}", "response_format", "json_schema.schema"},
        {HIVE_API_GRAMMAR_JSON_SCHEMA, "{\"$ref\":\"http://x/y.json\"}", "response_format", "$ref"},
        {HIVE_API_GRAMMAR_GBNF, "root ::= item", "grammar", "item"},
        {HIVE_API_GRAMMAR_GBNF, "root ::= [a-", "grammar", "line 1"},
        {HIVE_API_GRAMMAR_REGEX, "(a", "regex", "regex"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hive_grammar *g = NULL;
        hive_api_error e;
        memset(&e, 0, sizeof e);
        int rc = hive_api_compile_grammar(cases[i].kind, cases[i].text, 2, &g, &e);
        if (!cases[i].param) {
            if (rc) fail_msg("case %zu refused: %s", i, e.message);
            assert_non_null(g);
            hive_grammar_free(g);
            continue;
        }
        if (!rc) fail_msg("case %zu (%s) compiled", i, cases[i].text);
        assert_null(g);
        assert_int_equal(e.http, 400);
        assert_string_equal(e.param, cases[i].param);
        if (!strstr(e.message, cases[i].says)) fail_msg("case %zu: '%s' lacks '%s'", i, e.message, cases[i].says);
    }
}

static void test_split_model(void **state) {
    (void)state;
    char *p[4];
    assert_int_equal(hive_api_split_model("sql+json", p, 4), 2);
    assert_string_equal(p[0], "sql");
    assert_string_equal(p[1], "json");
    free(p[0]);
    free(p[1]);
    assert_int_equal(hive_api_split_model("", p, 4), 0);
    assert_int_equal(hive_api_split_model("a++b", p, 4), -1);
    assert_int_equal(hive_api_split_model("+a", p, 4), -1);
    assert_int_equal(hive_api_split_model("a+", p, 4), -1);
    assert_int_equal(hive_api_split_model("a+b+c+d+e", p, 4), -1);
}

/* `experts`: names and {"name", "weight"} objects, mixed; bad weights are 400s naming `experts`. */
static void test_expert_weights(void **state) {
    (void)state;
    hive_api_request r;
    hive_api_error e;
    const char *ok = "{\"model\":\"m\",\"prompt\":\"x\",\"experts\":[\"json\",{\"name\":\"sql\",\"weight\":0.5},"
                     "{\"name\":\"style\"}]}";
    if (parse(ok, 0, &r, &e)) fail_msg("refused: %s", e.message);
    assert_int_equal(r.n_experts, 3);
    assert_string_equal(r.experts[0], "json");
    assert_string_equal(r.experts[1], "sql");
    assert_string_equal(r.experts[2], "style");
    assert_true(r.expert_weights[0] == 1.0 && r.expert_weights[1] == 0.5 && r.expert_weights[2] == 1.0);
    hive_api_request_free(&r);
    static const char *const bad[] = {
        "{\"name\":\"sql\",\"weight\":0}",      "{\"name\":\"sql\",\"weight\":-1}",
        "{\"name\":\"sql\",\"weight\":1e400}",  "{\"name\":\"sql\",\"weight\":101}",
        "{\"name\":\"sql\",\"weight\":\"0.5\"}", "{\"name\":\"sql\",\"weight\":null}",
        "{\"weight\":0.5}",                      "{\"name\":3}",
        "{\"name\":\"sql\",\"wieght\":0.5}",    "3",
        "[\"sql\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"x\",\"experts\":[%s]}", bad[i]);
        expect_bad(body, 0, 400, "experts");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expert_weights),
        cmocka_unit_test(test_chat_fields), cmocka_unit_test(test_defaults_and_completions),
        cmocka_unit_test(test_bad_input), cmocka_unit_test(test_split_model),
        cmocka_unit_test(test_speculative_field),
        cmocka_unit_test(test_structured_output), cmocka_unit_test(test_structured_compile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
