/* Generation on one sequence: feed what the KV cache lacks, then sample,
 * detokenize and stream until EOS/end-of-turn, a stop string, max tokens or a
 * full context. */
#ifndef HIVE_ENGINE_GENERATE_H
#define HIVE_ENGINE_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "tokenizer/tokenizer.h"

typedef struct hive_gen_params {
    hive_sampling sampling;
    uint32_t max_tokens;
    const char *const *stop;  /* stop strings (not emitted) */
    size_t n_stop;
    int ignore_eos;           /* benchmarks: run exactly max_tokens */
    /* structured output (NULL = none): each step samples only tokens the
     * matcher allows; it advances with every token and generation stops when
     * the grammar is complete. Must match the model's vocabulary. */
    struct hive_grammar_matcher *grammar;
    /* speculative decoding (NULL or kind NONE = off; engine/speculate.h): the
     * output is the same as without it (greedy: the same tokens) */
    const struct hive_spec_opts *spec;
} hive_gen_params;

/* Streamed text; return nonzero to stop generation. */
typedef int (*hive_text_cb)(void *ud, const char *text, size_t len);

typedef enum { HIVE_FINISH_STOP, HIVE_FINISH_LENGTH, HIVE_FINISH_CONTEXT, HIVE_FINISH_CALLER } hive_finish;

typedef struct hive_gen_stats {
    uint32_t n_prompt;        /* tokens fed this call (after any reused prefix) */
    uint32_t n_reused;        /* prompt tokens already in the KV cache */
    uint32_t n_gen;
    double prefill_ms, decode_ms, ttft_ms;
    hive_finish finish;
    double grammar_ms;        /* structured output: masks and matcher steps (part of decode_ms) */
    /* speculative decoding: verify passes, draft tokens proposed and accepted,
     * plain steps, and how often speculation turned itself off */
    uint32_t n_verify, n_drafted, n_accepted, n_plain, n_spec_off;
} hive_gen_stats;
const char *hive_finish_name(hive_finish f);

/* `prompt` is the full token sequence the model should see (e.g. the whole
 * conversation); the longest prefix already in the sequence's KV cache is
 * reused, the rest is fed. Generated tokens are appended to *history (malloc'd,
 * may be NULL) so the caller can keep the conversation. */
hive_status hive_generate(hive_engine *e, const hive_tokenizer *tok, int32_t seq, const int32_t *prompt, size_t n_prompt,
                          const hive_gen_params *p, hive_text_cb cb, void *ud, hive_gen_stats *stats,
                          hive_error **err);

#endif
