/* scratch_dir.c — see scratch_dir.h. */
#define _GNU_SOURCE
#include "scratch_dir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *path_join(const char *dir, const char *name)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    return path;
}

char *scratch_new(void)
{
    char *dir = path_join(HIVE_ABI_SCRATCH_DIR, "case-XXXXXX");
    if (!mkdtemp(dir))
        fail_msg("mkdtemp under %s failed", HIVE_ABI_SCRATCH_DIR);
    return dir;
}

char *fixture_file(const char *fixture_case)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s/%s.so", HIVE_ABI_FIXTURE_DIR, fixture_case,
                         fixture_case) > 0);
    if (access(path, R_OK) != 0)
        fail_msg("fixture %s was not built", path);
    return path;
}

static void write_file(const char *path, const void *bytes, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        fail_msg("cannot create %s", path);
    const char *p = bytes;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(path, mode), 0);
}

void scratch_copy(const char *src, const char *dir, const char *name, mode_t mode)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        fail_msg("cannot read %s", src);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size > 0);
    rewind(f);
    char *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    char *dst = path_join(dir, name);
    write_file(dst, bytes, (size_t)size, mode);
    free(dst);
    free(bytes);
}

void scratch_write(const char *dir, const char *name, const void *bytes, size_t len)
{
    char *dst = path_join(dir, name);
    write_file(dst, bytes, len, 0755);
    free(dst);
}

void scratch_symlink(const char *target, const char *dir, const char *name)
{
    char *link = path_join(dir, name);
    if (symlink(target, link) != 0)
        fail_msg("symlink %s -> %s failed", link, target);
    free(link);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void scratch_remove(char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
