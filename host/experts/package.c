/* Opening a package: a directory as is, an archive through the unpack cache. */
#include "experts/package.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experts/cachedir.h"
#include "experts/peft_dir.h"
#include "util/error.h"
#include "util/log.h"

static const hive_expert_pkg_limits k_default_limits = {HIVE_EXPERT_MAX_BYTES, HIVE_EXPERT_MAX_ENTRIES};

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int has_manifest(const char *dir) {
    char p[PATH_MAX + 16];
    if (snprintf(p, sizeof p, "%s/manifest.json", dir) >= (int)sizeof p) return 0;
    return is_file(p);
}

/* The directory holding manifest.json: root itself, or its only subdirectory
 * (archives made with `tar czf x.expert dir/`). */
static char *find_manifest_dir(const char *root) {
    if (has_manifest(root)) return strdup(root);
    char only[PATH_MAX + 260] = "";
    int n = 0;
    DIR *d = opendir(root);
    if (!d) return NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (++n == 1 && snprintf(only, sizeof only, "%s/%s", root, e->d_name) >= (int)sizeof only) only[0] = 0;
    }
    closedir(d);
    return (n == 1 && is_dir(only) && has_manifest(only)) ? strdup(only) : NULL;
}

static hive_status open_archive(hive_expert_pkg *p, const hive_expert_pkg_limits *lim, hive_error **err) {
    hive_status st = hive_sha256_file_cached(p->canonical, p->sha256, err);
    if (st != HIVE_OK) return st;
    char base[PATH_MAX], final[PATH_MAX + 80], tmp[PATH_MAX + 80];
    if ((st = hive_cache_subdir("experts", base, sizeof base, err)) != HIVE_OK) return st;
    if (snprintf(final, sizeof final, "%s/%s", base, p->sha256) >= (int)sizeof final)
        return hive_fail(err, HIVE_E_INVALID, "cache directory path too long");
    if (!is_dir(final)) {
        if (snprintf(tmp, sizeof tmp, "%s/.tmp-%.16s-XXXXXX", base, p->sha256) >= (int)sizeof tmp)
            return hive_fail(err, HIVE_E_INVALID, "cache directory path too long");
        if (!mkdtemp(tmp)) return hive_fail(err, HIVE_E_IO, "cannot create %s: %s", tmp, strerror(errno));
        st = hive_expert_extract(p->canonical, tmp, lim, err);
        if (st == HIVE_OK && rename(tmp, final) != 0 && !is_dir(final))
            st = hive_fail(err, HIVE_E_IO, "cannot move %s to %s: %s", tmp, final, strerror(errno));
        if (is_dir(tmp)) hive_rm_rf(tmp); /* failed, or another process won the race */
        if (st != HIVE_OK) return st;
        HLOG_DEBUG("expert %s unpacked into %s", p->canonical, final);
    } else {
        p->reused = 1;
    }
    if (!(p->dir = find_manifest_dir(final)))
        return hive_fail(err, HIVE_E_NOTFOUND, "no manifest.json in %s (unpacked into %s)", p->canonical, final);
    return HIVE_OK;
}

hive_status hive_expert_pkg_open(const char *path, const hive_expert_pkg_limits *limits, hive_expert_pkg *out,
                                 hive_error **err) {
    memset(out, 0, sizeof *out);
    const hive_expert_pkg_limits *lim = limits ? limits : &k_default_limits;
    char rp[PATH_MAX];
    if (!realpath(path, rp)) return hive_fail(err, HIVE_E_IO, "expert package %s: %s", path, strerror(errno));
    hive_status st = HIVE_OK;
    if (!(out->canonical = strdup(rp))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    const char *slash = strrchr(rp, '/');
    if (is_dir(rp)) {
        out->is_peft = !has_manifest(rp) && hive_peft_dir_is(rp);
        if (!has_manifest(rp) && !out->is_peft)
            st = hive_fail(err, HIVE_E_NOTFOUND,
                           "no manifest.json in %s (nor adapter_config.json: it is neither an expert package nor a "
                           "PEFT adapter directory)", path);
        else if (!(out->dir = strdup(rp))) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    } else if (is_file(rp) && slash && !strcmp(slash + 1, "manifest.json")) {
        out->dir = strndup(rp, (size_t)(slash - rp));
        free(out->canonical);
        out->canonical = out->dir ? strdup(out->dir) : NULL;
        if (!out->canonical) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    } else if (is_file(rp)) {
        out->is_archive = 1;
        st = open_archive(out, lim, err);
    } else {
        st = hive_fail(err, HIVE_E_INVALID, "expert package %s is neither a directory nor an archive file", path);
    }
    /* a PEFT directory's "manifest" is its adapter_config.json (hive_manifest_load synthesizes one) */
    const char *mf = out->is_peft ? "adapter_config.json" : "manifest.json";
    if (st == HIVE_OK && asprintf(&out->manifest, "%s/%s", out->dir, mf) < 0) {
        out->manifest = NULL;
        st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    if (st != HIVE_OK) hive_expert_pkg_close(out);
    return st;
}

void hive_expert_pkg_close(hive_expert_pkg *p) {
    free(p->canonical);
    free(p->dir);
    free(p->manifest);
    memset(p, 0, sizeof *p);
}
