/*
 * test_abi_loader_rejects.c — every way a plugin file can be unusable, and the
 * message `hive-host plugins --json` must give for it. A rejection never makes
 * the listing fail (exit 0) and never hides the good plugins next to it.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin_listing.h"
#include "scratch_dir.h"

/* Lists the built fixture directory of one case. */
static cJSON *listing_of_case(const char *fixture_case)
{
    char *dir = path_join(HIVE_ABI_FIXTURE_DIR, fixture_case);
    cJSON *root = listing_of_dir(dir);
    free(dir);
    return root;
}

/* e_machine of the host binary, so the crafted header is surely foreign. */
static uint16_t host_machine(void)
{
    Elf64_Ehdr hdr;
    FILE *f = fopen(HIVE_HOST_BIN, "rb");
    assert_non_null(f);
    assert_int_equal(fread(&hdr, sizeof hdr, 1, f), 1);
    fclose(f);
    return hdr.e_machine;
}

static void rejects_non_elf_file(void **state)
{
    (void)state;
    char *dir = scratch_new();
    static const char text[] = "#!/bin/sh\necho this is not a plugin\n";
    scratch_write(dir, "not_elf.so", text, sizeof text - 1);

    cJSON *root = listing_of_dir(dir);
    expect_rejected(root, "not_elf.so", "not an ELF file");
    const cJSON *entry = listing_entry(root, "not_elf.so");
    expect_null(entry, "name");
    expect_null(entry, "kind");
    expect_null(root, "selected");
    cJSON_Delete(root);
    scratch_remove(dir);
}

static void rejects_elf64_for_another_machine(void **state)
{
    (void)state;
    unsigned char file[512] = {0};
    Elf64_Ehdr *hdr = (Elf64_Ehdr *)(void *)file;
    memcpy(hdr->e_ident, ELFMAG, SELFMAG);
    hdr->e_ident[EI_CLASS] = ELFCLASS64;
    hdr->e_ident[EI_DATA] = ELFDATA2LSB;
    hdr->e_ident[EI_VERSION] = EV_CURRENT;
    hdr->e_type = ET_DYN;
    hdr->e_machine = host_machine() == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
    hdr->e_version = EV_CURRENT;
    hdr->e_ehsize = sizeof *hdr;
    char *dir = scratch_new();
    scratch_write(dir, "foreign64.so", file, sizeof file);

    cJSON *root = listing_of_dir(dir);
    expect_rejected(root, "foreign64.so", "wrong architecture");
    expect_null(listing_entry(root, "foreign64.so"), "name");
    cJSON_Delete(root);
    scratch_remove(dir);
}

static void rejects_elf32_i386(void **state)
{
    (void)state;
    unsigned char file[512] = {0};
    Elf32_Ehdr *hdr = (Elf32_Ehdr *)(void *)file;
    memcpy(hdr->e_ident, ELFMAG, SELFMAG);
    hdr->e_ident[EI_CLASS] = ELFCLASS32;
    hdr->e_ident[EI_DATA] = ELFDATA2LSB;
    hdr->e_ident[EI_VERSION] = EV_CURRENT;
    hdr->e_type = ET_DYN;
    hdr->e_machine = EM_386;
    hdr->e_version = EV_CURRENT;
    hdr->e_ehsize = sizeof *hdr;
    char *dir = scratch_new();
    scratch_write(dir, "i386.so", file, sizeof file);

    cJSON *root = listing_of_dir(dir);
    expect_rejected(root, "i386.so", "wrong architecture");
    cJSON_Delete(root);
    scratch_remove(dir);
}

static void rejects_world_writable_file(void **state)
{
    (void)state;
    char *good = fixture_file("current");
    char *dir = scratch_new();
    scratch_copy(good, dir, "writable.so", 0777);

    cJSON *root = listing_of_dir(dir);
    expect_rejected(root, "writable.so", "world-writable");
    expect_null(root, "selected");
    cJSON_Delete(root);
    scratch_remove(dir);
    free(good);
}

static void rejects_plugin_in_world_writable_directory(void **state)
{
    (void)state;
    char *good = fixture_file("current");
    char *dir = scratch_new();
    scratch_copy(good, dir, "in_open_dir.so", 0755);
    assert_int_equal(chmod(dir, 0777), 0);

    cJSON *root = listing_of_dir(dir);
    expect_rejected(root, "in_open_dir.so", "world-writable");
    cJSON_Delete(root);
    scratch_remove(dir);
    free(good);
}

static void rejects_missing_init_symbol(void **state)
{
    (void)state;
    cJSON *root = listing_of_case("missing_init");
    expect_rejected(root, "missing_init.so", "missing entry symbol hive_plugin_init");
    cJSON_Delete(root);
}

static void rejects_missing_query_symbol(void **state)
{
    (void)state;
    cJSON *root = listing_of_case("missing_query");
    expect_rejected(root, "missing_query.so", "missing entry symbol hive_plugin_query");
    cJSON_Delete(root);
}

static void rejects_missing_library_with_dlerror(void **state)
{
    (void)state;
    cJSON *root = listing_of_case("missing_library");
    expect_rejected(root, "missing_library.so", "dlopen failed:");
    /* dlerror() names the library that could not be found. */
    expect_substring(entry_str(listing_entry(root, "missing_library.so"), "reason"),
                     "libhive_fixture_dep.so");
    cJSON_Delete(root);
}

static void rejects_undefined_symbol_with_dlerror(void **state)
{
    (void)state;
    cJSON *root = listing_of_case("undefined_symbol");
    expect_rejected(root, "undefined_symbol.so", "dlopen failed:");
    /* RTLD_NOW: the unresolved function is reported at load, not at first call. */
    expect_substring(entry_str(listing_entry(root, "undefined_symbol.so"), "reason"),
                     "hive_fixture_symbol_nobody_defines");
    cJSON_Delete(root);
}

static void rejects_failing_query(void **state)
{
    (void)state;
    cJSON *root = listing_of_case("query_fails");
    expect_rejected(root, "query_fails.so", "hive_plugin_query failed");
    cJSON_Delete(root);
}

static void rejects_wrong_major_naming_both_versions(void **state)
{
    (void)state;
    cJSON *root = listing_of_case("wrong_major");
    expect_rejected(root, "wrong_major.so", "ABI major mismatch");
    const cJSON *entry = listing_entry(root, "wrong_major.so");
    expect_substring(entry_str(entry, "reason"), "2.0");
    expect_substring(entry_str(entry, "reason"), HOST_ABI);
    /* Query worked, so the listing still says who the plugin is. */
    expect_str(entry, "name", "fixture-wrong-major");
    expect_str(entry, "abi", "2.0");
    cJSON_Delete(root);
}

static void rejects_plugin_needing_newer_host(void **state)
{
    (void)state;
    cJSON *root = listing_of_case("needs_newer_host");
    expect_rejected(root, "needs_newer_host.so", "needs host ABI minor >= 99"); /* far above the header's minor: no bump reaches it */
    const cJSON *entry = listing_entry(root, "needs_newer_host.so");
    expect_str(entry, "name", "fixture-needs-newer-host");
    assert_int_equal(entry_int(entry, "min_host_minor"), 99);
    cJSON_Delete(root);
}

static void rejects_failing_init_with_plugin_message(void **state)
{
    (void)state;
    cJSON *root = listing_of_case("init_fails");
    expect_rejected(root, "init_fails.so", "hive_plugin_init failed:");
    expect_substring(entry_str(listing_entry(root, "init_fails.so"), "reason"),
                     "fixture init failure: widget driver not found");
    cJSON_Delete(root);
}

static void bad_plugins_do_not_hide_good_ones(void **state)
{
    (void)state;
    char *good = fixture_file("current");
    char *wrong_major = fixture_file("wrong_major");
    char *dir = scratch_new();
    static const char text[] = "not a plugin";
    scratch_write(dir, "a_not_elf.so", text, sizeof text - 1);
    scratch_copy(wrong_major, dir, "b_wrong_major.so", 0755);
    scratch_copy(good, dir, "c_current.so", 0755);

    cJSON *root = listing_of_dir(dir);
    assert_int_equal(listing_count(root), 3);
    expect_rejected(root, "a_not_elf.so", "not an ELF file");
    expect_rejected(root, "b_wrong_major.so", "ABI major mismatch");
    expect_str(listing_entry(root, "c_current.so"), "status", "loaded");
    const cJSON *selected = cJSON_GetObjectItemCaseSensitive(root, "selected");
    expect_str(selected, "backend", "fixture-current");
    cJSON_Delete(root);
    scratch_remove(dir);
    free(good);
    free(wrong_major);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rejects_non_elf_file),
        cmocka_unit_test(rejects_elf64_for_another_machine),
        cmocka_unit_test(rejects_elf32_i386),
        cmocka_unit_test(rejects_world_writable_file),
        cmocka_unit_test(rejects_plugin_in_world_writable_directory),
        cmocka_unit_test(rejects_missing_init_symbol),
        cmocka_unit_test(rejects_missing_query_symbol),
        cmocka_unit_test(rejects_missing_library_with_dlerror),
        cmocka_unit_test(rejects_undefined_symbol_with_dlerror),
        cmocka_unit_test(rejects_failing_query),
        cmocka_unit_test(rejects_wrong_major_naming_both_versions),
        cmocka_unit_test(rejects_plugin_needing_newer_host),
        cmocka_unit_test(rejects_failing_init_with_plugin_message),
        cmocka_unit_test(bad_plugins_do_not_hide_good_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
