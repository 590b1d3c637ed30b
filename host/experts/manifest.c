/* manifest.json: identity and base models (adapters in manifest_adapter.c,
 * decoding and the other sections in manifest_extras.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "experts/manifest_impl.h"
#include "util/error.h"

#define MANIFEST_MAX_BYTES (4u << 20)

const char *hive_adapter_type_canonical(const char *t) {
    if (!t) return NULL;
    static const struct {
        const char *alias, *canon;
    } k[] = {{"lora", "lora"},           {"dora", "dora"},           {"ia3", "ia3"},
             {"soft-prompt", "soft-prompt"}, {"soft_prompt", "soft-prompt"}, {"prompt-tuning", "soft-prompt"},
             {"prompt_tuning", "soft-prompt"}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcasecmp(t, k[i].alias)) return k[i].canon;
    return NULL;
}

const char *hive_adapter_type_of_config(const char *peft_type, int use_dora) {
    if (!peft_type) return NULL;
    if (!strcasecmp(peft_type, "LORA")) return use_dora ? "dora" : "lora";
    if (!strcasecmp(peft_type, "IA3")) return "ia3";
    if (!strcasecmp(peft_type, "PROMPT_TUNING")) return "soft-prompt";
    return NULL;
}

static char *opt_string(hive_manifest *m, const cJSON *root, const char *key, int required, hive_problems *p) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsString(j) && *j->valuestring) return strdup(j->valuestring);
    if (!j || cJSON_IsNull(j)) {
        if (required) hive_problems_add(p, "%s: %s: missing (a non-empty string is required)", m->file, key);
    } else if (cJSON_IsString(j)) {
        if (required) hive_problems_add(p, "%s: %s: must not be empty", m->file, key);
    } else {
        hive_problems_add(p, "%s: %s: expected a string", m->file, key);
    }
    return strdup("");
}

static void base_sha(hive_manifest *m, const cJSON *j, const char *field, hive_manifest_base *b, hive_problems *p) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "sha256");
    if (!s || cJSON_IsNull(s) || (cJSON_IsString(s) && !*s->valuestring)) return;
    if (!cJSON_IsString(s)) {
        hive_problems_add(p, "%s: %s.sha256: expected a string", m->file, field);
    } else if (!hive_sha256_is_hex(s->valuestring)) {
        hive_manifest_ignore(m, "%s.sha256: '%s' is not a sha256 digest (64 hex digits); matching by name only", field,
                             s->valuestring);
    } else {
        for (int i = 0; i < 64; i++) b->sha256[i] = (char)tolower((unsigned char)s->valuestring[i]);
        b->sha256[64] = 0;
    }
}

static void parse_adapters(hive_manifest *m, const cJSON *arr, const char *field, hive_manifest_base *b,
                           hive_problems *p) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        hive_problems_add(p, "%s: %s: expected a non-empty array of adapters", m->file, field);
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (!(b->adapters = calloc(n, sizeof *b->adapters))) {
        p->oom = 1;
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        char f[96];
        snprintf(f, sizeof f, "%s[%zu]", field, b->n_adapters);
        hive_manifest_parse_adapter(m, it, f, &b->adapters[b->n_adapters++], p);
    }
}

static void ignore_base_extras(hive_manifest *m, const cJSON *j, const char *field) {
    static const struct {
        const char *key, *why;
    } k[] = {{"quantization", "describes the training setup; Hive serves the model file it is given"},
             {"rope_scaling", "RoPE scaling comes from the base model's own configuration"},
             {"prompt_template", "prompts are rendered with the base model's chat template"}};
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        if (!it->string || it->string[0] == '_' || !strcmp(it->string, "name") || !strcmp(it->string, "sha256") ||
            !strcmp(it->string, "adapters"))
            continue;
        const char *why = "not a field Hive knows";
        for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
            if (!strcmp(it->string, k[i].key)) why = k[i].why;
        hive_manifest_ignore(m, "%s.%s: %s", field, it->string, why);
    }
}

static void parse_base(hive_manifest *m, const cJSON *j, const cJSON *adapters, const char *field,
                       hive_manifest_base *b, hive_problems *p) {
    if (!cJSON_IsObject(j)) {
        hive_problems_add(p, "%s: %s: expected an object", m->file, field);
        b->name = strdup("");
        return;
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (cJSON_IsString(n) && *n->valuestring) {
        b->name = strdup(n->valuestring);
    } else {
        hive_problems_add(p, "%s: %s.name: missing (the base model's name, e.g. \"Qwen/Qwen3-0.6B\")", m->file, field);
        b->name = strdup("");
    }
    base_sha(m, j, field, b, p);
    char f[80];
    snprintf(f, sizeof f, adapters ? "adapters" : "%s.adapters", field);
    parse_adapters(m, adapters ? adapters : cJSON_GetObjectItemCaseSensitive(j, "adapters"), f, b, p);
    ignore_base_extras(m, j, field);
}

static void parse_bases(hive_manifest *m, const cJSON *root, hive_problems *p) {
    const cJSON *v2 = cJSON_GetObjectItemCaseSensitive(root, "base_models");
    const cJSON *v1 = cJSON_GetObjectItemCaseSensitive(root, "base_model");
    if (!*m->schema_version) {
        free(m->schema_version);
        m->schema_version = strdup(v1 && !v2 ? "1.0" : "2.0");
    }
    if (!strcmp(m->schema_version ? m->schema_version : "", "1.0")) {
        if (!v1) {
            hive_problems_add(p, "%s: base_model: missing (schema_version 1.0)", m->file);
            return;
        }
        if (!(m->bases = calloc(1, sizeof *m->bases))) {
            p->oom = 1;
            return;
        }
        m->n_bases = 1;
        parse_base(m, v1, cJSON_GetObjectItemCaseSensitive(root, "adapters"), "base_model", m->bases, p);
        return;
    }
    if (!cJSON_IsArray(v2) || cJSON_GetArraySize(v2) == 0) {
        hive_problems_add(p, "%s: base_models: %s", m->file,
                          v2 ? "expected a non-empty array" : "missing (schema_version 2.0 lists base models there)");
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(v2);
    if (!(m->bases = calloc(n, sizeof *m->bases))) {
        p->oom = 1;
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, v2) {
        char f[48];
        snprintf(f, sizeof f, "base_models[%zu]", m->n_bases);
        parse_base(m, it, NULL, f, &m->bases[m->n_bases++], p);
    }
}

hive_status hive_manifest_load(const char *dir, const char *file, hive_manifest *m, hive_problems *p,
                               hive_error **err) {
    memset(m, 0, sizeof *m);
    size_t fl = strlen(file);
    if (fl >= 20 && !strcmp(file + fl - 20, "/adapter_config.json")) return hive_peft_manifest_load(dir, file, m, p, err);
    char *text = NULL;
    hive_status st = hive_read_text_file(file, MANIFEST_MAX_BYTES, &text, err);
    if (st != HIVE_OK) return st;
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        const char *at = cJSON_GetErrorPtr();
        long off = (root || !at) ? -1 : (long)(at - text);
        cJSON_Delete(root);
        free(text);
        if (off >= 0) return hive_fail(err, HIVE_E_INVALID, "%s: not valid JSON (near byte %ld)", file, off);
        return hive_fail(err, HIVE_E_INVALID, "%s: expected a JSON object", file);
    }
    free(text);
    hive_manifest_from_json(dir, file, root, m, p);
    cJSON_Delete(root);
    return HIVE_OK;
}

void hive_manifest_from_json(const char *dir, const char *file, const cJSON *root, hive_manifest *m, hive_problems *p) {
    m->file = strdup(file);
    m->dir = strdup(dir);
    m->name = opt_string(m, root, "name", 1, p);
    m->version = opt_string(m, root, "version", 1, p);
    m->description = opt_string(m, root, "description", 0, p);
    m->schema_version = opt_string(m, root, "schema_version", 0, p);
    if (*m->schema_version && strcmp(m->schema_version, "2.0") && strcmp(m->schema_version, "1.0"))
        hive_problems_add(p, "%s: schema_version: '%s' is not supported (2.0 or 1.0)", m->file, m->schema_version);
    else
        parse_bases(m, root, p);
    hive_manifest_parse_extras(m, root, p);
    if (!m->file || !m->dir || !m->name || !m->version || !m->description || !m->schema_version) p->oom = 1;
}

void hive_manifest_free(hive_manifest *m) {
    for (size_t b = 0; b < m->n_bases; b++) {
        for (size_t a = 0; a < m->bases[b].n_adapters; a++) hive_manifest_adapter_free(&m->bases[b].adapters[a]);
        free(m->bases[b].adapters);
        free(m->bases[b].name);
    }
    free(m->bases);
    for (size_t i = 0; i < m->n_decoding; i++) free(m->decoding[i].value);
    free(m->decoding);
    hive_strv_free(&m->keywords);
    hive_strv_free(&m->incompatible_with);
    hive_strv_free(&m->requires);
    hive_strv_free(&m->ignored);
    free(m->file);
    free(m->dir);
    free(m->name);
    free(m->version);
    free(m->description);
    free(m->schema_version);
    memset(m, 0, sizeof *m);
}
