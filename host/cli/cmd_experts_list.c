/* `hive-host experts list DIR [--json]` (docs/EXPERTS.md): the experts an
 * --expert-dir DIR offers, as the server and bench discover them (by file
 * name, catalog.h), each with its manifest read: name, type, rank, weight
 * bytes, description. An entry that cannot be read is listed with its error
 * and does not stop the others; the exit status is then 1. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "experts/catalog.h"
#include "experts/manifest.h"
#include "experts/package.h"
#include "util/error.h"

typedef struct list_row {
    const hive_catalog_entry *e;
    char type[64];        /* "lora", "lora+ia3" */
    int64_t rank;         /* largest r, 0 when no adapter has one */
    uint64_t bytes;       /* adapter_model.safetensors, summed */
    char *description, *version, *manifest_name;
    char *error;          /* NULL when the expert could be read */
} list_row;

/* Reads the package as loading would (manifest checks included), without
 * loading adapters; a problem the loader would refuse is the row's error. */
static void read_row(list_row *r) {
    hive_expert_pkg pkg;
    hive_manifest m;
    hive_problems probs = {0};
    hive_error *err = NULL;
    memset(&m, 0, sizeof m);
    if (hive_expert_pkg_open(r->e->path, NULL, &pkg, &err) != HIVE_OK) {
        r->error = strdup(hive_error_message(err));
        hive_error_free(err);
        return;
    }
    if (hive_manifest_load(pkg.dir, pkg.manifest, &m, &probs, &err) != HIVE_OK) {
        r->error = strdup(hive_error_message(err));
    } else if (probs.n) {
        char buf[2048];
        snprintf(buf, sizeof buf, "%s%s", probs.msgs[0], probs.n > 1 ? " (and more problems: experts validate)" : "");
        r->error = strdup(buf);
    } else {
        const hive_manifest_base *b = m.n_bases ? &m.bases[0] : NULL;
        for (size_t i = 0; b && i < b->n_adapters; i++) {
            const hive_manifest_adapter *a = &b->adapters[i];
            size_t o = strlen(r->type);
            snprintf(r->type + o, sizeof r->type - o, "%s%s", o ? "+" : "", a->type);
            int64_t rank = a->cfg_r > 0 ? a->cfg_r : a->r;
            if (rank > r->rank) r->rank = rank;
            struct stat st;
            if (a->weights && stat(a->weights, &st) == 0) r->bytes += (uint64_t)st.st_size;
        }
        r->description = strdup(m.description ? m.description : "");
        r->version = strdup(m.version ? m.version : "");
        r->manifest_name = strdup(m.name ? m.name : "");
    }
    hive_error_free(err);
    hive_problems_free(&probs);
    hive_manifest_free(&m);
    hive_expert_pkg_close(&pkg);
}

static void human_bytes(uint64_t b, char *out, size_t cap) {
    if (b < 1024) snprintf(out, cap, "%llu B", (unsigned long long)b);
    else if (b < (1u << 20)) snprintf(out, cap, "%.1f KiB", b / 1024.0);
    else snprintf(out, cap, "%.1f MiB", b / 1048576.0);
}

static void print_text(const list_row *rows, size_t n, const char *dir) {
    size_t w = 4;
    for (size_t i = 0; i < n; i++)
        if (strlen(rows[i].e->name) > w) w = strlen(rows[i].e->name);
    printf("%-*s  %-10s %4s  %9s  %s\n", (int)w, "NAME", "TYPE", "RANK", "SIZE", "DESCRIPTION");
    size_t broken = 0;
    for (size_t i = 0; i < n; i++) {
        const list_row *r = &rows[i];
        if (r->error) {
            printf("%-*s  %-10s %4s  %9s  (cannot be read: see below)\n", (int)w, r->e->name, "-", "-", "-");
            broken++;
            continue;
        }
        char size[32], rank[16];
        human_bytes(r->bytes, size, sizeof size);
        snprintf(rank, sizeof rank, "%lld", (long long)r->rank);
        printf("%-*s  %-10s %4s  %9s  %s\n", (int)w, r->e->name, r->type, r->rank ? rank : "-", size, r->description);
    }
    printf("%zu expert%s in %s", n, n == 1 ? "" : "s", dir);
    if (broken) printf(", %zu cannot be read", broken);
    printf("\n");
    for (size_t i = 0; i < n; i++)
        if (rows[i].error) fprintf(stderr, "hive-host: expert '%s': %s\n", rows[i].e->name, rows[i].error);
}

static void print_json(const list_row *rows, size_t n, const char *dir) {
    cJSON *o = cJSON_CreateObject(), *a;
    cJSON_AddStringToObject(o, "dir", dir);
    cJSON_AddNumberToObject(o, "count", (double)n);
    a = cJSON_AddArrayToObject(o, "experts");
    size_t broken = 0;
    for (size_t i = 0; i < n; i++) {
        const list_row *r = &rows[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", r->e->name);
        cJSON_AddStringToObject(x, "path", r->e->path);
        cJSON_AddBoolToObject(x, "ok", !r->error);
        if (r->error) {
            cJSON_AddStringToObject(x, "error", r->error);
            broken++;
        } else {
            cJSON_AddStringToObject(x, "manifest_name", r->manifest_name);
            cJSON_AddStringToObject(x, "version", r->version);
            cJSON_AddStringToObject(x, "type", r->type);
            if (r->rank) cJSON_AddNumberToObject(x, "rank", (double)r->rank);
            else cJSON_AddNullToObject(x, "rank");
            cJSON_AddNumberToObject(x, "size_bytes", (double)r->bytes);
            cJSON_AddStringToObject(x, "description", r->description);
        }
        cJSON_AddItemToArray(a, x);
    }
    cJSON_AddNumberToObject(o, "broken", (double)broken);
    char *txt = cJSON_Print(o);
    if (txt) printf("%s\n", txt);
    free(txt);
    cJSON_Delete(o);
}

int hive_cmd_experts_list(hive_cli *cli) {
    if (cli->n_positional != 2) {
        fprintf(stderr, "usage: hive-host experts list DIR [--json]\n");
        return 2;
    }
    const char *dir = cli->positional[1];
    struct stat st;
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "hive-host: experts list: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "hive-host: experts list: %s is not a directory (experts inspect reads one package)\n", dir);
        return 1;
    }
    hive_catalog cat = {0};
    hive_error *err = NULL;
    if (hive_catalog_scan_dir(&cat, dir, &err) != HIVE_OK) {
        fprintf(stderr, "hive-host: experts list: %s\n", hive_error_message(err));
        hive_error_free(err);
        return 1;
    }
    list_row *rows = calloc(cat.n ? cat.n : 1, sizeof *rows);
    if (!rows) {
        hive_catalog_free(&cat);
        fprintf(stderr, "hive-host: out of memory\n");
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < cat.n; i++) {
        rows[i].e = &cat.v[i];
        read_row(&rows[i]);
        if (rows[i].error) rc = 1;
    }
    if (cli->json) print_json(rows, cat.n, dir);
    else print_text(rows, cat.n, dir);
    for (size_t i = 0; i < cat.n; i++) {
        free(rows[i].description);
        free(rows[i].version);
        free(rows[i].manifest_name);
        free(rows[i].error);
    }
    free(rows);
    hive_catalog_free(&cat);
    return rc;
}
