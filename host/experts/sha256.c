/* File hashing with a path + size + mtime cache (see sha256.h). */
#include "experts/sha256.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#include "experts/cachedir.h"
#include "util/error.h"
#include "util/log.h"

int hive_sha256_is_hex(const char *s) {
    if (!s) return 0;
    size_t i = 0;
    for (; s[i]; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return i == 64;
}

int hive_sha256_bytes(const void *data, size_t n, char hex[HIVE_SHA256_HEX], unsigned char raw[32]) {
    unsigned char dig[32];
    unsigned int len = 0;
    if (!EVP_Digest(data, n, dig, &len, EVP_sha256(), NULL) || len != 32) return -1;
    if (raw) memcpy(raw, dig, 32);
    if (hex)
        for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    return 0;
}

hive_status hive_sha256_file(const char *path, char hex[HIVE_SHA256_HEX], hive_error **err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hive_fail(err, HIVE_E_IO, "cannot open %s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t cap = 1u << 20;
    unsigned char *buf = malloc(cap);
    hive_status st = HIVE_OK;
    if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        st = hive_fail(err, HIVE_E_NOMEM, "cannot start sha256 of %s", path);
        goto done;
    }
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            st = hive_fail(err, HIVE_E_IO, "cannot read %s: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0) break;
        if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
            st = hive_fail(err, HIVE_E_INTERNAL, "sha256 of %s failed", path);
            goto done;
        }
    }
    unsigned char dig[32];
    unsigned int len = 0;
    if (!EVP_DigestFinal_ex(ctx, dig, &len) || len != 32) {
        st = hive_fail(err, HIVE_E_INTERNAL, "sha256 of %s failed", path);
        goto done;
    }
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", dig[i]);
done:
    free(buf);
    EVP_MD_CTX_free(ctx);
    close(fd);
    return st;
}

/* ---- cache ---- */
typedef struct sha_entry {
    char *key; /* real path */
    long long size, mtime_s, mtime_ns;
    char hex[HIVE_SHA256_HEX];
    UT_hash_handle hh;
} sha_entry;

static sha_entry *g_cache;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void hive_sha256_cache_clear(void) {
    pthread_mutex_lock(&g_lock);
    sha_entry *e, *t;
    HASH_ITER(hh, g_cache, e, t) {
        HASH_DEL(g_cache, e);
        free(e->key);
        free(e);
    }
    pthread_mutex_unlock(&g_lock);
}

static unsigned long long fnv1a(const char *s) {
    unsigned long long h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Disk entry: "<size> <mtime_s> <mtime_ns> <hex>\n<realpath>\n". */
static int disk_path(const char *rp, char *out, size_t cap) {
    char dir[4096];
    hive_error *e = NULL;
    if (hive_cache_subdir("sha256", dir, sizeof dir, &e) != HIVE_OK) {
        HLOG_DEBUG("sha256 cache: %s", hive_error_message(e));
        hive_error_free(e);
        return -1;
    }
    int n = snprintf(out, cap, "%s/%016llx", dir, fnv1a(rp));
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

static int disk_lookup(const char *rp, const struct stat *st, char hex[HIVE_SHA256_HEX]) {
    char p[4200], line[PATH_MAX + 2], h[80];
    if (disk_path(rp, p, sizeof p)) return -1;
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    long long size, ms, mns;
    int ok = fscanf(f, "%lld %lld %lld %79s\n", &size, &ms, &mns, h) == 4 && fgets(line, sizeof line, f);
    fclose(f);
    if (!ok) return -1;
    line[strcspn(line, "\n")] = 0;
    if (strcmp(line, rp) || size != (long long)st->st_size || ms != (long long)st->st_mtim.tv_sec ||
        mns != (long long)st->st_mtim.tv_nsec || !hive_sha256_is_hex(h))
        return -1;
    memcpy(hex, h, HIVE_SHA256_HEX);
    return 0;
}

static void disk_store(const char *rp, const struct stat *st, const char *hex) {
    char p[4200], tmp[4300];
    if (disk_path(rp, p, sizeof p)) return;
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", p, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    int ok = fprintf(f, "%lld %lld %lld %s\n%s\n", (long long)st->st_size, (long long)st->st_mtim.tv_sec,
                     (long long)st->st_mtim.tv_nsec, hex, rp) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, p)) remove(tmp);
}

hive_status hive_sha256_file_cached(const char *path, char hex[HIVE_SHA256_HEX], hive_error **err) {
    char rp[PATH_MAX];
    struct stat st;
    if (!realpath(path, rp) || stat(rp, &st))
        return hive_fail(err, HIVE_E_IO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return hive_fail(err, HIVE_E_INVALID, "%s is not a regular file", path);
    pthread_mutex_lock(&g_lock);
    sha_entry *e = NULL;
    HASH_FIND_STR(g_cache, rp, e);
    int hit = e && e->size == (long long)st.st_size && e->mtime_s == (long long)st.st_mtim.tv_sec &&
              e->mtime_ns == (long long)st.st_mtim.tv_nsec;
    if (hit) memcpy(hex, e->hex, HIVE_SHA256_HEX);
    pthread_mutex_unlock(&g_lock);
    if (hit) return HIVE_OK;
    if (disk_lookup(rp, &st, hex)) {
        HLOG_DEBUG("sha256: hashing %s (%lld bytes)", rp, (long long)st.st_size);
        hive_status s = hive_sha256_file(rp, hex, err);
        if (s != HIVE_OK) return s;
        disk_store(rp, &st, hex);
    }
    pthread_mutex_lock(&g_lock);
    HASH_FIND_STR(g_cache, rp, e);
    if (!e && (e = calloc(1, sizeof *e))) {
        if ((e->key = strdup(rp))) {
            HASH_ADD_KEYPTR(hh, g_cache, e->key, strlen(e->key), e);
        } else {
            free(e);
            e = NULL;
        }
    }
    if (e) {
        e->size = (long long)st.st_size;
        e->mtime_s = (long long)st.st_mtim.tv_sec;
        e->mtime_ns = (long long)st.st_mtim.tv_nsec;
        memcpy(e->hex, hex, HIVE_SHA256_HEX);
    }
    pthread_mutex_unlock(&g_lock);
    return HIVE_OK;
}
