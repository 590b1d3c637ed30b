/* What the scheduler tests share: the session they run on, SmolLM2
 * ($HIVE_TEST_GGUF, else the fetch script's cache) on the CPU plugins of this
 * build (when the model is absent g_open stays 0 and the tests skip), a
 * scheduler on it, prompt encoding, the grammar vocabulary and one request's
 * events. Include after cmocka.h. */
#ifndef HIVE_TEST_SCHED_SESSION_H
#define HIVE_TEST_SCHED_SESSION_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string.h>

#include "grammar/grammar_config.h"
#include "sched/scheduler.h"
#include "session/session.h"
#include "util/error.h"

static hive_config *g_cfg;
static hive_session g_s;
static int g_open;

/* 0 (opened, or the model is absent), -1 on an error */
static int sched_session_open(uint32_t slots) {
    const char *env = getenv("HIVE_TEST_GGUF");
    static char path[4096];
    snprintf(path, sizeof path, "%s/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf", getenv("HOME") ? getenv("HOME") : "");
    if (env && *env) snprintf(path, sizeof path, "%s", env);
    if (access(path, R_OK) != 0) return 0;
    g_cfg = hive_config_new();
    hive_error *err = NULL;
    const char *kv[][2] = {{"plugin_dirs", HIVE_PLUGIN_BUILD_DIR}, {"default_plugins", "false"}, {"backend.cpu", "true"},
                           {"model.path", path}, {"model.ctx", "512"}, {"model.batch", "128"}, {"log_level", "warn"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (hive_config_set(g_cfg, kv[i][0], kv[i][1], HIVE_SRC_CLI, "test", &err) != HIVE_OK) {
            fprintf(stderr, "%s\n", hive_error_message(err));
            return -1;
        }
    hive_session_opts so = {slots, 1, 1};
    if (hive_session_open(g_cfg, &so, &g_s) != 0) return -1;
    g_open = 1;
    return 0;
}

static hive_grammar_vocab *g_vocab; /* sched_session_open_vocab */

/* sched_session_open, then the grammar vocabulary of its tokenizer */
static inline int sched_session_open_vocab(uint32_t slots) {
    if (sched_session_open(slots)) return -1;
    if (!g_open) return 0; /* no model: the tests skip */
    hive_error *err = NULL;
    if (hive_grammar_vocab_from_tokenizer(g_s.tok, &g_vocab, &err) != HIVE_OK) {
        fprintf(stderr, "%s\n", hive_error_message(err));
        return -1;
    }
    return 0;
}

static void sched_session_close(void) {
    hive_grammar_vocab_free(g_vocab);
    g_vocab = NULL;
    if (g_open) hive_session_close(&g_s);
    hive_config_free(g_cfg);
}

/* Skips the test when the model is absent */
static inline void sched_need_model(void) {
    if (!g_open) {
        print_message("skipped: SmolLM2-135M-Instruct.Q4_1.gguf not found (scripts/fetch-models.sh)\n");
        skip();
    }
}

/* A scheduler on the session (the test skips without the model) */
static inline hive_sched *sched_new(uint32_t parallel, uint32_t cache_slots, uint32_t chunk, uint32_t max_queue) {
    sched_need_model();
    hive_sched_opts o = {parallel, cache_slots, chunk, max_queue};
    hive_sched *s = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_sched_new(&g_s, &o, &s, &err), HIVE_OK);
    return s;
}

/* The model's chat template over messages (or one user message) as token ids */
static inline void sched_encode_chat(const hive_chat_msg *m, size_t n_msgs, int32_t **ids, size_t *n) {
    hive_error *err = NULL;
    assert_int_equal(hive_render_chat_ids(g_s.tok, g_s.model->chat_template, m, n_msgs, HIVE_THINKING_DEFAULT, ids, n, &err),
                     HIVE_OK);
}
static inline void sched_encode(const char *user, int32_t **ids, size_t *n) {
    hive_chat_msg m = {"user", user};
    sched_encode_chat(&m, 1, ids, n);
}

/* One request's events (choice 0's text), for sched_on_event / sched_collect */
typedef struct sched_result {
    char text[4096];
    size_t len;
    int started, finished, cancelled, n_done;
    hive_status status;
    uint32_t cached, prompt, completion, drafted, accepted;
    hive_finish finish;
} sched_result;

static inline void sched_result_append(sched_result *r, const char *text, size_t len) {
    if (r->len + len < sizeof r->text) memcpy(r->text + r->len, text, len), r->len += len;
    r->text[r->len] = 0;
}

static inline void sched_on_event(void *ud, const hive_sched_event *ev) {
    sched_result *r = ud;
    switch (ev->kind) {
    case HIVE_SCHED_STARTED: r->started = 1; r->cached = ev->cached_tokens; break;
    case HIVE_SCHED_TOKEN: sched_result_append(r, ev->text, ev->len); break;
    case HIVE_SCHED_CHOICE_DONE: r->n_done++; r->finish = ev->finish; break;
    case HIVE_SCHED_FINISHED:
        r->finished = 1;
        r->status = ev->status;
        r->cancelled = ev->cancelled;
        r->prompt = ev->prompt_tokens;
        r->completion = ev->completion_tokens;
        r->drafted = ev->drafted_tokens;
        r->accepted = ev->accepted_tokens;
        break;
    }
}

/* hive_generate's text callback into a sched_result */
static inline int sched_collect(void *ud, const char *text, size_t len) {
    sched_result_append(ud, text, len);
    return 0;
}

#endif
