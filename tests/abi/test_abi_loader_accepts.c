/*
 * test_abi_loader_accepts.c — plugins the host must load, how it negotiates
 * the minor, reports devices and duplicates, and selects a backend.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_listing.h"
#include "scratch_dir.h"

/* Mirrors tests/abi/fixtures/stub_backend.h (which needs hive_abi.h). */
#define STUB_DEVICE_NAME "fixture device"
#define STUB_MEMORY_TOTAL (1ll << 30)
#define STUB_MEMORY_FREE (1ll << 29)
#define SCORE_ZERO_REASON "fixture: needs a widget accelerator, none found"

static char *case_dir(const char *fixture_case)
{
    return path_join(HIVE_ABI_FIXTURE_DIR, fixture_case);
}

static const cJSON *only_device(const cJSON *entry)
{
    const cJSON *devices = cJSON_GetObjectItemCaseSensitive(entry, "devices");
    assert_true(cJSON_IsArray(devices));
    assert_int_equal(cJSON_GetArraySize(devices), 1);
    return cJSON_GetArrayItem(devices, 0);
}

static void expect_selected(const cJSON *root, const char *backend, int device)
{
    const cJSON *selected = cJSON_GetObjectItemCaseSensitive(root, "selected");
    if (!cJSON_IsObject(selected))
        fail_msg("expected \"selected\" to name backend %s, got null or non-object", backend);
    expect_str(selected, "backend", backend);
    assert_int_equal(entry_int(selected, "device"), device);
}

static void loads_current_plugin_with_all_fields(void **state)
{
    (void)state;
    char *dir = case_dir("current");
    cJSON *root = listing_of_dir(dir);
    assert_int_equal(listing_count(root), 1);
    const cJSON *entry = listing_entry(root, "current.so");
    expect_str(entry, "status", "loaded");
    expect_str(entry, "reason", "");
    expect_str(entry, "kind", "backend");
    expect_str(entry, "name", "fixture-current");
    expect_str(entry, "version", "0.0.1");
    expect_str(entry, "abi", HOST_ABI);
    assert_int_equal(entry_int(entry, "min_host_minor"), 0);
    assert_int_equal(entry_int(entry, "agreed_minor"), HIVE_ABI_MINOR);
    expect_str(entry, "build", "hive abi test fixture");

    char *file = path_join(dir, "current.so"), real[PATH_MAX];
    assert_non_null(realpath(file, real));
    expect_str(entry, "realpath", real);

    const cJSON *device = only_device(entry);
    assert_int_equal(entry_int(device, "index"), 0);
    expect_str(device, "name", STUB_DEVICE_NAME);
    assert_int_equal(entry_int(device, "score"), 1);
    expect_str(device, "reason", "fixture: always available");
    assert_int_equal(entry_int(device, "memory_total"), STUB_MEMORY_TOTAL);
    assert_int_equal(entry_int(device, "memory_free"), STUB_MEMORY_FREE);
    expect_selected(root, "fixture-current", 0);
    cJSON_Delete(root);
    free(file);
    free(dir);
}

static void loads_v1_0_plugin_at_agreed_minor_0(void **state)
{
    (void)state;
    char *dir = case_dir("v1_0");
    cJSON *root = listing_of_dir(dir);
    const cJSON *entry = listing_entry(root, "v1_0.so");
    expect_str(entry, "status", "loaded");
    expect_str(entry, "name", "fixture-v1-0");
    expect_str(entry, "abi", "1.0");
    assert_int_equal(entry_int(entry, "agreed_minor"), 0);
    assert_int_equal(entry_int(only_device(entry), "score"), 1);
    cJSON_Delete(root);
    free(dir);
}

/* The 1.0 table is followed by poisoned (ASan) or 0xA5 bytes where 1.1's
 * op_argmax and get_extension would be: selecting it must not touch them. */
static void selecting_v1_0_plugin_reads_only_its_struct_size(void **state)
{
    (void)state;
    char *dir = case_dir("v1_0");
    const char *args[] = {"--plugin-dir", dir, "--backend", "fixture-v1-0", NULL};
    cJSON *root = listing_run(args, NULL);
    expect_str(listing_entry(root, "v1_0.so"), "status", "loaded");
    expect_selected(root, "fixture-v1-0", 0);
    cJSON_Delete(root);
    free(dir);
}

static void selects_the_requested_backend(void **state)
{
    (void)state;
    char *current = case_dir("current"), *v1_0 = case_dir("v1_0");
    const char *args[] = {"--plugin-dir", current,  "--plugin-dir", v1_0,
                          "--backend",    "fixture-current", NULL};
    cJSON *root = listing_run(args, NULL);
    assert_int_equal(listing_count(root), 2);
    expect_selected(root, "fixture-current", 0);
    cJSON_Delete(root);
    free(current);
    free(v1_0);
}

static void score_zero_is_loaded_but_not_selected(void **state)
{
    (void)state;
    char *dir = case_dir("score_zero");
    cJSON *root = listing_of_dir(dir);
    const cJSON *entry = listing_entry(root, "score_zero.so");
    expect_str(entry, "status", "loaded");
    const cJSON *device = only_device(entry);
    assert_int_equal(entry_int(device, "score"), 0);
    expect_str(device, "reason", SCORE_ZERO_REASON);
    expect_null(root, "selected");
    cJSON_Delete(root);
    free(dir);
}

static void automatic_selection_skips_score_zero(void **state)
{
    (void)state;
    char *zero = case_dir("score_zero"), *current = case_dir("current");
    const char *args[] = {"--plugin-dir", zero, "--plugin-dir", current, NULL};
    cJSON *root = listing_run(args, NULL);
    expect_selected(root, "fixture-current", 0);
    cJSON_Delete(root);
    free(zero);
    free(current);
}

static void requesting_score_zero_backend_fails(void **state)
{
    (void)state;
    char *dir = case_dir("score_zero");
    const char *args[] = {"--plugin-dir", dir,       "--no-default-plugins", "--backend",
                          "fixture-score-zero", "plugins", "--json", NULL};
    host_result res;
    host_run(args, NULL, &res);
    expect_no_sanitizer_report(&res);
    if (res.exit_code == 0) {
        host_result_dump(&res);
        fail_msg("--backend with only a score-0 device must exit non-zero");
    }
    if (res.signal != 0) {
        host_result_dump(&res);
        fail_msg("hive-host died of signal %d", res.signal);
    }
    char both[16384];
    snprintf(both, sizeof both, "%s\n%s", res.out, res.err);
    expect_substring(both, "no usable device");
    host_result_free(&res);
    free(dir);
}

/* Exactly one of the two files is loaded; the other is a duplicate whose
 * reason contains `reason_part`. Scan order is the host's business. */
static void expect_one_loaded_one_duplicate(const cJSON *root, const char *a, const char *b,
                                            const char *reason_part)
{
    const cJSON *ea = listing_entry(root, a), *eb = listing_entry(root, b);
    const char *sa = entry_str(ea, "status"), *sb = entry_str(eb, "status");
    assert_non_null(sa);
    assert_non_null(sb);
    const cJSON *dup = strcmp(sa, "loaded") == 0 ? eb : ea;
    const cJSON *kept = dup == eb ? ea : eb;
    expect_str(kept, "status", "loaded");
    expect_str(dup, "status", "duplicate");
    expect_substring(entry_str(dup, "reason"), reason_part);
}

static void second_plugin_with_same_name_is_duplicate(void **state)
{
    (void)state;
    char *dir = case_dir("duplicate_name");
    cJSON *root = listing_of_dir(dir);
    assert_int_equal(listing_count(root), 2);
    expect_one_loaded_one_duplicate(root, "dup_a.so", "dup_b.so", "already provided by");
    expect_selected(root, "fixture-duplicate", 0);
    cJSON_Delete(root);
    free(dir);
}

static void symlink_to_loaded_file_is_duplicate(void **state)
{
    (void)state;
    char *good = fixture_file("current");
    char *dir = scratch_new();
    scratch_copy(good, dir, "real.so", 0755);
    scratch_symlink("real.so", dir, "alias.so");

    cJSON *root = listing_of_dir(dir);
    assert_int_equal(listing_count(root), 2);
    expect_one_loaded_one_duplicate(root, "real.so", "alias.so", "same file as");
    char *real_file = path_join(dir, "real.so"), real[PATH_MAX];
    assert_non_null(realpath(real_file, real));
    expect_str(listing_entry(root, "alias.so"), "realpath", real);
    cJSON_Delete(root);
    free(real_file);
    scratch_remove(dir);
    free(good);
}

static void no_default_plugins_ignores_hive_plugin_path(void **state)
{
    (void)state;
    char *current = case_dir("current"), *zero = case_dir("score_zero");
    char *env = NULL;
    assert_true(asprintf(&env, "HIVE_PLUGIN_PATH=%s", current) > 0);
    const char *args[] = {"--plugin-dir", zero, NULL};
    cJSON *root = listing_run(args, env);
    assert_int_equal(listing_count(root), 1);
    expect_str(listing_entry(root, "score_zero.so"), "name", "fixture-score-zero");
    cJSON_Delete(root);
    free(env);
    free(current);
    free(zero);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_current_plugin_with_all_fields),
        cmocka_unit_test(loads_v1_0_plugin_at_agreed_minor_0),
        cmocka_unit_test(selecting_v1_0_plugin_reads_only_its_struct_size),
        cmocka_unit_test(selects_the_requested_backend),
        cmocka_unit_test(score_zero_is_loaded_but_not_selected),
        cmocka_unit_test(automatic_selection_skips_score_zero),
        cmocka_unit_test(requesting_score_zero_backend_fails),
        cmocka_unit_test(second_plugin_with_same_name_is_duplicate),
        cmocka_unit_test(symlink_to_loaded_file_is_duplicate),
        cmocka_unit_test(no_default_plugins_ignores_hive_plugin_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
