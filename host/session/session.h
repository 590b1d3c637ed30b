/* What generate/chat/bench/serve need: plugins, a backend, the model, its
 * tokenizer and an engine, set up from the effective configuration, plus the
 * expert cache. Front ends (host/cli, host/server) share it. Errors are
 * printed to stderr as "hive-host: ..." and an exit code is returned. */
#ifndef HIVE_SESSION_SESSION_H
#define HIVE_SESSION_SESSION_H

#include "config/config.h"
#include "engine/engine.h"
#include "engine/generate.h"
#include "experts/cache.h"
#include "experts/compose.h"
#include "experts/expert.h"
#include "model/model.h"
#include "plugin/registry.h"
#include "tokenizer/tokenizer.h"

typedef struct hive_session {
    hive_registry reg;
    hive_backend_choice sel;
    hive_model_files *model;
    hive_tokenizer *tok;
    hive_engine *eng;
    double load_ms;
    /* experts given with --expert, composed in the order given */
    hive_expert_target target;
    hive_expert_cache *experts;
    hive_expert_set set;
    int have_set;
    int merged;              /* --merge folded the expert into the weights */
    double experts_ms;       /* cold load of all experts */
    /* --draft-model: the drafting model and its engine (same backend and
     * device, one sequence, no experts); NULL for other drafters */
    hive_model_files *draft_model;
    hive_engine *draft_eng;
    /* --draft-corpus: the file's tokens (hive_spec_opts.corpus points here) */
    int32_t *draft_corpus;
    size_t n_draft_corpus;
} hive_session;

typedef struct hive_session_opts {
    uint32_t max_seqs;       /* engine sequence slots */
    int need_tokenizer;      /* 0: token ids only (bench on a random-weight model) */
    /* 1: experts may be attached later (serve): adapter-ready q/k layout and an
     * expert cache even when experts.paths is empty; experts.paths are then
     * not composed into `set` (each request names its own). */
    int per_request_experts;
} hive_session_opts;

/* Prints the error and returns a non-zero exit code (2 usage, 1 runtime) on failure. */
int hive_session_open(hive_config *cfg, const hive_session_opts *o, hive_session *s);
/* The engine options of the configuration (model.*, rope.*, threads, ...);
 * prints the error and returns 2 on a bad value. */
int hive_session_engine_opts(const hive_config *cfg, const hive_session_opts *o, hive_engine_opts *eo);
/* A --weights value (flag names it in the error): *dtype = -1 for "native",
 * else the HIVE_DTYPE_* to requantize to. Prints the error and returns 2
 * when it is not one of native, f32, f16, bf16, q8_0, q4_0, q4_1. */
int hive_session_weights_dtype(const char *flag, const char *name, int32_t *dtype);
void hive_session_close(hive_session *s);
/* Attach the session's experts (or none) to a sequence. */
hive_status hive_session_attach(hive_session *s, int32_t seq, hive_error **err);
/* Apply the manifests' training.decoding of experts.paths to cfg (below CLI values). */
int hive_session_apply_manifests(hive_config *cfg);
/* Sampling and generation parameters from the configuration. The stop strings
 * point into cfg. */
void hive_session_gen_params(const hive_config *cfg, hive_gen_params *p);
/* The sampling settings and max tokens alone (no stop strings): safe to call
 * from parallel request handlers. */
void hive_session_sampling(const hive_config *cfg, hive_sampling *sp, uint32_t *max_tokens);

/* speculative.draft / draft_max / draft_model / draft_weights as options
 * (kind NONE when off); prints the error and returns 2 on a bad value.
 * --draft-model M alone means --draft model, which needs it; --draft-weights
 * needs a draft model. --draft base without experts (or with --merge) is
 * refused too, once the session is open (s != NULL). */
struct hive_spec_opts;
int hive_session_spec_opts(const hive_config *cfg, hive_session *s, struct hive_spec_opts *o);
/* --draft-corpus FILE (speculative.draft_corpus, or an expert manifest's
 * training.decoding.draft_corpus): with s NULL, checks the file (readable,
 * not empty, at most 4 MiB); with an open session, tokenizes it into
 * s->draft_corpus (serve: for every lookup request). Prints the error and
 * returns 2 on a bad file; 0 when none is given. */
int hive_session_load_draft_corpus(const hive_config *cfg, hive_session *s);
/* A draft corpus file, checked and read as hive_draft_corpus_text does
 * (experts/draft_corpus.h), tokenized with tok (none: only checked, *ids
 * NULL). The error says what is wrong, not which file. */
hive_status hive_draft_corpus_read(const hive_tokenizer *tok, const char *path, int32_t **ids, size_t *n,
                                   hive_error **err);
/* generate, chat and bench --draft: check the speculative options before any
 * loading, open the session for one sequence (plus the base drafter's) and
 * the draft model (--draft-model), then resolve the options against it.
 * Returns an exit code; on failure nothing stays open. */
int hive_session_open_speculative(hive_config *cfg, hive_session *s, struct hive_spec_opts *spec);
/* Engine sequence slots a front end needs: one per sequence it runs, plus the
 * base drafter's own (--draft base). */
uint32_t hive_session_seqs_for(const hive_config *cfg, uint32_t seqs);
/* --draft base / model: the drafter's sequence (no adapters) in the target's
 * engine or the draft model's (o->draft_engine); o->draft_seq stays -1 for
 * lookup. Prints the error and returns 1 on failure. */
int hive_session_spec_seq(hive_session *s, struct hive_spec_opts *o);

/* --draft-model (draft_model.c): open speculative.draft_model at
 * speculative.draft_weights into s->draft_model / s->draft_eng, on the
 * session's backend and device with the target's context, after checking
 * that its vocabulary is the target's. Prints the error; returns 2 when the
 * vocabularies differ, 1 when the model does not load. */
int hive_session_open_draft(const hive_config *cfg, hive_session *s);
/* HIVE_OK when the two vocabularies have the same tokens under the same ids;
 * else HIVE_E_INVALID naming the first id that differs (and both counts). */
hive_status hive_vocab_check_same(const hive_vocab_src *target, const hive_vocab_src *draft, hive_error **err);

/* experts.paths as given: "PATH" or "PATH:W" (experts/weight.h), in order
 * (expert_specs.c). */
typedef struct hive_expert_specs {
    size_t n;
    char *paths[HIVE_MAX_ADAPTERS_PER_SET];
    double weights[HIVE_MAX_ADAPTERS_PER_SET]; /* 1 when none was given */
} hive_expert_specs;
/* Parses experts.paths; prints "hive-host: --expert: ..." and returns 2 on a
 * bad weight or too many experts (1 out of memory), 0 on success. */
int hive_session_expert_specs(const hive_config *cfg, hive_expert_specs *out);
/* 1 when some weight is not 1. */
int hive_expert_specs_weighted(const hive_expert_specs *s);
void hive_expert_specs_free(hive_expert_specs *s);

/* Chat helpers shared by generate --chat, chat and serve (chat_encode.c). */
/* chat.thinking: 1 on, 0 off, HIVE_THINKING_DEFAULT */
int hive_thinking_flag(const hive_config *cfg);
/* Render messages with the model's chat template and tokenize them; prints
 * the error and returns 1 on failure. */
int hive_encode_chat(hive_session *s, const hive_chat_msg *msgs, size_t n, const hive_config *cfg, int32_t **ids,
                     size_t *n_ids);
/* The same without printing: for a server, where the error goes to a client. */
hive_status hive_render_chat_ids(const hive_tokenizer *tok, const char *chat_template, const hive_chat_msg *msgs,
                                 size_t n, int thinking, int32_t **ids, size_t *n_ids, hive_error **err);

#endif
