#include "engine/generate.h"

#include <stdlib.h>
#include <string.h>

#include "engine/stop.h"
#include "grammar/grammar.h"
#include "util/clock.h"
#include "util/error.h"

const char *hive_finish_name(hive_finish f) {
    static const char *const n[] = {"stop", "length", "context", "caller"};
    return n[f];
}

typedef struct {
    hive_stop *stop;
    hive_text_cb cb;
    void *ud;
    int stopped; /* stop string matched or caller asked */
    int caller;
} emitter;

static void emit(emitter *em, const char *text, size_t len) {
    if (em->stopped || !len) return;
    char out[1024];
    int matched = 0;
    size_t n = em->stop ? hive_stop_feed(em->stop, text, len, out, sizeof out, &matched) : 0;
    const char *src = em->stop ? out : text;
    if (!em->stop) n = len;
    if (n && em->cb && em->cb(em->ud, src, n)) em->stopped = em->caller = 1;
    if (matched) em->stopped = 1;
}

hive_status hive_generate(hive_engine *e, const hive_tokenizer *tok, int32_t seq, const int32_t *prompt, size_t n_prompt,
                          const hive_gen_params *p, hive_text_cb cb, void *ud, hive_gen_stats *stats,
                          hive_error **err) {
    memset(stats, 0, sizeof *stats);
    if (!n_prompt) return hive_fail(err, HIVE_E_INVALID, "empty prompt: nothing to condition on");
    uint32_t vocab = hive_engine_hparams(e)->vocab, ctx = hive_engine_ctx(e);

    /* refuse before touching the sequence: a bad request loses nothing */
    if (n_prompt > ctx)
        return hive_fail(err, HIVE_E_INVALID, "prompt of %zu tokens does not fit the context of %u tokens (--ctx)",
                         n_prompt, ctx);
    /* reuse the longest prefix already in the KV cache (keep at least one token to feed) */
    size_t keep = 0, have = hive_engine_seq_len(e, seq);
    const int32_t *hist = hive_engine_seq_tokens(e, seq);
    while (keep < have && keep < n_prompt - 1 && hist[keep] == prompt[keep]) keep++;
    hive_status st = hive_engine_seq_truncate(e, seq, (uint32_t)keep, err);
    if (st != HIVE_OK) return st;
    stats->n_reused = (uint32_t)keep;
    stats->n_prompt = (uint32_t)(n_prompt - keep);

    float *logits = malloc((size_t)vocab * sizeof *logits);
    int32_t *seqs = malloc((n_prompt - keep) * sizeof *seqs);
    /* zeroed: the matcher fills the tokenizer's words; rows of the output
     * head past the tokenizer (padding, e.g. Qwen2.5) stay forbidden */
    uint32_t *allowed = p->grammar ? calloc(((size_t)vocab + 31) / 32, sizeof *allowed) : NULL;
    hive_sampler *smp = hive_sampler_new(&p->sampling, vocab, err);
    emitter em = {0};
    em.cb = cb;
    em.ud = ud;
    if (p->n_stop) em.stop = hive_stop_new(p->stop, p->n_stop, err);
    if (!logits || !seqs || !smp || (p->n_stop && !em.stop) || (p->grammar && !allowed)) {
        st = (err && *err) ? (*err)->code : hive_fail(err, HIVE_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = keep; i < n_prompt; i++) seqs[i - keep] = seq;

    double t0 = hive_now_ms();
    /* greedy without penalties: argmax on the device, one id crosses per step */
    int32_t next = -1;
    int32_t *argmax = hive_sampler_is_argmax(smp) && !p->grammar ? &next : NULL; /* a mask needs the logits */
    hive_fwd_batch b = {(uint32_t)(n_prompt - keep), prompt + keep, seqs, NULL, argmax};
    if ((st = hive_engine_forward(e, &b, logits, err)) != HIVE_OK) goto done;
    double t1 = hive_now_ms();
    stats->prefill_ms = t1 - t0;

    hive_detok dt;
    hive_detok_init(&dt, tok, 1);
    char text[256];
    int32_t eos = tok ? hive_tokenizer_eos(tok) : -1, eot = tok ? hive_tokenizer_eot(tok) : -1;
    stats->finish = HIVE_FINISH_LENGTH;
    for (uint32_t i = 0; i < p->max_tokens; i++) {
        double g0 = p->grammar ? hive_now_ms() : 0;
        if (p->grammar) {
            if (!hive_grammar_matcher_fill_mask(p->grammar, allowed, err)) {
                st = (err && *err) ? (*err)->code : hive_fail(err, HIVE_E_INVALID, "the grammar allows no token here");
                goto done;
            }
            hive_sampler_apply_mask(logits, allowed, vocab);
            stats->grammar_ms += hive_now_ms() - g0;
        }
        int32_t id = argmax ? next : hive_sampler_sample(smp, logits, hist, hive_engine_seq_len(e, seq));
        if (i == 0) stats->ttft_ms = hive_now_ms() - t0;
        stats->n_gen++;
        if ((!p->ignore_eos || p->grammar) && (id == eos || id == eot)) {
            stats->finish = HIVE_FINISH_STOP;
            break;
        }
        if (p->grammar) {
            g0 = hive_now_ms();
            if ((st = hive_grammar_matcher_accept(p->grammar, id, err)) != HIVE_OK) goto done;
            stats->grammar_ms += hive_now_ms() - g0;
        }
        if (tok) {
            size_t n = hive_detok_push(&dt, id, text, sizeof text);
            emit(&em, text, n);
        }
        if (em.stopped) {
            stats->finish = em.caller ? HIVE_FINISH_CALLER : HIVE_FINISH_STOP;
            break;
        }
        if (p->grammar && hive_grammar_matcher_is_complete(p->grammar)) { /* nothing more can follow */
            stats->finish = HIVE_FINISH_STOP;
            break;
        }
        if (i + 1 == p->max_tokens) break;
        if (hive_engine_seq_len(e, seq) + 1 > ctx) {
            stats->finish = HIVE_FINISH_CONTEXT;
            break;
        }
        hive_fwd_batch one = {1, &id, &seq, NULL, argmax};
        if ((st = hive_engine_forward(e, &one, logits, err)) != HIVE_OK) goto done;
    }
    stats->decode_ms = hive_now_ms() - t1;
    if (tok && !em.stopped) {
        size_t n = hive_detok_flush(&dt, text, sizeof text);
        emit(&em, text, n);
    }
    if (em.stop && !em.stopped) {
        size_t n = hive_stop_flush(em.stop, text, sizeof text);
        if (n && cb) cb(ud, text, n);
    }
    st = HIVE_OK;
done:
    hive_stop_free(em.stop);
    hive_sampler_free(smp);
    free(allowed);
    free(seqs);
    free(logits);
    return st;
}
