/* Configuration: layering, file errors naming file:line and key, print-config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "util/error.h"

static char *write_tmp(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/hive-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state) {
    (void)state;
    hive_config *c = hive_config_new();
    assert_non_null(c);
    assert_int_equal(hive_config_int(c, "model.ctx"), 4096);
    assert_float_equal(hive_config_float(c, "sampling.temperature"), 0.7, 1e-9);
    assert_int_equal(hive_config_source(c, "model.ctx"), HIVE_SRC_DEFAULT);
    assert_true(hive_config_bool(c, "default_plugins"));
    hive_config_free(c);
}

static void test_file_then_cli_then_manifest(void **state) {
    (void)state;
    hive_config *c = hive_config_new();
    char *p = write_tmp("model = { ctx = 2048; };\nsampling = { temperature = 0.3; top_k = 7; };\n"
                        "plugin_dirs = [\"/a\", \"/b\"];\n");
    hive_error *err = NULL;
    assert_int_equal(hive_config_load_file(c, p, &err), HIVE_OK);
    assert_int_equal(hive_config_int(c, "model.ctx"), 2048);
    assert_int_equal(hive_config_source(c, "model.ctx"), HIVE_SRC_FILE);
    char origin[128];
    snprintf(origin, sizeof origin, "%s:1", p);
    assert_string_equal(hive_config_origin(c, "model.ctx"), origin);
    assert_int_equal(hive_config_list_len(c, "plugin_dirs"), 2);
    assert_string_equal(hive_config_list_item(c, "plugin_dirs", 1), "/b");

    /* manifest beats the file and the default, not the CLI */
    assert_int_equal(hive_config_set(c, "sampling.temperature", "0.9", HIVE_SRC_CLI, "--temperature", &err), HIVE_OK);
    assert_int_equal(hive_config_set_if_lower(c, "sampling.temperature", "0.1", HIVE_SRC_MANIFEST, "m", &err), HIVE_OK);
    assert_int_equal(hive_config_set_if_lower(c, "sampling.top_k", "50", HIVE_SRC_MANIFEST, "m", &err), HIVE_OK);
    assert_int_equal(hive_config_set_if_lower(c, "sampling.min_p", "0.2", HIVE_SRC_MANIFEST, "m", &err), HIVE_OK);
    assert_float_equal(hive_config_float(c, "sampling.temperature"), 0.9, 1e-9);
    assert_int_equal(hive_config_int(c, "sampling.top_k"), 50);
    assert_float_equal(hive_config_float(c, "sampling.min_p"), 0.2, 1e-9);
    assert_int_equal(hive_config_source(c, "sampling.top_k"), HIVE_SRC_MANIFEST);

    /* repeated CLI list flags append */
    assert_int_equal(hive_config_set(c, "plugin_dirs", "/x", HIVE_SRC_CLI, "--plugin-dir", &err), HIVE_OK);
    assert_int_equal(hive_config_set(c, "plugin_dirs", "/y", HIVE_SRC_CLI, "--plugin-dir", &err), HIVE_OK);
    assert_int_equal(hive_config_list_len(c, "plugin_dirs"), 2);
    assert_string_equal(hive_config_list_item(c, "plugin_dirs", 0), "/x");
    unlink(p);
    hive_config_free(c);
}

static void expect_file_error(const char *text, const char *needle1, const char *needle2) {
    hive_config *c = hive_config_new();
    char *p = write_tmp(text);
    hive_error *err = NULL;
    assert_int_not_equal(hive_config_load_file(c, p, &err), HIVE_OK);
    const char *m = hive_error_message(err);
    if (!strstr(m, needle1) || !strstr(m, needle2)) fail_msg("message '%s' lacks '%s' / '%s'", m, needle1, needle2);
    assert_non_null(strstr(m, p)); /* names the file */
    hive_error_free(err);
    unlink(p);
    hive_config_free(c);
}

static void test_file_errors(void **state) {
    (void)state;
    expect_file_error("model = {\n  ctxx = 5;\n};\n", ":2: unknown key 'model.ctxx'", "print-config");
    expect_file_error("threads = \"four\";\n", ":1:", "'threads' must be an integer (found string)");
    expect_file_error("\n\nsampling = { top_p = 7.0; };\n", ":3:", "outside");
    expect_file_error("model = { ctx = ; };\n", ":1:", "syntax error");
    expect_file_error("plugin_dirs = [1, 2];\n", ":1:", "array of strings");
}

static void test_cli_value_errors(void **state) {
    (void)state;
    hive_config *c = hive_config_new();
    hive_error *err = NULL;
    assert_int_equal(hive_config_set(c, "model.ctx", "12x", HIVE_SRC_CLI, "--ctx", &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "model.ctx: '12x' is not an integer"));
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_config_set(c, "nope", "1", HIVE_SRC_CLI, "--nope", &err), HIVE_E_NOTFOUND);
    hive_error_free(err);
    assert_int_equal(hive_config_int(c, "model.ctx"), 4096); /* unchanged */
    hive_config_free(c);
}

static void test_plugin_values_and_print(void **state) {
    (void)state;
    hive_config *c = hive_config_new();
    char *p = write_tmp("plugins = { onednn-cpu = { isa = \"avx2\"; tile = 64; }; };\n");
    hive_error *err = NULL;
    assert_int_equal(hive_config_load_file(c, p, &err), HIVE_OK);
    assert_string_equal(hive_config_plugin_value(c, "onednn-cpu", "isa"), "avx2");
    assert_string_equal(hive_config_plugin_value(c, "onednn-cpu", "tile"), "64");
    assert_null(hive_config_plugin_value(c, "cuda", "isa"));
    hive_config_set(c, "threads", "3", HIVE_SRC_CLI, "--threads", &err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    hive_config_print(c, f);
    fclose(f);
    assert_non_null(strstr(buf, "threads"));
    assert_non_null(strstr(buf, "= 3  # cli (--threads)"));
    assert_non_null(strstr(buf, "model.ctx                      = 4096  # default (built-in)"));
    assert_non_null(strstr(buf, "plugins.onednn-cpu.isa"));
    free(buf);
    unlink(p);
    hive_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_then_cli_then_manifest),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_cli_value_errors),
        cmocka_unit_test(test_plugin_values_and_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
