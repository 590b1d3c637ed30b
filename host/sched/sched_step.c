/* One step: a forward pass over a decode row of every running choice plus a
 * chunk of prompt rows of choices still prefilling, rows grouped by expert
 * set so each set is one segment; then each wanted row's token is sampled,
 * detokenized, matched against stop strings and streamed. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_impl.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

/* Log-probability of `id` and the top alternatives under the model's
 * distribution (raw logits, before penalties and truncation: OpenAI's
 * meaning); for a row under a grammar, after its mask: the constrained
 * distribution, in which a forbidden token has no probability. */
static float log_probs(const float *row, uint32_t vocab, int32_t id, hive_sched_top *top, uint32_t n_top) {
    float mx = -INFINITY;
    for (uint32_t v = 0; v < vocab; v++)
        if (row[v] > mx) mx = row[v];
    double sum = 0;
    for (uint32_t v = 0; v < vocab; v++) sum += isnan(row[v]) ? 0 : exp((double)row[v] - mx);
    float lse = mx + (float)log(sum);
    for (uint32_t k = 0; k < n_top; k++) top[k].token = -1, top[k].logprob = -INFINITY;
    for (uint32_t v = 0; v < vocab && n_top; v++) {
        float lp = row[v] - lse;
        if (isnan(lp) || lp <= top[n_top - 1].logprob) continue;
        uint32_t k = n_top - 1;
        while (k > 0 && top[k - 1].logprob < lp) top[k] = top[k - 1], k--;
        top[k].token = (int32_t)v;
        top[k].logprob = lp;
    }
    return row[id] - lse;
}

/* A choice's grammar failed: its request fails once this step's rows are
 * done (fail_grammar_requests), so no row of it outlives the request. */
static void grammar_fail(hive_sched *s, sched_req *r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void grammar_fail(hive_sched *s, sched_req *r, const char *fmt, ...) {
    s->grammar_failed = 1;
    if (r->fail_msg[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fail_msg, sizeof r->fail_msg, fmt, ap);
    va_end(ap);
    r->failed = 1;
}

/* A choice's pass is over at row s->cur_row: its later rows (drafts not
 * taken, or past the end of the choice, whose request may be freed) are
 * skipped without touching it. */
static void drop_later_rows(hive_sched *s, const sched_choice *c) {
    for (uint32_t i = s->cur_row + 1; i < s->step_rows; i++)
        if (s->order_ch[i] == c) s->order_ch[i] = NULL;
}

/* Ends a choice whose sequence holds kv_len verified tokens (draft rows
 * past them are cut first, so a cached slot holds only what was produced;
 * its later rows in this step are dropped: ending may free the request). */
static void end_choice(hive_sched *s, sched_choice *c, uint32_t kv_len, hive_finish finish, int flush) {
    drop_later_rows(s, c);
    if (sched_spec_rollback(s, c, kv_len)) return; /* the request fails instead */
    sched_choice_end(s, c, finish, flush);
}

/* The sampled token of one choice: stream it, or end the choice. kv_len:
 * the tokens before it in the sequence (plain decoding's length; a verify
 * pass has draft rows past it). */
static void on_token(hive_sched *s, sched_choice *c, int32_t id, const float *row, uint32_t kv_len) {
    sched_req *r = c->req;
    hive_sched_top top[HIVE_SCHED_MAX_TOP];
    float lp = 0;
    if (row && r->p.logprobs) lp = log_probs(row, s->vocab, id, top, r->p.top_logprobs);
    if (!r->t_first) r->t_first = hive_now_ms();
    c->n_gen++;
    r->completion_tokens++;
    pthread_mutex_lock(&s->mu);
    s->st.generated_tokens_total++;
    pthread_mutex_unlock(&s->mu);
    const hive_tokenizer *tok = s->ss->tok;
    /* under a grammar the mask allowed an end token only where the output is complete */
    if ((!r->p.ignore_eos || c->gm) && tok && (id == hive_tokenizer_eos(tok) || id == hive_tokenizer_eot(tok))) {
        end_choice(s, c, kv_len, HIVE_FINISH_STOP, 1);
        return;
    }
    if (c->gm) {
        hive_error *err = NULL;
        if (hive_grammar_matcher_accept(c->gm, id, &err) != HIVE_OK) {
            grammar_fail(s, r, "grammar: token %d after %u generated tokens: %s", id, c->n_gen - 1,
                         hive_error_message(err));
            hive_error_free(err);
            return;
        }
    }
    char text[256], out[1024];
    size_t n = tok ? hive_detok_push(&c->dt, id, text, sizeof text) : 0;
    int matched = 0;
    const char *src = text;
    if (c->stop) {
        n = hive_stop_feed(c->stop, text, n, out, sizeof out, &matched);
        src = out;
    }
    if (n || r->p.logprobs) {
        hive_sched_event ev = {0};
        ev.kind = HIVE_SCHED_TOKEN;
        ev.choice = c->index;
        ev.text = src;
        ev.len = n;
        ev.token = id;
        ev.logprob = lp;
        ev.top = top;
        ev.n_top = r->p.logprobs ? r->p.top_logprobs : 0;
        sched_emit(r, &ev);
    }
    if (matched) end_choice(s, c, kv_len, HIVE_FINISH_STOP, 0);
    else if (c->gm && hive_grammar_matcher_is_complete(c->gm)) end_choice(s, c, kv_len, HIVE_FINISH_STOP, 1);
    else if (c->n_gen >= r->p.max_tokens) end_choice(s, c, kv_len, HIVE_FINISH_LENGTH, 1);
    else if (kv_len + 1 > hive_engine_seq_ctx(s->ss->eng, s->slots[c->slot].seq)) /* less any soft prompt */
        end_choice(s, c, kv_len, HIVE_FINISH_CONTEXT, 1);
    else {
        c->next = id;
        c->phase = CH_DECODE;
    }
}

static void add_row(hive_sched *s, uint32_t *n, sched_choice *c, int32_t token, uint8_t want, uint8_t pass_row) {
    s->tok[*n] = token;
    s->seq[*n] = s->slots[c->slot].seq;
    s->want[*n] = want;
    s->pass_row[*n] = pass_row;
    s->row_ch[*n] = c;
    (*n)++;
}

/* Rows of one expert set next to each other (one segment each), keeping each
 * sequence's rows in order. */
static void group_by_set(hive_sched *s, uint32_t n) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = s->slots[s->row_ch[i]->slot].set_id;
        int seen = 0;
        for (uint32_t j = 0; j < i && !seen; j++) seen = s->slots[s->row_ch[j]->slot].set_id == id;
        if (seen) continue;
        for (uint32_t j = i; j < n; j++)
            if (s->slots[s->row_ch[j]->slot].set_id == id) {
                s->order_tok[m] = s->tok[j];
                s->order_seq[m] = s->seq[j];
                s->order_want[m] = s->want[j];
                s->order_pass_row[m] = s->pass_row[j];
                s->order_ch[m] = s->row_ch[j];
                m++;
            }
    }
}

/* Choices 1..n-1 start from choice 0's prompt KV: its whole pages are shared,
 * only the rest of the last page is computed again (n choices, one prefill). */
static void share_prompt(hive_sched *s, sched_choice *c0) {
    sched_req *r = c0->req;
    for (uint32_t i = 1; i < r->p.n; i++) {
        sched_choice *c = &r->ch[i];
        if (c->phase != CH_WAIT) continue;
        uint32_t k = hive_engine_seq_share_prefix(s->ss->eng, s->slots[c->slot].seq, s->slots[c0->slot].seq,
                                                  (uint32_t)r->n_prompt - 1);
        if (k > c->fed) {
            pthread_mutex_lock(&s->mu);
            s->st.shared_prompt_tokens_total += k - c->fed;
            pthread_mutex_unlock(&s->mu);
            c->fed = k;
        }
        c->phase = CH_PREFILL;
    }
}

/* Every choice of r still running ends without a word (the request fails). */
static void end_choices(hive_sched *s, sched_req *r) {
    r->failed = 1;
    for (uint32_t k = 0; k < r->p.n; k++) {
        sched_choice *c = &r->ch[k];
        if (c->phase == CH_DONE) continue;
        sched_choice_free_state(c);
        sched_choice_release(s, c, 0);
        c->phase = CH_DONE;
    }
}

/* A failed pass fails every request that had rows in it. */
static void fail_rows(hive_sched *s, uint32_t n, const char *msg) {
    /* distinct requests first: finishing one frees it */
    sched_req **reqs = (sched_req **)s->row_ch;
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        sched_req *r = s->order_ch[i]->req;
        uint32_t j = 0;
        while (j < m && reqs[j] != r) j++;
        if (j == m) reqs[m++] = r;
    }
    for (uint32_t i = 0; i < m; i++) {
        sched_req *r = reqs[i];
        end_choices(s, r);
        sched_finish(s, r, HIVE_E_INTERNAL, msg);
    }
}

/* The requests whose grammar failed in this step leave (FINISHED with the
 * message); the other requests go on. */
static void fail_grammar_requests(hive_sched *s) {
    s->grammar_failed = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        sched_req *r = s->running;
        while (r && !r->fail_msg[0]) r = r->next;
        pthread_mutex_unlock(&s->mu);
        if (!r) return;
        HLOG_DEBUG("request %llu: %s", (unsigned long long)r->id, r->fail_msg);
        end_choices(s, r);
        sched_finish(s, r, HIVE_E_INVALID, r->fail_msg);
    }
}

static int mask_empty(const uint32_t *mask, uint32_t words) {
    for (uint32_t w = 0; w < words; w++)
        if (mask[w]) return 0;
    return 1;
}

/* The model may have more rows than the tokenizer has tokens: those are never allowed. */
static void clear_past_vocab(const hive_sched *s, const sched_req *r, uint32_t *mask) {
    uint32_t gw = (hive_grammar_vocab_size(r->p.grammar_vocab) + 31) / 32;
    memset(mask + gw, 0, (size_t)(s->mask_words - gw) * sizeof *mask);
}

/* A row whose mask grammar_masks computes: a prompt's last row or a decode
 * row; a draft row's mask follows from its predecessors' tokens (sched_verify_row). */
static int batched_mask_row(const hive_sched *s, uint32_t i) {
    return s->order_want[i] && s->order_ch[i]->gm && (s->order_pass_row[i] == 0 || s->order_pass_row[i] == SCHED_PREFILL_ROW);
}

/* The masks of the step's wanted rows under a grammar, in row order, computed
 * together (OpenMP inside hive_grammar_fill_masks, the runtime the CPU backend
 * uses too). Returns how many. */
static uint32_t grammar_masks(hive_sched *s, uint32_t n) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (batched_mask_row(s, i)) {
            s->gm_rows[m] = s->order_ch[i]->gm;
            s->gm_masks[m] = s->masks + (size_t)m * s->mask_words;
            m++;
        }
    if (!m) return 0;
    hive_error *err = NULL;
    int failed = hive_grammar_fill_masks(s->gm_rows, s->gm_masks, m, &err) != HIVE_OK;
    hive_error_free(err);
    for (uint32_t i = 0, k = 0; i < n; i++) {
        if (!batched_mask_row(s, i)) continue;
        sched_req *r = s->order_ch[i]->req;
        if (failed) { /* a limit error: find its rows one by one (the others are cached copies now) */
            hive_error *e = NULL;
            if (!hive_grammar_matcher_fill_mask(s->gm_rows[k], s->gm_masks[k], &e) && e)
                grammar_fail(s, r, "grammar: %s", hive_error_message(e));
            hive_error_free(e);
        }
        clear_past_vocab(s, r, s->gm_masks[k]);
        k++;
    }
    return m;
}

/* A draft row's grammar mask: the matcher has taken the row's predecessors
 * (the accepted drafts). NULL when the request failed. */
static const uint32_t *draft_row_mask(hive_sched *s, sched_choice *c) {
    hive_error *err = NULL;
    if (!hive_grammar_matcher_fill_mask(c->gm, s->spec_mask, &err) && err) {
        grammar_fail(s, c->req, "grammar: %s", hive_error_message(err));
        hive_error_free(err);
        return NULL;
    }
    clear_past_vocab(s, c->req, s->spec_mask);
    return s->spec_mask;
}

static int is_greedy(const hive_sampling *sp) { return sp->temperature == 0.0f || sp->top_k == 1; }

/* One wanted row of choice c (row i of the step): its token, checked against
 * the choice's draft where the row has one (docs/SPECULATIVE.md: greedy rows
 * compare, sampled rows go through rejection sampling); the first row not
 * accepted ends the choice's pass and cuts the rows after it from its KV. */
static void take_row(hive_sched *s, sched_choice *c, uint32_t i, float *row, const uint32_t *mask, int32_t argmax_id) {
    sched_req *r = c->req;
    hive_engine *e = s->ss->eng;
    int32_t seq = s->slots[c->slot].seq;
    uint8_t dj = s->order_pass_row[i];
    int decode = dj != SCHED_PREFILL_ROW, drafted = decode && dj < c->n_draft;
    uint32_t kv_len = decode ? c->pass_base + dj + 1 : hive_engine_seq_len(e, seq);
    if (c->gm && !mask && !(mask = draft_row_mask(s, c))) return;
    if (mask) {
        if (mask_empty(mask, s->mask_words)) {
            grammar_fail(s, r, "grammar: no token can follow the %u generated so far (the grammar allows nothing "
                         "this vocabulary can write here)", c->n_gen);
            return;
        }
        hive_sampler_apply_mask(row, mask, s->vocab); /* before sampling and logprobs */
    }
    const int32_t *hist = hive_engine_seq_tokens(e, seq);
    int accepted = 0;
    int32_t id;
    if (drafted && !row) id = argmax_id, accepted = id == c->draft[dj];
    else if (drafted && !is_greedy(&r->p.sampling))
        id = hive_spec_verify_row(c->spec, c->smp, dj, row, hist, kv_len, c->draft[dj], &accepted);
    else {
        id = row ? hive_sampler_sample(c->smp, row, hist, kv_len) : argmax_id;
        accepted = drafted && id == c->draft[dj];
    }
    if (accepted) sched_spec_count_accepted(s, c);
    else if (decode && c->spec) {
        drop_later_rows(s, c);
        sched_spec_pass_done(s, c, kv_len, (uint32_t)dj + 1);
        if (r->fail_msg[0]) return;
    }
    on_token(s, c, id, row, kv_len);
}

/* The decode rows of every running choice, each followed by its draft where
 * it speculates (as many draft rows as the pass and the logits have room for). */
static uint32_t add_decode_rows(hive_sched *s, sched_req *head) {
    uint32_t n = 0, n_decode = 0, spec_left = s->spec_rows;
    for (sched_req *r = head; r; r = r->next)
        for (uint32_t i = 0; i < r->p.n; i++) n_decode += r->ch[i].phase == CH_DECODE;
    for (sched_req *r = head; r; r = r->next)
        for (uint32_t i = 0; i < r->p.n; i++) {
            sched_choice *c = &r->ch[i];
            if (c->phase != CH_DECODE || n >= s->max_rows) continue;
            n_decode--;
            c->pass_base = hive_engine_seq_len(s->ss->eng, s->slots[c->slot].seq);
            c->n_draft = 0;
            add_row(s, &n, c, c->next, 1, 0);
            if (!c->spec) continue;
            uint32_t room = s->max_rows - n > n_decode ? s->max_rows - n - n_decode : 0;
            sched_spec_draft(s, c, room < spec_left ? room : spec_left);
            spec_left -= c->n_draft;
            for (uint32_t j = 0; j < c->n_draft; j++) add_row(s, &n, c, c->draft[j], 1, (uint8_t)(j + 1));
        }
    return n;
}

int sched_run_step(hive_sched *s) {
    pthread_mutex_lock(&s->mu);
    sched_req *head = s->running;
    pthread_mutex_unlock(&s->mu);
    /* the running list only changes on this thread: walk it unlocked */
    uint32_t n = add_decode_rows(s, head);
    uint32_t budget = s->max_rows - n < s->o.prefill_chunk ? s->max_rows - n : s->o.prefill_chunk;
    for (sched_req *r = head; r && budget; r = r->next)
        for (uint32_t i = 0; i < r->p.n && budget; i++) {
            sched_choice *c = &r->ch[i];
            if (c->phase != CH_PREFILL) continue;
            uint32_t left = (uint32_t)r->n_prompt - c->fed, k = left < budget ? left : budget;
            for (uint32_t j = 0; j < k; j++)
                add_row(s, &n, c, r->prompt[c->fed + j], c->fed + j + 1 == r->n_prompt, SCHED_PREFILL_ROW);
            c->pending = k;
            budget -= k;
        }
    if (!n) return 0;
    group_by_set(s, n);
    /* greedy rows without logprobs everywhere: argmax on the device, as generate does */
    int argmax = 1;
    for (uint32_t i = 0; i < n; i++)
        if (s->order_want[i]) {
            const sched_choice *c = s->order_ch[i];
            /* a grammar row needs its logits to mask them */
            if (!hive_sampler_is_argmax(c->smp) || c->req->p.logprobs || c->gm) argmax = 0;
        }
    hive_fwd_batch b = {n, s->order_tok, s->order_seq, s->order_want, argmax ? s->argmax : NULL};
    hive_error *err = NULL;
    double t0 = hive_now_ms();
    if (hive_engine_forward(s->ss->eng, &b, s->logits, &err) != HIVE_OK) {
        HLOG_ERROR("scheduler step of %u rows failed: %s", n, hive_error_message(err));
        fail_rows(s, n, hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    s->step_ms = hive_now_ms() - t0;
    pthread_mutex_lock(&s->mu);
    s->st.steps++;
    pthread_mutex_unlock(&s->mu);
    /* prompt rows are in; a finished prompt is shared with its request's
     * other choices; then each wanted row gives its choice a token */
    for (uint32_t i = 0; i < n; i++) {
        sched_choice *c = s->order_ch[i];
        if (c->pending) {
            c->fed += c->pending, c->pending = 0;
            if (c->index == 0 && c->fed == c->req->n_prompt) share_prompt(s, c);
        }
    }
    if (!argmax) grammar_masks(s, n);
    s->step_rows = n;
    uint32_t k = 0, g = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!s->order_want[i]) continue;
        sched_choice *c = s->order_ch[i]; /* NULL: a row dropped by its choice (drop_later_rows) */
        float *row = argmax ? NULL : s->logits + (size_t)k * s->vocab;
        const uint32_t *mask = c && batched_mask_row(s, i) ? s->gm_masks[g++] : NULL;
        k++;
        if (!c || c->phase == CH_DONE || c->req->fail_msg[0]) continue;
        s->cur_row = i;
        take_row(s, c, i, row, mask, argmax ? s->argmax[k - 1] : -1);
    }
    if (s->grammar_failed) fail_grammar_requests(s);
    return 1;
}
