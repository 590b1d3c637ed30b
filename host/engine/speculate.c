/* Drafters, the verification step and the speculation meter (speculate.h). */
#include "engine/speculate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "util/clock.h"
#include "util/error.h"

/* The meter: speculation is judged after SPEC_MIN_STEPS verify passes (one
 * for the base drafter, whose every draft token costs about a plain step)
 * against the cost of a plain step (measured on plain steps, PLAIN_PROBE of
 * them taken on purpose when none was seen, a draft token was rejected and
 * the passes bring under PROBE_BELOW tokens each;
 * for the base drafter its own 1-row steps stand in until then); when a
 * produced token costs more than a
 * plain step, it stays off for OFF_TOKENS tokens (doubling each time, up to
 * 16x), then is probed again. A draft model, meant to cost a fraction of a
 * target step, is judged after SPEC_MIN_STEPS passes as lookup is. */
#define METER_ALPHA 0.3
#define SPEC_MIN_STEPS 4
#define PLAIN_PROBE 3
#define PROBE_BELOW 2 /* tokens per verify pass */
#define OFF_TOKENS 48
#define FIRST_K 2
/* the base drafter first has to compute the whole prompt on its own sequence
 * (about a prefill): it waits this many plain tokens, so short answers never
 * pay for it */
#define BASE_FIRST_PLAIN 16
/* a draft model is meant to be several times cheaper than the target, and so
 * is its prefill: it waits only for a plain step to price a draft step by */
#define MODEL_FIRST_PLAIN 2
#define BASE_MAX_COST 0.5

typedef struct meter {
    /* draft length now: doubles after a fully accepted draft, drops to one
     * past the accepted tokens after a rejection (a long copy run earns long
     * drafts; a wrong guess costs a short pass) */
    uint32_t k_now;
    double plain_ms;    /* moving average of one plain decode step */
    double draft_ms;    /* base drafter: moving average of one of its 1-row steps (a plain step's
                         * lower bound, known before any plain step is) */
    uint32_t n_draft_steps;
    double spec_ms_tok; /* moving average of a verify step's time per token it produced */
    uint32_t n_plain, n_spec;
    uint32_t n_missed;  /* verify passes with a rejected draft token since speculation last went on */
    uint32_t n_spec_tok; /* tokens those n_spec passes produced */
    uint32_t off_left;  /* plain tokens to go before drafting again */
    uint32_t times_off;
} meter;

struct hive_spec {
    hive_engine *e;
    hive_spec_opts o;
    uint32_t vocab;
    int greedy;           /* deterministic target sampler: verification compares tokens */
    hive_token_prob *p;   /* [vocab] the target's distribution at one row */
    hive_token_prob *resid;
    double *dense;        /* [vocab] zero between calls */
    /* base and model drafters */
    hive_engine *de;      /* the engine holding o.draft_seq */
    hive_sampler *dsmp;   /* the drafter's own sampler (same settings) */
    int draft_argmax;     /* draft ids from the device */
    float *dlogits;       /* [vocab] */
    int32_t *dhist;       /* [ctx + k + 1] history plus drafts, for penalties */
    uint32_t *allowed;    /* grammar mask of a draft row */
    hive_token_prob *q;   /* [k * vocab] the drafter's distribution at each draft row (sampling) */
    size_t *q_n;          /* [k] entries of each */
    meter m;
    /* lookup's word completion: the history as text, token by token */
    const hive_tokenizer *tok;
    char *text;
    size_t text_len, text_cap;
    int32_t *text_ids;    /* the tokens spelled into text */
    size_t *text_end;     /* text_len after each of them */
    size_t text_n, text_n_cap;
};

hive_status hive_spec_parse(const char *text, uint32_t k, hive_spec_opts *o, hive_error **err) {
    memset(o, 0, sizeof *o);
    o->draft_seq = -1;
    o->k = k;
    if (!text || !*text || !strcmp(text, "none")) return HIVE_OK;
    if (k < 1 || k > HIVE_DRAFT_MAX_K)
        return hive_fail(err, HIVE_E_INVALID, "--draft-max %u out of range: must be in 1..%d", k, HIVE_DRAFT_MAX_K);
    if (!strcmp(text, "base") || !strcmp(text, "model")) {
        o->kind = text[0] == 'b' ? HIVE_DRAFT_BASE : HIVE_DRAFT_MODEL;
        return HIVE_OK;
    }
    if (!strncmp(text, "lookup", 6) && (text[6] == 0 || text[6] == ':')) {
        o->kind = HIVE_DRAFT_LOOKUP;
        o->ngram = 3;
        if (!text[6]) return HIVE_OK;
        const char *d = text + 7;
        unsigned n = 0;
        size_t len = strspn(d, "0123456789");
        if (len && len <= 2 && !d[len]) n = (unsigned)atoi(d);
        if (n >= 1 && n <= HIVE_DRAFT_MAX_NGRAM) {
            o->ngram = n;
            return HIVE_OK;
        }
        o->kind = HIVE_DRAFT_NONE;
        return hive_fail(err, HIVE_E_INVALID, "--draft %s: the n-gram length must be a whole number in 1..%d", text,
                         HIVE_DRAFT_MAX_NGRAM);
    }
    return hive_fail(err, HIVE_E_INVALID,
                     "--draft '%s': unknown drafter; use lookup, lookup:N (N = 1..%d), base, model or none", text,
                     HIVE_DRAFT_MAX_NGRAM);
}

void hive_spec_describe(const hive_spec_opts *o, char *buf, size_t cap) {
    if (o->kind == HIVE_DRAFT_LOOKUP) snprintf(buf, cap, "lookup:%u", o->ngram);
    else
        snprintf(buf, cap, "%s", o->kind == HIVE_DRAFT_BASE ? "base" : o->kind == HIVE_DRAFT_MODEL ? "model" : "none");
}

hive_engine *hive_spec_drafter_engine(const hive_spec_opts *o, hive_engine *target) {
    return o->kind == HIVE_DRAFT_MODEL ? o->draft_engine : target;
}

/* base and model draft with a forward pass per draft token */
static int drafts_by_model(hive_draft_kind k) { return k == HIVE_DRAFT_BASE || k == HIVE_DRAFT_MODEL; }

/* ---- verification ---- */

int32_t hive_spec_verify_sampled(hive_sampler *smp, const hive_token_prob *p, size_t n_p, const hive_token_prob *q,
                                 size_t n_q, int32_t x, double *dense, hive_token_prob *resid, int *accepted) {
    double px = 0.0, qx = n_q ? 0.0 : 1.0;
    for (size_t i = 0; i < n_p; i++)
        if (p[i].id == x) px = p[i].p;
    for (size_t i = 0; i < n_q; i++)
        if (q[i].id == x) qx = q[i].p;
    /* accept with probability min(1, p(x) / q(x)) */
    if (qx > 0.0 && hive_sampler_uniform(smp) * qx < px) {
        *accepted = 1;
        return x;
    }
    *accepted = 0;
    /* rejected: draw from norm(max(0, p - q)) */
    if (n_q)
        for (size_t i = 0; i < n_q; i++) dense[q[i].id] = q[i].p;
    else
        dense[x] = 1.0;
    size_t n_r = 0;
    for (size_t i = 0; i < n_p; i++) {
        double r = p[i].p - dense[p[i].id];
        if (r > 0.0) resid[n_r++] = (hive_token_prob){p[i].id, r};
    }
    if (n_q)
        for (size_t i = 0; i < n_q; i++) dense[q[i].id] = 0.0;
    else
        dense[x] = 0.0;
    /* p <= q everywhere happens only by rounding (then rejection had probability ~0) */
    return n_r ? hive_sampler_draw_from(smp, resid, n_r) : hive_sampler_draw_from(smp, p, n_p);
}

/* ---- lookup drafter ---- */

uint32_t hive_spec_lookup(const int32_t *hist, size_t n_hist, uint32_t ngram, uint32_t max_k, int32_t *out) {
    for (size_t g = ngram; g >= (ngram < HIVE_DRAFT_MIN_NGRAM ? ngram : HIVE_DRAFT_MIN_NGRAM); g--) {
        if (n_hist < g + 1) continue;
        const int32_t *key = hist + n_hist - g;
        /* the most recent earlier occurrence: starts at most n_hist - g - 1, so
         * at least one token follows it */
        for (size_t i = n_hist - g; i-- > 0;) {
            if (memcmp(hist + i, key, g * sizeof *key)) continue;
            size_t avail = n_hist - (i + g);
            uint32_t n = avail < max_k ? (uint32_t)avail : max_k;
            memcpy(out, hist + i + g, n * sizeof *out);
            return n;
        }
    }
    return 0;
}

/* ---- lookup over a corpus of example outputs ---- */

#define CORPUS_TALLY 32 /* distinct continuations counted; later ones are rare by then */
#define CORPUS_SURE_SEEN 2 /* occurrences that make a unanimous vote more than one example's word */

/* At a split, what the history itself put after `last` the latest time (the
 * prompt's `35` after ` ` where the corpus's numbers disagree); -1 when the
 * history never had it. */
static int32_t grounded_pick(const int32_t *ground, size_t n_ground, int32_t last) {
    for (size_t i = n_ground > 1 ? n_ground - 1 : 0; i-- > 0;)
        if (ground[i] == last) return ground[i + 1];
    return -1;
}

uint32_t hive_spec_lookup_corpus(const int32_t *corpus, size_t n_corpus, const int32_t *hist, size_t n_hist,
                                 const int32_t *ground, size_t n_ground, uint32_t ngram, uint32_t max_k,
                                 uint32_t sure_k, int32_t *out) {
    int32_t ctx[HIVE_DRAFT_MAX_NGRAM + HIVE_DRAFT_MAX_K]; /* the history's last tokens, then the draft */
    size_t nc = n_hist < ngram ? n_hist : ngram;
    memcpy(ctx, hist + n_hist - nc, nc * sizeof *ctx);
    uint32_t n = 0;
    if (sure_k < max_k) sure_k = max_k;
    while (n < sure_k && corpus) {
        int32_t tok[CORPUS_TALLY];
        uint32_t count[CORPUS_TALLY], kinds = 0, seen = 0;
        /* down to one token: a corpus votes, where the history only copies */
        for (size_t g = nc < ngram ? nc : ngram; g >= 1 && !seen; g--) {
            const int32_t *key = ctx + nc - g;
            for (size_t i = 0; i + g < n_corpus; i++) {
                if (corpus[i] != key[0] || memcmp(corpus + i, key, g * sizeof *key)) continue;
                int32_t next = corpus[i + g];
                uint32_t j = 0;
                while (j < kinds && tok[j] != next) j++;
                if (j == kinds) {
                    if (kinds == CORPUS_TALLY) continue;
                    tok[kinds] = next, count[kinds++] = 0;
                }
                count[j]++, seen++;
            }
        }
        if (!seen) break;
        uint32_t best = 0;
        for (uint32_t j = 1; j < kinds; j++)
            if (count[j] > count[best]) best = j;
        if (n >= max_k && (kinds > 1 || seen < CORPUS_SURE_SEEN)) break; /* past max_k only what all agree on */
        /* where the examples disagree, the history's own choice after the
         * same token: whatever it is at a split, one of the examples' else */
        const int split = 2 * count[best] < seen;
        int32_t pick = tok[best], h = kinds > 1 ? grounded_pick(ground, n_ground, ctx[nc - 1]) : -1;
        int grounded = h >= 0 && split;
        for (uint32_t j = 0; h >= 0 && j < kinds && !grounded; j++) grounded = tok[j] == h;
        if (grounded) pick = h;
        out[n++] = pick;
        if (split && !grounded) break; /* a guess among many: drafted, but nothing after it */
        ctx[nc++] = pick;
        if (nc == sizeof ctx / sizeof *ctx) { /* keep the last ngram tokens */
            memmove(ctx, ctx + nc - ngram, ngram * sizeof *ctx);
            nc = ngram;
        }
    }
    return n;
}

/* ---- lookup: completing a word ---- */

#define WORD_MAX 48            /* bytes of a partial word looked up */
#define WORD_SEARCH (64 << 10) /* bytes of history searched, back from the end */

static int is_word_byte(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
}

/* s->text spells hist[0..n_hist): the common prefix is kept (a generation's
 * history only grows), the rest appended; a control token spells as a 0
 * byte, which no word crosses. -1 without memory. */
static int text_sync(hive_spec *s, const int32_t *hist, size_t n_hist) {
    size_t keep = 0;
    while (keep < s->text_n && keep < n_hist && s->text_ids[keep] == hist[keep]) keep++;
    s->text_n = keep;
    s->text_len = keep ? s->text_end[keep - 1] : 0;
    if (n_hist > s->text_n_cap) {
        size_t cap = n_hist * 2 + 64;
        int32_t *ids = realloc(s->text_ids, cap * sizeof *ids);
        if (!ids) return -1;
        s->text_ids = ids;
        size_t *end = realloc(s->text_end, cap * sizeof *end);
        if (!end) return -1;
        s->text_end = end;
        s->text_n_cap = cap;
    }
    for (size_t i = keep; i < n_hist; i++) {
        char piece[256];
        size_t len = 0;
        if (hive_tokenizer_is_control(s->tok, hist[i]) ||
            hive_tokenizer_token_bytes(s->tok, hist[i], piece, sizeof piece, &len) != HIVE_OK || len > sizeof piece)
            piece[0] = 0, len = 1;
        if (s->text_len + len > s->text_cap) {
            size_t cap = (s->text_len + len) * 2 + 256;
            char *t = realloc(s->text, cap);
            if (!t) return -1;
            s->text = t;
            s->text_cap = cap;
        }
        memcpy(s->text + s->text_len, piece, len);
        s->text_len += len;
        s->text_ids[i] = hist[i];
        s->text_end[i] = s->text_len;
        s->text_n = i + 1;
    }
    return 0;
}

/* The rest of the word the text ends inside of, from the most recent earlier
 * word that starts with the same bytes, tokenized alone: at most max_k
 * tokens into out. None when that word ends there too (SQL's ` name` after a
 * schema's `name,`, though the system prompt says "named"). */
static uint32_t word_completion(hive_spec *s, const int32_t *hist, size_t n_hist, uint32_t max_k, int32_t *out) {
    if (!s->tok || text_sync(s, hist, n_hist)) return 0;
    const char *t = s->text;
    size_t w = s->text_len;
    while (w > 0 && is_word_byte((unsigned char)t[w - 1])) w--;
    size_t wl = s->text_len - w, lo = w > WORD_SEARCH ? w - WORD_SEARCH : 0;
    if (!wl || wl > WORD_MAX || wl >= w) return 0;
    for (size_t i = w - wl; i-- > lo;) {
        if ((i > 0 && is_word_byte((unsigned char)t[i - 1])) || memcmp(t + i, t + w, wl)) continue;
        size_t from = i + wl, to = from;
        while (to < w && is_word_byte((unsigned char)t[to])) to++;
        if (to == from) return 0; /* the latest such word ends there: so may this one */
        int32_t *ids = NULL;
        size_t n = 0;
        if (hive_tokenizer_encode(s->tok, t + from, to - from, 0, 0, &ids, &n, NULL) != HIVE_OK) return 0;
        if (n > max_k) n = max_k;
        memcpy(out, ids, n * sizeof *out);
        free(ids);
        return (uint32_t)n;
    }
    return 0;
}

/* The longest prefix of draft the grammar allows; the matcher is left as it was. */
static uint32_t grammar_prefix(struct hive_grammar_matcher *g, const int32_t *draft, uint32_t n) {
    uint32_t ok = 0;
    while (ok < n && hive_grammar_matcher_accept(g, draft[ok], NULL) == HIVE_OK) ok++;
    if (ok) hive_grammar_matcher_rollback(g, ok, NULL);
    return ok;
}

/* ---- state ---- */

/* Whether a drafter surely costs too much to pay, judged before any step of
 * it runs. Decoding reads every weight once a step, so by bytes a draft step
 * costs drafter / target of a target step: base, the base's weights against
 * those plus the sequence's experts'; model, the draft engine's weights
 * against the target's. Above DRAFT_SURELY_DEAR of a step (far above
 * BASE_MAX_COST, and bytes understate it: the JSON LoRA's small matmuls make
 * a base step 73% of a plain one, its bytes 95%), no acceptance can pay, and
 * pricing a step would cost a short answer a few percent, so the drafter
 * starts off for good. Cheaper ones are priced by a step (drafter_worth_it). */
#define DRAFT_SURELY_DEAR 0.75
static int drafter_surely_dear(const hive_engine *e, int32_t seq, const hive_spec_opts *o) {
    double drafter = 0.0, target = (double)hive_engine_weight_bytes(e);
    if (o->kind == HIVE_DRAFT_BASE) {
        const hive_adapter_set *set = hive_engine_seq_adapters(e, seq);
        drafter = target;
        for (uint32_t i = 0; set && i < set->n; i++) target += (double)set->refs[i].desc.device_bytes;
    } else {
        drafter = (double)hive_engine_weight_bytes(o->draft_engine);
    }
    return target > 0.0 && drafter > DRAFT_SURELY_DEAR * target;
}

hive_spec *hive_spec_new(hive_engine *e, int32_t seq, const hive_spec_opts *o, const hive_sampling *sp, int greedy,
                         int argmax, const hive_tokenizer *tok, hive_error **err) {
    if (o->kind == HIVE_DRAFT_NONE || o->k < 1 || o->k > HIVE_DRAFT_MAX_K) {
        hive_fail(err, HIVE_E_INVALID, "speculation needs a drafter and a draft length in 1..%d", HIVE_DRAFT_MAX_K);
        return NULL;
    }
    if (o->kind == HIVE_DRAFT_BASE) {
        const hive_adapter_set *set = hive_engine_seq_adapters(e, seq);
        if (!set || !set->n) {
            hive_fail(err, HIVE_E_INVALID,
                      "--draft base drafts with the base model for a sequence's experts, and this one runs none "
                      "(or they are merged into the weights): the drafter would be the target itself; use --draft "
                      "lookup, or give --expert");
            return NULL;
        }
        if (o->draft_seq < 0 || o->draft_seq == seq || hive_engine_seq_adapters(e, o->draft_seq)) {
            hive_fail(err, HIVE_E_INVALID, "--draft base needs a second sequence with no adapters for the drafter");
            return NULL;
        }
    }
    const uint32_t V = hive_engine_hparams(e)->vocab;
    if (o->kind == HIVE_DRAFT_MODEL) {
        hive_engine *de = o->draft_engine;
        if (!de || de == e || o->draft_seq < 0 || hive_engine_seq_adapters(de, o->draft_seq)) {
            hive_fail(err, HIVE_E_INVALID, "--draft model needs the draft model's own engine and a sequence there");
            return NULL;
        }
        /* the drafter's ids are verified as the target's: one vocabulary */
        if (hive_engine_hparams(de)->vocab != V) {
            hive_fail(err, HIVE_E_INVALID, "--draft-model: the draft model has %u output tokens, the target %u",
                      hive_engine_hparams(de)->vocab, V);
            return NULL;
        }
        /* it holds the whole history plus a draft, as the target does */
        if (hive_engine_ctx(de) < hive_engine_ctx(e)) {
            hive_fail(err, HIVE_E_INVALID,
                      "--draft-model: the draft engine's context (%u) is shorter than the target's (%u)",
                      hive_engine_ctx(de), hive_engine_ctx(e));
            return NULL;
        }
    }
    hive_spec *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->e = e;
    s->o = *o;
    s->tok = o->kind == HIVE_DRAFT_LOOKUP ? tok : NULL;
    s->vocab = V;
    s->greedy = greedy;
    /* start short: on a CPU a pass of 9 rows costs about three plain steps,
     * so a long first guess that fails is the expensive mistake */
    s->m.k_now = o->k < FIRST_K ? o->k : FIRST_K;
    if (drafts_by_model(o->kind) && !o->keep_on) {
        s->m.off_left = o->kind == HIVE_DRAFT_BASE ? BASE_FIRST_PLAIN : MODEL_FIRST_PLAIN;
        if (drafter_surely_dear(e, seq, o)) s->m.off_left = UINT32_MAX, s->m.times_off = 1;
    }
    s->p = malloc((size_t)V * sizeof *s->p);
    s->resid = malloc((size_t)V * sizeof *s->resid);
    s->dense = calloc(V, sizeof *s->dense);
    if (!s->p || !s->resid || !s->dense) goto nomem;
    if (drafts_by_model(o->kind)) {
        s->de = hive_spec_drafter_engine(o, e);
        hive_sampling ds = *sp;
        if (ds.seed != HIVE_SEED_RANDOM) ds.seed ^= 0x9e3779b97f4a7c15ULL; /* its own stream */
        if (!(s->dsmp = hive_sampler_new(&ds, V, err))) goto fail;
        s->draft_argmax = argmax;
        s->dlogits = malloc((size_t)V * sizeof *s->dlogits);
        s->dhist = malloc(((size_t)hive_engine_ctx(e) + o->k + 1) * sizeof *s->dhist);
        s->allowed = calloc(((size_t)V + 31) / 32, sizeof *s->allowed);
        if (!s->dlogits || !s->dhist || !s->allowed) goto nomem;
        if (!greedy) {
            s->q = malloc((size_t)o->k * V * sizeof *s->q);
            s->q_n = calloc(o->k, sizeof *s->q_n);
            if (!s->q || !s->q_n) goto nomem;
        }
    }
    return s;
nomem:
    hive_fail(err, HIVE_E_NOMEM, "speculative decoding: out of memory");
fail:
    hive_spec_free(s);
    return NULL;
}

void hive_spec_free(hive_spec *s) {
    if (!s) return;
    free(s->p);
    free(s->resid);
    free(s->dense);
    hive_sampler_free(s->dsmp);
    free(s->dlogits);
    free(s->dhist);
    free(s->allowed);
    free(s->q);
    free(s->q_n);
    free(s->text);
    free(s->text_ids);
    free(s->text_end);
    free(s);
}

int hive_spec_wants_draft(const hive_spec *s) { return s->m.off_left == 0; }
uint32_t hive_spec_times_off(const hive_spec *s) { return s->m.times_off; }

void hive_spec_record(hive_spec *s, uint32_t drafted, double ms, uint32_t produced) {
    meter *m = &s->m;
    if (!produced) return;
    if (!drafted) {
        m->plain_ms = m->n_plain++ ? (1 - METER_ALPHA) * m->plain_ms + METER_ALPHA * ms : ms;
        m->off_left = m->off_left > produced ? m->off_left - produced : 0;
        return;
    }
    uint32_t accepted = produced - 1; /* a pass cut short by a stop counts as a rejection */
    s->m.k_now = accepted >= drafted ? (2 * drafted < s->o.k ? 2 * drafted : s->o.k) : accepted + 1;
    if (accepted < drafted) m->n_missed++;
    double per_tok = ms / produced;
    m->spec_ms_tok = m->n_spec++ ? (1 - METER_ALPHA) * m->spec_ms_tok + METER_ALPHA * per_tok : per_tok;
    m->n_spec_tok += produced;
    if (s->o.keep_on || m->n_spec < (s->o.kind == HIVE_DRAFT_BASE ? 1u : SPEC_MIN_STEPS)) return;
    /* the base's 1-row step bounds a plain target step from below; a draft
     * model's, meant to be much cheaper, does not stand in for one */
    double plain = m->n_plain                                           ? m->plain_ms
                   : m->n_draft_steps && s->o.kind == HIVE_DRAFT_BASE ? m->draft_ms
                                                                       : 0.0;
    if (plain <= 0.0) { /* nothing to compare with yet: measure a few plain steps */
        /* unless every draft token was accepted: a pass of r rows costs no
         * more than r plain steps, so nothing was lost, and probing would
         * throw away drafts that work (a JSON schema's keys); nor while the
         * passes bring PROBE_BELOW tokens each on average: the draft length
         * grows only after a wholly accepted draft and shrinks after a miss,
         * so passes that miss are short (5 rows cost 1.5 plain steps on the
         * CPUs measured, docs/SPECULATIVE.md) and such a run most likely
         * pays; a short answer has no tokens to spare on probes, and steps
         * with nothing to draft still price a plain one */
        if (m->n_missed && m->n_spec_tok < PROBE_BELOW * m->n_spec) m->off_left = PLAIN_PROBE;
        return;
    }
    if (m->spec_ms_tok > plain) {
        m->off_left = OFF_TOKENS << (m->times_off < 4 ? m->times_off : 4);
        m->times_off++;
        m->n_spec = m->n_missed = m->n_spec_tok = 0; /* the next probe is judged afresh */
    }
}

/* Feed the drafter's sequence what it lacks of hist (the target's tokens) and
 * leave the next draft row's logits (or argmax id) ready. */
static hive_status drafter_sync(hive_spec *s, const int32_t *hist, size_t n_hist, int32_t *next, hive_error **err) {
    hive_engine *e = s->de;
    int32_t ds = s->o.draft_seq;
    uint32_t have = hive_engine_seq_len(e, ds);
    const int32_t *dt = hive_engine_seq_tokens(e, ds);
    size_t common = 0; /* keep at least the last token to feed */
    while (common < have && common + 1 < n_hist && dt[common] == hist[common]) common++;
    hive_status st = hive_engine_seq_truncate(e, ds, (uint32_t)common, err);
    if (st != HIVE_OK) return st;
    size_t n = n_hist - common;
    int32_t *seqs = malloc(n * sizeof *seqs);
    if (!seqs) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) seqs[i] = ds;
    hive_fwd_batch b = {(uint32_t)n, hist + common, seqs, NULL, s->draft_argmax ? next : NULL};
    st = hive_engine_forward(e, &b, s->dlogits, err);
    free(seqs);
    return st;
}

/* Before the drafter (the base, or the draft model) computes the prompt on
 * its own sequence: one step of it on one token (no history) prices a draft
 * token. When it costs more than BASE_MAX_COST of a plain target step, no
 * draft length can pay (a verify pass costs at least a plain step), so
 * drafting stops for this generation. Returns 1 when drafting may go on. */
static int drafter_worth_it(hive_spec *s, const int32_t *hist, size_t n_hist, hive_error **err) {
    meter *m = &s->m;
    if (s->o.keep_on || m->n_draft_steps || !m->n_plain) return 1;
    int32_t ds = s->o.draft_seq, next = -1;
    hive_fwd_batch one = {1, &hist[n_hist - 1], &ds, NULL, s->draft_argmax ? &next : NULL};
    /* a draft model's engine may not have run yet: its first step pays
     * one-time setup, so the faster of two is its price */
    for (int i = 0; i < (s->o.kind == HIVE_DRAFT_MODEL ? 2 : 1); i++) {
        if (hive_engine_seq_truncate(s->de, ds, 0, err) != HIVE_OK) return -1;
        double t0 = hive_now_ms();
        if (hive_engine_forward(s->de, &one, s->dlogits, err) != HIVE_OK) return -1;
        double ms = hive_now_ms() - t0;
        m->draft_ms = i == 0 || ms < m->draft_ms ? ms : m->draft_ms;
    }
    m->n_draft_steps = 1;
    if (m->draft_ms <= BASE_MAX_COST * m->plain_ms) return 1;
    m->off_left = UINT32_MAX; /* for good: the drafter costs too much of a target step */
    m->times_off++;
    return 0;
}

/* base and model: up to max_k tokens, one forward pass of the drafter each. */
static int draft_by_model(hive_spec *s, const int32_t *hist, size_t n_hist, uint32_t max_k,
                          struct hive_grammar_matcher *g, int32_t *out, hive_error **err) {
    int32_t next = -1, ds = s->o.draft_seq;
    int worth = drafter_worth_it(s, hist, n_hist, err);
    if (worth <= 0) return worth;
    if (drafter_sync(s, hist, n_hist, &next, err) != HIVE_OK) return -1;
    memcpy(s->dhist, hist, n_hist * sizeof *hist);
    uint32_t n = 0, in_grammar = 0;
    while (n < max_k) {
        if (g) {
            hive_error *gerr = NULL; /* a limit error only ends the draft; verification meets it again */
            if (!hive_grammar_matcher_fill_mask(g, s->allowed, &gerr)) {
                hive_error_free(gerr);
                break;
            }
            hive_sampler_apply_mask(s->dlogits, s->allowed, s->vocab);
        }
        int32_t t;
        if (s->greedy) {
            t = s->draft_argmax ? next : hive_sampler_sample(s->dsmp, s->dlogits, s->dhist, n_hist + n);
        } else {
            hive_token_prob *q = s->q + (size_t)n * s->vocab;
            s->q_n[n] = hive_sampler_distribution(s->dsmp, s->dlogits, s->dhist, n_hist + n, q);
            t = hive_sampler_draw_from(s->dsmp, q, s->q_n[n]);
        }
        if (g) {
            if (hive_grammar_matcher_accept(g, t, NULL) != HIVE_OK) break;
            in_grammar++;
        }
        out[n] = t;
        s->dhist[n_hist + n] = t;
        n++;
        if (n == max_k) break;
        hive_fwd_batch one = {1, &t, &ds, NULL, s->draft_argmax ? &next : NULL};
        double t0 = hive_now_ms();
        if (hive_engine_forward(s->de, &one, s->dlogits, err) != HIVE_OK) {
            if (in_grammar) hive_grammar_matcher_rollback(g, in_grammar, NULL);
            return -1;
        }
        double ms = hive_now_ms() - t0;
        s->m.draft_ms = s->m.n_draft_steps++ ? (1 - METER_ALPHA) * s->m.draft_ms + METER_ALPHA * ms : ms;
    }
    if (in_grammar) hive_grammar_matcher_rollback(g, in_grammar, NULL);
    return (int)n;
}

int hive_spec_draft(hive_spec *s, const int32_t *hist, size_t n_hist, uint32_t max_k, struct hive_grammar_matcher *g,
                    int32_t *out, hive_error **err) {
    uint32_t room = max_k < s->o.k ? max_k : s->o.k;
    if (max_k > s->m.k_now) max_k = s->m.k_now;
    if (!max_k || !n_hist) return 0;
    if (drafts_by_model(s->o.kind)) return draft_by_model(s, hist, n_hist, max_k, g, out, err);
    /* what the grammar spells next (a JSON schema's keys and punctuation) is
     * hardly a guess: all of it, past the meter's cautious draft length */
    uint32_t n = g ? (uint32_t)hive_grammar_matcher_forced_tokens(g, out, room) : 0;
    /* else each source in turn, the next when the grammar refuses the first
     * token of one (a schema's `user_id, product` copied where SQL wants ` =`) */
    for (int source = 0; source < 2 && !n; source++) {
        n = source == 0 ? hive_spec_lookup(hist, n_hist, s->o.ngram, max_k, out)
                        : word_completion(s, hist, n_hist, max_k, out);
        if (g) n = grammar_prefix(g, out, n);
    }
    /* the corpus, or after what the history proposed, the corpus carrying on
     * (`_id` copied from the schema, then the corpus's ` = `); past max_k
     * only what every example agrees on, up to --draft-max: after a miss the
     * meter's short length is meant for guesses, not for `(amount) FROM
     * orders WHERE` that every SUM in the corpus goes on with */
    if (s->o.corpus && n < room) {
        int32_t ctx[HIVE_DRAFT_MAX_NGRAM + HIVE_DRAFT_MAX_K];
        size_t nc = n_hist < s->o.ngram ? n_hist : s->o.ngram;
        memcpy(ctx, hist + n_hist - nc, nc * sizeof *ctx);
        memcpy(ctx + nc, out, n * sizeof *out);
        uint32_t more = hive_spec_lookup_corpus(s->o.corpus, s->o.n_corpus, ctx, nc + n, hist, n_hist, s->o.ngram,
                                                n < max_k ? max_k - n : 0, room - n, out + n);
        n = g ? grammar_prefix(g, out, n + more) : n + more;
    }
    return (int)n;
}

int32_t hive_spec_verify_row(hive_spec *s, hive_sampler *smp, uint32_t row, const float *logits, const int32_t *hist,
                             size_t n_hist, int32_t x, int *accepted) {
    size_t n_p = hive_sampler_distribution(smp, logits, hist, n_hist, s->p);
    const hive_token_prob *q = s->q ? s->q + (size_t)row * s->vocab : NULL;
    size_t n_q = s->q ? s->q_n[row] : 0;
    return hive_spec_verify_sampled(smp, s->p, n_p, q, n_q, x, s->dense, s->resid, accepted);
}
