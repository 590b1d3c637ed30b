/* Base-model check (see base_match.h). */
#include "experts/base_match.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"

/* Lowercase; ' ' and '_' read as '-'. */
static void norm(const char *in, char *out, size_t cap) {
    size_t o = 0;
    for (; *in && o + 1 < cap; in++) {
        char c = (char)tolower((unsigned char)*in);
        out[o++] = (c == ' ' || c == '_') ? '-' : c;
    }
    out[o] = 0;
}

static const char *after_slash(const char *s) {
    const char *p = strrchr(s, '/');
    return p ? p + 1 : s;
}

int hive_base_name_matches(const char *entry, const char *model) {
    if (!entry || !model || !*entry || !*model) return 0;
    char e[256], m[256];
    /* "F:/models/Qwen3-0.6B", "Qwen/Qwen3-0.6B" -> "Qwen3-0.6B" */
    const char *tail = after_slash(entry);
    if (!*tail) return 0;
    norm(tail, e, sizeof e);
    norm(after_slash(model), m, sizeof m);
    size_t el = strlen(e);
    if (strncmp(e, m, el)) return 0;
    return m[el] == 0 || m[el] == '-' || m[el] == '.';
}

void hive_base_model_file(const char *path, char *out, size_t cap) {
    struct stat st;
    out[0] = 0;
    if (!path || stat(path, &st) != 0) return;
    if (S_ISREG(st.st_mode)) {
        snprintf(out, cap, "%s", path);
    } else if (S_ISDIR(st.st_mode)) {
        snprintf(out, cap, "%s/model.safetensors", path);
        if (stat(out, &st) != 0 || !S_ISREG(st.st_mode)) out[0] = 0;
    }
}

/* The basename without extension ("/m/SmolLM2-135M.Q8_0.gguf" -> "SmolLM2-135M.Q8_0"). */
static void stem(const char *path, char *out, size_t cap) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path ? path : "");
    size_t l = strlen(buf);
    while (l > 1 && buf[l - 1] == '/') buf[--l] = 0;
    snprintf(out, cap, "%s", after_slash(buf));
    char *dot = strrchr(out, '.');
    if (dot && dot != out && (!strcmp(dot, ".gguf") || !strcmp(dot, ".safetensors"))) *dot = 0;
}

hive_status hive_manifest_match_base_named(const hive_manifest *m, const char *model_name, const char *model_path,
                                           size_t *index, hive_error **err) {
    char st[256];
    stem(model_path, st, sizeof st);
    for (size_t i = 0; i < m->n_bases; i++)
        if (hive_base_name_matches(m->bases[i].name, model_name) || hive_base_name_matches(m->bases[i].name, st)) {
            *index = i;
            return HIVE_OK;
        }
    int any_sha = 0;
    for (size_t i = 0; i < m->n_bases; i++) any_sha |= m->bases[i].sha256[0] != 0;
    char file[PATH_MAX], hex[HIVE_SHA256_HEX] = "";
    hive_base_model_file(model_path, file, sizeof file);
    if (any_sha && *file) {
        hive_error *e = NULL;
        if (hive_sha256_file_cached(file, hex, &e) != HIVE_OK) {
            hive_error_prefix(e, "expert '%s': cannot hash the base model", m->name);
            if (err) *err = e;
            else hive_error_free(e);
            return e ? e->code : HIVE_E_IO;
        }
        for (size_t i = 0; i < m->n_bases; i++)
            if (!strcmp(m->bases[i].sha256, hex)) {
                *index = i;
                return HIVE_OK;
            }
    }
    char want[1024];
    size_t o = 0;
    want[0] = 0;
    for (size_t i = 0; i < m->n_bases && o < sizeof want; i++)
        o += (size_t)snprintf(want + o, sizeof want - o, "%s%s%s%s%s", i ? ", " : "", m->bases[i].name,
                              m->bases[i].sha256[0] ? " (sha256 " : "", m->bases[i].sha256,
                              m->bases[i].sha256[0] ? ")" : "");
    const char *shown = (model_name && *model_name) ? model_name : st;
    if (*hex)
        return hive_fail(err, HIVE_E_INVALID, "expert '%s' targets base model(s) %s, but the loaded model is %s (sha256 %s)",
                         m->name, m->n_bases ? want : "(none listed)", shown, hex);
    return hive_fail(err, HIVE_E_INVALID, "expert '%s' targets base model(s) %s, but the loaded model is %s (%s)", m->name,
                     m->n_bases ? want : "(none listed)", shown, model_path ? model_path : "?");
}

hive_status hive_manifest_match_base(const hive_manifest *m, const hive_model_files *model, size_t *index,
                                     hive_error **err) {
    return hive_manifest_match_base_named(m, model->hp.name, model->path, index, err);
}
