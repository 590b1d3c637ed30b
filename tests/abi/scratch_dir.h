/*
 * scratch_dir.h — per-test plugin directories, made at test time for the cases
 * git and CMake cannot keep: file modes (world-writable), symlinks, hand-made
 * ELF headers, non-ELF files. They live under the build tree (never /tmp, whose
 * mode is 1777) so only the file under test is world-writable.
 */
#ifndef HIVE_ABI_SCRATCH_DIR_H
#define HIVE_ABI_SCRATCH_DIR_H

#include <stddef.h>
#include <sys/types.h>

/* A fresh empty directory (mode 0700) under HIVE_ABI_SCRATCH_DIR. Heap string. */
char *scratch_new(void);

/* "<dir>/<name>" as a heap string. */
char *path_join(const char *dir, const char *name);

/* The built fixture fixtures/<fixture_case>/<fixture_case>.so. Heap string. */
char *fixture_file(const char *fixture_case);

/* Copies `src` to <dir>/<name> and sets `mode` (chmod, so umask does not apply). */
void scratch_copy(const char *src, const char *dir, const char *name, mode_t mode);

/* Writes `len` bytes to <dir>/<name>, mode 0755. */
void scratch_write(const char *dir, const char *name, const void *bytes, size_t len);

/* Makes <dir>/<name> a symlink to `target`. */
void scratch_symlink(const char *target, const char *dir, const char *name);

/* Removes dir and everything in it, then frees the string. */
void scratch_remove(char *dir);

#endif
