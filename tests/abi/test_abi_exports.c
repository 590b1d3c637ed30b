/*
 * test_abi_exports.c — a plugin's dynamic symbol table defines exactly
 * hive_plugin_query and hive_plugin_init (checked with `nm -D --defined-only`),
 * for the real plugins in lib/hive/plugins and the well-formed fixtures.
 * Anything else exported could clash with the host or another plugin.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch_dir.h"

/* Fixture cases that lack an entry point on purpose. */
static const char *const malformed_cases[] = {"missing_init", "missing_query", NULL};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Runs nm on one .so and fails unless exactly the two entry points are defined. */
static void expect_only_entry_points(const char *so)
{
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "nm -D --defined-only '%s' 2>&1", so) > 0);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int has_query = 0, has_init = 0;
    char line[1024], extra[4096] = "";
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[512];
        if (sscanf(line, "%63s %7s %511s", addr, type, name) != 3)
            fail_msg("unexpected nm output for %s: %s", so, line);
        name[strcspn(name, "@")] = '\0'; /* drop a symbol version suffix */
        if (strcmp(type, "A") == 0)       /* version node names, not code */
            continue;
        if (strcmp(name, "hive_plugin_query") == 0 && strcmp(type, "T") == 0)
            has_query = 1;
        else if (strcmp(name, "hive_plugin_init") == 0 && strcmp(type, "T") == 0)
            has_init = 1;
        else
            strncat(extra, line, sizeof extra - strlen(extra) - 1);
    }
    int rc = pclose(p);
    if (rc != 0)
        fail_msg("`%s` failed (status %d)", cmd, rc);
    if (!has_query || !has_init || extra[0])
        fail_msg("%s must define exactly hive_plugin_query and hive_plugin_init "
                 "(query %s, init %s); also defined:\n%s",
                 so, has_query ? "ok" : "MISSING", has_init ? "ok" : "MISSING",
                 extra[0] ? extra : "(nothing)\n");
    free(cmd);
}

/* Checks every .so directly in `dir`; returns how many. */
static int check_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int checked = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".so"))
            continue;
        char *so = path_join(dir, e->d_name);
        expect_only_entry_points(so);
        free(so);
        checked++;
    }
    closedir(d);
    return checked;
}

static int is_malformed_case(const char *name)
{
    for (size_t i = 0; malformed_cases[i]; i++)
        if (strcmp(name, malformed_cases[i]) == 0)
            return 1;
    return 0;
}

static void well_formed_fixtures_export_only_entry_points(void **state)
{
    (void)state;
    DIR *d = opendir(HIVE_ABI_FIXTURE_DIR);
    assert_non_null(d);
    int checked = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || is_malformed_case(e->d_name))
            continue;
        char *dir = path_join(HIVE_ABI_FIXTURE_DIR, e->d_name);
        checked += check_dir(dir);
        free(dir);
    }
    closedir(d);
    /* current, v1_0, score_zero, dup_a, dup_b, wrong_major, needs_newer_host,
     * query_fails, init_fails, undefined_symbol, missing_library */
    assert_int_equal(checked, 11);
}

static void malformed_fixture_really_lacks_init(void **state)
{
    (void)state;
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "nm -D --defined-only '%s/missing_init/missing_init.so'",
                         HIVE_ABI_FIXTURE_DIR) > 0);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    /* Guards the loader test: this fixture must be missing init, and only init. */
    assert_non_null(strstr(out, "hive_plugin_query"));
    assert_null(strstr(out, "hive_plugin_init"));
    free(cmd);
}

/* HIVE_ABI_REAL_PLUGINS is the comma-separated list of plugin targets CMake
 * configured (each built as <target>.so); every one must exist and pass. */
static void real_plugins_export_only_entry_points(void **state)
{
    (void)state;
    char *names = strdup(HIVE_ABI_REAL_PLUGINS);
    assert_non_null(names);
    int expected = 0;
    char *save = NULL;
    for (char *t = strtok_r(names, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *file = NULL;
        assert_true(asprintf(&file, "%s/%s.so", HIVE_PLUGIN_BUILD_DIR, t) > 0);
        if (access(file, R_OK) != 0)
            fail_msg("plugin %s is configured but %s was not built", t, file);
        free(file);
        expected++;
    }
    free(names);
    /* Also catches stray .so files in the directory that CMake did not build. */
    int checked = check_dir(HIVE_PLUGIN_BUILD_DIR);
    print_message("checked %d plugin(s) in %s\n", checked, HIVE_PLUGIN_BUILD_DIR);
    assert_true(checked >= expected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed_fixtures_export_only_entry_points),
        cmocka_unit_test(malformed_fixture_really_lacks_init),
        cmocka_unit_test(real_plugins_export_only_entry_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
