/* One adapter entry of a manifest, checked against its adapter_config.json. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experts/manifest_impl.h"
#include "util/error.h"

#define ADAPTER_CONFIG_MAX_BYTES (1u << 20)

void hive_manifest_adapter_free(hive_manifest_adapter *a) {
    free(a->path);
    free(a->dir);
    free(a->weights);
    free(a->config_json);
    free(a->cfg_targets_regex);
    hive_strv_free(&a->targets);
    hive_strv_free(&a->cfg_targets);
    hive_strv_free(&a->cfg_target_params);
    memset(a, 0, sizeof *a);
}

/* Relative, no "..": stays inside the package (lexically). */
static int rel_inside(const char *p) {
    if (!*p || p[0] == '/') return 0;
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.') return 0;
        s += n + (s[n] ? 1 : 0);
    }
    return 1;
}

static int number_field(hive_manifest *m, const cJSON *j, const char *key, const char *field, double *out,
                        hive_problems *p) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v)) {
        hive_problems_add(p, "%s: %s.%s: expected a number", m->file, field, key);
        return 0;
    }
    *out = v->valuedouble;
    return 1;
}

/* Locates the PEFT directory and weights file from `path` (a directory, or a
 * file inside it such as adapter_model.safetensors). */
static void locate(hive_manifest *m, const char *field, hive_manifest_adapter *a, hive_problems *p) {
    char full[PATH_MAX * 2];
    if (!strcmp(a->path, ".")) snprintf(full, sizeof full, "%s", m->dir); /* a PEFT directory is its own package */
    else snprintf(full, sizeof full, "%s/%s", m->dir, a->path);
    struct stat st;
    if (stat(full, &st) != 0) {
        hive_problems_add(p, "%s: %s.path: '%s' does not exist in the package (%s)", m->file, field, a->path,
                          strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        a->dir = strdup(full);
    } else {
        char *slash = strrchr(full, '/');
        a->dir = strndup(full, (size_t)(slash - full));
        const char *dot = strrchr(slash, '.');
        if (dot && !strcmp(dot, ".safetensors")) a->weights = strdup(full);
    }
    if (!a->dir) {
        p->oom = 1;
        return;
    }
    char cfg[PATH_MAX * 2 + 32];
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", a->dir);
    hive_error *e = NULL;
    if (stat(cfg, &st) != 0) {
        hive_problems_add(p, "%s: %s.path: no adapter_config.json in %s", m->file, field, a->dir);
    } else if (hive_read_text_file(cfg, ADAPTER_CONFIG_MAX_BYTES, &a->config_json, &e) != HIVE_OK) {
        hive_problems_add(p, "%s: %s: %s", m->file, field, hive_error_message(e));
        hive_error_free(e);
    }
    if (!a->weights) {
        snprintf(full, sizeof full, "%s/adapter_model.safetensors", a->dir);
        if (stat(full, &st) == 0) {
            a->weights = strdup(full);
        } else {
            snprintf(full, sizeof full, "%s/adapter_model.bin", a->dir);
            hive_problems_add(p, "%s: %s.path: no adapter_model.safetensors in %s%s", m->file, field, a->dir,
                              stat(full, &st) == 0 ? " (adapter_model.bin, a pickle, is not read: convert it to safetensors)" : "");
        }
    }
}

/* Reads the keys Hive compares from adapter_config.json. */
static void read_config(hive_manifest *m, const char *field, hive_manifest_adapter *a, hive_problems *p) {
    char cfgpath[PATH_MAX * 2 + 32];
    snprintf(cfgpath, sizeof cfgpath, "%s/adapter_config.json", a->dir);
    cJSON *j = cJSON_Parse(a->config_json);
    if (!cJSON_IsObject(j)) {
        hive_problems_add(p, "%s: %s: %s is not a JSON object", m->file, field, cfgpath);
        cJSON_Delete(j);
        return;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "peft_type");
    if (cJSON_IsString(v)) snprintf(a->peft_type, sizeof a->peft_type, "%s", v->valuestring);
    a->use_dora = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "use_dora"));
    v = cJSON_GetObjectItemCaseSensitive(j, "r");
    if (!hive_json_whole(v, &a->cfg_r)) a->cfg_r = -1;
    v = cJSON_GetObjectItemCaseSensitive(j, "lora_alpha");
    a->cfg_alpha = cJSON_IsNumber(v) ? v->valuedouble : -1;
    v = cJSON_GetObjectItemCaseSensitive(j, "num_virtual_tokens");
    if (!hive_json_whole(v, &a->num_virtual_tokens)) a->num_virtual_tokens = -1;
    v = cJSON_GetObjectItemCaseSensitive(j, "target_modules");
    if (cJSON_IsString(v)) {
        a->cfg_targets_regex = strdup(v->valuestring);
    } else if (cJSON_IsArray(v)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, v) if (cJSON_IsString(it)) hive_strv_push(&a->cfg_targets, it->valuestring);
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "target_parameters");
    const cJSON *it;
    if (cJSON_IsArray(v)) cJSON_ArrayForEach(it, v) if (cJSON_IsString(it)) hive_strv_push(&a->cfg_target_params, it->valuestring);
    cJSON_Delete(j);
    const char *says = hive_adapter_type_of_config(a->peft_type, a->use_dora);
    if (!says)
        hive_problems_add(p, "%s: %s: %s has peft_type '%s', which Hive does not serve (LORA, LORA with use_dora, IA3, PROMPT_TUNING)",
                          m->file, field, cfgpath, a->peft_type);
    else if (*a->type && strcmp(says, a->type))
        hive_problems_add(p, "%s: %s.type is '%s' but %s says peft_type '%s'%s (a '%s' adapter)", m->file, field, a->type,
                          cfgpath, a->peft_type, !strcmp(a->peft_type, "LORA") ? (a->use_dora ? " with use_dora true" : " without use_dora") : "",
                          says);
}

static int same_set(const hive_strv *x, const hive_strv *y) {
    for (int pass = 0; pass < 2; pass++) {
        const hive_strv *u = pass ? y : x, *w = pass ? x : y;
        for (size_t i = 0; i < u->n; i++) {
            size_t k = 0;
            while (k < w->n && strcmp(u->v[i], w->v[k])) k++;
            if (k == w->n) return 0;
        }
    }
    return 1;
}

static void join(const hive_strv *v, char *out, size_t cap) {
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < v->n && o < cap; i++) o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", v->v[i]);
}

static void compare(hive_manifest *m, const char *field, hive_manifest_adapter *a, hive_problems *p) {
    char cfgpath[PATH_MAX * 2 + 32];
    snprintf(cfgpath, sizeof cfgpath, "%s/adapter_config.json", a->dir);
    int lowrank = !strcmp(a->type, "lora") || !strcmp(a->type, "dora");
    if (lowrank && a->r >= 0 && a->cfg_r >= 0 && a->r != a->cfg_r)
        hive_problems_add(p, "%s: %s.r is %lld but %s says r = %lld", m->file, field, (long long)a->r, cfgpath,
                          (long long)a->cfg_r);
    if (lowrank && a->alpha >= 0 && a->cfg_alpha >= 0 && fabs(a->alpha - a->cfg_alpha) > 1e-6)
        hive_problems_add(p, "%s: %s.alpha is %g but %s says lora_alpha = %g", m->file, field, a->alpha, cfgpath,
                          a->cfg_alpha);
    if (a->targets.n && a->cfg_targets.n && !same_set(&a->targets, &a->cfg_targets)) {
        char x[512], y[512];
        join(&a->targets, x, sizeof x);
        join(&a->cfg_targets, y, sizeof y);
        hive_problems_add(p, "%s: %s.target_modules is [%s] but %s says [%s]", m->file, field, x, cfgpath, y);
    }
    struct stat st;
    if (a->weights && a->size_bytes >= 0 && stat(a->weights, &st) == 0 && st.st_size != a->size_bytes)
        hive_problems_add(p, "%s: %s.size_bytes is %lld but %s has %lld bytes", m->file, field, (long long)a->size_bytes,
                          a->weights, (long long)st.st_size);
    if (a->weights && *a->sha256) {
        char got[HIVE_SHA256_HEX];
        hive_error *e = NULL;
        if (hive_sha256_file_cached(a->weights, got, &e) != HIVE_OK) {
            hive_problems_add(p, "%s: %s: %s", m->file, field, hive_error_message(e));
            hive_error_free(e);
        } else if (strcasecmp(got, a->sha256)) {
            hive_problems_add(p, "%s: %s.sha256 is %s but %s has sha256 %s", m->file, field, a->sha256, a->weights, got);
        }
    }
}

static void ignore_adapter_extras(hive_manifest *m, const cJSON *j, const char *field) {
    static const char *const known[] = {"type", "path", "r", "alpha", "target_modules", "use_dora", "size_bytes", "sha256"};
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        if (!it->string || it->string[0] == '_') continue;
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(known[i], it->string)) i++;
        if (i < sizeof known / sizeof known[0]) continue;
        hive_manifest_ignore(m, "%s.%s: %s", field, it->string,
                             !strcmp(it->string, "dropout") || !strcmp(it->string, "checkpoint_step")
                                 ? "training-time setting"
                                 : !strcmp(it->string, "scaling") || !strcmp(it->string, "feedforward_modules")
                                       ? "taken from adapter_config.json, which the adapter plugin reads"
                                       : "not a field Hive knows");
    }
}

void hive_manifest_parse_adapter(hive_manifest *m, const cJSON *j, const char *field, hive_manifest_adapter *a,
                                 hive_problems *p) {
    a->r = -1;
    a->alpha = -1;
    a->size_bytes = -1;
    a->cfg_r = -1;
    a->cfg_alpha = -1;
    a->num_virtual_tokens = -1;
    if (!cJSON_IsObject(j)) {
        hive_problems_add(p, "%s: %s: expected an object", m->file, field);
        return;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    const char *canon = cJSON_IsString(t) ? hive_adapter_type_canonical(t->valuestring) : NULL;
    if (!t)
        hive_problems_add(p, "%s: %s.type: missing (lora, dora, ia3 or soft-prompt)", m->file, field);
    else if (!canon)
        hive_problems_add(p, "%s: %s.type: '%s' is not supported (lora, dora, ia3, soft-prompt)", m->file, field,
                          cJSON_IsString(t) ? t->valuestring : "(not a string)");
    else
        snprintf(a->type, sizeof a->type, "%s", canon);
    if (!strcmp(a->type, "lora") && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "use_dora"))) strcpy(a->type, "dora");
    double d;
    int64_t whole;
    if (number_field(m, j, "r", field, &d, p)) {
        if (!hive_json_whole(cJSON_GetObjectItemCaseSensitive(j, "r"), &whole) || whole < 1)
            hive_problems_add(p, "%s: %s.r: expected a positive integer", m->file, field);
        else a->r = whole;
    }
    if (number_field(m, j, "alpha", field, &d, p)) {
        if (d <= 0) hive_problems_add(p, "%s: %s.alpha: expected a positive number", m->file, field);
        else a->alpha = d;
    }
    if (number_field(m, j, "size_bytes", field, &d, p)) {
        if (!hive_json_whole(cJSON_GetObjectItemCaseSensitive(j, "size_bytes"), &whole) || whole < 0)
            hive_problems_add(p, "%s: %s.size_bytes: expected a non-negative integer", m->file, field);
        else a->size_bytes = whole;
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "sha256");
    if (cJSON_IsString(s) && *s->valuestring) {
        if (hive_sha256_is_hex(s->valuestring)) snprintf(a->sha256, sizeof a->sha256, "%s", s->valuestring);
        else hive_manifest_ignore(m, "%s.sha256: '%s' is not a sha256 digest; not checked", field, s->valuestring);
    }
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "target_modules");
    if (tm && !cJSON_IsNull(tm)) {
        char f[128];
        snprintf(f, sizeof f, "%s.target_modules", field);
        hive_json_strv(m, tm, f, &a->targets, p);
    }
    ignore_adapter_extras(m, j, field);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "path");
    if (!cJSON_IsString(path) || !*path->valuestring) {
        hive_problems_add(p, "%s: %s.path: missing (the adapter's directory inside the package)", m->file, field);
        return;
    }
    if (!(a->path = strdup(path->valuestring))) {
        p->oom = 1;
        return;
    }
    if (!rel_inside(a->path)) {
        hive_problems_add(p, "%s: %s.path: '%s' must be a relative path inside the package (no '..')", m->file, field,
                          a->path);
        return;
    }
    locate(m, field, a, p);
    if (!a->config_json) return;
    read_config(m, field, a, p);
    compare(m, field, a, p);
}
