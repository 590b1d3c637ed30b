/* Expert catalog (see catalog.h). */
#include "experts/catalog.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uthash.h>

#include "experts/package.h"
#include "experts/problems.h"
#include "util/error.h"
#include "util/log.h"

/* Guards the lazily read fields of every catalog's entries: resolving is rare
 * (once per expert) and short, so one lock for all is enough. */
static pthread_mutex_t g_resolve_mu = PTHREAD_MUTEX_INITIALIZER;

/* The fields read from the manifest (the entry keeps its name and path). */
static void entry_clear_manifest(hive_catalog_entry *e) {
    free(e->description);
    free(e->version);
    for (size_t i = 0; i < e->n_decoding; i++) free(e->decoding[i].value);
    free(e->decoding);
    for (size_t i = 0; i < e->keywords.n; i++) free(e->keywords.v[i]);
    free(e->keywords.v);
    e->description = e->version = NULL;
    e->decoding = NULL;
    e->n_decoding = 0;
    e->keywords = (hive_strv){0};
    e->resolved = 0;
}

static void entry_free(hive_catalog_entry *e) {
    free(e->name);
    free(e->path);
    entry_clear_manifest(e);
}

/* Name -> entry index, so finding a name stays O(1) with thousands of experts. */
typedef struct hive_catalog_name {
    size_t index;
    UT_hash_handle hh; /* key: the entry's name (owned by the entry) */
} hive_catalog_name;

void hive_catalog_free(hive_catalog *c) {
    hive_catalog_name *x, *tmp;
    HASH_ITER(hh, c->by_name, x, tmp) {
        HASH_DEL(c->by_name, x);
        free(x);
    }
    for (size_t i = 0; i < c->n; i++) entry_free(&c->v[i]);
    free(c->v);
    c->v = NULL;
    c->n = c->cap = 0;
}

const hive_catalog_entry *hive_catalog_find(const hive_catalog *c, const char *name) {
    hive_catalog_name *x = NULL;
    HASH_FIND_STR(c->by_name, name, x);
    return x ? &c->v[x->index] : NULL;
}

/* "dir/json.expert" -> "json" */
static char *stem(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 7 && !strcmp(b + n - 7, ".expert")) n -= 7;
    return strndup(b, n);
}

/* Fills e's manifest fields from its package; the manifest's name into *name
 * when asked (NULL: not wanted). */
static hive_status read_manifest(hive_catalog_entry *e, char **name, hive_error **err) {
    hive_expert_pkg pkg;
    hive_manifest m;
    hive_problems probs = {0};
    memset(&m, 0, sizeof m);
    hive_status st = hive_expert_pkg_open(e->path, NULL, &pkg, err);
    if (st != HIVE_OK) return st;
    st = hive_manifest_load(pkg.dir, pkg.manifest, &m, &probs, err);
    hive_expert_pkg_close(&pkg);
    hive_problems_free(&probs);
    if (st != HIVE_OK) {
        hive_manifest_free(&m);
        return st;
    }
    hive_catalog_entry t = {0};
    t.description = strdup(m.description ? m.description : "");
    t.version = strdup(m.version ? m.version : "");
    t.decoding = calloc(m.n_decoding ? m.n_decoding : 1, sizeof *t.decoding);
    int ok = t.description && t.version && t.decoding;
    for (size_t i = 0; ok && i < m.n_decoding; i++) {
        t.decoding[i] = m.decoding[i];
        ok = (t.decoding[i].value = strdup(m.decoding[i].value)) != NULL;
        if (ok) t.n_decoding++;
    }
    if (ok && name) ok = (*name = m.name && *m.name ? strdup(m.name) : stem(e->path)) != NULL;
    t.keywords = m.keywords; /* taken over, for the router */
    m.keywords = (hive_strv){0};
    hive_manifest_free(&m);
    if (!ok) {
        entry_clear_manifest(&t);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    e->description = t.description;
    e->version = t.version;
    e->decoding = t.decoding;
    e->n_decoding = t.n_decoding;
    e->keywords = t.keywords;
    e->resolved = 1;
    return HIVE_OK;
}

/* Appends an entry (name and path taken over); NULL when out of memory. */
static hive_catalog_entry *append(hive_catalog *c, char *name, char *path) {
    if (c->n == c->cap) { /* doubling: a scan of thousands appends in linear time */
        size_t cap = c->cap ? 2 * c->cap : 16;
        hive_catalog_entry *v = realloc(c->v, cap * sizeof *v);
        if (v) c->v = v, c->cap = cap;
    }
    if (c->n == c->cap || !name || !path) {
        free(name);
        free(path);
        return NULL;
    }
    hive_catalog_name *x = calloc(1, sizeof *x);
    if (!x) {
        free(name);
        free(path);
        return NULL;
    }
    x->index = c->n;
    hive_catalog_entry *e = &c->v[c->n++];
    memset(e, 0, sizeof *e);
    e->name = name;
    e->path = path;
    HASH_ADD_KEYPTR(hh, c->by_name, e->name, strlen(e->name), x);
    return e;
}

hive_status hive_catalog_add_path(hive_catalog *c, const char *path, hive_error **err) {
    hive_catalog_entry e = {0};
    char *name = NULL;
    if (!(e.path = strdup(path))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    hive_status st = read_manifest(&e, &name, err);
    if (st != HIVE_OK) {
        free(e.path);
        return st;
    }
    if (hive_catalog_find(c, name)) {
        HLOG_DEBUG("expert %s: %s already names %s; keeping the first", path, name, hive_catalog_find(c, name)->path);
        free(name);
        entry_free(&e);
        return HIVE_OK;
    }
    hive_catalog_entry *at = append(c, name, e.path);
    if (!at) {
        entry_clear_manifest(&e);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    e.name = at->name;
    *at = e;
    return HIVE_OK;
}

hive_status hive_catalog_resolve(const hive_catalog *c, size_t i, hive_error **err) {
    if (i >= c->n) return hive_fail(err, HIVE_E_INVALID, "no catalog entry %zu", i);
    hive_catalog_entry *e = &c->v[i];
    pthread_mutex_lock(&g_resolve_mu);
    hive_status st = HIVE_OK;
    if (!e->resolved) {
        hive_error *why = NULL;
        char *placeholder_desc = e->description, *placeholder_version = e->version;
        st = read_manifest(e, NULL, &why); /* fills e only when it succeeds */
        if (st == HIVE_OK) {
            free(placeholder_desc);
            free(placeholder_version);
        } else {
            if (why) hive_error_prefix(why, "expert '%s' (%s) cannot be used", e->name, e->path);
            if (err) *err = why;
            else hive_error_free(why);
        }
    }
    pthread_mutex_unlock(&g_resolve_mu);
    return st;
}

size_t hive_catalog_resolve_all(const hive_catalog *c) {
    size_t ok = 0;
    for (size_t i = 0; i < c->n; i++) {
        hive_error *e = NULL;
        if (hive_catalog_resolve(c, i, &e) == HIVE_OK) ok++;
        else HLOG_WARN("%s", hive_error_message(e));
        hive_error_free(e);
    }
    return ok;
}

static int is_regular(const char *dir, const char *name) {
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

hive_status hive_catalog_scan_dir(hive_catalog *c, const char *dir, hive_error **err) {
    DIR *d = opendir(dir);
    if (!d) return hive_fail(err, HIVE_E_IO, "expert directory %s cannot be read: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn || !(nn[n] = strdup(de->d_name))) {
            free(nn ? nn : names);
            closedir(d);
            return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        }
        names = nn;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name); /* directories before same-named archives */
    for (size_t i = 0; i < n; i++) {
        char path[4096], manifest[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(manifest, sizeof manifest, "%s/manifest.json", path);
        size_t l = strlen(names[i]);
        char *name = NULL;
        struct stat sb;
        int is_pkg = (l > 7 && !strcmp(names[i] + l - 7, ".expert")) || stat(manifest, &sb) == 0 ||
                     is_regular(path, "adapter_config.json"); /* a plain PEFT directory; no file is opened */
        if (!is_pkg || hive_catalog_find(c, (name = stem(names[i])) ? name : "")) {
            if (is_pkg) HLOG_DEBUG("expert %s: %s already names %s; keeping the first", path, name,
                                   hive_catalog_find(c, name)->path);
            free(name);
            free(names[i]);
            continue;
        }
        free(names[i]);
        hive_catalog_entry *e = append(c, name, strdup(path));
        if (!e || !(e->description = strdup("")) || !(e->version = strdup(""))) {
            for (size_t k = i + 1; k < n; k++) free(names[k]);
            free(names);
            return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        }
    }
    free(names);
    return HIVE_OK;
}
