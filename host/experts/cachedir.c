/* Cache directory helpers (see cachedir.h). */
#include "experts/cachedir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

hive_status hive_cache_root(char *out, size_t cap, hive_error **err) {
    const char *v;
    int n;
    if ((v = getenv("HIVE_CACHE")) && *v)
        n = snprintf(out, cap, "%s", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v)
        n = snprintf(out, cap, "%s/hive", v);
    else if ((v = getenv("HOME")) && *v)
        n = snprintf(out, cap, "%s/.cache/hive", v);
    else
        return hive_fail(err, HIVE_E_NOTFOUND, "no cache directory: set HIVE_CACHE, XDG_CACHE_HOME or HOME");
    if (n < 0 || (size_t)n >= cap) return hive_fail(err, HIVE_E_INVALID, "cache directory path too long");
    return HIVE_OK;
}

int hive_mkdir_p(const char *path, unsigned mode) {
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, mode) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) && errno != EEXIST) return -1;
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

hive_status hive_cache_subdir(const char *sub, char *out, size_t cap, hive_error **err) {
    char root[4096];
    hive_status st = hive_cache_root(root, sizeof root, err);
    if (st != HIVE_OK) return st;
    int n = snprintf(out, cap, "%s/%s", root, sub);
    if (n < 0 || (size_t)n >= cap) return hive_fail(err, HIVE_E_INVALID, "cache directory path too long");
    if (hive_mkdir_p(out, 0700))
        return hive_fail(err, HIVE_E_IO, "cannot create cache directory %s: %s", out, strerror(errno));
    return HIVE_OK;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int hive_rm_rf(const char *path) { return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }
