/* Packing a PEFT directory into a .expert (see pack.h). */
#include "experts/pack.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experts/draft_corpus.h"
#include "experts/manifest_impl.h"
#include "experts/package.h"
#include "experts/peft_dir.h"
#include "experts/sha256.h"
#include "util/error.h"

#define PACK_CORPUS "draft-corpus.txt" /* the draft corpus's name in the package */

/* "top_k=7" -> 7, "true" -> true, other text -> a string; stop_sequences collect into an array. */
static int add_decoding(cJSON *dec, const char *kv, hive_problems *p) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        hive_problems_add(p, "--decoding '%s': expected KEY=VALUE (e.g. temperature=0.2)", kv);
        return -1;
    }
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    const char *v = eq + 1;
    if (!strcmp(key, "grammar_file") ||
        (!strcmp(key, "grammar_type") && (!strcmp(v, "json-schema") || !strcmp(v, "gbnf")))) {
        hive_problems_add(p, "--decoding %s: pack adds no grammar files; use grammar_type json, json-object or "
                             "sql-postgres, or write the package by hand (docs/EXPERTS.md)", kv);
        return -1;
    }
    if (!strcmp(key, "draft_corpus")) {
        hive_problems_add(p, "--decoding %s: give the file with --draft-corpus FILE: pack copies it into the "
                             "package as " PACK_CORPUS, kv);
        return -1;
    }
    if (!strcmp(key, "stop_sequences")) {
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(dec, key);
        if (!arr) arr = cJSON_AddArrayToObject(dec, key);
        return arr && cJSON_AddItemToArray(arr, cJSON_CreateString(v)) ? 0 : -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(dec, key)) {
        hive_problems_add(p, "--decoding %s: %s is given twice", kv, key);
        return -1;
    }
    char *end;
    double d = strtod(v, &end);
    if (!strcmp(v, "true") || !strcmp(v, "false")) cJSON_AddBoolToObject(dec, key, !strcmp(v, "true"));
    else if (*v && !*end && isfinite(d)) cJSON_AddNumberToObject(dec, key, d);
    else cJSON_AddStringToObject(dec, key, v);
    return 0;
}

/* manifest.json for o, its adapter's path "." (*path: that item); NULL with problems added. */
static cJSON *build_manifest(const hive_expert_pack_opts *o, const char *dir, const hive_manifest_adapter *a,
                             const char *base, const char *sha, long long size, cJSON **path, hive_problems *p) {
    cJSON *root = cJSON_CreateObject();
    const char *slash = strrchr(dir, '/');
    cJSON_AddStringToObject(root, "schema_version", "2.0");
    cJSON_AddStringToObject(root, "name", o->name && *o->name ? o->name : slash ? slash + 1 : dir);
    cJSON_AddStringToObject(root, "version", "1.0.0");
    cJSON_AddStringToObject(root, "description", o->description ? o->description : "");
    cJSON *b = cJSON_CreateObject(), *ad = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "base_models"), b);
    cJSON_AddStringToObject(b, "name", base);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(b, "adapters"), ad);
    cJSON_AddStringToObject(ad, "type", a->type);
    *path = cJSON_AddStringToObject(ad, "path", "."); /* checked against dir; "adapter" in the package */
    if (!strcmp(a->type, "lora") || !strcmp(a->type, "dora")) {
        if (a->cfg_r >= 0) cJSON_AddNumberToObject(ad, "r", (double)a->cfg_r);
        if (a->cfg_alpha >= 0) cJSON_AddNumberToObject(ad, "alpha", a->cfg_alpha);
    }
    if (a->cfg_targets.n) {
        cJSON *t = cJSON_AddArrayToObject(ad, "target_modules");
        for (size_t i = 0; i < a->cfg_targets.n; i++) cJSON_AddItemToArray(t, cJSON_CreateString(a->cfg_targets.v[i]));
    }
    cJSON_AddNumberToObject(ad, "size_bytes", (double)size);
    cJSON_AddStringToObject(ad, "sha256", sha);
    if (o->n_decoding) {
        cJSON *dec = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "training"), "decoding");
        for (size_t i = 0; i < o->n_decoding; i++) add_decoding(dec, o->decoding[i], p);
    }
    if (p->n || p->oom) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

#ifdef HIVE_HAVE_LIBARCHIVE
#include <archive.h>
#include <archive_entry.h>

static hive_status add_entry(struct archive *ar, const char *name, const char *file, const void *mem, size_t len,
                             const char *out, hive_error **err) {
    struct archive_entry *e = archive_entry_new();
    struct stat st;
    FILE *f = NULL;
    if (file) {
        if (stat(file, &st) != 0 || !(f = fopen(file, "rb"))) {
            archive_entry_free(e);
            return hive_fail(err, HIVE_E_IO, "cannot read %s: %s", file, strerror(errno));
        }
        len = (size_t)st.st_size;
    }
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, name[strlen(name) - 1] == '/' ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, name[strlen(name) - 1] == '/' ? 0755 : 0644);
    archive_entry_set_size(e, name[strlen(name) - 1] == '/' ? 0 : (la_int64_t)len);
    archive_entry_set_mtime(e, 0, 0);
    hive_status rc = HIVE_OK;
    if (archive_write_header(ar, e) != ARCHIVE_OK) rc = HIVE_E_IO;
    if (rc == HIVE_OK && mem && archive_write_data(ar, mem, len) != (la_ssize_t)len) rc = HIVE_E_IO;
    char buf[1 << 16];
    size_t n;
    while (rc == HIVE_OK && f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (archive_write_data(ar, buf, n) != (la_ssize_t)n) rc = HIVE_E_IO;
    if (f && ferror(f)) rc = HIVE_E_IO;
    if (f) fclose(f);
    archive_entry_free(e);
    if (rc != HIVE_OK) return hive_fail(err, rc, "cannot write %s into %s: %s", name, out, archive_error_string(ar));
    return HIVE_OK;
}

static hive_status write_archive(const char *out, const char *manifest, const hive_manifest_adapter *a,
                                 const char *corpus, hive_error **err) {
    char tmp[PATH_MAX + 16];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", out) >= (int)sizeof tmp)
        return hive_fail(err, HIVE_E_INVALID, "%s: path too long", out);
    int fd = mkstemp(tmp);
    if (fd < 0) return hive_fail(err, HIVE_E_IO, "cannot create %s: %s", tmp, strerror(errno));
    fchmod(fd, 0644);
    struct archive *ar = archive_write_new();
    hive_status st = HIVE_OK;
    char cfg[PATH_MAX + 32];
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", a->dir);
    if (!ar || archive_write_set_format_pax_restricted(ar) != ARCHIVE_OK ||
        archive_write_add_filter_gzip(ar) != ARCHIVE_OK ||
        archive_write_set_options(ar, "gzip:!timestamp,gzip:compression-level=9") != ARCHIVE_OK ||
        archive_write_open_fd(ar, fd) != ARCHIVE_OK)
        st = hive_fail(err, HIVE_E_IO, "cannot write %s: %s", out, ar ? archive_error_string(ar) : "out of memory");
    if (st == HIVE_OK) st = add_entry(ar, "manifest.json", NULL, manifest, strlen(manifest), out, err);
    if (st == HIVE_OK) st = add_entry(ar, "adapter/", NULL, NULL, 0, out, err);
    if (st == HIVE_OK) st = add_entry(ar, "adapter/adapter_config.json", cfg, NULL, 0, out, err);
    if (st == HIVE_OK) st = add_entry(ar, "adapter/adapter_model.safetensors", a->weights, NULL, 0, out, err);
    if (st == HIVE_OK && corpus) st = add_entry(ar, PACK_CORPUS, corpus, NULL, 0, out, err);
    if (st == HIVE_OK && archive_write_close(ar) != ARCHIVE_OK)
        st = hive_fail(err, HIVE_E_IO, "cannot write %s: %s", out, archive_error_string(ar));
    if (ar) archive_write_free(ar);
    if (close(fd) != 0 && st == HIVE_OK) st = hive_fail(err, HIVE_E_IO, "cannot write %s: %s", out, strerror(errno));
    if (st == HIVE_OK && rename(tmp, out) != 0)
        st = hive_fail(err, HIVE_E_IO, "cannot move %s to %s: %s", tmp, out, strerror(errno));
    if (st != HIVE_OK) unlink(tmp);
    return st;
}
#else
static hive_status write_archive(const char *out, const char *manifest, const hive_manifest_adapter *a,
                                 const char *corpus, hive_error **err) {
    (void)manifest, (void)a, (void)corpus;
    return hive_fail(err, HIVE_E_UNSUPPORTED, "cannot write %s: this build has no libarchive", out);
}
#endif

hive_status hive_expert_pack(const hive_expert_pack_opts *o, hive_problems *p, hive_error **err) {
    char dir[PATH_MAX];
    if (!realpath(o->src, dir)) return hive_fail(err, HIVE_E_IO, "%s: %s", o->src, strerror(errno));
    if (!hive_peft_dir_is(dir))
        return hive_fail(err, HIVE_E_INVALID, "%s is not a plain PEFT adapter directory (adapter_config.json, no "
                                              "manifest.json)", o->src);
    /* 1. the directory as Hive reads it (type, weights, adapter_config.json) */
    char cfg[PATH_MAX + 32];
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", dir);
    hive_manifest peft, m;
    memset(&m, 0, sizeof m);
    hive_status st = hive_manifest_load(dir, cfg, &peft, p, err);
    if (st != HIVE_OK) return st;
    const hive_manifest_adapter *a =
        peft.n_bases == 1 && peft.bases[0].n_adapters == 1 ? &peft.bases[0].adapters[0] : NULL;
    char sha[HIVE_SHA256_HEX] = "";
    struct stat sb;
    if (!p->n && a && !*peft.bases[0].name)
        hive_problems_add(p, "%s has no base_model_name_or_path: a package must name its base model", cfg);
    if (!p->n && !p->oom && a && a->weights && stat(a->weights, &sb) == 0)
        st = hive_sha256_file_cached(a->weights, sha, err);
    /* 2. the manifest to ship, checked by the loader's parser against the same files */
    cJSON *root = NULL, *path = NULL;
    if (st == HIVE_OK && !p->n && !p->oom && a && *sha)
        root = build_manifest(o, dir, a, peft.bases[0].name, sha, (long long)sb.st_size, &path, p);
    char label[PATH_MAX + 32];
    snprintf(label, sizeof label, "%s: manifest.json", o->out);
    if (root) {
        hive_manifest_from_json(dir, label, root, &m, p);
        for (size_t i = 0; i < m.ignored.n; i++) /* a typo in --decoding would otherwise be dropped silently */
            if (!strncmp(m.ignored.v[i], "training.decoding.", 18))
                hive_problems_add(p, "--decoding %s", m.ignored.v[i] + 18);
    }
    /* the corpus: a file lookup can read, as it reads one; named in the
     * manifest after the loader's check, which looks for it in dir */
    if (o->draft_corpus) {
        char *ctext = NULL;
        size_t clen = 0;
        hive_error *cerr = NULL;
        if (hive_draft_corpus_text(o->draft_corpus, &ctext, &clen, &cerr) != HIVE_OK)
            hive_problems_add(p, "--draft-corpus %s: %s", o->draft_corpus, hive_error_message(cerr));
        hive_error_free(cerr);
        free(ctext);
        cJSON *dec = root ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "training"),
                                                            "decoding") : NULL;
        if (root && !dec) dec = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "training"), "decoding");
        if (root && !cJSON_AddStringToObject(dec, "draft_corpus", PACK_CORPUS)) p->oom = 1;
    }
    char *text = NULL;
    if (st == HIVE_OK && root && !p->n && !p->oom) {
        if (!path || !cJSON_SetValuestring(path, "adapter") || !(text = cJSON_Print(root)))
            st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    if (st == HIVE_OK && text) st = write_archive(o->out, text, a, o->draft_corpus, err);
    else if (st == HIVE_OK)
        st = p->n || p->oom ? hive_problems_fail(p, HIVE_E_INVALID, err)
                            : hive_fail(err, HIVE_E_INVALID, "%s cannot be packed", o->src);
    free(text);
    cJSON_Delete(root);
    hive_manifest_free(&m);
    hive_manifest_free(&peft);
    return st;
}
