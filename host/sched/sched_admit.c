/* Engine slots, the prefix cache and admission: a queued request's choices
 * get a sequence each (a cached one whose tokens share the prompt's prefix
 * under the same expert set, else a fresh one), then run. */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_impl.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

void sched_emit(sched_req *r, const hive_sched_event *ev) {
    if (r->cb) r->cb(r->ud, ev);
}

void sched_slot_evict(hive_sched *s, int i) {
    sched_slot *sl = &s->slots[i];
    if (sl->state == SLOT_FREE) return;
    hive_engine_seq_free(s->ss->eng, sl->seq);
    if (sl->xset) {
        hive_expert_set_release(sl->xset);
        free(sl->xset);
    }
    memset(sl, 0, sizeof *sl);
    sl->state = SLOT_FREE;
}

/* A free slot, evicting the least recently used cached one when needed. */
static int free_slot(hive_sched *s) {
    int lru = -1;
    for (uint32_t i = 0; i < s->n_slots; i++) {
        if (s->slots[i].state == SLOT_FREE) return (int)i;
        if (s->slots[i].state == SLOT_CACHED && (lru < 0 || s->slots[i].last_used < s->slots[lru].last_used)) lru = (int)i;
    }
    if (lru >= 0) sched_slot_evict(s, lru);
    return lru;
}

static uint32_t common_prefix(const int32_t *a, uint32_t na, const int32_t *b, size_t nb) {
    uint32_t k = 0;
    while (k < na && k < nb && a[k] == b[k]) k++;
    return k;
}

/* A fresh slot takes the whole pages of the longest prefix of the prompt that
 * any sequence under the same expert set holds, running or cached (a shared
 * system prompt while its first user still runs). Whole pages are never
 * written again, so the holder may go on appending. Returns the tokens got. */
static uint32_t share_from_any(hive_sched *s, int to, const sched_req *r) {
    hive_engine *e = s->ss->eng;
    int best = -1;
    uint32_t best_len = 0;
    for (uint32_t i = 0; i < s->n_slots; i++) {
        const sched_slot *sl = &s->slots[i];
        if ((int)i == to || sl->state == SLOT_FREE || sl->set_id != s->slots[to].set_id) continue;
        uint32_t k = common_prefix(hive_engine_seq_tokens(e, sl->seq), hive_engine_seq_len(e, sl->seq), r->prompt,
                                   r->n_prompt - 1);
        if (k > best_len) best = (int)i, best_len = k;
    }
    if (best < 0) return 0;
    return hive_engine_seq_share_prefix(e, s->slots[to].seq, s->slots[best].seq, best_len);
}

hive_status sched_choice_attach(hive_sched *s, sched_choice *c, hive_error **err) {
    sched_req *r = c->req;
    hive_engine *e = s->ss->eng;
    hive_expert_set *xs = NULL;
    uint64_t set_id = 0;
    if (r->n_experts) {
        if (!s->ss->experts) return hive_fail(err, HIVE_E_INVALID, "this server was started without experts");
        if (!(xs = calloc(1, sizeof *xs))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        if (hive_expert_set_acquire_weighted(s->ss->experts, (const char *const *)r->experts, r->weights, r->n_experts, xs,
                                             err) != HIVE_OK) {
            free(xs);
            return (err && *err) ? (*err)->code : HIVE_E_INVALID;
        }
        set_id = xs->set.id;
    }
    /* prefix cache: the same expert set and the longest shared prefix; at
     * least one prompt token is left to feed (it gives the first logits) */
    int best = -1;
    uint32_t best_len = 0;
    for (uint32_t i = 0; i < s->n_slots; i++) {
        sched_slot *sl = &s->slots[i];
        if (sl->state != SLOT_CACHED || sl->set_id != set_id) continue;
        uint32_t k = common_prefix(hive_engine_seq_tokens(e, sl->seq), hive_engine_seq_len(e, sl->seq), r->prompt,
                                   r->n_prompt - 1);
        k = hive_engine_seq_reusable_len(e, sl->seq, k); /* never cut into a page a running sibling shares */
        if (k > best_len) best = (int)i, best_len = k;
    }
    if (best >= 0) {
        sched_slot *sl = &s->slots[best];
        if (xs) { /* the cached slot holds the same experts pinned already */
            hive_expert_set_release(xs);
            free(xs);
        }
        hive_status st = hive_engine_seq_truncate(e, sl->seq, best_len, err);
        if (st != HIVE_OK) return st;
        sl->state = SLOT_RUNNING;
        c->slot = best;
        c->fed = best_len;
        return HIVE_OK;
    }
    int i = free_slot(s);
    hive_status st = HIVE_OK;
    if (i < 0) st = hive_fail(err, HIVE_E_INTERNAL, "no free sequence slot (scheduler bookkeeping)");
    sched_slot *sl = i >= 0 ? &s->slots[i] : NULL;
    if (st == HIVE_OK) st = hive_engine_seq_new(e, &sl->seq, err);
    if (st == HIVE_OK) {
        sl->state = SLOT_RUNNING;
        sl->xset = xs;
        sl->set_id = set_id;
        xs = NULL;
        c->slot = i;
        c->fed = 0;
        /* a soft prompt's virtual tokens are prefilled here */
        st = hive_engine_seq_set_adapters(e, sl->seq, sl->xset ? &sl->xset->set : NULL, err);
        if (st != HIVE_OK) {
            sched_slot_evict(s, i);
            c->slot = -1;
        } else {
            c->fed = share_from_any(s, i, r);
        }
    }
    if (xs) {
        hive_expert_set_release(xs);
        free(xs);
    }
    return st;
}

/* Submission checked the prompt against the context; a soft prompt's
 * virtual rows, known once attached, take context too. */
static hive_status prompt_fits(hive_sched *s, const sched_choice *c, hive_error **err) {
    hive_engine *e = s->ss->eng;
    uint32_t room = hive_engine_seq_ctx(e, s->slots[c->slot].seq);
    if (c->req->n_prompt <= room) return HIVE_OK;
    return hive_fail(err, HIVE_E_INVALID, "the prompt has %zu tokens; the context holds %u beside the soft prompt's %u "
                     "virtual tokens", c->req->n_prompt, room, hive_engine_ctx(e) - room);
}

void sched_choice_release(hive_sched *s, sched_choice *c, int keep) {
    if (c->slot < 0) return;
    sched_slot *sl = &s->slots[c->slot];
    if (keep && s->o.cache_slots && hive_engine_seq_len(s->ss->eng, sl->seq) > 0) {
        sl->state = SLOT_CACHED;
        sl->last_used = ++s->clock;
    } else {
        sched_slot_evict(s, c->slot);
    }
    c->slot = -1;
}

void sched_choice_free_state(sched_choice *c) {
    hive_sampler_free(c->smp);
    hive_stop_free(c->stop);
    hive_grammar_matcher_free(c->gm);
    hive_spec_free(c->spec);
    c->spec = NULL;
    c->smp = NULL;
    c->stop = NULL;
    c->gm = NULL;
}

void sched_finish(hive_sched *s, sched_req *r, hive_status status, const char *error) {
    double now = hive_now_ms();
    /* nothing of the request's grammar is used after FINISHED */
    for (uint32_t i = 0; i < HIVE_SCHED_MAX_N; i++) sched_choice_free_state(&r->ch[i]);
    pthread_mutex_lock(&s->mu);
    for (sched_req **pp = &s->running; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            s->n_running--;
            s->n_running_choices -= r->p.n;
            break;
        }
    if (status != HIVE_OK) s->st.failed_total++;
    else if (atomic_load(&r->cancel)) s->st.cancelled_total++;
    else sched_stats_finished(s, r, now);
    pthread_mutex_unlock(&s->mu);
    hive_sched_event ev = {0};
    ev.kind = HIVE_SCHED_FINISHED;
    ev.status = status;
    ev.error = error;
    ev.cancelled = atomic_load(&r->cancel);
    ev.prompt_tokens = (uint32_t)r->n_prompt;
    ev.cached_tokens = r->cached_tokens;
    ev.completion_tokens = r->completion_tokens;
    ev.drafted_tokens = r->drafted_tokens;
    ev.accepted_tokens = r->accepted_tokens;
    sched_emit(r, &ev);
    sched_req_free(r);
}

/* Ends one choice: the text still held (detokenizer, stop matcher) goes out
 * unless a stop string matched, then CHOICE_DONE; the last choice ends the request. */
void sched_choice_end(hive_sched *s, sched_choice *c, hive_finish finish, int flush) {
    sched_req *r = c->req;
    if (flush) {
        char text[256], out[1024];
        size_t n = hive_detok_flush(&c->dt, text, sizeof text);
        size_t m = n;
        const char *src = text;
        if (c->stop) {
            int matched = 0;
            m = hive_stop_feed(c->stop, text, n, out, sizeof out, &matched);
            src = out;
            if (!matched) {
                size_t k;
                while (m < sizeof out && (k = hive_stop_flush(c->stop, out + m, sizeof out - m)) > 0) m += k;
            }
        }
        if (m) {
            hive_sched_event ev = {0};
            ev.kind = HIVE_SCHED_TOKEN;
            ev.choice = c->index;
            ev.text = src;
            ev.len = m;
            ev.token = -1;
            sched_emit(r, &ev);
        }
    }
    sched_choice_free_state(c);
    int cancelled = atomic_load(&r->cancel);
    sched_choice_release(s, c, !cancelled && !r->failed);
    c->phase = CH_DONE;
    if (!cancelled) {
        hive_sched_event ev = {0};
        ev.kind = HIVE_SCHED_CHOICE_DONE;
        ev.choice = c->index;
        ev.finish = finish;
        sched_emit(r, &ev);
    }
    if (++r->n_done == r->p.n) sched_finish(s, r, HIVE_OK, NULL);
}

void sched_req_end_all(hive_sched *s, sched_req *r, hive_finish finish) {
    uint32_t n = r->p.n, left = n - r->n_done;
    for (uint32_t i = 0; i < n && left; i++)
        if (r->ch[i].phase != CH_DONE) {
            left--;
            sched_choice_end(s, &r->ch[i], finish, 0); /* the last one frees r */
        }
}

/* Attach every choice and set up its sampler; on failure nothing stays attached. */
static hive_status admit_one(hive_sched *s, sched_req *r, hive_error **err) {
    hive_status st = HIVE_OK;
    uint32_t i = 0;
    for (; i < r->p.n && st == HIVE_OK; i++) {
        sched_choice *c = &r->ch[i];
        hive_sampling sp = r->p.sampling;
        if (sp.seed != HIVE_SEED_RANDOM) sp.seed += i;
        c->phase = i ? CH_WAIT : CH_PREFILL;
        if (!(c->smp = hive_sampler_new(&sp, s->vocab, err))) st = HIVE_E_INVALID;
        if (st == HIVE_OK && r->p.n_stop && !(c->stop = hive_stop_new(r->p.stop, r->p.n_stop, err))) st = HIVE_E_NOMEM;
        /* each choice walks the grammar on its own */
        if (st == HIVE_OK && r->p.grammar && !(c->gm = hive_grammar_matcher_new(r->p.grammar, r->p.grammar_vocab, err)))
            st = (err && *err) ? (*err)->code : HIVE_E_NOMEM;
        hive_detok_init(&c->dt, s->ss->tok, 1);
        if (st == HIVE_OK) st = sched_choice_attach(s, c, err);
        if (st == HIVE_OK) st = prompt_fits(s, c, err);
        if (st == HIVE_OK) st = sched_spec_start(s, c, err);
        if (st == HIVE_OK && i == 0) r->cached_tokens = c->fed;
    }
    if (st != HIVE_OK)
        for (uint32_t j = 0; j < r->p.n; j++) {
            sched_choice_free_state(&r->ch[j]);
            sched_choice_release(s, &r->ch[j], 0);
        }
    return st;
}

void sched_admit(hive_sched *s) {
    for (;;) {
        pthread_mutex_lock(&s->mu);
        sched_req *r = s->wait_head;
        if (r && !atomic_load(&r->cancel) && s->n_running_choices + r->p.n > s->o.parallel) r = NULL;
        if (r) {
            s->wait_head = r->next;
            if (!s->wait_head) s->wait_tail = NULL;
            s->n_waiting--;
            r->next = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        if (!r) return;
        if (atomic_load(&r->cancel)) {
            sched_finish(s, r, HIVE_OK, NULL);
            continue;
        }
        hive_error *err = NULL;
        hive_status st = admit_one(s, r, &err);
        if (st != HIVE_OK) {
            r->failed = 1;
            sched_finish(s, r, st, hive_error_message(err));
            hive_error_free(err);
            continue;
        }
        pthread_mutex_lock(&s->mu);
        sched_req **tail = &s->running;
        while (*tail) tail = &(*tail)->next;
        *tail = r;
        s->n_running++;
        s->n_running_choices += r->p.n;
        if (r->cached_tokens) s->st.prefix_hits++;
        s->st.cached_tokens_total += r->cached_tokens;
        s->st.prompt_tokens_total += r->n_prompt;
        pthread_mutex_unlock(&s->mu);
        hive_sched_event ev = {0};
        ev.kind = HIVE_SCHED_STARTED;
        ev.prompt_tokens = (uint32_t)r->n_prompt;
        ev.cached_tokens = r->cached_tokens;
        sched_emit(r, &ev);
    }
}
