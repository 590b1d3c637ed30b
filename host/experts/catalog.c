/* Expert catalog (see catalog.h). */
#include "experts/catalog.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experts/package.h"
#include "experts/peft_dir.h"
#include "experts/problems.h"
#include "util/error.h"
#include "util/log.h"

static void entry_free(hive_catalog_entry *e) {
    free(e->name);
    free(e->path);
    free(e->description);
    free(e->version);
    for (size_t i = 0; i < e->n_decoding; i++) free(e->decoding[i].value);
    free(e->decoding);
    for (size_t i = 0; i < e->keywords.n; i++) free(e->keywords.v[i]);
    free(e->keywords.v);
}

void hive_catalog_free(hive_catalog *c) {
    for (size_t i = 0; i < c->n; i++) entry_free(&c->v[i]);
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

const hive_catalog_entry *hive_catalog_find(const hive_catalog *c, const char *name) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].name, name)) return &c->v[i];
    return NULL;
}

/* "dir/json.expert" -> "json" */
static char *stem(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 7 && !strcmp(b + n - 7, ".expert")) n -= 7;
    return strndup(b, n);
}

hive_status hive_catalog_add_path(hive_catalog *c, const char *path, hive_error **err) {
    hive_expert_pkg pkg;
    hive_manifest m;
    hive_problems probs = {0};
    memset(&m, 0, sizeof m);
    hive_status st = hive_expert_pkg_open(path, NULL, &pkg, err);
    if (st != HIVE_OK) return st;
    st = hive_manifest_load(pkg.dir, pkg.manifest, &m, &probs, err);
    hive_expert_pkg_close(&pkg);
    hive_problems_free(&probs);
    if (st != HIVE_OK) {
        hive_manifest_free(&m);
        return st;
    }
    char *name = m.name && *m.name ? strdup(m.name) : stem(path);
    if (name && hive_catalog_find(c, name)) {
        HLOG_DEBUG("expert %s: %s already names %s; keeping the first", path, name, hive_catalog_find(c, name)->path);
        free(name);
        hive_manifest_free(&m);
        return HIVE_OK;
    }
    hive_catalog_entry *v = realloc(c->v, (c->n + 1) * sizeof *v);
    if (v) c->v = v;
    hive_catalog_entry e = {0};
    e.name = name;
    e.path = strdup(path);
    e.description = strdup(m.description ? m.description : "");
    e.version = strdup(m.version ? m.version : "");
    e.decoding = calloc(m.n_decoding ? m.n_decoding : 1, sizeof *e.decoding);
    int ok = v && e.name && e.path && e.description && e.version && e.decoding;
    for (size_t i = 0; ok && i < m.n_decoding; i++) {
        e.decoding[i] = m.decoding[i];
        ok = (e.decoding[i].value = strdup(m.decoding[i].value)) != NULL;
        if (ok) e.n_decoding++;
    }
    e.keywords = m.keywords; /* taken over, for the router */
    m.keywords = (hive_strv){0};
    hive_manifest_free(&m);
    if (!ok) {
        entry_free(&e);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    c->v[c->n++] = e;
    return HIVE_OK;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

hive_status hive_catalog_scan_dir(hive_catalog *c, const char *dir, hive_error **err) {
    DIR *d = opendir(dir);
    if (!d) return hive_fail(err, HIVE_E_IO, "expert directory %s cannot be read", dir);
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
        struct stat sb;
        int is_pkg = (l > 7 && !strcmp(names[i] + l - 7, ".expert")) || stat(manifest, &sb) == 0 || hive_peft_dir_is(path);
        free(names[i]);
        if (!is_pkg) continue;
        hive_error *e = NULL;
        if (hive_catalog_add_path(c, path, &e) != HIVE_OK) {
            HLOG_WARN("expert %s skipped: %s", path, hive_error_message(e));
            hive_error_free(e);
        }
    }
    free(names);
    return HIVE_OK;
}
