/* Derived-data blobs of adapter plugins (see adapter_store.h). */
#include "experts/adapter_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experts/base_match.h"
#include "experts/cachedir.h"
#include "experts/sha256.h"
#include "util/error.h"
#include "util/log.h"

#define ADAPTER_STORE_VERSION 1 /* bump when the base access changes what it gives (dequantization) */
#define BLOB_MAGIC "HIVEBLB1"
#define BLOB_HEADER 48 /* magic 8, payload size 8, sha256 32 */
#define BLOB_MAX (1ull << 32) /* far above any norm table; a larger size field means damage */

static hive_adapter_store_stats g_stats;

void hive_adapter_store_get_stats(hive_adapter_store_stats *out) {
    out->hits = __atomic_load_n(&g_stats.hits, __ATOMIC_RELAXED);
    out->misses = __atomic_load_n(&g_stats.misses, __ATOMIC_RELAXED);
    out->damaged = __atomic_load_n(&g_stats.damaged, __ATOMIC_RELAXED);
    out->writes = __atomic_load_n(&g_stats.writes, __ATOMIC_RELAXED);
    out->write_failures = __atomic_load_n(&g_stats.write_failures, __ATOMIC_RELAXED);
}

static void count(uint64_t *c) { __atomic_add_fetch(c, 1, __ATOMIC_RELAXED); }

static int name_ok(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

const char *hive_adapter_store_dir(hive_adapter_store *s) {
    if (s->state) return s->state > 0 ? s->dir : NULL;
    s->state = -1;
    char base_hex[HIVE_SHA256_HEX], ad_hex[HIVE_SHA256_HEX], sub[256];
    hive_error *e = NULL;
    if (hive_sha256_file_cached(s->model_file, base_hex, &e) != HIVE_OK ||
        hive_sha256_file_cached(s->weights, ad_hex, &e) != HIVE_OK) {
        HLOG_INFO("adapter cache off for %s: %s", s->weights, hive_error_message(e));
        hive_error_free(e);
        return NULL;
    }
    snprintf(sub, sizeof sub, "adapter-data/%s/%s-%.16s", base_hex, ad_hex, s->config_hex);
    if (hive_cache_subdir(sub, s->dir, sizeof s->dir, &e) != HIVE_OK) {
        HLOG_INFO("adapter cache off for %s: %s", s->weights, hive_error_message(e));
        hive_error_free(e);
        return NULL;
    }
    s->state = 1;
    return s->dir;
}

static void damaged(const char *path, const char *why) {
    count(&g_stats.damaged);
    HLOG_WARN("adapter cache: %s is damaged (%s): deleted, the adapter recomputes it", path, why);
    if (unlink(path) && errno != ENOENT) HLOG_WARN("adapter cache: cannot delete %s: %s", path, strerror(errno));
}

static int read_all(int fd, void *buf, size_t n) {
    for (size_t o = 0; o < n;) {
        ssize_t r = read(fd, (char *)buf + o, n - o);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        o += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
    for (size_t o = 0; o < n;) {
        ssize_t w = write(fd, (const char *)buf + o, n - o);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        o += (size_t)w;
    }
    return 0;
}

static hive_status store_get(void *ctx, const char *name, void **data, uint64_t *size) {
    hive_adapter_store *s = ctx;
    if (data) *data = NULL;
    if (size) *size = 0;
    const char *dir = name_ok(name) && data && size ? hive_adapter_store_dir(s) : NULL;
    if (!dir) return HIVE_E_NOTFOUND;
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        count(&g_stats.misses);
        return HIVE_E_NOTFOUND;
    }
    unsigned char head[BLOB_HEADER], sum[32];
    uint64_t n = 0;
    struct stat st;
    void *buf = NULL;
    const char *why = NULL;
    int have_head = !fstat(fd, &st) && !read_all(fd, head, sizeof head);
    if (have_head) memcpy(&n, head + 8, 8);
    if (!have_head) why = "shorter than its header";
    else if (memcmp(head, BLOB_MAGIC, 8)) why = "bad magic";
    else if (n > BLOB_MAX || (uint64_t)st.st_size != BLOB_HEADER + n) why = "size does not match its header";
    else if (!(buf = malloc(n ? (size_t)n : 1))) why = "out of memory reading it";
    else if (read_all(fd, buf, (size_t)n)) why = "short read";
    else if (hive_sha256_bytes(buf, (size_t)n, NULL, sum) || memcmp(sum, head + 16, 32)) why = "checksum mismatch";
    close(fd);
    if (why) {
        free(buf);
        damaged(path, why);
        return HIVE_E_NOTFOUND;
    }
    count(&g_stats.hits);
    HLOG_DEBUG("adapter cache: read %s (%llu bytes)", path, (unsigned long long)n);
    *data = buf;
    *size = n;
    return HIVE_OK;
}

static void store_put(void *ctx, const char *name, const void *data, uint64_t size) {
    hive_adapter_store *s = ctx;
    const char *dir = name_ok(name) && (data || !size) && size <= BLOB_MAX ? hive_adapter_store_dir(s) : NULL;
    if (!dir) return;
    char path[PATH_MAX + 80], tmp[PATH_MAX + 100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, name);
    unsigned char head[BLOB_HEADER];
    memcpy(head, BLOB_MAGIC, 8);
    memcpy(head + 8, &size, 8);
    int fd = -1, ok = hive_sha256_bytes(data, (size_t)size, NULL, head + 16) == 0 && (fd = mkstemp(tmp)) >= 0;
    int saved = errno;
    if (ok) {
        ok = !write_all(fd, head, sizeof head) && !write_all(fd, data, (size_t)size);
        saved = errno;
        ok = !close(fd) && ok;
        if (ok && rename(tmp, path)) ok = 0, saved = errno;
        if (!ok) unlink(tmp);
    }
    if (!ok) {
        count(&g_stats.write_failures);
        HLOG_INFO("adapter cache: cannot write %s: %s (not cached)", path, strerror(saved));
        return;
    }
    count(&g_stats.writes);
    HLOG_DEBUG("adapter cache: wrote %s (%llu bytes)", path, (unsigned long long)size);
}

void hive_adapter_store_init(hive_adapter_store *s, const char *model_path, const char *weights,
                             const char *config_json, const char *layout) {
    memset(s, 0, sizeof *s);
    s->api.struct_size = sizeof s->api;
    s->api.ctx = s;
    s->api.get = store_get;
    s->api.put = store_put;
    s->state = -1;
    if (!model_path || !*model_path || !weights || !*weights || !config_json) return;
    hive_base_model_file(model_path, s->model_file, sizeof s->model_file);
    if (!*s->model_file || snprintf(s->weights, sizeof s->weights, "%s", weights) >= (int)sizeof s->weights) return;
    /* everything else that changes what a plugin derives: the config text, how
     * the host lays the base weights out, and this store's format */
    size_t n = strlen(config_json) + (layout ? strlen(layout) : 0) + 32;
    char *key = malloc(n);
    if (!key) return;
    snprintf(key, n, "%s\n%s\nstore %d", config_json, layout ? layout : "", ADAPTER_STORE_VERSION);
    int bad = hive_sha256_bytes(key, strlen(key), s->config_hex, NULL);
    free(key);
    if (!bad) s->state = 0;
}
