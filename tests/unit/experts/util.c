/* Test helpers (see util.h). */
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experts/cachedir.h"
#include "experts/sha256.h"

char g_tmp[512];

void tu_setup_tmp(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/hive-experts-test-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return;
    }
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache", g_tmp);
    setenv("HIVE_CACHE", cache, 1);
    hive_sha256_cache_clear();
}

void tu_cleanup_tmp(void) {
    if (g_tmp[0]) hive_rm_rf(g_tmp);
}

const char *tu_path(const char *rel) {
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 1024, "%s/%s", g_tmp, rel);
    return b;
}

int tu_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void mkparents(const char *full) {
    char d[1024];
    snprintf(d, sizeof d, "%s", full);
    char *s = strrchr(d, '/');
    if (s) {
        *s = 0;
        hive_mkdir_p(d, 0755);
    }
}

const char *tu_write(const char *rel, const char *text) {
    const char *p = tu_path(rel);
    mkparents(p);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

void tu_safetensors(const char *path, int n, const char *const *names, const int64_t (*shapes)[2], const int *n_dims) {
    cJSON *h = cJSON_CreateObject();
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *t = cJSON_AddObjectToObject(h, names[i]);
        cJSON_AddStringToObject(t, "dtype", "F32");
        cJSON *s = cJSON_AddArrayToObject(t, "shape");
        uint64_t elems = 1;
        for (int d = 0; d < n_dims[i]; d++) {
            cJSON_AddItemToArray(s, cJSON_CreateNumber((double)shapes[i][d]));
            elems *= (uint64_t)shapes[i][d];
        }
        cJSON *o = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += elems * 4;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    }
    char *txt = cJSON_PrintUnformatted(h);
    size_t hl = strlen(txt), pad = (8 - hl % 8) % 8;
    mkparents(path);
    FILE *f = fopen(path, "wb");
    uint64_t len = hl + pad;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(len >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(txt, 1, hl, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    for (uint64_t i = 0; i < off; i++) fputc(0, f);
    fclose(f);
    free(txt);
    cJSON_Delete(h);
}

void tu_adapter(const char *pkg, const char *sub, const char *peft_type, int use_dora, int r, double alpha,
                const char *extra) {
    char rel[512], json[2048];
    snprintf(rel, sizeof rel, "%s/%s/adapter_config.json", pkg, sub);
    snprintf(json, sizeof json,
             "{\"peft_type\": \"%s\", \"use_dora\": %s, \"r\": %d, \"lora_alpha\": %g, "
             "\"target_modules\": [\"q_proj\", \"v_proj\"]%s%s%s%s%s}",
             peft_type, use_dora ? "true" : "false", r, alpha, (extra && strstr(extra, "fake_tag")) ? "" : ", \"fake_tag\": \"",
             (extra && strstr(extra, "fake_tag")) ? "" : pkg, (extra && strstr(extra, "fake_tag")) ? "" : "\"",
             extra ? ", " : "", extra ? extra : "");
    tu_write(rel, json);
    snprintf(rel, sizeof rel, "%s/%s/adapter_model.safetensors", pkg, sub);
    const char *names[] = {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                           "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"};
    const int64_t shapes[][2] = {{(int64_t)r, 16}, {16, (int64_t)r}};
    const int nd[] = {2, 2};
    tu_safetensors(tu_path(rel), 2, names, shapes, nd);
}

const char *tu_package(const char *pkg, const char *name, const char *base, const char *adapters_json,
                       const char *tail) {
    char rel[512];
    size_t cap = strlen(adapters_json) + (tail ? strlen(tail) : 0) + 1024;
    char *json = malloc(cap);
    snprintf(json, cap,
             "{\"name\": \"%s\", \"version\": \"1.0.0\", \"schema_version\": \"2.0\", \"description\": \"test expert\",\n"
             " \"base_models\": [{\"name\": \"%s\", \"adapters\": %s}]%s%s}\n",
             name, base, adapters_json, tail ? ",\n" : "", tail ? tail : "");
    snprintf(rel, sizeof rel, "%s/manifest.json", pkg);
    tu_write(rel, json);
    free(json);
    static char paths[256][1024]; /* stable for the whole run, unlike tu_path's rotation */
    static int k;
    char *out = paths[k++ % 256];
    if (snprintf(out, 1024, "%s/%s", g_tmp, pkg) >= 1024) out[0] = 0;
    return out;
}

const char *tu_simple_expert(const char *name, uint64_t bytes, const char *tail) {
    char extra[64];
    snprintf(extra, sizeof extra, "\"fake_bytes\": %llu", (unsigned long long)bytes);
    tu_adapter(name, "adapter", "LORA", 0, 4, 8, extra);
    return tu_package(name, name, "HuggingFaceTB/SmolLM2-135M", "[{\"type\": \"lora\", \"path\": \"adapter\"}]", tail);
}

static void add_entry(struct archive *a, const tu_entry *e) {
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_pathname(ae, e->name);
    archive_entry_set_perm(ae, 0644);
    uint64_t size = e->content ? strlen(e->content) : e->size;
    switch (e->kind) {
    case 'd': archive_entry_set_filetype(ae, AE_IFDIR); archive_entry_set_perm(ae, 0755); break;
    case 'l': archive_entry_set_filetype(ae, AE_IFLNK); archive_entry_set_symlink(ae, e->content); break;
    case 'h': archive_entry_set_filetype(ae, AE_IFREG); archive_entry_set_hardlink(ae, e->content); break;
    case 'c': archive_entry_set_filetype(ae, AE_IFCHR); archive_entry_set_rdev(ae, 0x0103); break;
    default: archive_entry_set_filetype(ae, AE_IFREG); archive_entry_set_size(ae, (la_int64_t)size); break;
    }
    archive_write_header(a, ae);
    if (e->kind == 'f') {
        if (e->content) {
            archive_write_data(a, e->content, size);
        } else {
            static char zeros[65536];
            for (uint64_t done = 0; done < size;) {
                size_t n = size - done > sizeof zeros ? sizeof zeros : (size_t)(size - done);
                archive_write_data(a, zeros, n);
                done += n;
            }
        }
    }
    archive_entry_free(ae);
}

static struct archive *open_tar(const char *path) {
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    archive_write_open_filename(a, path);
    return a;
}

const char *tu_tar(const char *rel, const tu_entry *e, int n) {
    const char *p = tu_path(rel);
    mkparents(p);
    struct archive *a = open_tar(p);
    for (int i = 0; i < n; i++) add_entry(a, &e[i]);
    archive_write_close(a);
    archive_write_free(a);
    return p;
}

static void add_tree(struct archive *a, const char *full, const char *name) {
    DIR *d = opendir(full);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char f[1024], n[1024];
        snprintf(f, sizeof f, "%s/%s", full, de->d_name);
        snprintf(n, sizeof n, "%s%s%s", name, *name ? "/" : "", de->d_name);
        struct stat st;
        stat(f, &st);
        if (S_ISDIR(st.st_mode)) {
            tu_entry e = {n, 'd', NULL, 0};
            add_entry(a, &e);
            add_tree(a, f, n);
        } else {
            FILE *fp = fopen(f, "rb");
            char *buf = malloc((size_t)st.st_size + 1);
            size_t got = fread(buf, 1, (size_t)st.st_size, fp);
            fclose(fp);
            struct archive_entry *ae = archive_entry_new();
            archive_entry_set_pathname(ae, n);
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_size(ae, (la_int64_t)got);
            archive_write_header(a, ae);
            archive_write_data(a, buf, got);
            archive_entry_free(ae);
            free(buf);
        }
    }
    closedir(d);
}

const char *tu_tar_dir(const char *rel, const char *pkg_dir, const char *prefix) {
    const char *p = tu_path(rel);
    mkparents(p);
    struct archive *a = open_tar(p);
    if (*prefix) {
        tu_entry e = {prefix, 'd', NULL, 0};
        add_entry(a, &e);
    }
    add_tree(a, tu_path(pkg_dir), prefix);
    archive_write_close(a);
    archive_write_free(a);
    return p;
}
