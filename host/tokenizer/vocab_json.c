/* hive_vocab_src from a Hugging Face tokenizer.json (byte-level BPE), plus
 * tokenizer_config.json / chat_template.jinja beside it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer/pretok.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

/* owner of a vocab filled here; the tag tells it from a GGUF view's owner */
#define VOCAB_JSON_TAG 0x4e4f534au
typedef struct vocab_json_owner {
    uint32_t tag;
    hive_str *tokens;
    int32_t *types;
    hive_str *merges;
    uint32_t n_tokens, n_merges;
} vocab_json_owner;

/* Reads a whole file; NULL (and *err set) when it cannot. */
static char *read_file(const char *path, size_t *len, hive_status missing, hive_error **err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        hive_fail(err, missing, "cannot open %s", path);
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            char *b = realloc(buf, cap + 1);
            if (!b) {
                free(buf);
                fclose(f);
                hive_fail(err, HIVE_E_NOMEM, "out of memory reading %s", path);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        hive_fail(err, HIVE_E_IO, "cannot read %s", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static int dup_str(hive_str *s, const char *text, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return -1;
    memcpy(p, text, n);
    p[n] = 0;
    s->ptr = p;
    s->len = n;
    return 0;
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_true(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* The pre-tokenizer name (pretok.h) a tokenizer.json pre_tokenizer means. */
static hive_status pre_name(const cJSON *pre, char *out, size_t cap, hive_error **err) {
    const char *type = json_str(pre, "type");
    const char *name = NULL;
    if (type && !strcmp(type, "ByteLevel") && json_true(pre, "use_regex", 1) && !json_true(pre, "add_prefix_space", 0)) {
        name = "gpt2";
    } else if (type && !strcmp(type, "Sequence")) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
        const cJSON *a = cJSON_GetArrayItem(seq, 0), *b = cJSON_GetArrayItem(seq, 1);
        const char *ta = json_str(a, "type"), *tb = json_str(b, "type");
        int n = cJSON_GetArraySize(seq);
        int bl_ok = tb && !strcmp(tb, "ByteLevel") && !json_true(b, "add_prefix_space", 0);
        if (n == 2 && bl_ok && ta && !strcmp(ta, "Digits") && json_true(a, "individual_digits", 0) &&
            json_true(b, "use_regex", 1)) {
            name = "smollm";
        } else if (n == 2 && bl_ok && ta && !strcmp(ta, "Split") && !json_true(b, "use_regex", 1)) {
            const char *beh = json_str(a, "behavior");
            const cJSON *pat = cJSON_GetObjectItemCaseSensitive(a, "pattern");
            if (beh && !strcmp(beh, "Isolated") && !json_true(a, "invert", 0))
                name = hive_pretok_name_for_regex(json_str(pat, "Regex"));
        }
    }
    if (!name) {
        char *s = pre ? cJSON_PrintUnformatted(pre) : NULL;
        hive_status st = hive_fail(err, HIVE_E_UNSUPPORTED, "tokenizer.json: unsupported pre_tokenizer %.300s",
                                   s ? s : "null");
        free(s);
        return st;
    }
    snprintf(out, cap, "%s", name);
    return HIVE_OK;
}

static hive_status load_vocab(const cJSON *root, vocab_json_owner *o, hive_error **err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = json_str(model, "type");
    if (!type || strcmp(type, "BPE"))
        return hive_fail(err, HIVE_E_UNSUPPORTED, "tokenizer.json: model type %s, only BPE is supported",
                         type ? type : "(none)");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(vocab)) return hive_fail(err, HIVE_E_INVALID, "tokenizer.json: model.vocab missing");
    double max_id = -1, n_ids = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) if (cJSON_IsNumber(e)) {
        n_ids++;
        if (e->valuedouble > max_id) max_id = e->valuedouble;
    }
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!cJSON_IsNumber(id)) continue;
        n_ids++;
        if (id->valuedouble > max_id) max_id = id->valuedouble;
    }
    if (max_id < 0 || max_id > 16e6) return hive_fail(err, HIVE_E_INVALID, "tokenizer.json: bad vocabulary ids");
    /* Ids are dense in real vocabularies; a lone huge id would make millions
     * of empty tokens (seconds of work and memory for nothing). */
    if (max_id >= 2 * n_ids + 1024)
        return hive_fail(err, HIVE_E_INVALID, "tokenizer.json: token ids run up to %.0f but only %.0f tokens are defined",
                         max_id, n_ids);
    o->n_tokens = (uint32_t)max_id + 1;
    o->tokens = calloc(o->n_tokens, sizeof *o->tokens);
    o->types = malloc(o->n_tokens * sizeof *o->types);
    if (!o->tokens || !o->types) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    for (uint32_t i = 0; i < o->n_tokens; i++) o->types[i] = HIVE_TOKEN_UNUSED;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0) continue;
        uint32_t id = (uint32_t)e->valuedouble;
        if (o->tokens[id].ptr) free((void *)o->tokens[id].ptr);
        if (dup_str(&o->tokens[id], e->string, strlen(e->string))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        o->types[id] = HIVE_TOKEN_NORMAL;
    }
    /* Added tokens keep their raw text; special ones are CONTROL (skipped by
     * skip_special, matched only when parsing specials). */
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const char *content = json_str(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || !content) continue;
        uint32_t i = (uint32_t)id->valuedouble;
        if (o->tokens[i].ptr) free((void *)o->tokens[i].ptr);
        if (dup_str(&o->tokens[i], content, strlen(content))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        o->types[i] = json_true(e, "special", 0) ? HIVE_TOKEN_CONTROL : HIVE_TOKEN_USER_DEFINED;
    }
    for (uint32_t i = 0; i < o->n_tokens; i++)
        if (!o->tokens[i].ptr && dup_str(&o->tokens[i], "", 0)) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    return HIVE_OK;
}

static hive_status load_merges(const cJSON *root, vocab_json_owner *o, hive_error **err) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "merges");
    int n = cJSON_GetArraySize(merges);
    o->merges = calloc(n > 0 ? (size_t)n : 1, sizeof *o->merges);
    if (!o->merges) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        hive_str *s = &o->merges[o->n_merges];
        if (cJSON_IsString(m)) { /* "left right" */
            if (dup_str(s, m->valuestring, strlen(m->valuestring))) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) { /* ["left", "right"] */
            const cJSON *a = cJSON_GetArrayItem(m, 0), *b = cJSON_GetArrayItem(m, 1);
            if (!cJSON_IsString(a) || !cJSON_IsString(b))
                return hive_fail(err, HIVE_E_INVALID, "tokenizer.json: merge %u is not two strings", o->n_merges);
            size_t la = strlen(a->valuestring), lb = strlen(b->valuestring);
            char *p = malloc(la + lb + 2);
            if (!p) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
            memcpy(p, a->valuestring, la);
            p[la] = ' ';
            memcpy(p + la + 1, b->valuestring, lb + 1);
            s->ptr = p;
            s->len = la + lb + 1;
        } else {
            return hive_fail(err, HIVE_E_INVALID, "tokenizer.json: merge %u is malformed", o->n_merges);
        }
        o->n_merges++;
    }
    return HIVE_OK;
}

/* A special token in tokenizer_config.json: "text" or {"content": "text"}. */
static int32_t config_token_id(const cJSON *cfg, const char *key, const vocab_json_owner *o) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    const char *s = cJSON_IsString(v) ? v->valuestring : json_str(v, "content");
    if (!s) return -1;
    for (uint32_t i = 0; i < o->n_tokens; i++)
        if (o->tokens[i].len == strlen(s) && !memcmp(o->tokens[i].ptr, s, o->tokens[i].len)) return (int32_t)i;
    return -1;
}

/* The text of path's sibling `name` ("dir/name"), or NULL when absent. */
static char *sibling_path(const char *path, const char *name) {
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path + 1) : 0;
    char *p = malloc(dl + strlen(name) + 1);
    if (!p) return NULL;
    memcpy(p, path, dl);
    strcpy(p + dl, name);
    return p;
}

static hive_status load_config(const char *path, vocab_json_owner *o, hive_vocab_src *out, char **chat_template,
                               hive_error **err) {
    char *cfg_path = sibling_path(path, "tokenizer_config.json");
    char *tpl_path = sibling_path(path, "chat_template.jinja");
    hive_status st = HIVE_OK;
    if (!cfg_path || !tpl_path) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    char *text = st == HIVE_OK ? read_file(cfg_path, NULL, HIVE_E_NOTFOUND, NULL) : NULL;
    cJSON *cfg = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (text && !cfg) st = hive_fail(err, HIVE_E_INVALID, "%s is not valid JSON", cfg_path);
    if (cfg) {
        out->bos_id = config_token_id(cfg, "bos_token", o);
        out->eos_id = config_token_id(cfg, "eos_token", o);
        out->pad_id = config_token_id(cfg, "pad_token", o);
        out->unk_id = config_token_id(cfg, "unk_token", o);
        out->add_bos = json_true(cfg, "add_bos_token", 0);
    }
    if (st == HIVE_OK && chat_template) {
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        const char *tpl = cJSON_IsString(ct) ? ct->valuestring : NULL;
        const cJSON *e;
        const cJSON *list = cJSON_IsArray(ct) ? ct : NULL;
        cJSON_ArrayForEach(e, list) { /* [{"name": "default", "template": ...}] */
            const char *nm = json_str(e, "name");
            if (nm && !strcmp(nm, "default")) tpl = json_str(e, "template");
        }
        *chat_template = tpl ? strdup(tpl) : read_file(tpl_path, NULL, HIVE_E_NOTFOUND, NULL);
        if (tpl && !*chat_template) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    cJSON_Delete(cfg);
    free(cfg_path);
    free(tpl_path);
    return st;
}

hive_status hive_vocab_from_tokenizer_json(const char *path, hive_vocab_src *out, char **chat_template,
                                           hive_error **err) {
    if (!path || !out) return hive_fail(err, HIVE_E_INVALID, "vocab: bad arguments");
    memset(out, 0, sizeof *out);
    out->bos_id = out->eos_id = out->pad_id = out->unk_id = out->eot_id = -1;
    if (chat_template) *chat_template = NULL;
    struct stat sb;
    int is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode); /* a model directory: its tokenizer.json */
    char *file = is_dir ? malloc(strlen(path) + 16) : strdup(path);
    if (!file) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    if (is_dir) sprintf(file, "%s/tokenizer.json", path);
    vocab_json_owner *o = calloc(1, sizeof *o);
    if (o) o->tag = VOCAB_JSON_TAG;
    out->owner = o;
    hive_status st = o ? HIVE_OK : hive_fail(err, HIVE_E_NOMEM, "out of memory");
    char *text = st == HIVE_OK ? read_file(file, NULL, HIVE_E_IO, err) : NULL;
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    if (st == HIVE_OK && !text) st = (err && *err) ? (*err)->code : HIVE_E_IO;
    else if (st == HIVE_OK && !root) st = hive_fail(err, HIVE_E_INVALID, "%s is not valid JSON", file);
    free(text);
    if (st == HIVE_OK) st = load_vocab(root, o, err);
    if (st == HIVE_OK) st = load_merges(root, o, err);
    if (st == HIVE_OK) st = pre_name(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), out->pre, sizeof out->pre, err);
    if (st == HIVE_OK) st = load_config(file, o, out, chat_template, err);
    cJSON_Delete(root);
    if (st != HIVE_OK) {
        hive_error_prefix(err ? *err : NULL, "%s", file);
        free(file);
        hive_vocab_src_free(out);
        if (chat_template) {
            free(*chat_template);
            *chat_template = NULL;
        }
        return st;
    }
    free(file);
    out->n_tokens = o->n_tokens;
    out->tokens = o->tokens;
    out->types = o->types;
    out->n_merges = o->n_merges;
    out->merges = o->merges;
    static const char *const eot_names[] = {"<|im_end|>", "<|eot_id|>", "<end_of_turn>"};
    for (size_t k = 0; k < 3 && out->eot_id < 0; k++)
        for (uint32_t i = 0; i < o->n_tokens && out->eot_id < 0; i++)
            if (o->types[i] != HIVE_TOKEN_NORMAL && !strcmp(o->tokens[i].ptr, eot_names[k])) out->eot_id = (int32_t)i;
    return HIVE_OK;
}

void hive_vocab_src_free(hive_vocab_src *v) {
    if (!v || !v->owner) return;
    vocab_json_owner *o = v->owner;
    if (o->tag != VOCAB_JSON_TAG) return; /* not ours */
    for (uint32_t i = 0; o->tokens && i < o->n_tokens; i++) free((void *)o->tokens[i].ptr);
    for (uint32_t i = 0; o->merges && i < o->n_merges; i++) free((void *)o->merges[i].ptr);
    free(o->tokens);
    free(o->types);
    free(o->merges);
    free(o);
    memset(v, 0, sizeof *v);
}
