/* OpenAI request bodies -> what a completion needs: messages or a prompt, the
 * expert names, sampling fields the client set, stream options. A pure
 * function of the body (no model, no HTTP), so it is unit-tested and fuzzed
 * (tests/fuzz/fuzz_request.c). Errors carry the HTTP status and OpenAI's
 * error fields. */
#ifndef HIVE_SERVER_REQUEST_H
#define HIVE_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

struct hive_grammar;

#define HIVE_API_MAX_N 8
#define HIVE_API_MAX_STOP 4      /* as OpenAI */
#define HIVE_API_MAX_TOP_LOGPROBS 20
#define HIVE_API_MAX_EXPERTS 32
#define HIVE_API_MAX_MESSAGES 4096

typedef struct hive_api_error {
    int http;                    /* 400, 401, 404, 413, 429, 500, 503 */
    const char *type;            /* "invalid_request_error", ... */
    char param[64];              /* offending field, "" if none */
    char code[64];               /* OpenAI code ("model_not_found"), "" if none */
    char message[512];
} hive_api_error;

/* Structured output the request asks for (docs/SERVER.md, "Structured output"). */
typedef enum {
    HIVE_API_GRAMMAR_NONE,        /* no field: the experts' manifest grammar applies, if any */
    HIVE_API_GRAMMAR_OFF,         /* response_format {"type": "text"}: no grammar, not even a manifest's */
    HIVE_API_GRAMMAR_JSON_OBJECT, /* response_format {"type": "json_object"} */
    HIVE_API_GRAMMAR_JSON_SCHEMA, /* response_format {"type": "json_schema", "json_schema": {"schema": ...}} */
    HIVE_API_GRAMMAR_GBNF,        /* `grammar` (llama.cpp's extension) */
    HIVE_API_GRAMMAR_REGEX,       /* `regex`: the whole output matches it */
} hive_api_grammar_kind;

/* A field the client set (has = 1) and its value. */
typedef struct { int has; double v; } hive_api_num;

typedef struct hive_api_request {
    int chat;                    /* /v1/chat/completions (else /v1/completions) */
    char *model;
    char **experts;              /* the `experts` body field; NULL/0 when absent */
    double *expert_weights;      /* one per expert: 1, or {"name": ..., "weight": W}'s W */
    size_t n_experts;
    int has_experts;
    hive_chat_msg *msgs;         /* chat; strings owned */
    size_t n_msgs;
    char *prompt;                /* completions */
    int stream, include_usage;
    hive_api_num temperature, top_p, top_k, min_p, presence_penalty, frequency_penalty, repetition_penalty;
    hive_api_num seed, max_tokens;
    char **stop;                 /* has_stop: the client gave stop (possibly empty) */
    size_t n_stop;
    int has_stop;
    uint32_t n;                  /* 1 when absent */
    int logprobs;
    uint32_t top_logprobs;
    int thinking;                /* chat_template_kwargs.enable_thinking: 1, 0, or -1 absent */
    int ignore_eos;              /* extension (vLLM, llama.cpp): run to max_tokens (benchmarks) */
    hive_api_grammar_kind grammar;
    char *grammar_text;          /* the schema (compact JSON), the GBNF or the regex; NULL otherwise */
    /* `speculative` (extension, docs/SERVER.md): {"draft": "lookup[:N]" | "none" | ..., "k": 1..14};
     * the drafter's name is checked where the request is mapped (server/speculative.c) */
    int has_speculative;
    char *spec_draft;            /* NULL: not given */
    hive_api_num spec_k;
} hive_api_request;

/* 0 and a filled *out, or -1 with *err set (out is then freed). chat: which
 * endpoint the body was sent to. */
int hive_api_parse_request(const char *body, size_t len, int chat, hive_api_request *out, hive_api_error *err);
void hive_api_request_free(hive_api_request *r);

/* The `experts` field (request_experts.c): names or {"name", "weight"}
 * objects into r->experts / r->expert_weights. 0, or -1 with a 400. */
struct cJSON;
int hive_api_parse_experts(const struct cJSON *f, hive_api_request *r, hive_api_error *err);

/* The request field a grammar kind comes from ("response_format", "grammar", "regex"). */
const char *hive_api_grammar_param(hive_api_grammar_kind k);
/* Compiles the request's own grammar (JSON_OBJECT .. REGEX). 0 and *out, or
 * -1 with a 400 naming the field and giving the grammar engine's message
 * (a syntax error, an unsupported JSON Schema keyword). */
int hive_api_compile_grammar(hive_api_grammar_kind k, const char *text, uint32_t json_ws_max, struct hive_grammar **out,
                             hive_api_error *err);

/* `model` as an expert list: "sql+json" -> {"sql", "json"}. Returns the count
 * (0 for an empty string), or -1 when a part is empty or there are too many;
 * parts are malloc'd into out[]. */
int hive_api_split_model(const char *model, char **out, size_t cap);

/* Fill an error. */
void hive_api_error_set(hive_api_error *e, int http, const char *type, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
