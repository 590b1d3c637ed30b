/* Fuzzes the `serve` request parser (host/server/request.c): a body goes in,
 * sampling fields, the expert set, messages or a prompt, structured output
 * (response_format, grammar, regex) come out, or a 4xx error naming the
 * field. The first input byte picks the endpoint (odd: chat completions,
 * even: completions); the rest is the body. Whatever is parsed is read back
 * in full (ASan checks every string), the model field is run through the
 * expert-set splitter, and a grammar is compiled as the server would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "grammar/grammar.h"
#include "server/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    fuzz_quiet_logs();
    int chat = data[0] & 1;
    hive_api_request r;
    hive_api_error e;
    if (hive_api_parse_request((const char *)data + 1, size - 1, chat, &r, &e) != 0) {
        /* a refusal is a 4xx with a message */
        if (e.http < 400 || e.http > 499 || !e.message[0]) abort();
        fuzz_touch(e.message, strlen(e.message));
        return 0;
    }
    fuzz_touch(r.model, strlen(r.model) + 1);
    for (size_t i = 0; i < r.n_msgs; i++) {
        fuzz_touch(r.msgs[i].role, strlen(r.msgs[i].role) + 1);
        fuzz_touch(r.msgs[i].content, strlen(r.msgs[i].content) + 1);
    }
    if (r.prompt) fuzz_touch(r.prompt, strlen(r.prompt) + 1);
    for (size_t i = 0; i < r.n_stop; i++) fuzz_touch(r.stop[i], strlen(r.stop[i]) + 1);
    for (size_t i = 0; i < r.n_experts; i++) fuzz_touch(r.experts[i], strlen(r.experts[i]) + 1);
    if (r.n < 1 || r.n > HIVE_API_MAX_N || r.top_logprobs > HIVE_API_MAX_TOP_LOGPROBS || (chat && !r.n_msgs) ||
        (!chat && !r.prompt) || r.n_stop > HIVE_API_MAX_STOP)
        abort(); /* the parser let an out-of-range request through */
    /* a grammar source has its text; none, json_object and text have none */
    int has_text = r.grammar == HIVE_API_GRAMMAR_JSON_SCHEMA || r.grammar == HIVE_API_GRAMMAR_GBNF ||
                   r.grammar == HIVE_API_GRAMMAR_REGEX;
    if (r.grammar > HIVE_API_GRAMMAR_REGEX || has_text != (r.grammar_text != NULL)) abort();
    if (r.grammar_text) fuzz_touch(r.grammar_text, strlen(r.grammar_text) + 1);
    if (r.grammar >= HIVE_API_GRAMMAR_JSON_OBJECT) {
        hive_grammar *g = NULL;
        hive_api_error ge;
        if (hive_api_compile_grammar(r.grammar, r.grammar_text, 2, &g, &ge) == 0) {
            if (!g) abort();
            hive_grammar_free(g);
        } else if (g || ge.http < 400 || !ge.message[0]) {
            abort(); /* a refusal is an error with a message, and nothing compiled */
        }
    }
    char *parts[HIVE_API_MAX_EXPERTS];
    int k = hive_api_split_model(r.model, parts, HIVE_API_MAX_EXPERTS);
    for (int i = 0; i < k; i++) {
        if (!parts[i][0] || strchr(parts[i], '+')) abort();
        free(parts[i]);
    }
    hive_api_request_free(&r);
    return 0;
}
