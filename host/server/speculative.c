/* The `speculative` request field and the server-wide default (the
 * speculative.draft, draft_max and draft_corpus keys, --draft, --draft-max
 * and --draft-corpus)
 * in the scheduler's terms (docs/SERVER.md, "Speculative decoding"). serve
 * drafts by lookup only: the base and model drafters need a drafter sequence
 * or engine per choice, which the scheduler does not run. Lookup reads the
 * request's experts' draft corpus (a manifest's training.decoding.draft_corpus),
 * tokenized once and shared (shared_cache.h), or the server's --draft-corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_impl.h"
#include "util/error.h"
#include "util/log.h"

#define CORPUS_CACHE_MAX 16

static int rolls_back(const hive_server *s) { return hive_engine_hparams(s->ss->eng)->ssm_heads == 0; }

static void corpus_free(void *p) {
    srv_corpus *c = p;
    if (c) free(c->ids);
    free(c);
}

void hive_server_spec_init(hive_server *s) { hive_shared_cache_init(&s->corpora, CORPUS_CACHE_MAX, corpus_free); }
void hive_server_spec_free(hive_server *s) { hive_shared_cache_destroy(&s->corpora); }
void hive_server_corpus_release(hive_server *s, hive_shared_entry *c) { hive_shared_release(&s->corpora, c); }

/* The corpus lookup drafts from: the first of the request's experts whose
 * manifest names one, unless --draft-corpus is given on the command line;
 * else the server's (command line or configuration file). *ref: the expert's
 * corpus, referenced for the job. */
static int with_corpus(hive_server *s, const hive_catalog_entry *const *xs, size_t nx, hive_spec_opts *o,
                       hive_shared_entry **ref, hive_api_error *err) {
    if (o->kind != HIVE_DRAFT_LOOKUP) return 0;
    const char *who = NULL, *path = NULL;
    if (hive_config_source(s->cfg, "speculative.draft_corpus") < HIVE_SRC_CLI)
        path = hive_server_manifest_value(xs, nx, "speculative.draft_corpus", &who);
    if (!path) {
        o->corpus = s->ss->draft_corpus, o->n_corpus = s->ss->n_draft_corpus;
        return 0;
    }
    hive_shared_entry *e = hive_shared_get(&s->corpora, path, strlen(path));
    if (!e) { /* read and tokenized outside the cache's lock */
        srv_corpus *c = calloc(1, sizeof *c);
        hive_error *he = NULL;
        if (!c || hive_draft_corpus_read(s->ss->tok, path, &c->ids, &c->n, &he) != HIVE_OK) {
            hive_api_error_set(err, 500, "server_error", "model", "the expert '%s''s draft corpus %.300s: %s", who,
                               path, c ? hive_error_message(he) : "out of memory");
            snprintf(err->code, sizeof err->code, "expert_unavailable");
            hive_error_free(he);
            corpus_free(c);
            return -1;
        }
        if (!(e = hive_shared_put(&s->corpora, path, strlen(path), c))) {
            hive_api_error_set(err, 503, "server_error", NULL, "out of memory");
            return -1;
        }
        HLOG_INFO("draft corpus of expert '%s': %zu tokens (%s)", who, c->n, path);
    }
    const srv_corpus *c = hive_shared_value(e);
    o->corpus = c->ids, o->n_corpus = c->n;
    *ref = e;
    return 0;
}

int hive_server_spec_for(hive_server *s, const hive_api_request *r, const hive_catalog_entry *const *xs, size_t nx,
                         hive_spec_opts *o, hive_shared_entry **corpus, hive_api_error *err) {
    *corpus = NULL;
    const char *def = hive_config_str(s->cfg, "speculative.draft");
    uint32_t def_k = (uint32_t)hive_config_int(s->cfg, "speculative.draft_max");
    hive_error *e = NULL;
    if (!r->has_speculative) {
        /* checked when the server started (hive_server_spec_check_config) */
        if (hive_spec_parse(def, def_k, o, &e) != HIVE_OK || !rolls_back(s)) memset(o, 0, sizeof *o);
        hive_error_free(e);
        return with_corpus(s, xs, nx, o, corpus, err);
    }
    /* a `speculative` object without a drafter asks for the server's, else lookup */
    const char *text = r->spec_draft ? r->spec_draft : *def && strcmp(def, "none") != 0 ? def : "lookup";
    uint32_t k = r->spec_k.has ? (uint32_t)r->spec_k.v : def_k;
    if (hive_spec_parse(text, k, o, &e) != HIVE_OK) {
        hive_error_free(e);
        hive_api_error_set(err, 400, "invalid_request_error", "speculative.draft",
                           "'speculative.draft' must be lookup, lookup:N (N = 1..%d) or none, got '%.40s'",
                           HIVE_DRAFT_MAX_NGRAM, text);
        return -1;
    }
    if (o->kind == HIVE_DRAFT_BASE || o->kind == HIVE_DRAFT_MODEL) {
        hive_api_error_set(err, 400, "invalid_request_error", "speculative.draft",
                           "'speculative.draft' '%s' is not supported by serve: it drafts by lookup only (lookup or "
                           "lookup:N); the base and model drafters run in generate, chat and bench",
                           text);
        snprintf(err->code, sizeof err->code, "unsupported_drafter");
        return -1;
    }
    if (o->kind != HIVE_DRAFT_NONE && !rolls_back(s)) {
        hive_api_error_set(err, 400, "invalid_request_error", "speculative",
                           "speculative decoding is not available for this model: its Mamba2 state cannot roll "
                           "rejected drafts back; send {\"draft\": \"none\"} or leave 'speculative' out");
        snprintf(err->code, sizeof err->code, "speculation_unsupported");
        return -1;
    }
    return with_corpus(s, xs, nx, o, corpus, err);
}

int hive_server_spec_check_config(const hive_config *cfg, const hive_engine *e, char *msg, size_t cap) {
    const char *draft = hive_config_str(cfg, "speculative.draft");
    if (*hive_config_str(cfg, "speculative.draft_model") ||
        strcmp(hive_config_str(cfg, "speculative.draft_weights"), "native") != 0) {
        snprintf(msg, cap, "--draft-model and --draft-weights (speculative.draft_model, speculative.draft_weights) do "
                           "not apply to serve: it drafts by lookup only (--draft lookup[:N])");
        return -1;
    }
    hive_spec_opts o;
    hive_error *err = NULL;
    if (hive_spec_parse(draft, (uint32_t)hive_config_int(cfg, "speculative.draft_max"), &o, &err) != HIVE_OK) {
        snprintf(msg, cap, "%s", hive_error_message(err));
        hive_error_free(err);
        return -1;
    }
    if (o.kind == HIVE_DRAFT_BASE || o.kind == HIVE_DRAFT_MODEL) {
        snprintf(msg, cap, "--draft %s (%s) is not supported by serve: it drafts by lookup only (--draft lookup[:N]) "
                           "or not at all (--draft none)", draft, hive_config_origin(cfg, "speculative.draft"));
        return -1;
    }
    if (e && o.kind != HIVE_DRAFT_NONE && hive_engine_hparams(e)->ssm_heads) {
        snprintf(msg, cap, "--draft %s (%s): this model's Mamba2 state cannot roll rejected drafts back, so it "
                           "cannot speculate; run without --draft", draft, hive_config_origin(cfg, "speculative.draft"));
        return -1;
    }
    return 0;
}
