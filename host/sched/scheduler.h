/* Continuous batching over one engine. Requests (a token prompt, the expert
 * packages to compose, sampling parameters, n choices) are queued; each step
 * is one forward pass that mixes a decode row of every running choice with a
 * chunk of prefill of new ones, so a long prompt delays running streams by at
 * most one chunk. Rows with different expert sets share the step (the engine
 * runs hooks per segment). A finished or cancelled choice leaves at once.
 *
 * Prefix cache: a finished sequence keeps its KV pages in an engine slot
 * (LRU, evicted when a slot is needed). A new choice whose expert set has the
 * same id (a hash of each member expert's identity, which includes its
 * content) and whose prompt shares a prefix with the cached tokens takes that
 * slot over and only computes the rest: KV never crosses expert sets.
 * Otherwise a new sequence still shares the whole KV pages of the longest
 * prefix any sequence of its expert set holds (running ones too), and the n
 * choices of a request share the prompt's pages of choice 0. Shared pages are
 * full and never written again (engine: hive_engine_seq_share_prefix).
 *
 * Threads: submit/cancel/stats are safe from any thread. step() runs on the
 * thread that owns the engine: either the caller's (bench, tests) or the
 * scheduler's own thread after hive_sched_start (server). Events for a request
 * come from that thread; FINISHED is always the last one, after which the
 * request's user data is never touched again. */
#ifndef HIVE_SCHED_SCHEDULER_H
#define HIVE_SCHED_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/generate.h"
#include "engine/sampler.h"
#include "engine/speculate.h"
#include "grammar/grammar.h"
#include "session/session.h"

#define HIVE_SCHED_MAX_N 8        /* choices per request */
#define HIVE_SCHED_MAX_TOP 20     /* top_logprobs */

typedef struct hive_sched hive_sched;

typedef struct hive_sched_opts {
    uint32_t parallel;       /* choices running at once (engine slots) */
    uint32_t cache_slots;    /* further engine slots that keep finished KV (prefix cache) */
    uint32_t prefill_chunk;  /* prompt rows per step, all new sequences together */
    uint32_t max_queue;      /* waiting requests before submit refuses */
} hive_sched_opts;

typedef struct hive_sched_params {
    hive_sampling sampling;  /* seed: choice i uses seed + i */
    uint32_t max_tokens;
    const char *const *stop; /* copied at submit */
    size_t n_stop;
    uint32_t n;              /* choices, 1..HIVE_SCHED_MAX_N */
    int logprobs;            /* report each token's log-probability */
    uint32_t top_logprobs;   /* and the top alternatives (<= HIVE_SCHED_MAX_TOP) */
    int ignore_eos;          /* benchmarks: run exactly max_tokens */
    /* Structured output: every choice gets its own matcher of `grammar` over
     * `grammar_vocab`; both must stay valid until FINISHED. NULL: none (such
     * rows pay nothing). Disallowed tokens are masked before sampling, so
     * logprobs are those of the constrained distribution; an end token is
     * allowed only where the grammar accepts; a choice ends (stop) once
     * nothing more can follow. A grammar error or a state that allows no
     * token fails the request (FINISHED with the message). */
    const hive_grammar *grammar;
    const hive_grammar_vocab *grammar_vocab;
    /* Speculative decoding (docs/SPECULATIVE.md, "serve"): kind NONE (the
     * zeroed default) or LOOKUP, with ngram and k; each choice drafts and
     * verifies on its own, in the shared forward pass. The other drafters and
     * models whose state cannot roll back (Mamba2) are refused at submit. */
    hive_spec_opts spec;
} hive_sched_params;

typedef enum {
    HIVE_SCHED_STARTED,      /* admitted: experts attached, prompt about to run */
    HIVE_SCHED_TOKEN,        /* one generated token of one choice, with the text it released */
    HIVE_SCHED_CHOICE_DONE,  /* one choice ended (finish) */
    HIVE_SCHED_FINISHED,     /* the request ended; status != OK: it failed (message in error) */
} hive_sched_event_kind;

typedef struct hive_sched_top {
    int32_t token;
    float logprob;
} hive_sched_top;

typedef struct hive_sched_event {
    hive_sched_event_kind kind;
    uint32_t choice;
    /* TOKEN */
    const char *text;
    size_t len;
    int32_t token;
    float logprob;
    const hive_sched_top *top;
    uint32_t n_top;
    /* CHOICE_DONE */
    hive_finish finish;
    /* STARTED and FINISHED */
    uint32_t prompt_tokens, cached_tokens, completion_tokens;
    /* FINISHED: draft tokens verified and accepted over all choices (speculation) */
    uint32_t drafted_tokens, accepted_tokens;
    /* FINISHED */
    hive_status status;
    const char *error;
    int cancelled;
} hive_sched_event;

typedef void (*hive_sched_cb)(void *ud, const hive_sched_event *ev);

typedef struct hive_sched_request {
    const int32_t *prompt;   /* copied */
    size_t n_prompt;
    const char *const *experts; /* package paths, composed in order; copied */
    size_t n_experts;
    hive_sched_params params;
    hive_sched_cb cb;
    void *ud;
    const double *expert_weights; /* one per expert (experts/weight.h), copied; NULL: all 1 */
} hive_sched_request;

typedef enum { HIVE_SCHED_ACCEPTED, HIVE_SCHED_QUEUE_FULL, HIVE_SCHED_CLOSED, HIVE_SCHED_REFUSED } hive_sched_submit_rc;

/* Histogram bucket upper bounds (seconds) for TTFT and end-to-end latency. */
#define HIVE_SCHED_N_BUCKETS 14
extern const double hive_sched_buckets[HIVE_SCHED_N_BUCKETS];

typedef struct hive_sched_expert_count {
    const char *path;        /* as submitted */
    uint64_t requests;
} hive_sched_expert_count;

typedef struct hive_sched_stats {
    uint32_t running, waiting;           /* requests */
    uint64_t requests_total, prompt_tokens_total, generated_tokens_total, cached_tokens_total;
    uint64_t prefix_hits, cancelled_total, failed_total, steps;
    uint64_t shared_prompt_tokens_total; /* prompt tokens choices i > 0 took from choice 0's KV pages */
    /* speculation: verify passes (a choice's rows with drafts), draft tokens in them, accepted ones */
    uint64_t spec_verify_total, spec_drafted_total, spec_accepted_total;
    /* used: held by running sequences; cached: held only by the prefix cache */
    uint32_t kv_pages_total, kv_pages_free, kv_pages_used, kv_pages_cached;
    uint64_t ttft_count[HIVE_SCHED_N_BUCKETS + 1], e2e_count[HIVE_SCHED_N_BUCKETS + 1]; /* last: +Inf */
    double ttft_sum, e2e_sum;
    hive_expert_cache_stats experts;     /* loads - hits... misses = loads */
    hive_sched_expert_count *per_expert; /* malloc'd copy (strings too); hive_sched_stats_free */
    size_t n_per_expert;
} hive_sched_stats;

/* The session's engine must have parallel + cache_slots sequence slots. */
hive_status hive_sched_new(hive_session *s, const hive_sched_opts *o, hive_sched **out, hive_error **err);
/* Stops the thread (if started), fails what is queued, frees every slot. */
void hive_sched_free(hive_sched *s);

/* REFUSED: bad parameters (message in *err). */
hive_sched_submit_rc hive_sched_submit(hive_sched *s, const hive_sched_request *r, uint64_t *id, hive_error **err);
/* Cancels a request (queued or running): within one step its sequences leave
 * and FINISHED (cancelled = 1) follows. Unknown ids are ignored. */
void hive_sched_cancel(hive_sched *s, uint64_t id);

/* One scheduling step on the calling (engine-owning) thread: admit, run one
 * forward pass, deliver events. Returns 0 when there was nothing to do. */
int hive_sched_step(hive_sched *s);
/* Nothing queued or running. */
int hive_sched_idle(hive_sched *s);

/* Own thread: steps while there is work, sleeps otherwise. */
hive_status hive_sched_start(hive_sched *s, hive_error **err);
/* Stop accepting; let running and queued work finish for up to deadline_ms,
 * then cancel the rest; join the thread. */
void hive_sched_shutdown(hive_sched *s, double deadline_ms);
/* Run fn on the engine thread between steps and wait for it (expert load and
 * unload); called directly when no thread was started. */
hive_status hive_sched_call(hive_sched *s, hive_status (*fn)(hive_session *ss, void *ud, hive_error **err), void *ud,
                            hive_error **err);
/* Drops every prefix-cache slot (releasing the experts they pin) and the
 * engine's cached soft-prompt KV. Engine thread. */
void hive_sched_drop_cache(hive_sched *s);

void hive_sched_get_stats(hive_sched *s, hive_sched_stats *out);
void hive_sched_stats_free(hive_sched_stats *st);

#endif
