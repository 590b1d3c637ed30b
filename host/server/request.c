/* Request body parsing and checks (see request.h). Fields the API defines but
 * Hive does not act on (user, tools, ...) are ignored, as OpenAI-compatible
 * servers do; a field of the wrong type or out of range is a 400 naming it. */
#include "server/request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/speculate.h"
#include "grammar/grammar.h"
#include "util/error.h"

void hive_api_error_set(hive_api_error *e, int http, const char *type, const char *param, const char *fmt, ...) {
    memset(e, 0, sizeof *e);
    e->http = http;
    e->type = type;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

#define BAD(param, ...) (hive_api_error_set(err, 400, "invalid_request_error", param, __VA_ARGS__), -1)
/* the same where a string is returned */
#define BADS(param, ...) (hive_api_error_set(err, 400, "invalid_request_error", param, __VA_ARGS__), (char *)NULL)

void hive_api_request_free(hive_api_request *r) {
    free(r->model);
    for (size_t i = 0; i < r->n_experts; i++) free(r->experts[i]);
    free(r->experts);
    free(r->expert_weights);
    for (size_t i = 0; i < r->n_msgs; i++) {
        free((char *)r->msgs[i].role);
        free((char *)r->msgs[i].content);
    }
    free(r->msgs);
    free(r->prompt);
    for (size_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r->grammar_text);
    free(r->spec_draft);
    memset(r, 0, sizeof *r);
}

/* An optional field: absent and null are the same. */
static const cJSON *field(const cJSON *o, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static int number(const cJSON *o, const char *name, double lo, double hi, int integer, hive_api_num *out,
                  hive_api_error *err) {
    const cJSON *f = field(o, name);
    if (!f) return 0;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble))
        return BAD(name, "'%s' must be a%s number", name, integer ? "n integer" : "");
    double v = f->valuedouble;
    if (integer && v != floor(v)) return BAD(name, "'%s' must be an integer, got %g", name, v);
    if (v < lo || v > hi) return BAD(name, "'%s' must be between %g and %g, got %g", name, lo, hi, v);
    out->has = 1;
    out->v = v;
    return 0;
}

static int boolean(const cJSON *o, const char *name, int *out, hive_api_error *err) {
    const cJSON *f = field(o, name);
    if (!f) return 0;
    if (!cJSON_IsBool(f)) return BAD(name, "'%s' must be a boolean", name);
    *out = cJSON_IsTrue(f);
    return 0;
}

/* Message content: a string, or a list of parts of which the text parts count. */
static char *content_text(const cJSON *c, const char *param, hive_api_error *err) {
    if (!c || cJSON_IsNull(c)) return strdup("");
    if (cJSON_IsString(c)) return strdup(c->valuestring);
    if (!cJSON_IsArray(c)) return BADS(param, "'%s' must be a string or a list of content parts", param);
    size_t len = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, c) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type"), *x = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsObject(p) || !cJSON_IsString(t)) return BADS(param, "'%s': each part needs a 'type'", param);
        if (strcmp(t->valuestring, "text") != 0)
            return BADS(param, "'%s': content parts of type '%s' are not supported (text only)", param, t->valuestring);
        if (!cJSON_IsString(x)) return BADS(param, "'%s': a text part needs a string 'text'", param);
        len += strlen(x->valuestring);
    }
    char *s = malloc(len + 1);
    if (!s) return NULL;
    s[0] = 0;
    size_t at = 0;
    cJSON_ArrayForEach(p, c) {
        const char *x = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
        size_t l = strlen(x);
        memcpy(s + at, x, l + 1);
        at += l;
    }
    return s;
}

static int parse_messages(const cJSON *root, hive_api_request *r, hive_api_error *err) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!m) return BAD("messages", "'messages' is required");
    if (!cJSON_IsArray(m)) return BAD("messages", "'messages' must be a list");
    int n = cJSON_GetArraySize(m);
    if (n < 1) return BAD("messages", "'messages' must hold at least one message");
    if (n > HIVE_API_MAX_MESSAGES) return BAD("messages", "at most %d messages", HIVE_API_MAX_MESSAGES);
    if (!(r->msgs = calloc((size_t)n, sizeof *r->msgs))) return BAD(NULL, "out of memory");
    const cJSON *msg;
    cJSON_ArrayForEach(msg, m) {
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", r->n_msgs);
        if (!cJSON_IsObject(msg)) return BAD(param, "'%s' must be an object", param);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        if (!cJSON_IsString(role)) return BAD(param, "'%s.role' must be a string", param);
        const char *rl = role->valuestring;
        if (!strcmp(rl, "developer")) rl = "system"; /* OpenAI's newer name for it */
        if (strcmp(rl, "system") && strcmp(rl, "user") && strcmp(rl, "assistant") && strcmp(rl, "tool"))
            return BAD(param, "'%s.role' must be system, developer, user, assistant or tool, got '%.40s'", param, rl);
        char cparam[80];
        snprintf(cparam, sizeof cparam, "%s.content", param);
        char *text = content_text(cJSON_GetObjectItemCaseSensitive(msg, "content"), cparam, err);
        if (!text) return err->http ? -1 : BAD(NULL, "out of memory");
        char *rd = strdup(rl);
        if (!rd) {
            free(text);
            return BAD(NULL, "out of memory");
        }
        r->msgs[r->n_msgs].role = rd;
        r->msgs[r->n_msgs].content = text;
        r->n_msgs++;
    }
    return 0;
}

static int parse_prompt(const cJSON *root, hive_api_request *r, hive_api_error *err) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p) return BAD("prompt", "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    else if (cJSON_IsArray(p))
        return BAD("prompt", "'prompt' must be a string (or a list of one string); send one request per prompt");
    if (!cJSON_IsString(p)) return BAD("prompt", "'prompt' must be a string");
    if (!(r->prompt = strdup(p->valuestring))) return BAD(NULL, "out of memory");
    return 0;
}

static int parse_strings(const cJSON *f, const char *param, size_t max, char ***out, size_t *n, hive_api_error *err) {
    if (cJSON_IsString(f)) {
        if (!(*out = calloc(1, sizeof **out)) || !((*out)[0] = strdup(f->valuestring))) return BAD(NULL, "out of memory");
        *n = 1;
        return 0;
    }
    if (!cJSON_IsArray(f)) return BAD(param, "'%s' must be a string or a list of strings", param);
    int k = cJSON_GetArraySize(f);
    if ((size_t)k > max) return BAD(param, "'%s' holds at most %zu strings", param, max);
    if (!(*out = calloc(k ? (size_t)k : 1, sizeof **out))) return BAD(NULL, "out of memory");
    const cJSON *s;
    cJSON_ArrayForEach(s, f) {
        if (!cJSON_IsString(s)) return BAD(param, "'%s' must hold strings only", param);
        if (!((*out)[*n] = strdup(s->valuestring))) return BAD(NULL, "out of memory");
        (*n)++;
    }
    return 0;
}

/* A grammar source of the request; a second one is refused (which would win is not obvious). */
static int set_grammar(hive_api_request *r, hive_api_grammar_kind k, char *text, const char *param,
                       hive_api_error *err) {
    if (r->grammar > HIVE_API_GRAMMAR_OFF) {
        free(text);
        return BAD(param, "'%s' and '%s' both ask for structured output: send one", hive_api_grammar_param(r->grammar),
                   param);
    }
    if (!text) return BAD(NULL, "out of memory");
    r->grammar = k;
    r->grammar_text = text;
    return 0;
}

/* response_format (OpenAI), grammar (GBNF, as llama.cpp's server) and regex. */
static int parse_structured(const cJSON *root, hive_api_request *r, hive_api_error *err) {
    const cJSON *f;
    if ((f = field(root, "response_format"))) {
        const char *P = "response_format";
        if (!cJSON_IsObject(f)) return BAD(P, "'response_format' must be an object such as {\"type\": \"json_object\"}");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(f, "type");
        if (!cJSON_IsString(t)) return BAD(P, "'response_format.type' must be text, json_object or json_schema");
        const char *type = t->valuestring;
        const cJSON *schema = NULL;
        if (!strcmp(type, "text")) {
            r->grammar = HIVE_API_GRAMMAR_OFF;
        } else if (!strcmp(type, "json_object")) {
            /* llama.cpp's extension: a schema beside json_object constrains to it */
            if (!(schema = field(f, "schema"))) r->grammar = HIVE_API_GRAMMAR_JSON_OBJECT;
        } else if (!strcmp(type, "json_schema")) {
            const cJSON *js = field(f, "json_schema");
            if (!cJSON_IsObject(js))
                return BAD(P, "'response_format.json_schema' must be an object with the schema in 'schema'");
            const cJSON *name = field(js, "name"), *strict = field(js, "strict");
            if (name && !cJSON_IsString(name)) return BAD(P, "'response_format.json_schema.name' must be a string");
            if (strict && !cJSON_IsBool(strict)) return BAD(P, "'response_format.json_schema.strict' must be a boolean");
            if (!(schema = field(js, "schema"))) return BAD(P, "'response_format.json_schema.schema' is required");
        } else {
            return BAD(P, "'response_format.type' must be text, json_object or json_schema, got '%.40s'", type);
        }
        if (schema && !cJSON_IsObject(schema) && !cJSON_IsBool(schema))
            return BAD(P, "the JSON Schema in 'response_format' must be an object (or true/false)");
        if (schema && set_grammar(r, HIVE_API_GRAMMAR_JSON_SCHEMA, cJSON_PrintUnformatted(schema), P, err)) return -1;
    }
    if ((f = field(root, "grammar"))) {
        if (!cJSON_IsString(f)) return BAD("grammar", "'grammar' must be a string of GBNF");
        if (set_grammar(r, HIVE_API_GRAMMAR_GBNF, strdup(f->valuestring), "grammar", err)) return -1;
    }
    if ((f = field(root, "regex"))) {
        if (!cJSON_IsString(f)) return BAD("regex", "'regex' must be a string (a regular expression)");
        if (set_grammar(r, HIVE_API_GRAMMAR_REGEX, strdup(f->valuestring), "regex", err)) return -1;
    }
    return 0;
}

const char *hive_api_grammar_param(hive_api_grammar_kind k) {
    return k == HIVE_API_GRAMMAR_GBNF ? "grammar" : k == HIVE_API_GRAMMAR_REGEX ? "regex" : "response_format";
}

int hive_api_compile_grammar(hive_api_grammar_kind k, const char *text, uint32_t json_ws_max, hive_grammar **out,
                             hive_api_error *err) {
    *out = NULL;
    hive_grammar_opts o;
    hive_grammar_opts_default(&o);
    o.json_ws_max = json_ws_max;
    hive_error *e = NULL;
    hive_status st;
    switch (k) {
    case HIVE_API_GRAMMAR_JSON_OBJECT: st = hive_grammar_builtin("json-object", &o, out, &e); break;
    case HIVE_API_GRAMMAR_JSON_SCHEMA: st = hive_grammar_from_json_schema(text, strlen(text), &o, out, &e); break;
    case HIVE_API_GRAMMAR_GBNF: st = hive_grammar_from_gbnf(text, strlen(text), out, &e); break;
    case HIVE_API_GRAMMAR_REGEX: st = hive_grammar_from_regex(text, strlen(text), out, &e); break;
    default: return 0;
    }
    if (st == HIVE_OK) return 0;
    const char *where = k == HIVE_API_GRAMMAR_JSON_SCHEMA ? "response_format.json_schema.schema" : hive_api_grammar_param(k);
    if (st == HIVE_E_NOMEM) hive_api_error_set(err, 503, "server_error", NULL, "%s: out of memory", where);
    else hive_api_error_set(err, 400, "invalid_request_error", hive_api_grammar_param(k), "%s: %s", where,
                            hive_error_message(e));
    hive_error_free(e);
    return -1;
}

/* speculative: an object of draft (a string) and k (an integer); nothing else,
 * so a misspelt key is a 400 rather than silently plain decoding. */
static int parse_speculative(const cJSON *f, hive_api_request *r, hive_api_error *err) {
    const char *P = "speculative";
    if (!cJSON_IsObject(f)) return BAD(P, "'speculative' must be an object such as {\"draft\": \"lookup\", \"k\": 8}");
    const cJSON *m;
    cJSON_ArrayForEach(m, f) if (strcmp(m->string, "draft") != 0 && strcmp(m->string, "k") != 0)
        return BAD(P, "'speculative' takes 'draft' and 'k'; unknown key '%.40s'", m->string);
    r->has_speculative = 1;
    const cJSON *d = field(f, "draft");
    if (d) {
        if (!cJSON_IsString(d)) return BAD("speculative.draft", "'speculative.draft' must be a string such as \"lookup\"");
        if (!(r->spec_draft = strdup(d->valuestring))) return BAD(NULL, "out of memory");
    }
    hive_api_num k = {0, 0};
    if (number(f, "k", 1, HIVE_DRAFT_MAX_K, 1, &k, err)) /* named in full: 'k' alone says little */
        return BAD("speculative.k", "'speculative.k' must be an integer in 1..%d", HIVE_DRAFT_MAX_K);
    r->spec_k = k;
    return 0;
}

static int parse_fields(const cJSON *root, hive_api_request *r, hive_api_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!model) return BAD("model", "'model' is required: the base model's name, an expert, or experts joined by '+'");
    if (!cJSON_IsString(model)) return BAD("model", "'model' must be a string");
    if (!(r->model = strdup(model->valuestring))) return BAD(NULL, "out of memory");
    if (r->chat ? parse_messages(root, r, err) : parse_prompt(root, r, err)) return -1;
    const cJSON *f;
    if ((f = field(root, "experts")) && hive_api_parse_experts(f, r, err)) return -1;
    if (boolean(root, "stream", &r->stream, err) || boolean(root, "ignore_eos", &r->ignore_eos, err)) return -1;
    if ((f = field(root, "stream_options"))) {
        if (!cJSON_IsObject(f)) return BAD("stream_options", "'stream_options' must be an object");
        if (boolean(f, "include_usage", &r->include_usage, err)) return -1;
    }
    if (number(root, "temperature", 0, 2, 0, &r->temperature, err) || number(root, "top_p", 0, 1, 0, &r->top_p, err) ||
        number(root, "top_k", -1, 1e9, 1, &r->top_k, err) || number(root, "min_p", 0, 1, 0, &r->min_p, err) ||
        number(root, "presence_penalty", -2, 2, 0, &r->presence_penalty, err) ||
        number(root, "frequency_penalty", -2, 2, 0, &r->frequency_penalty, err) ||
        number(root, "repetition_penalty", 0.01, 100, 0, &r->repetition_penalty, err) ||
        number(root, "seed", -9.2e18, 9.2e18, 1, &r->seed, err) ||
        number(root, "max_tokens", 1, 1 << 24, 1, &r->max_tokens, err))
        return -1;
    hive_api_num mct = {0, 0};
    if (number(root, "max_completion_tokens", 1, 1 << 24, 1, &mct, err)) return -1;
    if (mct.has) r->max_tokens = mct; /* the newer name wins */
    if (r->top_p.has && r->top_p.v <= 0) return BAD("top_p", "'top_p' must be greater than 0");
    if (r->top_k.has && r->top_k.v < 0) r->top_k.v = 0; /* -1: off, as llama.cpp */
    if ((f = field(root, "stop"))) {
        r->has_stop = 1;
        if (parse_strings(f, "stop", HIVE_API_MAX_STOP, &r->stop, &r->n_stop, err)) return -1;
    }
    hive_api_num n = {0, 1};
    if (number(root, "n", 1, HIVE_API_MAX_N, 1, &n, err)) return -1;
    r->n = (uint32_t)(n.has ? n.v : 1);
    hive_api_num top = {0, 0};
    if (r->chat) {
        if (boolean(root, "logprobs", &r->logprobs, err)) return -1;
        if (number(root, "top_logprobs", 0, HIVE_API_MAX_TOP_LOGPROBS, 1, &top, err)) return -1;
        if (top.has && top.v > 0 && !r->logprobs) return BAD("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    } else {
        /* completions: logprobs is the number of alternatives (0..5) */
        if (number(root, "logprobs", 0, 5, 1, &top, err)) return -1;
        r->logprobs = top.has;
    }
    r->top_logprobs = (uint32_t)top.v;
    if ((f = field(root, "chat_template_kwargs"))) {
        if (!cJSON_IsObject(f)) return BAD("chat_template_kwargs", "'chat_template_kwargs' must be an object");
        int t = -1;
        if (boolean(f, "enable_thinking", &t, err)) return -1;
        r->thinking = t;
    }
    if ((f = field(root, "speculative")) && parse_speculative(f, r, err)) return -1;
    return parse_structured(root, r, err);
}

int hive_api_parse_request(const char *body, size_t len, int chat, hive_api_request *out, hive_api_error *err) {
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    out->chat = chat;
    out->thinking = -1;
    out->n = 1;
    cJSON *root = cJSON_ParseWithLength(body, len);
    int rc = 0;
    if (!root) rc = BAD(NULL, "the body is not valid JSON");
    else if (!cJSON_IsObject(root)) rc = BAD(NULL, "the body must be a JSON object");
    else rc = parse_fields(root, out, err);
    cJSON_Delete(root);
    if (rc) hive_api_request_free(out);
    return rc;
}

int hive_api_split_model(const char *model, char **out, size_t cap) {
    size_t n = 0;
    const char *p = model;
    if (!*p) return 0;
    for (;;) {
        const char *plus = strchr(p, '+');
        size_t l = plus ? (size_t)(plus - p) : strlen(p);
        if (!l || n == cap || !(out[n] = strndup(p, l))) {
            for (size_t i = 0; i < n; i++) free(out[i]);
            return -1;
        }
        n++;
        if (!plus) return (int)n;
        p = plus + 1;
    }
}
