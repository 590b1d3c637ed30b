/* Safe unpacking of .expert archives (see package.h). Every entry path is
 * checked before anything is written: no absolute paths, no "..", no entry
 * that walks through a symlink, links that stay inside, regular files and
 * directories only, and a cap on entries and unpacked bytes. */
#include "experts/package.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

#ifndef HIVE_HAVE_LIBARCHIVE
hive_status hive_expert_extract(const char *archive, const char *dest, const hive_expert_pkg_limits *limits,
                                hive_error **err) {
    (void)dest, (void)limits;
    return hive_fail(err, HIVE_E_UNSUPPORTED, "cannot open %s: this build has no libarchive", archive);
}
#else
#include <archive.h>
#include <archive_entry.h>

typedef struct xctx {
    const char *archive, *dest;
    const hive_expert_pkg_limits *lim;
    uint64_t bytes, entries;
    char **links; /* symlinks made, checked at the end */
    size_t n_links;
} xctx;

/* Normalizes an entry path into out ("./a//b/" -> "a/b"); -1 when it is
 * absolute or has a ".." component. out may end up empty (the root). */
static int clean_rel(const char *in, char *out, size_t cap) {
    if (!in || in[0] == '/') return -1;
    size_t o = 0;
    const char *p = in;
    while (*p) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return -1;
        if (n && !(n == 1 && p[0] == '.')) {
            if (o + n + 2 > cap) return -1;
            if (o) out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n + (s ? 1 : 0);
    }
    out[o] = 0;
    return 0;
}

/* A symlink target stays inside when, read relative to the link's directory,
 * it never climbs above the root. */
static int link_target_inside(const char *rel, const char *target) {
    if (!target || !*target || target[0] == '/') return 0;
    int depth = 0;
    for (const char *p = rel; (p = strchr(p, '/')); p++) depth++;
    for (const char *p = target; *p;) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0) return 0;
        } else if (n && !(n == 1 && p[0] == '.')) {
            depth++;
        }
        p += n + (s ? 1 : 0);
    }
    return 1;
}

static hive_status traversal(xctx *x, const char *name, hive_error **err) {
    return hive_fail(err, HIVE_E_INVALID, "refusing path traversal entry '%s' in %s", name ? name : "(null)",
                     x->archive);
}

/* Creates the parent directories of rel under dest; refuses to walk through
 * anything but real directories. */
static hive_status make_parents(xctx *x, const char *rel, const char *name, hive_error **err) {
    char p[PATH_MAX];
    size_t dl = strlen(x->dest);
    for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
        int n = snprintf(p, sizeof p, "%s/%.*s", x->dest, (int)(s - rel), rel);
        if (n < 0 || (size_t)n >= sizeof p) return hive_fail(err, HIVE_E_INVALID, "entry '%s' in %s: path too long", name, x->archive);
        struct stat st;
        if (lstat(p, &st) == 0) {
            if (S_ISLNK(st.st_mode))
                return hive_fail(err, HIVE_E_INVALID, "refusing entry '%s' in %s: it goes through the symlink '%s'", name,
                                 x->archive, p + dl + 1);
            if (!S_ISDIR(st.st_mode))
                return hive_fail(err, HIVE_E_INVALID, "entry '%s' in %s: '%s' is not a directory", name, x->archive,
                                 p + dl + 1);
        } else if (mkdir(p, 0755) != 0) {
            return hive_fail(err, HIVE_E_IO, "cannot create %s: %s", p, strerror(errno));
        }
    }
    return HIVE_OK;
}

static hive_status write_file(xctx *x, struct archive *a, struct archive_entry *e, const char *path,
                              const char *name, hive_error **err) {
    int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (declared < 0 || (uint64_t)declared > x->lim->max_bytes - x->bytes)
        return hive_fail(err, HIVE_E_INVALID, "%s unpacks to more than %llu bytes (at entry '%s'); refusing it",
                         x->archive, (unsigned long long)x->lim->max_bytes, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return hive_fail(err, HIVE_E_IO, "entry '%s' in %s: cannot create %s: %s", name, x->archive, path,
                         errno == EEXIST ? "duplicate entry" : strerror(errno));
    hive_status st = HIVE_OK;
    for (;;) {
        const void *buf;
        size_t n;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &n, &off);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            st = hive_fail(err, HIVE_E_IO, "%s: entry '%s': %s", x->archive, name, archive_error_string(a));
            break;
        }
        if (off < 0 || (uint64_t)off + n > x->lim->max_bytes - x->bytes) {
            st = hive_fail(err, HIVE_E_INVALID, "%s unpacks to more than %llu bytes (at entry '%s'); refusing it",
                           x->archive, (unsigned long long)x->lim->max_bytes, name);
            break;
        }
        if (pwrite(fd, buf, n, off) != (ssize_t)n) {
            st = hive_fail(err, HIVE_E_IO, "cannot write %s: %s", path, strerror(errno));
            break;
        }
    }
    struct stat sb;
    if (st == HIVE_OK && fstat(fd, &sb) == 0) x->bytes += (uint64_t)sb.st_size;
    if (close(fd) != 0 && st == HIVE_OK) st = hive_fail(err, HIVE_E_IO, "cannot write %s: %s", path, strerror(errno));
    return st;
}

static const char *kind_name(mode_t t) {
    switch (t) {
    case AE_IFCHR: return "character device";
    case AE_IFBLK: return "block device";
    case AE_IFIFO: return "fifo";
    case AE_IFSOCK: return "socket";
    default: return "special file";
    }
}

static hive_status one_entry(xctx *x, struct archive *a, struct archive_entry *e, hive_error **err) {
    const char *name = archive_entry_pathname(e);
    char rel[PATH_MAX], path[PATH_MAX * 2];
    if (clean_rel(name, rel, sizeof rel)) return traversal(x, name, err);
    if (++x->entries > x->lim->max_entries)
        return hive_fail(err, HIVE_E_INVALID, "%s has more than %llu entries; refusing it", x->archive,
                         (unsigned long long)x->lim->max_entries);
    if (!*rel) return HIVE_OK; /* "./" */
    snprintf(path, sizeof path, "%s/%s", x->dest, rel);
    hive_status st = make_parents(x, rel, name, err);
    if (st != HIVE_OK) return st;
    const char *hard = archive_entry_hardlink(e);
    if (hard) {
        char hrel[PATH_MAX], hpath[PATH_MAX * 2];
        if (clean_rel(hard, hrel, sizeof hrel) || !*hrel)
            return hive_fail(err, HIVE_E_INVALID, "refusing path traversal entry '%s' in %s (hard link to '%s')", name,
                             x->archive, hard);
        if ((st = make_parents(x, hrel, name, err)) != HIVE_OK) return st;
        snprintf(hpath, sizeof hpath, "%s/%s", x->dest, hrel);
        struct stat sb;
        if (lstat(hpath, &sb) != 0 || !S_ISREG(sb.st_mode))
            return hive_fail(err, HIVE_E_INVALID, "entry '%s' in %s: hard link to '%s', which is not a file unpacked before it",
                             name, x->archive, hard);
        if (link(hpath, path) != 0) return hive_fail(err, HIVE_E_IO, "cannot link %s: %s", path, strerror(errno));
        return HIVE_OK;
    }
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFDIR) {
        struct stat sb;
        if (mkdir(path, 0755) != 0 && !(errno == EEXIST && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)))
            return hive_fail(err, HIVE_E_IO, "entry '%s' in %s: cannot create %s: %s", name, x->archive, path, strerror(errno));
        return HIVE_OK;
    }
    if (type == AE_IFREG) return write_file(x, a, e, path, name, err);
    if (type == AE_IFLNK) {
        const char *target = archive_entry_symlink(e);
        if (!link_target_inside(rel, target))
            return hive_fail(err, HIVE_E_INVALID, "refusing path traversal entry '%s' in %s (symlink to '%s' points outside the package)",
                             name, x->archive, target ? target : "");
        if (symlink(target, path) != 0)
            return hive_fail(err, HIVE_E_IO, "entry '%s' in %s: cannot create symlink: %s", name, x->archive, strerror(errno));
        char **l = realloc(x->links, (x->n_links + 1) * sizeof *l);
        if (!l || !(l[x->n_links] = strdup(rel))) {
            if (l) x->links = l;
            return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        }
        x->links = l;
        x->n_links++;
        return HIVE_OK;
    }
    return hive_fail(err, HIVE_E_INVALID, "refusing %s entry '%s' in %s", kind_name(type), name, x->archive);
}

/* After unpacking, every symlink must resolve to something inside dest. */
static hive_status check_links(xctx *x, hive_error **err) {
    char root[PATH_MAX], path[PATH_MAX * 2], rp[PATH_MAX];
    if (!realpath(x->dest, root)) return hive_fail(err, HIVE_E_IO, "%s: %s", x->dest, strerror(errno));
    size_t rl = strlen(root);
    for (size_t i = 0; i < x->n_links; i++) {
        snprintf(path, sizeof path, "%s/%s", x->dest, x->links[i]);
        if (!realpath(path, rp))
            return hive_fail(err, HIVE_E_INVALID, "symlink '%s' in %s does not resolve: %s", x->links[i], x->archive,
                             strerror(errno));
        if (strncmp(rp, root, rl) || (rp[rl] && rp[rl] != '/'))
            return hive_fail(err, HIVE_E_INVALID, "refusing path traversal entry '%s' in %s (symlink resolves outside the package)",
                             x->links[i], x->archive);
    }
    return HIVE_OK;
}

hive_status hive_expert_extract(const char *archive, const char *dest, const hive_expert_pkg_limits *limits,
                                hive_error **err) {
    static const hive_expert_pkg_limits defaults = {HIVE_EXPERT_MAX_BYTES, HIVE_EXPERT_MAX_ENTRIES};
    xctx x = {archive, dest, limits ? limits : &defaults, 0, 0, NULL, 0};
    struct archive *a = archive_read_new();
    if (!a) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    hive_status st = HIVE_OK;
    if (archive_read_open_filename(a, archive, 1 << 16) != ARCHIVE_OK) {
        st = hive_fail(err, HIVE_E_INVALID, "%s is not a readable .expert archive (tar, optionally compressed): %s",
                       archive, archive_error_string(a));
    } else {
        struct archive_entry *e;
        for (;;) {
            int r = archive_read_next_header(a, &e);
            if (r == ARCHIVE_EOF) break;
            if (r < ARCHIVE_WARN) {
                st = hive_fail(err, HIVE_E_INVALID, "%s: %s", archive, archive_error_string(a));
                break;
            }
            if ((st = one_entry(&x, a, e, err)) != HIVE_OK) break;
        }
        if (st == HIVE_OK && x.entries == 0) st = hive_fail(err, HIVE_E_INVALID, "%s is an empty archive", archive);
        if (st == HIVE_OK) st = check_links(&x, err);
    }
    archive_read_free(a);
    for (size_t i = 0; i < x.n_links; i++) free(x.links[i]);
    free(x.links);
    return st;
}
#endif
