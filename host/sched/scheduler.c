/* The scheduler's public face: the queue, cancellation, the engine thread
 * and calls run on it. Admission and the step live in sched_admit.c and
 * sched_step.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "experts/weight.h"
#include "sched/sched_impl.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

hive_status hive_sched_new(hive_session *ss, const hive_sched_opts *o, hive_sched **out, hive_error **err) {
    if (!o->parallel || !o->prefill_chunk)
        return hive_fail(err, HIVE_E_INVALID, "scheduler: parallel and prefill_chunk must be at least 1");
    hive_sched *s = calloc(1, sizeof *s);
    if (!s) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->ss = ss;
    s->o = *o;
    s->n_slots = o->parallel + o->cache_slots;
    s->vocab = hive_engine_hparams(ss->eng)->vocab;
    s->max_rows = hive_engine_max_rows(ss->eng);
    s->ctx = hive_engine_ctx(ss->eng);
    hive_engine_soft_prompts_drop(ss->eng); /* pages start free: no soft-prompt KV from earlier work */
    if (s->o.prefill_chunk > s->max_rows) s->o.prefill_chunk = s->max_rows;
    s->slots = calloc(s->n_slots, sizeof *s->slots);
    size_t R = s->max_rows;
    s->tok = malloc(R * sizeof *s->tok);
    s->seq = malloc(R * sizeof *s->seq);
    s->slot_seqs = malloc(s->n_slots * sizeof *s->slot_seqs);
    s->argmax = malloc(R * sizeof *s->argmax);
    s->order_tok = malloc(R * sizeof *s->order_tok);
    s->order_seq = malloc(R * sizeof *s->order_seq);
    s->want = malloc(R);
    s->order_want = malloc(R);
    s->pass_row = malloc(R);
    s->order_pass_row = malloc(R);
    s->row_ch = malloc(R * sizeof *s->row_ch);
    s->order_ch = malloc(R * sizeof *s->order_ch);
    /* wanted rows: at most one per running choice */
    s->logits = malloc((size_t)o->parallel * s->vocab * sizeof *s->logits);
    s->mask_words = (s->vocab + 31) / 32;
    s->gm_rows = malloc(o->parallel * sizeof *s->gm_rows);
    s->gm_masks = malloc(o->parallel * sizeof *s->gm_masks);
    s->masks = malloc((size_t)o->parallel * s->mask_words * sizeof *s->masks);
    if (!s->slots || !s->tok || !s->seq || !s->slot_seqs || !s->argmax || !s->order_tok || !s->order_seq || !s->want || !s->order_want ||
        !s->pass_row || !s->order_pass_row ||
        !s->row_ch || !s->order_ch || !s->logits || !s->gm_rows || !s->gm_masks || !s->masks) {
        hive_sched_free(s);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    s->next_id = 1;
    sched_stats_snapshot_engine(s);
    *out = s;
    return HIVE_OK;
}

void hive_sched_free(hive_sched *s) {
    if (!s) return;
    if (s->has_thread) hive_sched_shutdown(s, 0);
    if (s->slots) {
        /* fail what never ran; cancel what runs */
        while (s->wait_head) {
            sched_req *r = s->wait_head;
            s->wait_head = r->next;
            s->n_waiting--;
            sched_finish(s, r, HIVE_E_INVALID, "the server is shutting down");
        }
        while (s->running) {
            atomic_store(&s->running->cancel, 1);
            sched_req_end_all(s, s->running, HIVE_FINISH_CALLER);
        }
        for (uint32_t i = 0; i < s->n_slots; i++)
            if (s->slots[i].state != SLOT_FREE) sched_slot_evict(s, (int)i);
        hive_engine_soft_prompts_drop(s->ss->eng); /* the cache goes with the scheduler */
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->slots);
    free(s->tok);
    free(s->seq);
    free(s->slot_seqs);
    free(s->argmax);
    free(s->order_tok);
    free(s->order_seq);
    free(s->want);
    free(s->order_want);
    free(s->pass_row);
    free(s->order_pass_row);
    free(s->spec_hist);
    free(s->spec_mask);
    free(s->row_ch);
    free(s->order_ch);
    free(s->logits);
    free(s->gm_rows);
    free(s->gm_masks);
    free(s->masks);
    hive_sched_stats_free(&s->st);
    free(s);
}

void sched_req_free(sched_req *r) {
    if (!r) return;
    free(r->prompt);
    for (size_t i = 0; i < r->n_experts; i++) free(r->experts[i]);
    free(r->experts);
    free(r->weights);
    for (size_t i = 0; i < r->p.n_stop; i++) free(r->stop[i]);
    free(r->stop);
    free(r);
}

static sched_req *req_copy(const hive_sched_request *q) {
    sched_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->p = q->params;
    r->cb = q->cb;
    r->ud = q->ud;
    r->n_prompt = q->n_prompt;
    r->prompt = malloc(q->n_prompt * sizeof *r->prompt);
    r->experts = calloc(q->n_experts ? q->n_experts : 1, sizeof *r->experts);
    r->weights = calloc(q->n_experts ? q->n_experts : 1, sizeof *r->weights);
    r->stop = calloc(q->params.n_stop ? q->params.n_stop : 1, sizeof *r->stop);
    int ok = r->prompt && r->experts && r->weights && r->stop;
    if (ok) memcpy(r->prompt, q->prompt, q->n_prompt * sizeof *r->prompt);
    for (size_t i = 0; ok && i < q->n_experts; i++) r->weights[i] = q->expert_weights ? q->expert_weights[i] : 1.0;
    for (size_t i = 0; ok && i < q->n_experts; i++) ok = (r->experts[i] = dup_str(q->experts[i])) != NULL, r->n_experts++;
    for (size_t i = 0; ok && i < q->params.n_stop; i++) ok = (r->stop[i] = dup_str(q->params.stop[i])) != NULL;
    r->p.stop = (const char *const *)r->stop;
    if (!ok) {
        r->p.n_stop = 0;
        for (size_t i = 0; i < q->params.n_stop; i++) free(r->stop[i]);
        sched_req_free(r);
        return NULL;
    }
    for (uint32_t i = 0; i < HIVE_SCHED_MAX_N; i++) r->ch[i].slot = -1, r->ch[i].req = r, r->ch[i].index = i;
    r->t_submit = hive_now_ms();
    return r;
}

hive_sched_submit_rc hive_sched_submit(hive_sched *s, const hive_sched_request *q, uint64_t *id, hive_error **err) {
    const hive_sched_params *p = &q->params;
    if (!q->n_prompt) return hive_fail(err, HIVE_E_INVALID, "empty prompt: nothing to condition on"), HIVE_SCHED_REFUSED;
    if (q->n_prompt > s->ctx)
        return hive_fail(err, HIVE_E_INVALID, "the prompt has %zu tokens; the context holds %u", q->n_prompt, s->ctx),
               HIVE_SCHED_REFUSED;
    if (p->n < 1 || p->n > HIVE_SCHED_MAX_N || p->n > s->o.parallel)
        return hive_fail(err, HIVE_E_INVALID, "n must be between 1 and %u", s->o.parallel < HIVE_SCHED_MAX_N ? s->o.parallel : HIVE_SCHED_MAX_N),
               HIVE_SCHED_REFUSED;
    if (p->top_logprobs > HIVE_SCHED_MAX_TOP)
        return hive_fail(err, HIVE_E_INVALID, "top_logprobs must be at most %d", HIVE_SCHED_MAX_TOP), HIVE_SCHED_REFUSED;
    if (!p->max_tokens) return hive_fail(err, HIVE_E_INVALID, "max_tokens must be at least 1"), HIVE_SCHED_REFUSED;
    if (q->n_experts > HIVE_MAX_ADAPTERS_PER_SET)
        return hive_fail(err, HIVE_E_INVALID, "%zu experts named; at most %d compose", q->n_experts, HIVE_MAX_ADAPTERS_PER_SET),
               HIVE_SCHED_REFUSED;
    for (size_t i = 0; q->expert_weights && i < q->n_experts; i++)
        if (hive_expert_weight_check(q->expert_weights[i], q->experts[i], err) != HIVE_OK) return HIVE_SCHED_REFUSED;
    if (hive_sampling_validate(&p->sampling, err) != HIVE_OK) return HIVE_SCHED_REFUSED;
    if (sched_spec_check(s, &p->spec, err) != HIVE_OK) return HIVE_SCHED_REFUSED;
    /* a mask is as long as the model's rows: a larger vocabulary view would overrun it */
    if (p->grammar && (!p->grammar_vocab || hive_grammar_vocab_size(p->grammar_vocab) > s->vocab))
        return hive_fail(err, HIVE_E_INVALID, "a grammar needs a vocabulary view of at most the model's %u tokens",
                         s->vocab),
               HIVE_SCHED_REFUSED;
    pthread_mutex_lock(&s->mu);
    hive_sched_submit_rc rc = s->closed ? HIVE_SCHED_CLOSED
                              : (s->o.max_queue && s->n_waiting >= s->o.max_queue) ? HIVE_SCHED_QUEUE_FULL
                                                                                   : HIVE_SCHED_ACCEPTED;
    pthread_mutex_unlock(&s->mu);
    if (rc != HIVE_SCHED_ACCEPTED) return rc;
    sched_req *r = req_copy(q);
    if (!r) return hive_fail(err, HIVE_E_NOMEM, "out of memory"), HIVE_SCHED_REFUSED;
    pthread_mutex_lock(&s->mu);
    r->id = s->next_id++;
    if (id) *id = r->id;
    if (s->wait_tail) s->wait_tail->next = r;
    else s->wait_head = r;
    s->wait_tail = r;
    s->n_waiting++;
    s->st.requests_total++;
    sched_stats_count_experts(s, r);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return HIVE_SCHED_ACCEPTED;
}

void hive_sched_cancel(hive_sched *s, uint64_t id) {
    pthread_mutex_lock(&s->mu);
    for (sched_req *r = s->wait_head; r; r = r->next)
        if (r->id == id) atomic_store(&r->cancel, 1);
    for (sched_req *r = s->running; r; r = r->next)
        if (r->id == id) atomic_store(&r->cancel, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int hive_sched_idle(hive_sched *s) {
    pthread_mutex_lock(&s->mu);
    int idle = !s->wait_head && !s->running;
    pthread_mutex_unlock(&s->mu);
    return idle;
}

int hive_sched_step(hive_sched *s) {
    /* cancelled requests leave first: their pages are free before this pass */
    for (;;) {
        pthread_mutex_lock(&s->mu);
        sched_req *r = s->running;
        while (r && !atomic_load(&r->cancel)) r = r->next;
        pthread_mutex_unlock(&s->mu);
        if (!r) break;
        sched_req_end_all(s, r, HIVE_FINISH_CALLER);
    }
    sched_admit(s);
    int did = sched_run_step(s);
    sched_stats_snapshot_engine(s);
    return did;
}

static void run_calls_locked(hive_sched *s) {
    while (s->calls) {
        sched_call *c = s->calls;
        s->calls = c->next;
        pthread_mutex_unlock(&s->mu);
        c->st = c->fn(s->ss, c->ud, c->err);
        sched_stats_snapshot_engine(s);
        pthread_mutex_lock(&s->mu);
        c->done = 1;
        pthread_cond_broadcast(&s->cv);
    }
}

static void *thread_main(void *arg) {
    hive_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        run_calls_locked(s);
        int busy = s->wait_head || s->running;
        if (!busy && s->stop_thread) break;
        if (!busy) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        hive_sched_step(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

hive_status hive_sched_start(hive_sched *s, hive_error **err) {
    if (s->has_thread) return HIVE_OK;
    if (pthread_create(&s->thread, NULL, thread_main, s) != 0)
        return hive_fail(err, HIVE_E_INTERNAL, "cannot start the scheduler thread");
    s->has_thread = 1;
    return HIVE_OK;
}

void hive_sched_shutdown(hive_sched *s, double deadline_ms) {
    pthread_mutex_lock(&s->mu);
    s->closed = 1;
    pthread_mutex_unlock(&s->mu);
    if (!s->has_thread) return;
    double t_end = hive_now_ms() + deadline_ms;
    while (!hive_sched_idle(s) && hive_now_ms() < t_end) usleep(10000);
    pthread_mutex_lock(&s->mu);
    int n_cancel = 0;
    for (sched_req *r = s->wait_head; r; r = r->next) atomic_store(&r->cancel, 1), n_cancel++;
    for (sched_req *r = s->running; r; r = r->next) atomic_store(&r->cancel, 1), n_cancel++;
    if (n_cancel) HLOG_WARN("shutdown: cancelling %d request(s) still in flight after %.0f ms", n_cancel, deadline_ms);
    s->stop_thread = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->has_thread = 0;
}

hive_status hive_sched_call(hive_sched *s, hive_status (*fn)(hive_session *ss, void *ud, hive_error **err), void *ud,
                            hive_error **err) {
    if (!s->has_thread) {
        hive_status st = fn(s->ss, ud, err);
        sched_stats_snapshot_engine(s);
        return st;
    }
    sched_call c = {fn, ud, err, HIVE_OK, 0, NULL};
    pthread_mutex_lock(&s->mu);
    sched_call **tail = &s->calls;
    while (*tail) tail = &(*tail)->next;
    *tail = &c;
    pthread_cond_broadcast(&s->cv);
    while (!c.done) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return c.st;
}

void hive_sched_drop_cache(hive_sched *s) {
    for (uint32_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].state == SLOT_CACHED) sched_slot_evict(s, (int)i);
    hive_engine_soft_prompts_drop(s->ss->eng); /* cached soft-prompt KV too */
    sched_stats_snapshot_engine(s);
}
