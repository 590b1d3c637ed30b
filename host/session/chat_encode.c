/* Chat messages -> token ids through the model's chat template. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/session.h"
#include "util/error.h"

int hive_thinking_flag(const hive_config *cfg) {
    const char *t = hive_config_str(cfg, "chat.thinking");
    return !strcmp(t, "on") ? 1 : !strcmp(t, "off") ? 0 : HIVE_THINKING_DEFAULT;
}

hive_status hive_render_chat_ids(const hive_tokenizer *tok, const char *chat_template, const hive_chat_msg *msgs,
                                 size_t n, int thinking, int32_t **ids, size_t *n_ids, hive_error **err) {
    char *text = NULL;
    hive_status st = hive_chat_render(msgs, n, 1, thinking, chat_template, &text, err);
    if (st == HIVE_OK) st = hive_tokenizer_encode(tok, text, strlen(text), 1, 0, ids, n_ids, err);
    free(text);
    return st;
}

int hive_encode_chat(hive_session *s, const hive_chat_msg *msgs, size_t n, const hive_config *cfg, int32_t **ids,
                     size_t *n_ids) {
    hive_error *err = NULL;
    if (hive_render_chat_ids(s->tok, s->model->chat_template, msgs, n, hive_thinking_flag(cfg), ids, n_ids, &err) !=
        HIVE_OK) {
        fprintf(stderr, "hive-host: chat template: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    return 0;
}
