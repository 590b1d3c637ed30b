/* Speculative decoding (docs/SPECULATIVE.md): a drafter proposes up to k
 * tokens, the target scores them all in one forward pass (rows of the same
 * sequence, with the sequence's own expert set), and verification keeps the
 * target's output distribution exactly:
 *   - greedy: accept while the draft equals the target's token, then take the
 *     target's token at the first mismatch (or one bonus token after k);
 *   - sampling: rejection sampling (Leviathan et al. 2023) on the final
 *     distributions of the sampler pipeline (hive_sampler_distribution).
 * Rejected rows are cut from the KV cache. hive_generate drives it
 * (generate.c); this file holds the drafters, the verification step and the
 * meter that turns speculation off when it does not pay. */
#ifndef HIVE_ENGINE_SPECULATE_H
#define HIVE_ENGINE_SPECULATE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "tokenizer/tokenizer.h"

struct hive_grammar_matcher;

typedef enum hive_draft_kind {
    HIVE_DRAFT_NONE = 0,
    HIVE_DRAFT_LOOKUP, /* n-gram lookup over the prompt and the text so far */
    HIVE_DRAFT_BASE,   /* the same engine without the sequence's experts */
    HIVE_DRAFT_MODEL,  /* a second engine: another model with the same vocabulary (--draft-model) */
} hive_draft_kind;

/* --draft-max upper bound: a verify pass is at most 15 rows. Exactness needs
 * a row's logits not to depend on the rows beside it; onednn-cpu keeps that
 * for passes under 16 rows, but from 16 on it multiplies f32/bf16 weights
 * through oneDNN, whose sums differ in the last bits (docs/SPECULATIVE.md). */
#define HIVE_DRAFT_MAX_K 14
#define HIVE_DRAFT_MAX_NGRAM 16 /* lookup:N upper bound */
/* lookup tries n-grams from N down to this (N itself when smaller): after a
 * single matching token the prompt's next token was the output's in a
 * fraction of the shipped experts' passes, and each miss costs a pass
 * (docs/SPECULATIVE.md) */
#define HIVE_DRAFT_MIN_NGRAM 2

typedef struct hive_spec_opts {
    hive_draft_kind kind;
    uint32_t ngram;    /* lookup: longest n-gram matched (shorter ones down to 1 are tried next) */
    uint32_t k;        /* most draft tokens per step (--draft-max) */
    /* base and model: the drafter's own sequence, with no adapters, in the
     * target's engine (base) or in draft_engine (model). The caller creates it
     * and may keep it across calls: its KV is reused and rolled back like the
     * target's. */
    int32_t draft_seq;
    /* 1: never turn speculation off (tests that want every step verified);
     * 0: the meter turns it off while it is slower than plain decoding */
    int keep_on;
    /* model: the draft model's engine (same vocabulary, a context at least the
     * target's); NULL for the other drafters. Owned by the caller. */
    hive_engine *draft_engine;
    /* lookup: tokens of example outputs (--draft-corpus) drafted from when
     * the prompt and the text so far offer nothing; NULL when none. Owned by
     * the caller. */
    const int32_t *corpus;
    size_t n_corpus;
} hive_spec_opts;

/* --draft TEXT: "lookup", "lookup:N" (N in 1..16), "base", "model" (the
 * caller then sets draft_engine and draft_seq), or "none"/"" (off);
 * k is --draft-max (1..HIVE_DRAFT_MAX_K). HIVE_E_INVALID with the accepted forms otherwise. */
hive_status hive_spec_parse(const char *text, uint32_t k, hive_spec_opts *o, hive_error **err);
/* "lookup:3", "base", "model", "none": for messages and bench output. */
void hive_spec_describe(const hive_spec_opts *o, char *buf, size_t cap);
/* The engine holding the drafter's sequence (draft_seq): draft_engine for
 * the model drafter, else the target's. */
hive_engine *hive_spec_drafter_engine(const hive_spec_opts *o, hive_engine *target);

/* The verification step of rejection sampling, for one drafted token x:
 * p is the target's final distribution (sparse, sums to 1), q the drafter's,
 * from which x was drawn; n_q == 0 means q is one-hot at x (a deterministic
 * drafter such as lookup). Returns x with probability min(1, p(x)/q(x))
 * (*accepted = 1), else a draw from norm(max(0, p - q)) (*accepted = 0).
 * Either way the result is distributed exactly as p. dense: n_vocab doubles,
 * all zero on entry and on return; resid: room for n_p entries. */
int32_t hive_spec_verify_sampled(hive_sampler *smp, const hive_token_prob *p, size_t n_p, const hive_token_prob *q,
                                 size_t n_q, int32_t x, double *dense, hive_token_prob *resid, int *accepted);

/* lookup: the tokens that followed the most recent earlier occurrence of the
 * last `ngram` tokens of hist (shorter n-grams down to HIVE_DRAFT_MIN_NGRAM
 * when none matches; lookup:1 matches single tokens), at most max_k of them,
 * into out. Returns how many. */
uint32_t hive_spec_lookup(const int32_t *hist, size_t n_hist, uint32_t ngram, uint32_t max_k, int32_t *out);
/* lookup over a corpus (an expert's draft corpus, --draft-corpus), token by
 * token: the token seen most often in the corpus after the last g tokens of
 * hist and the draft so far (g from ngram down to 1, the longest that
 * occurs: unlike the history's most recent match, a corpus votes), while
 * that token follows at least half of the occurrences; the first one that
 * does not is still drafted, then the draft stops. Where the occurrences
 * disagree, the token ground (the whole history; may be NULL) put after the
 * same last token the latest time wins: at a split whatever it is (and the
 * draft goes on), under a majority only if some occurrence has it. Up to
 * max_k tokens, then up to sure_k (when larger) only while every occurrence,
 * two at least, agrees. Returns how many were written to out. */
uint32_t hive_spec_lookup_corpus(const int32_t *corpus, size_t n_corpus, const int32_t *hist, size_t n_hist,
                                 const int32_t *ground, size_t n_ground, uint32_t ngram, uint32_t max_k,
                                 uint32_t sure_k, int32_t *out);

/* ---- per-generation state (hive_generate) ---- */
typedef struct hive_spec hive_spec;

/* greedy: the sampler is deterministic (temperature 0 / top_k 1); argmax:
 * the engine may compute argmax ids on the device (no penalties, no grammar);
 * tok (may be NULL): lookup also completes a word being copied (below). */
hive_spec *hive_spec_new(hive_engine *e, int32_t seq, const hive_spec_opts *o, const hive_sampling *sp, int greedy,
                         int argmax, const hive_tokenizer *tok, hive_error **err);
void hive_spec_free(hive_spec *s);

/* Whether the next step should draft (the meter may have turned it off). */
int hive_spec_wants_draft(const hive_spec *s);
/* Draft up to max_k tokens to follow hist[0..n_hist) (the last entry is the
 * token about to be fed) into out; g (may be NULL) cuts the draft at the
 * first token the grammar refuses and is left as it was. Under a grammar,
 * lookup first drafts the text the grammar forces next, when there is some
 * (hive_grammar_matcher_forced_tokens), up to max_k and --draft-max whatever
 * the meter's current length; then n-grams; then, with a tokenizer, the rest
 * of a word the text so far ends inside of, where an earlier word of the
 * prompt or output starts with those bytes (`Ol` -> `iver` of "Oliver": a
 * name copied into a JSON value is spelled in other tokens than the
 * prompt's ` Oliver`, so no n-gram of tokens finds it); n-grams and word
 * completion each give way to the next when it proposes nothing the grammar
 * allows. Then the corpus (o.corpus, hive_spec_lookup_corpus) carries on
 * after what those drafted, or drafts alone, past max_k (up to --draft-max)
 * only with unanimous votes. Returns how many (0: nothing to propose; a
 * plain step follows) or -1 with *err set. */
int hive_spec_draft(hive_spec *s, const int32_t *hist, size_t n_hist, uint32_t max_k, struct hive_grammar_matcher *g,
                    int32_t *out, hive_error **err);
/* Sampling: the token at row `row` of a verify pass whose draft there is x:
 * logits is the target's row (grammar-masked), hist the tokens before it. */
int32_t hive_spec_verify_row(hive_spec *s, hive_sampler *smp, uint32_t row, const float *logits, const int32_t *hist,
                             size_t n_hist, int32_t x, int *accepted);
/* One finished step: a verify pass (drafted > 0) or a plain one, its time
 * (drafting, forward and verification) and the tokens it produced. */
void hive_spec_record(hive_spec *s, uint32_t drafted, double ms, uint32_t produced);
/* Times speculation turned itself off in this generation. */
uint32_t hive_spec_times_off(const hive_spec *s);

#endif
