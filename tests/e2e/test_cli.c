/* hive-host as a user runs it: exit codes, messages, bad input, and the real
 * model (skipped when scripts/fetch-models.sh has not been run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOST HIVE_BINARY_DIR "/bin/hive-host"

static char g_out[1 << 16];

/* Runs `HOST args` (stderr merged), returns the exit code; output in g_out. */
static int run(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "HIVE_LOG=warn %s %s 2>&1", HOST, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(g_out, 1, sizeof g_out - 1, p);
    g_out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define EXPECT(rc_want, args, needle)                                                                 \
    do {                                                                                              \
        int rc_ = run(args);                                                                          \
        if (rc_ != (rc_want) || !strstr(g_out, needle))                                               \
            fail_msg("hive-host %s: exit %d (want %d), output lacks '%s':\n%s", args, rc_, rc_want, needle, g_out); \
    } while (0)

static const char *real_model(void) {
    static char path[1024];
    const char *env = getenv("HIVE_TEST_GGUF");
    if (env && access(env, R_OK) == 0) return env;
    snprintf(path, sizeof path, "%s/.cache/hive/models/SmolLM2-135M-Instruct.Q4_1.gguf", getenv("HOME") ? getenv("HOME") : "");
    return access(path, R_OK) == 0 ? path : NULL;
}

static void test_help_and_usage_errors(void **s) {
    (void)s;
    EXPECT(0, "--help", "commands:");
    EXPECT(0, "--help", "--temperature T");
    EXPECT(2, "", "usage: hive-host");
    EXPECT(2, "frobnicate", "unknown command 'frobnicate'");
    EXPECT(2, "generate --bogus", "unknown option '--bogus'");
    EXPECT(2, "generate --ctx", "--ctx needs a value");
    EXPECT(2, "generate --ctx 12x --prompt hi --model x", "'12x' is not an integer");
    EXPECT(2, "generate --top-p 3 --prompt hi --model x", "outside");
    EXPECT(2, "generate --model x.gguf", "--prompt TEXT is required");
    EXPECT(2, "generate --prompt hi", "no model");
}

static void test_config_file_and_print_config(void **s) {
    (void)s;
    char path[] = "/tmp/hive-e2e-cfg-XXXXXX";
    int fd = mkstemp(path);
    const char *txt = "sampling = { temperature = 0.25; };\nthreads = 1;\n";
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    char args[512];
    snprintf(args, sizeof args, "--config %s --threads 2 --print-config", path);
    EXPECT(0, args, "sampling.temperature           = 0.25  # file");
    assert_non_null(strstr(g_out, "= 2  # cli (--threads)"));
    assert_non_null(strstr(g_out, "model.ctx                      = 4096  # default"));
    /* an unknown key in the file names file:line and key, and stops */
    txt = "threads = 1;\nmodle = { ctx = 1; };\n";
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    snprintf(args, sizeof args, "--config %s plugins", path);
    EXPECT(2, args, ":2: unknown key 'modle.ctx'");
    snprintf(args, sizeof args, "--config /nonexistent/hive.cfg plugins");
    EXPECT(2, args, "cannot read configuration file");
    unlink(path);
}

/* Docs stay true: every configuration key is documented, every shipped config parses. */
static void test_docs_and_shipped_configs(void **s) {
    (void)s;
    EXPECT(0, "--print-config", "model.ctx");
    FILE *f = fopen(HIVE_SOURCE_DIR "/docs/CONFIG.md", "r");
    assert_non_null(f);
    static char doc[1 << 17];
    doc[fread(doc, 1, sizeof doc - 1, f)] = 0;
    fclose(f);
    char *save = NULL, *out = strdup(g_out);
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[128];
        if (sscanf(line, "%127s", key) == 1 && strncmp(key, "plugins.", 8) && !strstr(doc, key))
            fail_msg("configuration key '%s' is missing from docs/CONFIG.md", key);
    }
    free(out);
    static const char *const cfgs[] = {"hive.cfg", "cpu.cfg", "cuda.cfg", "hip.cfg"};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        char args[512];
        snprintf(args, sizeof args, "--config %s/configs/%s --print-config", HIVE_SOURCE_DIR, cfgs[i]);
        EXPECT(0, args, "sampling.temperature");
    }
}

static void test_backend_selection_errors(void **s) {
    (void)s;
    EXPECT(0, "--no-default-plugins --plugin-dir " HIVE_PLUGIN_BUILD_DIR " plugins", "onednn-cpu");
    assert_non_null(strstr(g_out, "status: loaded"));
    EXPECT(1, "--no-default-plugins --plugin-dir " HIVE_PLUGIN_BUILD_DIR " --backend nope plugins",
           "backend 'nope' was requested but no plugin of that name was found");
    EXPECT(1, "--no-default-plugins --plugin-dir " HIVE_PLUGIN_BUILD_DIR " --backend onednn-cpu:7 plugins",
           "no usable device");
    /* asked-for backend missing: generate fails, never falls back */
    EXPECT(1, "--no-default-plugins --plugin-dir /nonexistent --cpu generate --model x --prompt hi",
           "backend 'onednn-cpu' was requested");
}

static void test_bad_model_files(void **s) {
    (void)s;
    char path[] = "/tmp/hive-e2e-bad-XXXXXX.gguf";
    int fd = mkstemps(path, 5);
    assert_int_equal(write(fd, "GGUF\3\0\0\0garbage", 15), 15);
    close(fd);
    char args[512];
    snprintf(args, sizeof args, "--cpu generate --model %s --prompt hi", path);
    int rc = run(args);
    if (rc != 1 || !strstr(g_out, path)) fail_msg("truncated GGUF: exit %d, output:\n%s", rc, g_out);
    snprintf(args, sizeof args, "info --model %s", path);
    rc = run(args);
    if (rc != 1) fail_msg("info on a truncated GGUF: exit %d, output:\n%s", rc, g_out);
    unlink(path);
    EXPECT(1, "info --model /nonexistent/model.gguf", "/nonexistent/model.gguf");
}

static void test_real_model(void **s) {
    (void)s;
    const char *m = real_model();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    char args[2048];
    snprintf(args, sizeof args, "info --json --model %s", m);
    EXPECT(0, args, "\"architecture\":\t\"llama\"");
    assert_non_null(strstr(g_out, "\"layers\":\t30"));
    /* Weights dequantized to f32, as transformers runs this GGUF: the greedy
     * answer names Paris. (With native Q4_1 and int8 activations the first
     * token is a near-tie; llama.cpp then answers "L'Etoile, ..." exactly as
     * Hive does -- test_golden_smollm2 checks that path against llama.cpp.) */
    snprintf(args, sizeof args,
             "--cpu --threads 2 generate --model %s --weights f32 --chat --greedy --max-tokens 24 "
             "--prompt 'What is the capital of France?'", m);
    EXPECT(0, args, "Paris");
    /* a full context ends generation with a message, not a crash */
    snprintf(args, sizeof args, "--cpu generate --model %s --ctx 24 --greedy --max-tokens 100 --prompt 'Once upon a time'", m);
    EXPECT(0, args, "context of 24 tokens is full");
    /* a prompt longer than the context is refused up front */
    snprintf(args, sizeof args, "--cpu generate --model %s --ctx 16 --prompt 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen'", m);
    EXPECT(1, args, "does not fit the context of 16 tokens");
    /* stop strings are not emitted */
    snprintf(args, sizeof args, "--cpu generate --model %s --weights f32 --greedy --max-tokens 30 --stop Paris --chat --prompt 'What is the capital of France?'", m);
    if (run(args) != 0 || strstr(g_out, "Paris")) fail_msg("stop string leaked or failed:\n%s", g_out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage_errors),
        cmocka_unit_test(test_config_file_and_print_config),
        cmocka_unit_test(test_docs_and_shipped_configs),
        cmocka_unit_test(test_backend_selection_errors),
        cmocka_unit_test(test_bad_model_files),
        cmocka_unit_test(test_real_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
