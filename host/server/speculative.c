/* The `speculative` request field and the server-wide default (the
 * speculative.draft, draft_max and draft_corpus keys, --draft, --draft-max
 * and --draft-corpus)
 * in the scheduler's terms (docs/SERVER.md, "Speculative decoding"). serve
 * drafts by lookup only: the base and model drafters need a drafter sequence
 * or engine per choice, which the scheduler does not run. */
#include <stdio.h>
#include <string.h>

#include "server/server_impl.h"
#include "util/error.h"

static int rolls_back(const hive_server *s) { return hive_engine_hparams(s->ss->eng)->ssm_heads == 0; }

/* --draft-corpus: server-wide, for every request that drafts by lookup */
static void with_corpus(const hive_server *s, hive_spec_opts *o) {
    if (o->kind == HIVE_DRAFT_LOOKUP) o->corpus = s->ss->draft_corpus, o->n_corpus = s->ss->n_draft_corpus;
}

int hive_server_spec_for(const hive_server *s, const hive_api_request *r, hive_spec_opts *o, hive_api_error *err) {
    const char *def = hive_config_str(s->cfg, "speculative.draft");
    uint32_t def_k = (uint32_t)hive_config_int(s->cfg, "speculative.draft_max");
    hive_error *e = NULL;
    if (!r->has_speculative) {
        /* checked when the server started (hive_server_spec_check_config) */
        if (hive_spec_parse(def, def_k, o, &e) != HIVE_OK || !rolls_back(s)) memset(o, 0, sizeof *o);
        hive_error_free(e);
        with_corpus(s, o);
        return 0;
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
    with_corpus(s, o);
    return 0;
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
