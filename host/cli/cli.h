/* Command-line front end: argument parsing into the config, and subcommands. */
#ifndef HIVE_CLI_CLI_H
#define HIVE_CLI_CLI_H

#include <stddef.h>
#include "config/config.h"

/* Flags that belong to one invocation rather than to the configuration. */
typedef struct hive_cli {
    const char *command;      /* "generate", "plugins", ... */
    const char *prompt;
    const char *config_path;
    int chat;                 /* --chat: render the prompt with the chat template */
    int json;
    int verbose;
    int print_config;
    int help;
    int n_prompt;             /* bench -p */
    int n_gen;                /* bench -n */
    int reps;                 /* bench -r */
    int batch;                /* bench -b: parallel sequences */
    int depth;                /* bench -d: context tokens before the decode test */
    int mix;                  /* bench --mix: one expert per sequence */
    int sched;                /* bench --sched: run through the continuous-batching scheduler */
    int requests;             /* bench --expert-dir: requests drawn (--requests, default 1000) */
    double zipf;              /* bench --expert-dir: Zipf exponent s of the draw (--zipf, default 1.0) */
    const char *positional[8];
    size_t n_positional;
    const char *inputs[64];   /* grammar check --input FILE (repeatable) */
    size_t n_inputs;
    const char *output;       /* experts pack -o FILE */
    const char *pack_name, *pack_description; /* experts pack --name, --description */
    const char *decoding[32]; /* experts pack --decoding KEY=VALUE (repeatable) */
    size_t n_decoding;
    hive_config *cfg;
} hive_cli;

/* Parses argv; loads the config file first so flags override it.
 * Returns 0, or 2 on a usage error (message already printed). */
int hive_cli_parse(hive_cli *cli, int argc, char **argv);
void hive_cli_usage(FILE *out, const char *command);

int hive_cmd_plugins(hive_cli *cli);
int hive_cmd_generate(hive_cli *cli);
int hive_cmd_chat(hive_cli *cli);
int hive_cmd_info(hive_cli *cli);
int hive_cmd_bench(hive_cli *cli);
int hive_cmd_bench_sched(hive_cli *cli);
int hive_cmd_bench_experts(hive_cli *cli); /* bench --expert-dir: the expert cache under a Zipf trace (cmd_bench_experts.c) */
int hive_cmd_experts(hive_cli *cli);
int hive_cmd_experts_pack(hive_cli *cli); /* experts pack (cmd_experts_pack.c) */
int hive_cmd_experts_list(hive_cli *cli); /* experts list DIR (cmd_experts_list.c) */
int hive_cmd_grammar(hive_cli *cli);
int hive_cmd_serve(hive_cli *cli);

/* generate/chat --verbose: prompt/decode speed, TTFT, finish reason (cmd_generate.c). */
struct hive_gen_stats;
void hive_print_stats(const struct hive_gen_stats *st);
/* --verbose with --draft: verify passes, acceptance, plain steps (cmd_generate.c). */
struct hive_spec_opts;
void hive_print_spec_stats(const struct hive_gen_stats *st, const struct hive_spec_opts *o);
/* The configured grammar (--grammar-file, --json-schema, --json, a manifest's
 * grammar_type, ...) as a matcher over the model's vocabulary; *m = NULL when
 * there is none. Returns an exit code (cmd_generate.c). */
struct hive_tokenizer;
struct hive_grammar;
struct hive_grammar_vocab;
struct hive_grammar_matcher;
/* 1 when a grammar flag or key (grammar.file, .gbnf, .json_schema, .regex,
 * .builtin) is set: `bench --prompt` then compares decoding with and without it. */
int hive_cli_grammar_flags(const struct hive_config *cfg);
int hive_cli_open_grammar(hive_cli *cli, const struct hive_tokenizer *tok, struct hive_grammar **g,
                          struct hive_grammar_vocab **v, struct hive_grammar_matcher **m);
/* --prompt as token ids: through the chat template with --chat (and
 * chat.system), else as plain text; prints the error and returns an exit
 * code (prompt_text.c). */
struct hive_session;
int hive_cli_encode_prompt(hive_cli *cli, struct hive_session *s, int32_t **ids, size_t *n);
/* Streamed text kept whole (NUL-terminated); append returns nonzero when out of memory. */
typedef struct hive_cli_text {
    char *buf;
    size_t len, cap;
} hive_cli_text;
int hive_cli_text_append(hive_cli_text *b, const char *text, size_t len);
/* bench --draft: the same prompt decoded without and with speculation (cmd_bench_spec.c). */
int hive_cmd_bench_spec(hive_cli *cli);

#endif
