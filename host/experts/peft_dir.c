/* Plain PEFT directories as experts (see peft_dir.h). */
#include "experts/peft_dir.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experts/base_match.h"
#include "experts/manifest_impl.h"
#include "util/error.h"
#include "util/log.h"

#define CONFIG_MAX_BYTES (1u << 20)

static int is_file_in(const char *dir, const char *name) {
    char p[PATH_MAX + 32];
    struct stat st;
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p) return 0;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int hive_peft_dir_is(const char *dir) {
    return is_file_in(dir, "adapter_config.json") && !is_file_in(dir, "manifest.json");
}

static hive_status read_config(const char *config, cJSON **out, hive_error **err) {
    char *text = NULL;
    hive_status st = hive_read_text_file(config, CONFIG_MAX_BYTES, &text, err);
    if (st != HIVE_OK) return st;
    cJSON *j = cJSON_Parse(text);
    if (!cJSON_IsObject(j)) {
        const char *at = cJSON_GetErrorPtr();
        long off = (j || !at) ? -1 : (long)(at - text);
        cJSON_Delete(j);
        free(text);
        if (off >= 0) return hive_fail(err, HIVE_E_INVALID, "%s: not valid JSON (near byte %ld)", config, off);
        return hive_fail(err, HIVE_E_INVALID, "%s: expected a JSON object", config);
    }
    free(text);
    *out = j;
    return HIVE_OK;
}

/* A directory without a manifest has no routing words but its name: each
 * word of it becomes a keyword ("sql-lora" -> sql), so `--expert auto` can
 * choose it. Words are split as the router splits prompts (runs of ASCII
 * letters and digits, bytes >= 0x80 count as letters), lowercased; numbers
 * ("checkpoint-500") and words that name the format rather than the task are
 * left out. */
static void add_name_keywords(cJSON *root, const char *name) {
    static const char *const generic[] = {"adapter", "adapters", "lora", "dora", "ia3",   "peft",  "prompt",
                                          "tuning",  "checkpoint", "final", "model", "output", "ckpt"};
    cJSON *kw = cJSON_CreateArray();
    char word[64];
    for (const unsigned char *q = (const unsigned char *)name; kw && *q;) {
        size_t n = 0;
        int digits = 1;
        for (; *q && (isalnum(*q) || *q >= 0x80); q++) {
            if (n + 1 < sizeof word) word[n++] = (char)tolower(*q);
            digits = digits && isdigit(*q);
        }
        word[n] = 0;
        for (; *q && !(isalnum(*q) || *q >= 0x80); q++) {}
        int skip = !n || digits;
        for (size_t i = 0; !skip && i < sizeof generic / sizeof generic[0]; i++) skip = !strcmp(word, generic[i]);
        for (int i = 0; !skip && i < cJSON_GetArraySize(kw); i++)
            skip = !strcmp(cJSON_GetArrayItem(kw, i)->valuestring, word);
        if (!skip) cJSON_AddItemToArray(kw, cJSON_CreateString(word));
    }
    if (kw && cJSON_GetArraySize(kw) > 0) {
        cJSON *r = cJSON_AddObjectToObject(root, "routing");
        if (r) cJSON_AddItemToObject(r, "keywords", kw);
        else cJSON_Delete(kw);
    } else {
        cJSON_Delete(kw);
    }
}

hive_status hive_peft_manifest_load(const char *dir, const char *config, hive_manifest *m, hive_problems *p,
                                    hive_error **err) {
    cJSON *cfg = NULL;
    hive_status st = read_config(config, &cfg, err);
    if (st != HIVE_OK) return st;
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(cfg, "peft_type");
    const char *type = cJSON_IsString(pt)
                           ? hive_adapter_type_of_config(pt->valuestring,
                                                         cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "use_dora")))
                           : NULL;
    if (!type) {
        st = cJSON_IsString(pt) ? hive_fail(err, HIVE_E_UNSUPPORTED,
                                            "%s: peft_type '%s' is not supported: Hive serves LORA (with use_dora: "
                                            "DoRA), IA3 and PROMPT_TUNING adapters",
                                            config, pt->valuestring)
                                : hive_fail(err, HIVE_E_INVALID, "%s: peft_type: %s (PEFT writes it, e.g. \"LORA\")",
                                            config, pt ? "expected a string" : "missing");
        cJSON_Delete(cfg);
        return st;
    }
    const cJSON *bn = cJSON_GetObjectItemCaseSensitive(cfg, "base_model_name_or_path");
    const char *base = cJSON_IsString(bn) && *bn->valuestring ? bn->valuestring : NULL;
    const char *slash = strrchr(dir, '/');
    cJSON *root = cJSON_CreateObject(), *bases = cJSON_AddArrayToObject(root, "base_models");
    cJSON *b = cJSON_CreateObject(), *ads, *a = cJSON_CreateObject();
    cJSON_AddItemToArray(bases, b);
    cJSON_AddStringToObject(root, "name", slash && slash[1] ? slash + 1 : dir);
    add_name_keywords(root, slash && slash[1] ? slash + 1 : dir);
    cJSON_AddStringToObject(root, "version", "0.0.0");
    cJSON_AddStringToObject(root, "schema_version", "2.0");
    cJSON_AddStringToObject(b, "name", base ? base : "-"); /* no name: emptied below, the base check warns */
    ads = cJSON_AddArrayToObject(b, "adapters");
    cJSON_AddItemToArray(ads, a);
    cJSON_AddStringToObject(a, "type", type);
    cJSON_AddStringToObject(a, "path", ".");
    cJSON_Delete(cfg);
    if (!ads || !cJSON_GetObjectItem(a, "path")) {
        cJSON_Delete(root);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    hive_manifest_from_json(dir, config, root, m, p);
    cJSON_Delete(root);
    m->peft_dir = 1;
    if (!base && m->n_bases && m->bases[0].name) m->bases[0].name[0] = 0;
    return HIVE_OK;
}

hive_status hive_expert_check_base(const hive_manifest *m, const char *model_name, const char *model_path, int strict,
                                   size_t *index, hive_error **err) {
    if (!m->peft_dir) return hive_manifest_match_base_named(m, model_name, model_path, index, err);
    const char *want = m->n_bases ? m->bases[0].name : "";
    hive_error *e = NULL;
    char why[1024];
    if (!*want) {
        snprintf(why, sizeof why, "%s has no base_model_name_or_path, so the base model cannot be checked", m->file);
    } else if (hive_manifest_match_base_named(m, model_name, model_path, index, &e) == HIVE_OK) {
        return HIVE_OK;
    } else {
        const char *shown = model_name && *model_name ? model_name : model_path ? model_path : "?";
        snprintf(why, sizeof why, "%s: base_model_name_or_path '%s' does not name the loaded model %s", m->file, want,
                 shown);
        hive_error_free(e);
    }
    if (strict) return hive_fail(err, HIVE_E_INVALID, "expert '%s': %s (--strict-base)", m->name, why);
    HLOG_WARN("expert '%s': %s; loading it anyway (--strict-base refuses)", m->name, why);
    *index = 0;
    return HIVE_OK;
}
