/* What generate/chat/bench need: plugins, a backend, the model, its tokenizer
 * and an engine, set up from the effective configuration. */
#ifndef HIVE_CLI_SESSION_H
#define HIVE_CLI_SESSION_H

#include "cli/cli.h"
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
} hive_session;

/* Prints the error and returns a non-zero exit code on failure. */
int hive_session_open(hive_cli *cli, hive_session *s, uint32_t max_seqs);
void hive_session_close(hive_session *s);
/* Attach the session's experts (or none) to a sequence. */
hive_status hive_session_attach(hive_session *s, int32_t seq, hive_error **err);
/* Apply the manifests' training.decoding to cfg (below CLI values). */
int hive_session_apply_manifests(hive_config *cfg);
/* Sampling and generation parameters from the configuration. */
void hive_session_gen_params(const hive_config *cfg, hive_gen_params *p);

/* Chat helpers shared by generate --chat and chat (cmd_generate.c). */
int hive_thinking_flag(const hive_config *cfg);
int hive_encode_chat(hive_session *s, const hive_chat_msg *msgs, size_t n, const hive_config *cfg, int32_t **ids,
                     size_t *n_ids);
void hive_print_stats(const hive_gen_stats *st);

#endif
