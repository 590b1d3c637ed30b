/* Structured output for a request: its own grammar (response_format,
 * grammar, regex) > its experts' manifest grammar (training.decoding) > none;
 * response_format {"type": "text"} turns a manifest's grammar off. Compiled
 * grammars are immutable, so requests share them: a few are kept by source
 * (shared_cache.h), each referenced by the jobs that run under it. The vocabulary view
 * (a byte trie of every token) is built once, by the first request that
 * needs one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_config.h"
#include "server/server_impl.h"
#include "util/error.h"
#include "util/log.h"

#define GRAMMAR_CACHE_MAX 16

/* The manifest keys (experts/manifest_files.c) and hive_grammar_compile's kinds. */
static const struct {
    const char *key, *kind;
} k_manifest[] = {
    {"grammar.builtin", "builtin"}, {"grammar.json_schema", "json-schema"}, {"grammar.file", "gbnf-file"},
    {"grammar.gbnf", "gbnf"},       {"grammar.regex", "regex"},
};

static void grammar_free(void *g) { hive_grammar_free(g); }

void hive_server_grammar_cache_init(hive_server *s) {
    hive_shared_cache_init(&s->grammars, GRAMMAR_CACHE_MAX, grammar_free);
}

void hive_server_grammar_release(hive_server *s, hive_shared_entry *g) { hive_shared_release(&s->grammars, g); }

void hive_server_grammar_free_all(hive_server *s) {
    hive_shared_cache_destroy(&s->grammars);
    hive_grammar_vocab_free(s->gvocab);
    s->gvocab = NULL;
}

/* The vocabulary view, built once (the first caller builds, others wait). */
static int vocab_ready(hive_server *s, hive_api_error *err) {
    pthread_mutex_lock(&s->gmu);
    hive_error *e = NULL;
    if (!s->gvocab && hive_grammar_vocab_from_tokenizer(s->ss->tok, &s->gvocab, &e) != HIVE_OK) {
        hive_api_error_set(err, 500, "server_error", NULL, "grammar: vocabulary: %s", hive_error_message(e));
        hive_error_free(e);
    }
    int ok = s->gvocab != NULL;
    pthread_mutex_unlock(&s->gmu);
    return ok ? 0 : -1;
}

/* The experts' manifest grammar as (kind, value): per key the first expert
 * that sets it, as the CLI layers manifests; two different keys (say the sql
 * expert's sql-postgres and the json expert's schema) are refused. */
static int manifest_grammar(const hive_catalog_entry *const *xs, size_t nx, const char **kind, const char **value,
                            hive_api_error *err) {
    *kind = *value = NULL;
    const char *who = NULL;
    for (size_t k = 0; k < sizeof k_manifest / sizeof k_manifest[0]; k++)
        for (size_t i = 0; i < nx; i++) {
            const hive_catalog_entry *x = xs[i];
            size_t d = 0;
            while (d < x->n_decoding && strcmp(x->decoding[d].key, k_manifest[k].key)) d++;
            if (d == x->n_decoding) continue;
            if (*kind) {
                hive_api_error_set(err, 400, "invalid_request_error", "model",
                                   "the experts '%s' and '%s' each ask for a grammar in their manifests: choose one "
                                   "with response_format or grammar, or send response_format {\"type\": \"text\"} "
                                   "for none", who, x->name);
                return -1;
            }
            *kind = k_manifest[k].kind;
            *value = x->decoding[d].value;
            who = x->name;
            break;
        }
    return 0;
}

int hive_server_grammar_for(hive_server *s, const hive_api_request *r, const hive_catalog_entry *const *xs,
                            size_t nx, hive_shared_entry **out, hive_api_error *err) {
    *out = NULL;
    if (r->grammar == HIVE_API_GRAMMAR_OFF) return 0;
    const char *mkind = NULL, *mvalue = NULL;
    if (r->grammar == HIVE_API_GRAMMAR_NONE) {
        if (manifest_grammar(xs, nx, &mkind, &mvalue, err)) return -1;
        if (!mkind) return 0;
    }
    /* key: where it comes from, then its text (request) or kind and value (manifest) */
    const char *a = mkind ? mkind : "", *b = mkind ? mvalue : (r->grammar_text ? r->grammar_text : "");
    size_t la = strlen(a), lb = strlen(b), len = 2 + la + 1 + lb;
    char *key = malloc(len);
    if (!key) {
        hive_api_error_set(err, 503, "server_error", NULL, "out of memory");
        return -1;
    }
    key[0] = mkind ? 'M' : 'R';
    key[1] = (char)('0' + r->grammar);
    memcpy(key + 2, a, la);
    key[2 + la] = 0;
    memcpy(key + 3 + la, b, lb);
    hive_shared_entry *g = hive_shared_get(&s->grammars, key, len);
    if (!g) { /* compiled outside the lock: a big schema does not hold up other requests */
        hive_grammar *compiled = NULL;
        uint32_t ws = (uint32_t)hive_config_int(s->cfg, "grammar.json_ws_max");
        if (!mkind) {
            if (hive_api_compile_grammar(r->grammar, r->grammar_text, ws, &compiled, err)) {
                free(key);
                return -1;
            }
        } else {
            hive_grammar_opts o;
            hive_grammar_opts_default(&o);
            o.json_ws_max = ws;
            hive_error *e = NULL;
            if (hive_grammar_compile(mkind, mvalue, &o, &compiled, &e) != HIVE_OK) {
                hive_api_error_set(err, 500, "server_error", NULL,
                                   "the expert's manifest grammar (%s %.200s) does not compile: %s", mkind, mvalue,
                                   hive_error_message(e));
                hive_error_free(e);
                free(key);
                return -1;
            }
        }
        if (!(g = hive_shared_put(&s->grammars, key, len, compiled))) {
            free(key);
            hive_api_error_set(err, 503, "server_error", NULL, "out of memory");
            return -1;
        }
    }
    free(key);
    if (vocab_ready(s, err)) { /* after compiling: a request refused for its grammar builds nothing */
        hive_server_grammar_release(s, g);
        return -1;
    }
    *out = g;
    return 0;
}
