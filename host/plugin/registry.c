/* Scans plugin directories in order, loads each candidate, keeps the first
 * plugin of each name, and selects a backend. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/registry.h"
#include "util/error.h"
#include "util/log.h"

static const char *const k_dir_source_names[] = {"--plugin-dir", "HIVE_PLUGIN_PATH", "config plugin_dirs",
                                                 "default"};

const char *hive_dir_source_name(hive_dir_source s) { return k_dir_source_names[s]; }

static int add_dir(hive_registry *r, const char *dir, hive_dir_source src) {
    for (size_t i = 0; i < r->n_dirs; i++)
        if (strcmp(r->dirs[i], dir) == 0) return 0;
    char **d = realloc(r->dirs, (r->n_dirs + 1) * sizeof *d);
    if (!d) return -1;
    r->dirs = d;
    hive_dir_source *s = realloc(r->dir_sources, (r->n_dirs + 1) * sizeof *s);
    if (!s) return -1;
    r->dir_sources = s;
    if (!(r->dirs[r->n_dirs] = strdup(dir))) return -1;
    r->dir_sources[r->n_dirs++] = src;
    return 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int has_so_suffix(const char *n) {
    size_t l = strlen(n);
    return l > 3 && strcmp(n + l - 3, ".so") == 0;
}

static hive_plugin *find_by_realpath(const hive_registry *r, const char *rp) {
    for (hive_plugin *p = r->all; p; p = p->next)
        if (p->realpath && p->status == HIVE_PLUGIN_LOADED && strcmp(p->realpath, rp) == 0) return p;
    return NULL;
}

static void append(hive_registry *r, hive_plugin *p) {
    hive_plugin **tail = &r->all;
    while (*tail) tail = &(*tail)->next;
    *tail = p;
}

static void consider(hive_registry *r, const char *path, hive_dir_source src) {
    hive_plugin *p = calloc(1, sizeof *p);
    if (!p) return;
    p->file = strdup(path);
    p->dir_source = src;
    p->config = r->config;
    p->reason = strdup("");
    append(r, p);

    /* The same file reached twice (symlink, or a directory listed twice) is
     * reported, not loaded again. */
    char rp[PATH_MAX];
    if (realpath(path, rp)) {
        hive_plugin *same = find_by_realpath(r, rp);
        if (same) {
            p->realpath = strdup(rp);
            p->status = HIVE_PLUGIN_DUPLICATE;
            free(p->reason);
            if (asprintf(&p->reason, "same file as %s (via symlink or repeated directory); ignored", same->file) < 0)
                p->reason = NULL;
            return;
        }
    }
    hive_plugin_load(p);
    if (p->status == HIVE_PLUGIN_LOADED) {
        hive_plugin *first = hive_registry_find(r, p->name);
        if (first) {
            p->status = HIVE_PLUGIN_DUPLICATE;
            free(p->reason);
            if (asprintf(&p->reason, "plugin name '%s' already provided by %s (first found wins); ignored", p->name,
                         first->file) < 0)
                p->reason = NULL;
            return;
        }
        HASH_ADD_KEYPTR(hh, r->by_name, p->name, strlen(p->name), p);
        HLOG_DEBUG("plugin %s %s loaded from %s (ABI %u.%u, agreed minor %u)", p->name,
                   p->version ? p->version : "?", p->file, p->info.abi_major, p->info.abi_minor, p->agreed_minor);
    } else {
        HLOG_DEBUG("plugin %s rejected: %s", p->file, p->reason);
    }
}

static void scan_dir(hive_registry *r, const char *dir, hive_dir_source src) {
    DIR *d = opendir(dir);
    if (!d) {
        /* an explicit directory that is missing is worth a warning; the default is not */
        if (src != HIVE_DIR_DEFAULT) HLOG_WARN("plugin directory %s (%s): %s", dir, k_dir_source_names[src], strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!has_so_suffix(e->d_name)) continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn) break;
        names = nn;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names); /* deterministic order */
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        consider(r, path, src);
        free(names[i]);
    }
    free(names);
}

static void default_dirs(hive_registry *r) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    char *bindir = dirname(exe);
    char dir[PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s/%s", bindir, HIVE_PLUGIN_REL_DIR);
    char rp[PATH_MAX];
    if (realpath(dir, rp)) add_dir(r, rp, HIVE_DIR_DEFAULT);
    /* the build tree always uses lib/hive/plugins */
    snprintf(dir, sizeof dir, "%s/../lib/hive/plugins", bindir);
    if (realpath(dir, rp)) add_dir(r, rp, HIVE_DIR_DEFAULT);
}

hive_status hive_registry_scan(hive_registry *r, const hive_config *cfg, hive_error **err) {
    memset(r, 0, sizeof *r);
    r->config = cfg;
    hive_cfg_source dsrc = hive_config_source(cfg, "plugin_dirs");
    for (size_t i = 0; i < hive_config_list_len(cfg, "plugin_dirs"); i++)
        if (add_dir(r, hive_config_list_item(cfg, "plugin_dirs", i), dsrc == HIVE_SRC_CLI ? HIVE_DIR_CLI : HIVE_DIR_CONFIG))
            return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (hive_config_bool(cfg, "default_plugins")) {
        const char *env = getenv("HIVE_PLUGIN_PATH");
        if (env && *env) {
            char *dup = strdup(env), *save = NULL;
            for (char *tok = dup ? strtok_r(dup, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save))
                add_dir(r, tok, HIVE_DIR_ENV);
            free(dup);
        }
        default_dirs(r);
    }
    for (size_t i = 0; i < r->n_dirs; i++) scan_dir(r, r->dirs[i], r->dir_sources[i]);
    return HIVE_OK;
}

hive_plugin *hive_registry_find(const hive_registry *r, const char *name) {
    hive_plugin *p = NULL;
    if (name) HASH_FIND_STR(r->by_name, name, p);
    return p;
}

void hive_registry_warn_rejected(const hive_registry *r) {
    for (const hive_plugin *p = r->all; p; p = p->next)
        if (p->status == HIVE_PLUGIN_REJECTED)
            HLOG_WARN("plugin %s (from %s) skipped: %s", p->file, hive_dir_source_name(p->dir_source), p->reason);
}

void hive_registry_free(hive_registry *r) {
    HASH_CLEAR(hh, r->by_name);
    hive_plugin *p = r->all;
    while (p) {
        hive_plugin *next = p->next;
        /* Unload only after every object of the plugin is gone (callers free
         * engines and adapters first). */
        if (p->dl) dlclose(p->dl);
        free(p->file);
        free(p->realpath);
        free(p->reason);
        free(p->name);
        free(p->version);
        free(p->build);
        free(p->description);
        free(p->devices);
        free(p);
        p = next;
    }
    for (size_t i = 0; i < r->n_dirs; i++) free(r->dirs[i]);
    free(r->dirs);
    free(r->dir_sources);
    memset(r, 0, sizeof *r);
}
