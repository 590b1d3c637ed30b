/* The session both scheduler tests run on: SmolLM2 ($HIVE_TEST_GGUF, else the
 * fetch script's cache) on the CPU plugins of this build. When the model is
 * absent g_open stays 0 and the tests skip. Include after cmocka.h. */
#ifndef HIVE_TEST_SCHED_SESSION_H
#define HIVE_TEST_SCHED_SESSION_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

static void sched_session_close(void) {
    if (g_open) hive_session_close(&g_s);
    hive_config_free(g_cfg);
}

#endif
