/* Scheduler internals shared by scheduler.c (queue, thread), sched_admit.c
 * (slots, prefix cache, admission), sched_step.c (one forward pass) and
 * sched_stats.c. */
#ifndef HIVE_SCHED_IMPL_H
#define HIVE_SCHED_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "sched/scheduler.h"
#include "engine/stop.h"

typedef enum { SLOT_FREE, SLOT_RUNNING, SLOT_CACHED } slot_state;

/* One engine sequence and the expert set it runs with. A CACHED slot is a
 * finished sequence kept for its KV pages (the prefix cache). */
typedef struct sched_slot {
    slot_state state;
    int32_t seq;
    hive_expert_set *xset;   /* NULL: base model; owned (pins its experts) */
    uint64_t set_id;         /* 0 for the base model */
    uint64_t last_used;
} sched_slot;

/* CH_WAIT: choice i > 0 of a request waits for choice 0's prompt, whose
 * whole KV pages it then shares (sched_step.c: share_prompt). */
typedef enum { CH_WAIT, CH_PREFILL, CH_DECODE, CH_DONE } choice_phase;

typedef struct sched_choice {
    struct sched_req *req;
    uint32_t index;
    int slot;                /* -1: none */
    choice_phase phase;
    uint32_t fed;            /* prompt tokens in the KV cache */
    uint32_t pending;        /* prompt rows in the current step */
    uint32_t n_gen;
    int32_t next;            /* token to feed in the next decode row */
    hive_sampler *smp;
    hive_stop *stop;
    hive_grammar_matcher *gm; /* NULL: no grammar */
    hive_detok dt;
    /* speculation (sched_spec.c); spec NULL: plain decoding */
    hive_spec *spec;
    int32_t draft[HIVE_DRAFT_MAX_K]; /* this step's draft, fed after `next` */
    uint32_t n_draft;
    uint32_t pass_base;      /* sequence length before this step's decode rows */
    int pass_over;           /* a row of this step was rejected: skip the choice's later rows */
} sched_choice;

/* pass_row of a prompt row (a decode row's is 0..HIVE_DRAFT_MAX_K) */
#define SCHED_PREFILL_ROW 255

typedef struct sched_req {
    uint64_t id;
    int32_t *prompt;
    size_t n_prompt;
    char **experts;
    double *weights;         /* one per expert */
    size_t n_experts;
    hive_sched_params p;
    char **stop;
    hive_sched_cb cb;
    void *ud;
    atomic_int cancel;
    int failed;
    char fail_msg[384];      /* set: a choice's grammar failed in this step; the request fails after it */
    sched_choice ch[HIVE_SCHED_MAX_N];
    uint32_t n_done;
    uint32_t cached_tokens, completion_tokens;
    uint32_t drafted_tokens, accepted_tokens;
    double t_submit, t_first;
    struct sched_req *next;
} sched_req;

typedef struct sched_call {
    hive_status (*fn)(hive_session *ss, void *ud, hive_error **err);
    void *ud;
    hive_error **err;
    hive_status st;
    int done;
    struct sched_call *next;
} sched_call;

struct hive_sched {
    hive_session *ss;
    hive_sched_opts o;
    uint32_t n_slots;
    sched_slot *slots;
    uint64_t clock;
    uint32_t vocab, max_rows, ctx;

    pthread_mutex_t mu;      /* guards everything below up to the scratch */
    pthread_cond_t cv;       /* work or a call arrived; a call finished */
    sched_req *wait_head, *wait_tail;
    uint32_t n_waiting;
    sched_req *running;      /* admission order; changed by the engine thread under mu */
    uint32_t n_running, n_running_choices;
    uint64_t next_id;
    int closed, stop_thread, has_thread;
    pthread_t thread;
    sched_call *calls;
    hive_sched_stats st;

    /* step scratch (engine thread) */
    int32_t *tok, *seq, *argmax, *order_tok, *order_seq;
    int32_t *slot_seqs;      /* [n_slots] for counting pages */
    uint8_t *want, *order_want;
    uint8_t *pass_row, *order_pass_row; /* a decode row's place in its choice's pass: 0 `next`, j draft j */
    sched_choice **row_ch, **order_ch;
    float *logits;
    /* grammar rows of a step: matchers and their masks, [parallel] each */
    hive_grammar_matcher **gm_rows;
    uint32_t **gm_masks;
    uint32_t *masks;         /* [parallel][mask_words] */
    uint32_t mask_words;
    int grammar_failed;      /* a request's fail_msg was set in this step (grammar, or a draft's rollback) */
    /* speculation scratch: a choice's history plus `next` [ctx + 1], the mask
     * of a draft row under a grammar [mask_words]; draft rows a step may add
     * in all (the logits have room for parallel + spec_rows wanted rows) */
    int32_t *spec_hist;
    uint32_t *spec_mask;
    uint32_t spec_rows;
    double step_ms;          /* the forward time of this step, for the meters */
    uint32_t step_rows, cur_row; /* rows of this step; the one being taken */
};

/* sched_admit.c */
void sched_slot_evict(hive_sched *s, int i);
/* Attach a slot to choice c (prefix cache hit or a fresh sequence); sets
 * c->slot and c->fed. */
hive_status sched_choice_attach(hive_sched *s, sched_choice *c, hive_error **err);
/* Park (keep = 1, the prefix cache) or free the choice's slot. */
void sched_choice_release(hive_sched *s, sched_choice *c, int keep);
/* Admit queued requests while slots allow; emits STARTED or FINISHED. */
void sched_admit(hive_sched *s);
/* Every event goes through here (never under mu). */
void sched_emit(sched_req *r, const hive_sched_event *ev);
/* The request leaves: FINISHED, stats, freed. status != OK: failed. */
void sched_finish(hive_sched *s, sched_req *r, hive_status status, const char *error);
void sched_req_free(sched_req *r);
void sched_choice_end(hive_sched *s, sched_choice *c, hive_finish finish, int flush);
/* Frees a choice's sampler, stop matcher and grammar matcher (idempotent). */
void sched_choice_free_state(sched_choice *c);
/* Ends every choice still running (cancellation); the request is then freed. */
void sched_req_end_all(hive_sched *s, sched_req *r, hive_finish finish);

/* sched_step.c */
int sched_run_step(hive_sched *s);

/* sched_spec.c */
/* Refuses what the scheduler cannot speculate with (message in *err). */
hive_status sched_spec_check(const hive_sched *s, const hive_spec_opts *o, hive_error **err);
/* The choice's speculation state once its slot is attached (none when the
 * request does not speculate). */
hive_status sched_spec_start(hive_sched *s, sched_choice *c, hive_error **err);
/* Draft after c->next into c->draft, at most `room` tokens (rows left in the
 * step), never past max_tokens or the context end. */
void sched_spec_draft(hive_sched *s, sched_choice *c, uint32_t room);
/* Cut the choice's KV back to kv_len (rows past it are drafts not taken);
 * -1: it could not, and the request fails after this step (fail_msg). */
int sched_spec_rollback(hive_sched *s, sched_choice *c, uint32_t kv_len);
/* After a verified row: cut the choice's KV back to kv_len (the rows past it
 * were rejected drafts), count the pass, feed the meter. */
void sched_spec_pass_done(hive_sched *s, sched_choice *c, uint32_t kv_len, uint32_t produced);
/* One accepted draft token of c. */
void sched_spec_count_accepted(hive_sched *s, sched_choice *c);

/* sched_stats.c */
void sched_stats_count_experts(hive_sched *s, const sched_req *r); /* under mu */
void sched_stats_finished(hive_sched *s, const sched_req *r, double now); /* under mu */
void sched_stats_snapshot_engine(hive_sched *s); /* engine thread, takes mu */

#endif
