#include "engine/generate.h"

#include <stdlib.h>
#include <string.h>

#include "engine/speculate.h"
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

/* Tokens fed in one pass of the loop below: the last token produced, then
 * any draft tokens after it (every row's logits wanted). */
typedef struct pass_bufs {
    float *logits;   /* [(k + 1) * vocab] */
    int32_t *ids;    /* [k + 1] argmax ids (greedy on the device) */
    int32_t *rows;   /* [k + 1] the token, then the draft */
    int32_t *seqs;   /* [max(prompt, k + 1)] */
    uint8_t *want;   /* [k + 1] all 1 */
    int32_t *hist;   /* [ctx + 1] history + the token, for the drafter */
} pass_bufs;

static int pass_bufs_alloc(pass_bufs *b, uint32_t vocab, uint32_t k, size_t n_prompt, uint32_t ctx, int spec) {
    memset(b, 0, sizeof *b);
    size_t n_seqs = n_prompt > k + 1 ? n_prompt : k + 1;
    b->logits = malloc((size_t)(k + 1) * vocab * sizeof *b->logits);
    b->ids = malloc((size_t)(k + 1) * sizeof *b->ids);
    b->rows = malloc((size_t)(k + 1) * sizeof *b->rows);
    b->seqs = malloc(n_seqs * sizeof *b->seqs);
    b->want = malloc((size_t)k + 1);
    if (spec) b->hist = malloc(((size_t)ctx + 1) * sizeof *b->hist);
    if (b->want) memset(b->want, 1, (size_t)k + 1);
    return b->logits && b->ids && b->rows && b->seqs && b->want && (!spec || b->hist);
}

static void pass_bufs_free(pass_bufs *b) {
    free(b->logits);
    free(b->ids);
    free(b->rows);
    free(b->seqs);
    free(b->want);
    free(b->hist);
}

hive_status hive_generate(hive_engine *e, const hive_tokenizer *tok, int32_t seq, const int32_t *prompt, size_t n_prompt,
                          const hive_gen_params *p, hive_text_cb cb, void *ud, hive_gen_stats *stats,
                          hive_error **err) {
    memset(stats, 0, sizeof *stats);
    if (!n_prompt) return hive_fail(err, HIVE_E_INVALID, "empty prompt: nothing to condition on");
    /* a soft prompt's virtual rows take context too */
    uint32_t vocab = hive_engine_hparams(e)->vocab, ctx = hive_engine_seq_ctx(e, seq), nv = hive_engine_ctx(e) - ctx;

    /* refuse before touching the sequence: a bad request loses nothing */
    if (n_prompt > ctx && nv)
        return hive_fail(err, HIVE_E_INVALID,
                         "prompt of %zu tokens does not fit the context of %u tokens beside the soft prompt's %u "
                         "virtual tokens (--ctx)",
                         n_prompt, ctx + nv, nv);
    if (n_prompt > ctx)
        return hive_fail(err, HIVE_E_INVALID, "prompt of %zu tokens does not fit the context of %u tokens (--ctx)",
                         n_prompt, ctx);
    const hive_spec_opts *so = p->spec && p->spec->kind != HIVE_DRAFT_NONE ? p->spec : NULL;
    const uint32_t K = so ? so->k : 0;
    /* greedy: the sampler is deterministic, so verification compares tokens */
    const int greedy = p->sampling.temperature == 0.0f || p->sampling.top_k == 1;
    hive_spec *spec = NULL;
    /* reuse the longest prefix already in the KV cache (keep at least one token to feed) */
    size_t keep = 0, have = hive_engine_seq_len(e, seq);
    const int32_t *hist = hive_engine_seq_tokens(e, seq);
    while (keep < have && keep < n_prompt - 1 && hist[keep] == prompt[keep]) keep++;
    keep = hive_engine_seq_reusable_len(e, seq, (uint32_t)keep); /* a Mamba2 state: all or nothing */
    if (so && hive_engine_hparams(e)->ssm_heads)
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "speculative decoding rolls rejected drafts back, which a Mamba2 state cannot do; run without "
                         "--draft");
    hive_status st = hive_engine_seq_truncate(e, seq, (uint32_t)keep, err);
    if (st != HIVE_OK) return st;
    stats->n_reused = (uint32_t)keep;
    stats->n_prompt = (uint32_t)(n_prompt - keep);

    pass_bufs pb;
    int bufs_ok = pass_bufs_alloc(&pb, vocab, K, n_prompt - keep, ctx, so != NULL);
    /* zeroed: the matcher fills the tokenizer's words; rows of the output
     * head past the tokenizer (padding, e.g. Qwen2.5) stay forbidden */
    uint32_t *allowed = p->grammar ? calloc(((size_t)vocab + 31) / 32, sizeof *allowed) : NULL;
    hive_sampler *smp = hive_sampler_new(&p->sampling, vocab, err);
    emitter em = {0};
    em.cb = cb;
    em.ud = ud;
    if (p->n_stop) em.stop = hive_stop_new(p->stop, p->n_stop, err);
    if (!bufs_ok || !smp || (p->n_stop && !em.stop) || (p->grammar && !allowed)) {
        st = (err && *err) ? (*err)->code : hive_fail(err, HIVE_E_NOMEM, "out of memory");
        goto done;
    }
    /* greedy without penalties: argmax on the device, one id crosses per row */
    const int use_argmax = hive_sampler_is_argmax(smp) && !p->grammar; /* a mask needs the logits */
    if (so && !(spec = hive_spec_new(e, seq, so, &p->sampling, greedy, use_argmax, tok, err))) {
        st = (err && *err) ? (*err)->code : HIVE_E_INVALID;
        goto done;
    }
    for (size_t i = keep; i < n_prompt; i++) pb.seqs[i - keep] = seq;

    double t0 = hive_now_ms();
    hive_fwd_batch b = {(uint32_t)(n_prompt - keep), prompt + keep, pb.seqs, NULL, use_argmax ? pb.ids : NULL};
    if ((st = hive_engine_forward(e, &b, pb.logits, err)) != HIVE_OK) goto done;
    double t1 = hive_now_ms();
    stats->prefill_ms = t1 - t0;

    hive_detok dt;
    hive_detok_init(&dt, tok, 1);
    char text[256];
    int32_t eos = tok ? hive_tokenizer_eos(tok) : -1, eot = tok ? hive_tokenizer_eot(tok) : -1;
    stats->finish = HIVE_FINISH_LENGTH;
    /* the current pass: n_rows rows (its first token, then n_draft drafts); row: the one to read next */
    uint32_t n_rows = 1, row = 0, n_draft = 0, produced = 0;
    size_t n_hist = hive_engine_seq_len(e, seq); /* tokens before the one being produced */
    double step_t0 = t1;
    int timed = 0; /* the prefill's token is not a decode step */
    for (uint32_t i = 0; i < p->max_tokens; i++) {
        n_hist = hive_engine_seq_len(e, seq) - (n_rows - 1 - row);
        float *lrow = pb.logits + (size_t)row * vocab;
        double g0 = p->grammar ? hive_now_ms() : 0;
        if (p->grammar) {
            if (!hive_grammar_matcher_fill_mask(p->grammar, allowed, err)) {
                st = (err && *err) ? (*err)->code : hive_fail(err, HIVE_E_INVALID, "the grammar allows no token here");
                goto done;
            }
            hive_sampler_apply_mask(lrow, allowed, vocab);
            stats->grammar_ms += hive_now_ms() - g0;
        }
        int accepted = 0;
        int32_t id;
        if (greedy || row >= n_draft) {
            id = use_argmax ? pb.ids[row] : hive_sampler_sample(smp, lrow, hist, n_hist);
            accepted = row < n_draft && id == pb.rows[row + 1];
        } else {
            id = hive_spec_verify_row(spec, smp, row, lrow, hist, n_hist, pb.rows[row + 1], &accepted);
        }
        produced++;
        stats->n_accepted += (uint32_t)accepted;
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
        if (accepted) { /* the next row of this pass already holds the next position */
            row++;
            continue;
        }
        /* a new pass: cut the rows after this token (rejected drafts) from the KV */
        if (hive_engine_seq_len(e, seq) > n_hist && (st = hive_engine_seq_truncate(e, seq, (uint32_t)n_hist, err)) != HIVE_OK)
            goto done;
        double now = hive_now_ms();
        if (spec && timed) hive_spec_record(spec, n_draft, now - step_t0, produced);
        step_t0 = now;
        produced = 0;
        timed = 1;
        if (n_hist + 1 > ctx) {
            stats->finish = HIVE_FINISH_CONTEXT;
            break;
        }
        pb.rows[0] = id;
        n_draft = 0;
        if (spec && hive_spec_wants_draft(spec)) {
            /* never past max_tokens (this pass yields up to 1 + draft tokens
             * after this one) nor past the context end */
            uint32_t max_k = K;
            if (max_k > p->max_tokens - i - 2) max_k = p->max_tokens - i - 2;
            if (max_k > ctx - n_hist - 1) max_k = (uint32_t)(ctx - n_hist - 1);
            if (max_k) {
                memcpy(pb.hist, hist, n_hist * sizeof *hist);
                pb.hist[n_hist] = id;
                int d = hive_spec_draft(spec, pb.hist, n_hist + 1, max_k, p->grammar, pb.rows + 1, err);
                if (d < 0) {
                    st = (err && *err) ? (*err)->code : HIVE_E_INTERNAL;
                    goto done;
                }
                n_draft = (uint32_t)d;
            }
        }
        for (uint32_t j = 0; j <= n_draft; j++) pb.seqs[j] = seq;
        hive_fwd_batch pass = {1 + n_draft, pb.rows, pb.seqs, pb.want, use_argmax ? pb.ids : NULL};
        if ((st = hive_engine_forward(e, &pass, pb.logits, err)) != HIVE_OK) goto done;
        if (n_draft) stats->n_verify++, stats->n_drafted += n_draft;
        else stats->n_plain++;
        n_rows = 1 + n_draft;
        row = 0;
    }
    /* leave the KV as plain decoding does: every token but the last produced */
    if (hive_engine_seq_len(e, seq) > n_hist && (st = hive_engine_seq_truncate(e, seq, (uint32_t)n_hist, err)) != HIVE_OK)
        goto done;
    stats->decode_ms = hive_now_ms() - t1;
    if (spec) stats->n_spec_off = hive_spec_times_off(spec);
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
    hive_spec_free(spec);
    free(allowed);
    pass_bufs_free(&pb);
    return st;
}
