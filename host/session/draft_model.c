/* --draft-model: the second model that drafts for speculative decoding
 * (docs/SPECULATIVE.md). Its token ids are verified as the target's, so its
 * vocabulary must be the target's, id for id. */
#include <stdio.h>
#include <string.h>

#include "session/session.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

/* Token strings as printable text for an error message (cut, escaped). */
static void show_token(const hive_str *t, char *buf, size_t cap) {
    size_t o = 0;
    buf[o++] = '\'';
    for (uint64_t i = 0; i < t->len && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)t->ptr[i];
        if (c >= 0x20 && c != 0x7f && c != '\'' && c != '\\') buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    if (o + 2 > cap) o = cap - 2;
    buf[o++] = '\'';
    buf[o] = 0;
}

hive_status hive_vocab_check_same(const hive_vocab_src *target, const hive_vocab_src *draft, hive_error **err) {
    uint32_t n = target->n_tokens < draft->n_tokens ? target->n_tokens : draft->n_tokens;
    uint32_t id = 0;
    while (id < n && target->tokens[id].len == draft->tokens[id].len &&
           !memcmp(target->tokens[id].ptr, draft->tokens[id].ptr, target->tokens[id].len))
        id++;
    if (id == n && target->n_tokens == draft->n_tokens) return HIVE_OK;
    char a[96] = "none", b[96] = "none";
    if (id < target->n_tokens) show_token(&target->tokens[id], a, sizeof a);
    if (id < draft->n_tokens) show_token(&draft->tokens[id], b, sizeof b);
    return hive_fail(err, HIVE_E_INVALID,
                     "the draft model's vocabulary is not the target's (%u tokens in the target, %u in the draft): "
                     "token id %u is %s in the target, %s in the draft; a draft model must share the target's "
                     "tokenizer",
                     target->n_tokens, draft->n_tokens, id, a, b);
}

int hive_session_open_draft(const hive_config *cfg, hive_session *s) {
    const char *path = hive_config_str(cfg, "speculative.draft_model");
    hive_error *err = NULL;
    double t0 = hive_now_ms();
    /* the target's engine options: its context, batch, KV type, threads and
     * RoPE settings; one sequence, no experts (the GGUF's own q/k layout) */
    hive_session_opts so = {1, 0, 0};
    hive_engine_opts eo;
    int rc = hive_session_engine_opts(cfg, &so, &eo);
    if (rc) return rc;
    int32_t wd;
    if ((rc = hive_session_weights_dtype("--draft-weights", hive_config_str(cfg, "speculative.draft_weights"), &wd)))
        return rc;
    eo.weights_dtype = wd;
    eo.ctx = hive_engine_ctx(s->eng);
    if (hive_model_open(path, &s->draft_model, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: --draft-model %s: %s\n", path, hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    hive_status st = hive_vocab_check_same(&s->model->vocab, &s->draft_model->vocab, &err);
    /* the same tokens, and logits over as many of them (padded vocabularies) */
    uint32_t v_target = hive_engine_hparams(s->eng)->vocab, v_draft = s->draft_model->hp.vocab;
    if (st == HIVE_OK && v_draft != v_target)
        st = hive_fail(&err, HIVE_E_INVALID, "the draft model has %u output rows (logits), the target %u", v_draft,
                       v_target);
    if (st != HIVE_OK) {
        fprintf(stderr, "hive-host: --draft-model %s: %s\n", path, hive_error_message(err));
        hive_error_free(err);
        return 2;
    }
    if (hive_engine_new(s->draft_model, &s->sel.plugin->backend, s->sel.device, &eo, &s->draft_eng, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: --draft-model %s: %s: %s\n", path, s->sel.plugin->name, hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    HLOG_INFO("draft model %s loaded in %.0f ms: %.1f MiB of weights, %.1f MiB of KV cache", path,
              hive_now_ms() - t0, hive_engine_weight_bytes(s->draft_eng) / 1048576.0,
              hive_engine_kv_bytes(s->draft_eng) / 1048576.0);
    return 0;
}
