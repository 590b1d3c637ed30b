/* `hive-host bench --draft D --prompt TEXT`: the same prompt decoded without
 * and with speculative decoding, in one command, with the effective sampling
 * settings (an expert's manifest, then flags; --greedy for identical output).
 * Reports decode speed of each, the speedup, the acceptance rate and the mean
 * accepted length. Best of -r runs each; -n caps the tokens generated.
 *
 * Without --draft but with a grammar flag (--json-schema, --grammar-file,
 * --grammar, --regex, --grammar-builtin): the prompt decoded without and with
 * that grammar, runs alternated, and what the grammar's own work cost. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/speculate.h"
#include "grammar/grammar.h"
#include "session/session.h"
#include "util/error.h"

static int collect(void *ud, const char *text, size_t len) { return hive_cli_text_append(ud, text, len); }

static double decode_tok_s(const hive_gen_stats *st) {
    return st->decode_ms > 0 && st->n_gen > 1 ? (st->n_gen - 1) * 1e3 / st->decode_ms : 0.0;
}

typedef struct run_result {
    hive_gen_stats best;   /* the fastest run's stats */
    hive_cli_text text;         /* the last run's output */
} run_result;

/* One generation from an empty KV cache (the drafter's too). */
static int run_once(hive_session *s, int32_t seq, const hive_spec_opts *spec, const int32_t *ids, size_t n,
                    hive_gen_params *gp, run_result *out, int first) {
    hive_error *err = NULL;
    hive_engine_seq_truncate(s->eng, seq, 0, NULL);
    if (spec->draft_seq >= 0) hive_engine_seq_truncate(hive_spec_drafter_engine(spec, s->eng), spec->draft_seq, 0, NULL);
    if (gp->grammar) hive_grammar_matcher_reset(gp->grammar);
    out->text.len = 0;
    hive_gen_stats st;
    gp->spec = spec->kind == HIVE_DRAFT_NONE ? NULL : spec;
    if (hive_generate(s->eng, s->tok, seq, ids, n, gp, collect, &out->text, &st, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host bench: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    if (first || decode_tok_s(&st) > decode_tok_s(&out->best)) out->best = st;
    return 0;
}

/* The --json object's first fields: what ran, and where. */
static cJSON *json_head(const hive_cli *cli, const hive_session *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", hive_config_str(cli->cfg, "model.path"));
    cJSON_AddStringToObject(o, "backend", s->sel.plugin->name);
    cJSON_AddNumberToObject(o, "threads", (double)hive_config_int(cli->cfg, "threads"));
    return o;
}

static void print_and_free(cJSON *o) {
    char *txt = cJSON_PrintUnformatted(o);
    printf("%s\n", txt ? txt : "{}");
    free(txt);
    cJSON_Delete(o);
}

static void print_json(hive_cli *cli, hive_session *s, const char *draft, const hive_spec_opts *spec,
                       const hive_gen_params *gp, const run_result *plain, const run_result *sp, int same) {
    const hive_gen_stats *a = &plain->best, *b = &sp->best;
    cJSON *o = json_head(cli, s);
    cJSON_AddStringToObject(o, "draft", draft);
    cJSON_AddNumberToObject(o, "draft_max", spec->k);
    cJSON_AddNumberToObject(o, "experts", (double)hive_config_list_len(cli->cfg, "experts.paths"));
    cJSON_AddBoolToObject(o, "greedy", gp->sampling.temperature == 0.0f || gp->sampling.top_k == 1);
    cJSON_AddBoolToObject(o, "grammar", gp->grammar != NULL);
    cJSON_AddNumberToObject(o, "n_prompt", a->n_prompt);
    cJSON_AddNumberToObject(o, "n_gen_plain", a->n_gen);
    cJSON_AddNumberToObject(o, "n_gen_spec", b->n_gen);
    cJSON_AddNumberToObject(o, "decode_tok_s_plain", decode_tok_s(a));
    cJSON_AddNumberToObject(o, "decode_tok_s_spec", decode_tok_s(b));
    cJSON_AddNumberToObject(o, "speedup", decode_tok_s(a) > 0 ? decode_tok_s(b) / decode_tok_s(a) : 0.0);
    cJSON_AddNumberToObject(o, "acceptance", b->n_drafted ? (double)b->n_accepted / b->n_drafted : 0.0);
    cJSON_AddNumberToObject(o, "mean_accepted", b->n_verify ? (double)b->n_accepted / b->n_verify : 0.0);
    cJSON_AddNumberToObject(o, "verify_passes", b->n_verify);
    cJSON_AddNumberToObject(o, "plain_steps", b->n_plain);
    cJSON_AddNumberToObject(o, "times_off", b->n_spec_off);
    cJSON_AddBoolToObject(o, "identical_output", same);
    print_and_free(o);
}

/* Does the command line or the config ask for a grammar? */
int hive_cli_grammar_flags(const hive_config *cfg) {
    static const char *const keys[] = {"grammar.file", "grammar.gbnf", "grammar.json_schema", "grammar.regex",
                                       "grammar.builtin"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (*hive_config_str(cfg, keys[i])) return 1;
    return 0;
}

static void print_grammar_ab(hive_session *s, const hive_gen_params *gp, const run_result *plain,
                             const run_result *g) {
    const hive_gen_stats *a = &plain->best, *b = &g->best;
    printf("backend %s, %s, prompt %u tokens, %s\n", s->sel.plugin->name, s->sel.plugin->devices[s->sel.device].name,
           a->n_prompt, gp->sampling.temperature == 0.0f || gp->sampling.top_k == 1 ? "greedy" : "sampling");
    printf("plain        %10.1f tok/s decode (%u tokens, %s)\n", decode_tok_s(a), a->n_gen, hive_finish_name(a->finish));
    printf("grammar      %10.1f tok/s decode (%u tokens, %s)\n", decode_tok_s(b), b->n_gen, hive_finish_name(b->finish));
    printf("ratio        %10.3f (grammar / plain)\n", decode_tok_s(a) > 0 ? decode_tok_s(b) / decode_tok_s(a) : 0.0);
    printf("grammar work %10.1f ms of masks and matching, %.1f%% of its decode\n", b->grammar_ms,
           b->decode_ms > 0 ? 100.0 * b->grammar_ms / b->decode_ms : 0.0);
}

int hive_cmd_bench_spec(hive_cli *cli) {
    hive_spec_opts spec;
    int rc = hive_session_spec_opts(cli->cfg, NULL, &spec); /* the drafter's flags first */
    if (rc) return rc;
    const int grammar_ab = spec.kind == HIVE_DRAFT_NONE; /* no drafter: the grammar against none */
    const char *mode = grammar_ab ? "hive-host bench with a grammar" : "hive-host bench --draft";
    if (!cli->prompt) {
        fprintf(stderr, "%s: --prompt TEXT is required (%s is measured on a real prompt; --chat renders it with the "
                        "chat template)\n", mode, grammar_ab ? "a grammar" : "speculation");
        return 2;
    }
    if (cli->sched || cli->batch != 1 || cli->depth) {
        fprintf(stderr, "%s: runs one sequence; --sched, -b and -d do not apply\n", mode);
        return 2;
    }
    if (cli->n_gen < 1 || cli->reps < 1) {
        fprintf(stderr, "hive-host bench: -n and -r must be at least 1\n");
        return 2;
    }
    hive_session s;
    if ((rc = hive_session_open_speculative(cli->cfg, &s, &spec))) return rc;
    int32_t *ids = NULL, seq = -1;
    size_t n = 0;
    hive_error *err = NULL;
    rc = hive_cli_encode_prompt(cli, &s, &ids, &n);
    hive_gen_params gp;
    hive_session_gen_params(cli->cfg, &gp);
    gp.max_tokens = (uint32_t)cli->n_gen;
    hive_grammar *grammar = NULL;
    hive_grammar_vocab *gvocab = NULL;
    int json = cli->json;
    cli->json = 0; /* bench --json is the output format, not a JSON grammar */
    if (!rc) rc = hive_cli_open_grammar(cli, s.tok, &grammar, &gvocab, &gp.grammar);
    cli->json = json;
    if (!rc && (hive_engine_seq_new(s.eng, &seq, &err) != HIVE_OK || hive_session_attach(&s, seq, &err) != HIVE_OK)) {
        fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        rc = 1;
    }
    if (!rc) rc = hive_session_spec_seq(&s, &spec);
    run_result plain = {0}, sp = {0};
    hive_spec_opts off = spec;
    off.kind = HIVE_DRAFT_NONE;
    hive_gen_params gp_plain = gp; /* grammar A/B: the plain runs without it */
    if (grammar_ab) gp_plain.grammar = NULL;
    if (!rc && grammar_ab && !gp.grammar) {
        fprintf(stderr, "%s: the grammar flags gave no grammar\n", mode);
        rc = 2;
    }
    for (int r = 0; !rc && r < cli->reps; r++) {
        rc = run_once(&s, seq, &off, ids, n, &gp_plain, &plain, r == 0);
        if (!rc) rc = run_once(&s, seq, &spec, ids, n, &gp, &sp, r == 0);
    }
    if (!rc && grammar_ab) {
        if (cli->json) {
            const hive_gen_stats *a = &plain.best, *b = &sp.best;
            cJSON *o = json_head(cli, &s);
            cJSON_AddNumberToObject(o, "n_prompt", a->n_prompt);
            cJSON_AddNumberToObject(o, "n_gen_plain", a->n_gen);
            cJSON_AddNumberToObject(o, "n_gen_grammar", b->n_gen);
            cJSON_AddNumberToObject(o, "decode_tok_s_plain", decode_tok_s(a));
            cJSON_AddNumberToObject(o, "decode_tok_s_grammar", decode_tok_s(b));
            cJSON_AddNumberToObject(o, "ratio", decode_tok_s(a) > 0 ? decode_tok_s(b) / decode_tok_s(a) : 0.0);
            cJSON_AddNumberToObject(o, "grammar_ms", b->grammar_ms);
            print_and_free(o);
        } else {
            print_grammar_ab(&s, &gp, &plain, &sp);
        }
    } else if (!rc) {
        char draft[32];
        hive_spec_describe(&spec, draft, sizeof draft);
        int same = plain.text.len == sp.text.len && (!plain.text.len || !memcmp(plain.text.buf, sp.text.buf, plain.text.len));
        const hive_gen_stats *a = &plain.best, *b = &sp.best;
        if (cli->json) {
            print_json(cli, &s, draft, &spec, &gp, &plain, &sp, same);
        } else {
            printf("backend %s, %s, prompt %u tokens, %s%s\n", s.sel.plugin->name,
                   s.sel.plugin->devices[s.sel.device].name, a->n_prompt,
                   gp.sampling.temperature == 0.0f || gp.sampling.top_k == 1 ? "greedy" : "sampling",
                   gp.grammar ? ", grammar" : "");
            printf("plain        %10.1f tok/s decode (%u tokens, %s)\n", decode_tok_s(a), a->n_gen,
                   hive_finish_name(a->finish));
            printf("draft %-7s%10.1f tok/s decode (%u tokens, %s), k %u\n", draft, decode_tok_s(b), b->n_gen,
                   hive_finish_name(b->finish), spec.k);
            printf("speedup      %10.2fx\n", decode_tok_s(a) > 0 ? decode_tok_s(b) / decode_tok_s(a) : 0.0);
            printf("acceptance   %10.1f%% (%u of %u draft tokens), %.2f accepted per verify pass\n",
                   b->n_drafted ? 100.0 * b->n_accepted / b->n_drafted : 0.0, b->n_accepted, b->n_drafted,
                   b->n_verify ? (double)b->n_accepted / b->n_verify : 0.0);
            printf("passes       %10u verify, %u plain; speculation turned off %u times\n", b->n_verify, b->n_plain,
                   b->n_spec_off);
            int greedy = gp.sampling.temperature == 0.0f || gp.sampling.top_k == 1;
            printf("output       %s\n", same     ? "identical"
                                       : greedy ? "DIFFERS: greedy output must be identical (a bug; please report)"
                                                : "differs (sampling: the draws differ between runs)");
        }
    }
    free(plain.text.buf);
    free(sp.text.buf);
    hive_error_free(err);
    free(ids);
    hive_grammar_matcher_free(gp.grammar);
    hive_grammar_vocab_free(gvocab);
    hive_grammar_free(grammar);
    hive_session_close(&s);
    return rc;
}
