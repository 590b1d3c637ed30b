/* What generate, chat and bench --draft share around a generation: the
 * prompt as token ids, and the streamed text kept in a growing buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "session/session.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

int hive_cli_encode_prompt(hive_cli *cli, hive_session *s, int32_t **ids, size_t *n) {
    if (cli->chat) { /* the system prompt (if any) and the user's, through the chat template */
        hive_chat_msg msgs[2];
        size_t m = 0;
        const char *sys = hive_config_str(cli->cfg, "chat.system");
        if (*sys) msgs[m++] = (hive_chat_msg){"system", sys};
        msgs[m++] = (hive_chat_msg){"user", cli->prompt};
        return hive_encode_chat(s, msgs, m, cli->cfg, ids, n);
    }
    hive_error *err = NULL;
    if (hive_tokenizer_encode(s->tok, cli->prompt, strlen(cli->prompt), 1, -1, ids, n, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: tokenizer: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    return 0;
}

int hive_cli_text_append(hive_cli_text *b, const char *text, size_t len) {
    if (b->len + len + 1 > b->cap) {
        size_t cap = (b->len + len + 1) * 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) return 1;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, text, len);
    b->len += len;
    b->buf[b->len] = 0;
    return 0;
}
