/* The per-user cache directory: $HIVE_CACHE, else $XDG_CACHE_HOME/hive, else
 * ~/.cache/hive. Extracted .expert packages live in <root>/experts/<sha256>/
 * and remembered file hashes in <root>/sha256/. */
#ifndef HIVE_EXPERTS_CACHEDIR_H
#define HIVE_EXPERTS_CACHEDIR_H

#include <stddef.h>
#include "hive_abi.h"

/* Writes the root into out (not created). */
hive_status hive_cache_root(char *out, size_t cap, hive_error **err);
/* <root>/<sub>, created (mode 0700, parents too). */
hive_status hive_cache_subdir(const char *sub, char *out, size_t cap, hive_error **err);
/* mkdir -p with mode; 0 or -1 (errno set). */
int hive_mkdir_p(const char *path, unsigned mode);
/* Recursive delete that never follows symlinks (for temp dirs); 0 or -1. */
int hive_rm_rf(const char *path);

#endif
