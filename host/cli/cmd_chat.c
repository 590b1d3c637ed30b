/* `hive-host chat`: multi-turn chat on stdin/stdout. The whole conversation
 * is re-rendered each turn; the KV cache keeps the shared prefix, so only the
 * new turn is computed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/expert_auto.h"
#include "engine/speculate.h"
#include "session/session.h"
#include "util/error.h"

static int collect(void *ud, const char *text, size_t len) {
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return hive_cli_text_append(ud, text, len);
}

/* The next non-empty line of stdin, without its newline; -1 at the end. */
static ssize_t read_turn(char **line, size_t *cap, int interactive) {
    for (;;) {
        if (interactive) fprintf(stderr, "> ");
        ssize_t got = getline(line, cap, stdin);
        if (got < 0) return -1;
        while (got > 0 && ((*line)[got - 1] == '\n' || (*line)[got - 1] == '\r')) (*line)[--got] = 0;
        if (got) return got;
    }
}

int hive_cmd_chat(hive_cli *cli) {
    char *line = NULL;
    size_t cap = 0;
    int interactive = isatty(0);
    /* --expert auto routes once, on the first message: changing the set
     * later would drop the conversation's KV cache */
    int pending = 0, rc = 0;
    if (hive_cli_expert_auto(cli->cfg)) {
        if (read_turn(&line, &cap, interactive) < 0) {
            free(line);
            return 0;
        }
        pending = 1;
        if ((rc = hive_cli_route_experts(cli, line))) {
            free(line);
            return rc;
        }
    }
    hive_spec_opts spec;
    hive_session s;
    if ((rc = hive_session_open_speculative(cli->cfg, &s, &spec))) {
        free(line);
        return rc;
    }
    hive_gen_params gp;
    hive_session_gen_params(cli->cfg, &gp);
    gp.spec = &spec; /* the base drafter's sequence keeps its KV across turns, as the target's does */
    hive_error *err = NULL;
    int32_t seq = 0;
    if (hive_engine_seq_new(s.eng, &seq, &err) != HIVE_OK || hive_session_attach(&s, seq, &err) != HIVE_OK ||
        hive_session_spec_seq(&s, &spec)) {
        if (err) fprintf(stderr, "hive-host: %s\n", hive_error_message(err));
        hive_error_free(err);
        hive_session_close(&s);
        free(line);
        return 1;
    }
    hive_chat_msg *msgs = NULL;
    char **owned = NULL;
    size_t n_msgs = 0;
    const char *sys = hive_config_str(cli->cfg, "chat.system");
    for (;;) {
        if (!pending && read_turn(&line, &cap, interactive) < 0) break;
        pending = 0;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        size_t extra = (n_msgs == 0 && *sys) ? 3 : 2;
        hive_chat_msg *nm = realloc(msgs, (n_msgs + extra) * sizeof *nm);
        char **no = realloc(owned, (n_msgs + extra) * sizeof *no);
        if (!nm || !no) {
            free(nm ? nm : msgs);
            free(no ? no : owned);
            rc = 1;
            msgs = NULL;
            owned = NULL;
            break;
        }
        msgs = nm;
        owned = no;
        if (n_msgs == 0 && *sys) {
            owned[n_msgs] = NULL;
            msgs[n_msgs++] = (hive_chat_msg){"system", sys};
        }
        owned[n_msgs] = strdup(line);
        msgs[n_msgs] = (hive_chat_msg){"user", owned[n_msgs]};
        n_msgs++;
        int32_t *ids = NULL;
        size_t n = 0;
        if ((rc = hive_encode_chat(&s, msgs, n_msgs, cli->cfg, &ids, &n))) break;
        hive_cli_text reply = {0};
        hive_gen_stats st;
        if (hive_generate(s.eng, s.tok, seq, ids, n, &gp, collect, &reply, &st, &err) != HIVE_OK) {
            /* refuse this turn, keep the conversation (and its KV cache) */
            fprintf(stderr, "\nhive-host: %s; message dropped\n", hive_error_message(err));
            hive_error_free(err);
            err = NULL;
            free(ids);
            free(reply.buf);
            free(owned[--n_msgs]);
            continue;
        }
        free(ids);
        fputc('\n', stdout);
        fflush(stdout);
        if (cli->verbose) hive_print_stats(&st);
        if (cli->verbose) hive_print_spec_stats(&st, &spec);
        owned[n_msgs] = reply.buf ? reply.buf : strdup("");
        msgs[n_msgs] = (hive_chat_msg){"assistant", owned[n_msgs]};
        n_msgs++;
        if (st.finish == HIVE_FINISH_CONTEXT) {
            fprintf(stderr, "hive-host: the context of %u tokens is full; ending the chat (raise --ctx)\n",
                    hive_engine_ctx(s.eng));
            break;
        }
    }
    for (size_t i = 0; owned && i < n_msgs; i++) free(owned[i]);
    free(owned);
    free(msgs);
    free(line);
    hive_session_close(&s);
    return rc;
}
