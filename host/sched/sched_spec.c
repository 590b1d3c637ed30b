/* Speculative decoding in the scheduler (docs/SPECULATIVE.md, "serve"): a
 * choice that speculates adds its lookup draft after its decode row, so the
 * step's one forward pass verifies every choice's draft at once; sched_step.c
 * walks the rows in order and stops a choice at its first rejected row. The
 * drafter, the verification of sampled rows and the meter that turns
 * speculation off where it does not pay are engine/speculate.c's, one per
 * choice. Rejected rows are cut from the choice's own sequence within the
 * step, so between steps every sequence holds only tokens it produced: the
 * pages other sequences share (whole pages below that length) are never cut. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_impl.h"
#include "util/error.h"
#include "util/log.h"

hive_status sched_spec_check(const hive_sched *s, const hive_spec_opts *o, hive_error **err) {
    if (o->kind == HIVE_DRAFT_NONE) return HIVE_OK;
    if (o->kind != HIVE_DRAFT_LOOKUP) {
        char name[32];
        hive_spec_describe(o, name, sizeof name);
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "speculative draft '%s' is not supported by the scheduler (serve): it drafts by lookup only",
                         name);
    }
    if (o->k < 1 || o->k > HIVE_DRAFT_MAX_K)
        return hive_fail(err, HIVE_E_INVALID, "speculative k must be in 1..%d, got %u", HIVE_DRAFT_MAX_K, o->k);
    if (o->ngram < 1 || o->ngram > HIVE_DRAFT_MAX_NGRAM)
        return hive_fail(err, HIVE_E_INVALID, "lookup n-gram length must be in 1..%d, got %u", HIVE_DRAFT_MAX_NGRAM,
                         o->ngram);
    if (hive_engine_hparams(s->ss->eng)->ssm_heads)
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "speculative decoding rolls rejected drafts back, which this model's Mamba2 state cannot do");
    return HIVE_OK;
}

/* The logits hold one wanted row per choice until a choice first speculates;
 * then room for spec_rows draft rows more (engine thread, between steps). */
static hive_status grow_logits(hive_sched *s, hive_error **err) {
    if (s->spec_rows) return HIVE_OK;
    uint32_t spare = s->max_rows > s->o.parallel ? s->max_rows - s->o.parallel : 0;
    uint32_t rows = s->o.parallel * HIVE_DRAFT_MAX_K < spare ? s->o.parallel * HIVE_DRAFT_MAX_K : spare;
    if (!rows) return HIVE_OK; /* no room in a pass: the choices decode plainly */
    float *l = realloc(s->logits, (size_t)(s->o.parallel + rows) * s->vocab * sizeof *l);
    if (!l) return hive_fail(err, HIVE_E_NOMEM, "out of memory (speculative decoding's logits)");
    s->logits = l;
    if (!s->spec_hist && !(s->spec_hist = malloc(((size_t)s->ctx + 1) * sizeof *s->spec_hist)))
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (!s->spec_mask && !(s->spec_mask = malloc((size_t)s->mask_words * sizeof *s->spec_mask)))
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    s->spec_rows = rows;
    return HIVE_OK;
}

hive_status sched_spec_start(hive_sched *s, sched_choice *c, hive_error **err) {
    const hive_sched_params *p = &c->req->p;
    if (p->spec.kind == HIVE_DRAFT_NONE) return HIVE_OK;
    hive_status st = grow_logits(s, err);
    if (st != HIVE_OK) return st;
    /* greedy as hive_generate has it: verification compares tokens */
    int greedy = p->sampling.temperature == 0.0f || p->sampling.top_k == 1;
    c->spec = hive_spec_new(s->ss->eng, s->slots[c->slot].seq, &p->spec, &p->sampling, greedy, 0, s->ss->tok, err);
    return c->spec ? HIVE_OK : (err && *err) ? (*err)->code : HIVE_E_NOMEM;
}

void sched_spec_draft(hive_sched *s, sched_choice *c, uint32_t room) {
    c->n_draft = 0;
    if (!c->spec || !hive_spec_wants_draft(c->spec)) return;
    sched_req *r = c->req;
    hive_engine *e = s->ss->eng;
    int32_t seq = s->slots[c->slot].seq;
    uint32_t len = hive_engine_seq_len(e, seq);
    /* the pass yields up to 1 + draft tokens: never past max_tokens nor the context end */
    uint32_t max_k = r->p.spec.k < room ? r->p.spec.k : room;
    uint32_t to_max = r->p.max_tokens > c->n_gen ? r->p.max_tokens - c->n_gen - 1 : 0;
    uint32_t ctx = hive_engine_seq_ctx(e, seq); /* less any soft prompt */
    uint32_t to_ctx = ctx > len + 1 ? ctx - len - 1 : 0;
    if (max_k > to_max) max_k = to_max;
    if (max_k > to_ctx) max_k = to_ctx;
    if (!max_k) return;
    memcpy(s->spec_hist, hive_engine_seq_tokens(e, seq), (size_t)len * sizeof *s->spec_hist);
    s->spec_hist[len] = c->next;
    hive_error *err = NULL;
    int d = hive_spec_draft(c->spec, s->spec_hist, (size_t)len + 1, max_k, c->gm, c->draft, &err);
    if (d < 0) { /* lookup does not fail; a drafter that did just skips this step's draft */
        HLOG_DEBUG("request %llu: no draft: %s", (unsigned long long)r->id, hive_error_message(err));
        hive_error_free(err);
        d = 0;
    }
    c->n_draft = (uint32_t)d;
    if (!d) return;
    r->drafted_tokens += (uint32_t)d;
    pthread_mutex_lock(&s->mu);
    s->st.spec_verify_total++;
    s->st.spec_drafted_total += (uint32_t)d;
    pthread_mutex_unlock(&s->mu);
}

void sched_spec_count_accepted(hive_sched *s, sched_choice *c) {
    c->req->accepted_tokens++;
    pthread_mutex_lock(&s->mu);
    s->st.spec_accepted_total++;
    pthread_mutex_unlock(&s->mu);
}

int sched_spec_rollback(hive_sched *s, sched_choice *c, uint32_t kv_len) {
    if (c->slot < 0) return 0;
    hive_engine *e = s->ss->eng;
    int32_t seq = s->slots[c->slot].seq;
    if (hive_engine_seq_len(e, seq) <= kv_len) return 0;
    hive_error *err = NULL;
    /* the rows past kv_len lie in pages only this sequence holds (above) */
    if (hive_engine_seq_truncate(e, seq, kv_len, &err) == HIVE_OK) return 0;
    sched_req *r = c->req;
    if (!r->fail_msg[0]) snprintf(r->fail_msg, sizeof r->fail_msg, "rolling back a draft: %s", hive_error_message(err));
    r->failed = 1;
    s->grammar_failed = 1; /* the request fails after this step's rows */
    hive_error_free(err);
    return -1;
}

void sched_spec_pass_done(hive_sched *s, sched_choice *c, uint32_t kv_len, uint32_t produced) {
    if (sched_spec_rollback(s, c, kv_len)) return;
    if (c->spec) hive_spec_record(c->spec, c->n_draft, s->step_ms, produced);
}
