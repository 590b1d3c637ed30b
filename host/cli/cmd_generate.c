/* `hive-host generate`: one prompt in, streamed text out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/expert_auto.h"
#include "engine/speculate.h"
#include "grammar/grammar_config.h"
#include "session/session.h"
#include "util/error.h"

static int write_stdout(void *ud, const char *text, size_t len) {
    (void)ud;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

void hive_print_stats(const struct hive_gen_stats *st) {
    fprintf(stderr,
            "\n[prompt %u tokens (%u reused) in %.1f ms: %.1f tok/s | generated %u tokens in %.1f ms: %.1f tok/s | "
            "TTFT %.1f ms | finish: %s]\n",
            st->n_prompt, st->n_reused, st->prefill_ms, st->prefill_ms > 0 ? st->n_prompt * 1e3 / st->prefill_ms : 0,
            st->n_gen, st->decode_ms, st->decode_ms > 0 ? (st->n_gen > 1 ? st->n_gen - 1 : 0) * 1e3 / st->decode_ms : 0,
            st->ttft_ms, hive_finish_name(st->finish));
}

void hive_print_spec_stats(const struct hive_gen_stats *st, const struct hive_spec_opts *o) {
    if (!o || o->kind == HIVE_DRAFT_NONE) return;
    char name[32];
    hive_spec_describe(o, name, sizeof name);
    fprintf(stderr,
            "[speculation %s, k %u: %u verify passes, %u of %u draft tokens accepted (%.1f%%), %.2f accepted per pass, "
            "%u plain steps, turned off %u times]\n",
            name, o->k, st->n_verify, st->n_accepted, st->n_drafted,
            st->n_drafted ? 100.0 * st->n_accepted / st->n_drafted : 0.0,
            st->n_verify ? (double)st->n_accepted / st->n_verify : 0.0, st->n_plain, st->n_spec_off);
}

/* The configured grammar (--grammar-file, --json-schema, --json, a manifest's
 * grammar_type, ...) as a matcher over the model's vocabulary; *m = NULL when
 * there is none. Returns an exit code. */
int hive_cli_open_grammar(hive_cli *cli, const hive_tokenizer *tok, hive_grammar **g, hive_grammar_vocab **v,
                          hive_grammar_matcher **m) {
    hive_error *err = NULL;
    char what[256];
    if (cli->json) hive_config_set(cli->cfg, "grammar.builtin", "json-object", HIVE_SRC_CLI, "--json", NULL);
    if (hive_grammar_from_config(cli->cfg, g, what, sizeof what, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: grammar: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 2;
    }
    if (!*g) return 0;
    if (hive_grammar_vocab_from_tokenizer(tok, v, &err) != HIVE_OK || !(*m = hive_grammar_matcher_new(*g, *v, &err))) {
        fprintf(stderr, "hive-host: grammar: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    if (cli->verbose) fprintf(stderr, "[grammar: %s]\n", what);
    return 0;
}

int hive_cmd_generate(hive_cli *cli) {
    if (!cli->prompt) {
        fprintf(stderr, "hive-host generate: --prompt TEXT is required\n");
        return 2;
    }
    int rc = hive_cli_route_experts(cli, cli->prompt); /* --expert auto */
    if (rc) return rc;
    hive_spec_opts spec;
    hive_session s;
    if ((rc = hive_session_open_speculative(cli->cfg, &s, &spec))) return rc;
    int32_t *ids = NULL;
    size_t n = 0;
    hive_error *err = NULL;
    rc = hive_cli_encode_prompt(cli, &s, &ids, &n);
    int32_t seq = 0;
    hive_gen_params gp;
    hive_gen_stats st;
    hive_session_gen_params(cli->cfg, &gp);
    gp.spec = &spec;
    hive_grammar *grammar = NULL;
    hive_grammar_vocab *gvocab = NULL;
    if (!rc) rc = hive_cli_open_grammar(cli, s.tok, &grammar, &gvocab, &gp.grammar);
    if (!rc && (hive_engine_seq_new(s.eng, &seq, &err) != HIVE_OK || hive_session_attach(&s, seq, &err) != HIVE_OK)) {
        fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        rc = 1;
    }
    if (!rc) rc = hive_session_spec_seq(&s, &spec);
    if (!rc && hive_generate(s.eng, s.tok, seq, ids, n, &gp, write_stdout, NULL, &st, &err) != HIVE_OK) {
        fprintf(stderr, "\nhive-host: %s\n", hive_error_message(err));
        rc = 1;
    }
    if (!rc) {
        fputc('\n', stdout);
        if (st.finish == HIVE_FINISH_CONTEXT)
            fprintf(stderr, "hive-host: generation stopped: the context of %u tokens is full (raise --ctx)\n",
                    hive_engine_ctx(s.eng));
        if (cli->verbose) hive_print_stats(&st);
        if (cli->verbose) hive_print_spec_stats(&st, &spec);
        if (cli->verbose && gp.grammar)
            fprintf(stderr, "[grammar: %.1f ms of masks and matching over %u tokens, %.1f%% of decode]\n", st.grammar_ms,
                    st.n_gen, st.decode_ms > 0 ? 100.0 * st.grammar_ms / st.decode_ms : 0.0);
    }
    hive_error_free(err);
    free(ids);
    hive_grammar_matcher_free(gp.grammar);
    hive_grammar_vocab_free(gvocab);
    hive_grammar_free(grammar);
    hive_session_close(&s);
    return rc;
}
