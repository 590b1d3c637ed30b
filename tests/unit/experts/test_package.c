/* Package opening: directories, .expert archives, the unpack cache, and
 * refusal of malicious archives. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "experts/package.h"
#include "tests.h"
#include "util/error.h"
#include "util.h"

static int tmp_leftovers(void) {
    DIR *d = opendir(tu_path("cache/experts"));
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, ".tmp-", 5)) n++;
    if (d) closedir(d);
    return n;
}

static void test_directory(void **state) {
    (void)state;
    tu_simple_expert("pkgdir", 100, NULL);
    hive_expert_pkg p;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_pkg_open(tu_path("pkgdir"), NULL, &p, &err), HIVE_OK);
    assert_false(p.is_archive);
    assert_non_null(strstr(p.manifest, "pkgdir/manifest.json"));
    hive_expert_pkg_close(&p);
    /* manifest.json itself names the package too */
    assert_int_equal(hive_expert_pkg_open(tu_path("pkgdir/manifest.json"), NULL, &p, &err), HIVE_OK);
    assert_non_null(strstr(p.canonical, "pkgdir"));
    assert_null(strstr(p.canonical, "manifest.json"));
    hive_expert_pkg_close(&p);
    /* no manifest */
    tu_write("empty/readme.txt", "x");
    assert_int_equal(hive_expert_pkg_open(tu_path("empty"), NULL, &p, &err), HIVE_E_NOTFOUND);
    assert_err_contains(err, "no manifest.json in");
}

static void test_archive_and_reuse(void **state) {
    (void)state;
    tu_simple_expert("arch", 100, NULL);
    const char *a = tu_tar_dir("arch.expert", "arch", "arch"); /* one top-level directory */
    hive_expert_pkg p;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_pkg_open(a, NULL, &p, &err), HIVE_OK);
    assert_true(p.is_archive);
    assert_false(p.reused);
    assert_int_equal(strlen(p.sha256), 64);
    char want[1024];
    snprintf(want, sizeof want, "%s/experts/%s/arch", tu_path("cache"), p.sha256);
    assert_string_equal(p.dir, want);
    assert_true(tu_exists(p.manifest));
    hive_expert_pkg_close(&p);
    assert_int_equal(hive_expert_pkg_open(a, NULL, &p, &err), HIVE_OK);
    assert_true(p.reused);
    hive_expert_pkg_close(&p);
    /* flat archive (manifest at the root) */
    const char *flat = tu_tar_dir("flat.expert", "arch", "");
    assert_int_equal(hive_expert_pkg_open(flat, NULL, &p, &err), HIVE_OK);
    assert_true(tu_exists(p.manifest));
    hive_expert_pkg_close(&p);
    assert_int_equal(tmp_leftovers(), 0);
}

static void expect_refusal(const char *rel, const tu_entry *e, int n, const char *needle) {
    const char *a = tu_tar(rel, e, n);
    hive_expert_pkg p;
    hive_error *err = NULL;
    assert_int_not_equal(hive_expert_pkg_open(a, NULL, &p, &err), HIVE_OK);
    const char *m = hive_error_message(err);
    if (!strstr(m, needle) || !strstr(m, rel)) fail_msg("error '%s' lacks '%s' or the archive name", m, needle);
    hive_error_free(err);
    assert_int_equal(tmp_leftovers(), 0);
}

static void test_malicious(void **state) {
    (void)state;
    tu_entry dotdot[] = {{"manifest.json", 'f', "{}", 0}, {"../evil", 'f', "pwned", 0}};
    expect_refusal("dotdot.expert", dotdot, 2, "refusing path traversal entry '../evil' in");
    assert_false(tu_exists(tu_path("cache/evil")));
    assert_false(tu_exists(tu_path("evil")));
    tu_entry nested[] = {{"a/b/../../../evil2", 'f', "pwned", 0}};
    expect_refusal("nested.expert", nested, 1, "refusing path traversal entry 'a/b/../../../evil2'");
    char abs[600];
    snprintf(abs, sizeof abs, "%s/abs-evil", g_tmp);
    tu_entry absolute[] = {{abs, 'f', "pwned", 0}};
    expect_refusal("abs.expert", absolute, 1, "refusing path traversal entry '/");
    assert_false(tu_exists(abs));
    tu_entry link_out[] = {{"manifest.json", 'f', "{}", 0}, {"escape", 'l', "../../../../etc", 0}};
    expect_refusal("symlink.expert", link_out, 2, "refusing path traversal entry 'escape'");
    tu_entry link_abs[] = {{"etc", 'l', "/etc", 0}};
    expect_refusal("symlink-abs.expert", link_abs, 1, "points outside the package");
    /* a link that stays inside, then an entry written through it */
    tu_entry walk[] = {{"sub", 'd', NULL, 0}, {"d", 'l', "sub", 0}, {"d/x", 'f', "x", 0}};
    expect_refusal("walk.expert", walk, 3, "goes through the symlink 'd'");
    tu_entry hard[] = {{"h", 'h', "../../etc/passwd", 0}};
    expect_refusal("hard.expert", hard, 1, "refusing path traversal entry 'h'");
    tu_entry dev[] = {{"tty", 'c', NULL, 0}};
    expect_refusal("dev.expert", dev, 1, "refusing character device entry 'tty'");
    /* not an archive at all */
    tu_write("junk.expert", "this is not a tar file");
    hive_expert_pkg p;
    hive_error *err = NULL;
    assert_int_not_equal(hive_expert_pkg_open(tu_path("junk.expert"), NULL, &p, &err), HIVE_OK);
    assert_err_contains(err, "junk.expert");
}

static void test_inside_links_ok(void **state) {
    (void)state;
    tu_entry good[] = {{"manifest.json", 'f', "{}", 0}, {"sub", 'd', NULL, 0}, {"sub/a", 'f', "a", 0},
                       {"sub/l", 'l', "a", 0},          {"up", 'l', "sub/../sub/a", 0}, {"hl", 'h', "sub/a", 0}};
    const char *a = tu_tar("good-links.expert", good, 6);
    hive_expert_pkg p;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_pkg_open(a, NULL, &p, &err), HIVE_OK);
    hive_expert_pkg_close(&p);
}

static void test_limits(void **state) {
    (void)state;
    tu_entry big[] = {{"manifest.json", 'f', "{}", 0}, {"zeros.bin", 'f', NULL, 1u << 20}};
    const char *a = tu_tar("bomb.expert", big, 2);
    hive_expert_pkg_limits lim = {64 * 1024, 100};
    hive_expert_pkg p;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_pkg_open(a, &lim, &p, &err), HIVE_E_INVALID);
    assert_err_contains(err, "unpacks to more than 65536 bytes");
    lim.max_bytes = 1u << 24;
    lim.max_entries = 1;
    assert_int_equal(hive_expert_pkg_open(a, &lim, &p, &err), HIVE_E_INVALID);
    assert_err_contains(err, "more than 1 entries");
    assert_int_equal(hive_expert_pkg_open(a, NULL, &p, &err), HIVE_OK); /* defaults: fine */
    hive_expert_pkg_close(&p);
    assert_int_equal(tmp_leftovers(), 0);
}

int run_package_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directory),  cmocka_unit_test(test_archive_and_reuse), cmocka_unit_test(test_malicious),
        cmocka_unit_test(test_inside_links_ok), cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests_name("package", tests, NULL, NULL);
}
