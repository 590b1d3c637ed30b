/* hive-host run as a user runs it, for the command-line tests: one place for
 * the runner, the expectation macro and the real model's path. Include after
 * cmocka.h. */
#ifndef HIVE_TEST_CLI_RUN_H
#define HIVE_TEST_CLI_RUN_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOST HIVE_BINARY_DIR "/bin/hive-host"

static char g_out[1 << 16];

/* Runs `HOST args` (stderr merged), returns the exit code; output in g_out. */
static int run(const char *args) {
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "HIVE_LOG=warn %s %s 2>&1", HOST, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(g_out, 1, sizeof g_out - 1, p);
    g_out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* run() with printf-style arguments */
static __attribute__((unused, format(printf, 1, 2))) int runf(const char *fmt, ...) {
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return run(args);
}

#define EXPECT(rc_want, args, needle)                                                                 \
    do {                                                                                              \
        int rc_ = run(args);                                                                          \
        if (rc_ != (rc_want) || !strstr(g_out, needle))                                               \
            fail_msg("hive-host %s: exit %d (want %d), output lacks '%s':\n%s", args, rc_, rc_want, needle, g_out); \
    } while (0)

/* The same with printf-style arguments after the needle. */
#define EXPECTF(rc_want, needle, ...)                                                                      \
    do {                                                                                                   \
        int rc_ = runf(__VA_ARGS__);                                                                       \
        if (rc_ != (rc_want) || !strstr(g_out, needle))                                                    \
            fail_msg("exit %d (want %d), output lacks '%s':\n%s", rc_, rc_want, needle, g_out);            \
    } while (0)

/* SmolLM2's GGUF ($HIVE_TEST_GGUF, else the fetch script's cache), or NULL */
static __attribute__((unused)) const char *real_model(void) {
    static char path[1024];
    const char *env = getenv("HIVE_TEST_GGUF");
    if (env && access(env, R_OK) == 0) return env;
    snprintf(path, sizeof path, "%s/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf", getenv("HOME") ? getenv("HOME") : "");
    return access(path, R_OK) == 0 ? path : NULL;
}

#endif
