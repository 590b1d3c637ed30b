/* Token sampler: turns one step's logits into a token id.
 *
 * Pipeline (llama.cpp's classic order, HF-compatible formulas):
 *   1. penalties over the last penalty_last_n history tokens
 *      (repetition: positive logits divided, negative multiplied;
 *       presence/frequency as OpenAI: logit -= presence*[count>0] + frequency*count)
 *   2. temperature == 0  -> greedy argmax (ties -> lowest id), done
 *   3. top-k, 4. top-p (nucleus), 5. min-p  (probabilities at temperature 1)
 *   6. temperature on the survivors, softmax, draw with a seeded xoshiro256**.
 * The same seed, logits and history always give the same token sequence. */
#ifndef HIVE_ENGINE_SAMPLER_H
#define HIVE_ENGINE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include "hive_abi.h"

/* seed value meaning "seed from the clock", so 0 stays a normal, reproducible seed. */
#define HIVE_SEED_RANDOM UINT64_MAX

typedef struct hive_sampling {
    float temperature;        /* >= 0; 0 = greedy */
    int32_t top_k;            /* >= 0; 0 = off */
    float top_p;              /* (0, 1]; 1 = off */
    float min_p;              /* [0, 1]; 0 = off */
    float repetition_penalty; /* > 0; 1 = off */
    float presence_penalty;   /* [-2, 2]; 0 = off */
    float frequency_penalty;  /* [-2, 2]; 0 = off */
    int32_t penalty_last_n;   /* >= -1; 0 = off, -1 = the whole history */
    uint64_t seed;            /* HIVE_SEED_RANDOM = from the clock */
} hive_sampling;

typedef struct hive_sampler hive_sampler;

/* temperature 0.7, top_k 40, top_p 0.95, min_p 0.05, repetition 1, presence 0,
 * frequency 0, last_n 64, seed HIVE_SEED_RANDOM. */
void hive_sampling_defaults(hive_sampling *s);

/* HIVE_OK or HIVE_E_INVALID with a message naming the parameter and its range. */
hive_status hive_sampling_validate(const hive_sampling *s, hive_error **err);

/* Validates s and allocates O(n_vocab) scratch so sampling never allocates. */
hive_sampler *hive_sampler_new(const hive_sampling *s, uint32_t n_vocab, hive_error **err);
void hive_sampler_free(hive_sampler *smp);

/* Restarts the random stream (HIVE_SEED_RANDOM = from the clock). */
void hive_sampler_reseed(hive_sampler *smp, uint64_t seed);

/* logits: n_vocab values, not modified (NaN counts as -inf). history: the tokens
 * so far (prompt + generated), oldest first; ids outside the vocab are ignored.
 * Returns a token id in [0, n_vocab). */
/* 1 when sampling is a plain argmax of the logits (greedy, no penalties):
 * the engine can then compute it on the device (hive_fwd_batch.argmax). */
int hive_sampler_is_argmax(const hive_sampler *smp);
int32_t hive_sampler_sample(hive_sampler *smp, const float *logits, const int32_t *history, size_t n_history);

/* One token of a sparse distribution. */
typedef struct hive_token_prob {
    int32_t id;
    double p;
} hive_token_prob;

/* The final distribution hive_sampler_sample draws from, after the whole
 * pipeline (penalties over history, top-k, top-p, min-p, temperature): the
 * tokens with p > 0 (summing to 1) written to out (room for n_vocab entries),
 * in no particular order; returns how many. Greedy (temperature 0 or top_k 1)
 * gives one token with p = 1. Speculative decoding verifies drafts against it
 * (engine/speculate.c). Does not touch the random stream. */
size_t hive_sampler_distribution(hive_sampler *smp, const float *logits, const int32_t *history, size_t n_history,
                                 hive_token_prob *out);
/* One seeded draw from w[0..n): weights >= 0 that need not sum to 1; -1 when n == 0. */
int32_t hive_sampler_draw_from(hive_sampler *smp, const hive_token_prob *w, size_t n);
/* A uniform number in [0, 1) from the sampler's random stream. */
double hive_sampler_uniform(hive_sampler *smp);

/* Structured output: logits of tokens whose bit is clear in `allowed`
 * ((n_vocab + 31) / 32 words) become -inf, before any other step. */
void hive_sampler_apply_mask(float *logits, const uint32_t *allowed, uint32_t n_vocab);

/* Step 1 alone, in place on a caller's copy of the logits (n_vocab values). */
void hive_sampler_penalize(hive_sampler *smp, float *logits, const int32_t *history, size_t n_history);

#endif
