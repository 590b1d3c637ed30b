/* `hive-host generate`: one prompt in, streamed text out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/session.h"
#include "util/error.h"

static int write_stdout(void *ud, const char *text, size_t len) {
    (void)ud;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int hive_thinking_flag(const hive_config *cfg) {
    const char *t = hive_config_str(cfg, "chat.thinking");
    return !strcmp(t, "on") ? 1 : !strcmp(t, "off") ? 0 : HIVE_THINKING_DEFAULT;
}

/* Render messages with the model's chat template and tokenize them. */
int hive_encode_chat(hive_session *s, const hive_chat_msg *msgs, size_t n, const hive_config *cfg, int32_t **ids,
                     size_t *n_ids) {
    hive_error *err = NULL;
    char *text = NULL;
    if (hive_chat_render(msgs, n, 1, hive_thinking_flag(cfg), s->model->chat_template, &text, &err) != HIVE_OK ||
        hive_tokenizer_encode(s->tok, text, strlen(text), 1, 0, ids, n_ids, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: chat template: %s\n", hive_error_message(err));
        hive_error_free(err);
        free(text);
        return 1;
    }
    free(text);
    return 0;
}

void hive_print_stats(const hive_gen_stats *st) {
    fprintf(stderr,
            "\n[prompt %u tokens (%u reused) in %.1f ms: %.1f tok/s | generated %u tokens in %.1f ms: %.1f tok/s | "
            "TTFT %.1f ms | finish: %s]\n",
            st->n_prompt, st->n_reused, st->prefill_ms, st->prefill_ms > 0 ? st->n_prompt * 1e3 / st->prefill_ms : 0,
            st->n_gen, st->decode_ms, st->decode_ms > 0 ? (st->n_gen > 1 ? st->n_gen - 1 : 0) * 1e3 / st->decode_ms : 0,
            st->ttft_ms, hive_finish_name(st->finish));
}

int hive_cmd_generate(hive_cli *cli) {
    if (!cli->prompt) {
        fprintf(stderr, "hive-host generate: --prompt TEXT is required\n");
        return 2;
    }
    hive_session s;
    int rc = hive_session_open(cli, &s, 1);
    if (rc) {
        hive_session_close(&s);
        return rc;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    hive_error *err = NULL;
    if (cli->chat) {
        hive_chat_msg msgs[2];
        size_t m = 0;
        const char *sys = hive_config_str(cli->cfg, "chat.system");
        if (*sys) msgs[m++] = (hive_chat_msg){"system", sys};
        msgs[m++] = (hive_chat_msg){"user", cli->prompt};
        rc = hive_encode_chat(&s, msgs, m, cli->cfg, &ids, &n);
    } else if (hive_tokenizer_encode(s.tok, cli->prompt, strlen(cli->prompt), 1, -1, &ids, &n, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: tokenizer: %s\n", hive_error_message(err));
        rc = 1;
    }
    int32_t seq = 0;
    hive_gen_params gp;
    hive_gen_stats st;
    hive_session_gen_params(cli->cfg, &gp);
    if (!rc && (hive_engine_seq_new(s.eng, &seq, &err) != HIVE_OK || hive_session_attach(&s, seq, &err) != HIVE_OK ||
                hive_generate(s.eng, s.tok, seq, ids, n, &gp, write_stdout, NULL, &st, &err) != HIVE_OK)) {
        fprintf(stderr, "\nhive-host: %s\n", hive_error_message(err));
        rc = 1;
    }
    if (!rc) {
        fputc('\n', stdout);
        if (st.finish == HIVE_FINISH_CONTEXT)
            fprintf(stderr, "hive-host: generation stopped: the context of %u tokens is full (raise --ctx)\n",
                    hive_engine_ctx(s.eng));
        if (cli->verbose) hive_print_stats(&st);
    }
    hive_error_free(err);
    free(ids);
    hive_session_close(&s);
    return rc;
}
