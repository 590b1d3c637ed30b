/* hive_model_open: a .gguf file or a Hugging Face directory -> validated
 * hyper-parameters, tensor catalog and tokenizer source. */
#include "model/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model_impl.h"
#include "util/error.h"
#include "util/log.h"

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Last path component without trailing slashes and without `suffix`. */
static void base_name(char *dst, size_t cap, const char *path, const char *suffix) {
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/') end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t n = end - start, sl = strlen(suffix);
    if (n > sl && memcmp(path + end - sl, suffix, sl) == 0) n -= sl;
    snprintf(dst, cap, "%.*s", (int)n, path + start);
}

static hive_status add_file(model_priv *p, const char *path, hive_error **err) {
    hive_tensor_file **nf = realloc(p->files, (p->n_files + 1) * sizeof *nf);
    if (!nf) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    p->files = nf;
    hive_tensor_file *f;
    hive_status st = hive_tf_open(path, &f, err);
    if (st) return st;
    p->files[p->n_files++] = f;
    if (hive_tf_is_gguf(f))
        return hive_fail(err, HIVE_E_INVALID, "%s is a GGUF file; a Hugging Face directory holds safetensors", path);
    return HIVE_OK;
}

/* model.safetensors.index.json: open each distinct shard of weight_map once. */
static hive_status open_shards(model_priv *p, const char *dir, const char *index_path, hive_error **err) {
    char *text;
    hive_status st = model_read_text(index_path, &text, err);
    if (st) return st;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return hive_fail(err, HIVE_E_INVALID, "%s has no weight_map object", index_path);
    }
    const char **seen = calloc((size_t)cJSON_GetArraySize(map) + 1, sizeof *seen);
    size_t n_seen = 0;
    if (!seen) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        if (st) break;
        if (!cJSON_IsString(e) || strstr(e->valuestring, "..") || e->valuestring[0] == '/') {
            st = hive_fail(err, HIVE_E_INVALID, "%s: tensor %s names a bad shard file", index_path, e->string);
            break;
        }
        size_t i = 0;
        while (i < n_seen && strcmp(seen[i], e->valuestring) != 0) i++;
        if (i < n_seen) continue;
        seen[n_seen++] = e->valuestring;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
        st = add_file(p, path, err);
    }
    if (!st && n_seen == 0) st = hive_fail(err, HIVE_E_INVALID, "%s lists no shards", index_path);
    free(seen);
    cJSON_Delete(root);
    return st;
}

static hive_status open_hf_tokenizer(hive_model_files *m, const char *dir, hive_error **err) {
    model_priv *p = m->priv;
    char path[8192];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    m->vocab.bos_id = m->vocab.eos_id = m->vocab.pad_id = m->vocab.unk_id = m->vocab.eot_id = -1;
    if (!file_exists(path)) return HIVE_OK; /* tiny test models come without one */
#ifdef HIVE_MODEL_HAVE_TOKENIZER
    hive_status st = hive_vocab_from_tokenizer_json(path, &m->vocab, &m->chat_template, err);
    if (st) return st;
    p->vocab_from_json = 1;
    return HIVE_OK;
#else
    (void)p;
    return hive_fail(err, HIVE_E_UNSUPPORTED, "%s: this build has no tokenizer library", path);
#endif
}

static hive_status open_hf(hive_model_files *m, const char *dir, hive_error **err) {
    model_priv *p = m->priv;
    hive_status st = model_hf_config(dir, &m->hp, p, err);
    if (st) {
        if (err) hive_error_prefix(*err, "%s", dir);
        return st;
    }
    base_name(m->hp.name, sizeof m->hp.name, dir, "");
    char path[8192];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (file_exists(path)) {
        st = add_file(p, path, err);
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        if (file_exists(path))
            st = open_shards(p, dir, path, err);
        else
            st = hive_fail(err, HIVE_E_NOTFOUND, "%s has neither model.safetensors nor model.safetensors.index.json",
                           dir);
    }
    if (!st) st = open_hf_tokenizer(m, dir, err);
    return st;
}

static hive_status open_gguf(hive_model_files *m, const char *path, hive_error **err) {
    model_priv *p = m->priv;
    p->files = calloc(1, sizeof *p->files);
    if (!p->files) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    hive_status st = hive_tf_open(path, &p->files[0], err);
    if (st) return st;
    p->n_files = 1;
    if (!hive_tf_is_gguf(p->files[0]))
        return hive_fail(err, HIVE_E_INVALID,
                         "%s is not a GGUF file; give a .gguf file or a Hugging Face model directory", path);
    m->is_gguf = 1;
    if ((st = model_gguf_hparams(p->files[0], &m->hp, err))) {
        if (err) hive_error_prefix(*err, "%s", path);
        return st;
    }
    if (!m->hp.name[0]) base_name(m->hp.name, sizeof m->hp.name, path, ".gguf");
    return model_gguf_vocab(m, p->files[0], err);
}

hive_status hive_model_open(const char *path, hive_model_files **out, hive_error **err) {
    *out = NULL;
    if (!path || !*path) return hive_fail(err, HIVE_E_INVALID, "model path is empty");
    if (strlen(path) >= sizeof((hive_model_files *)0)->path)
        return hive_fail(err, HIVE_E_INVALID, "model path is too long");
    struct stat sb;
    if (stat(path, &sb) != 0) return hive_fail(err, HIVE_E_IO, "cannot open model %s: %s", path, strerror(errno));
    hive_model_files *m = calloc(1, sizeof *m);
    model_priv *p = calloc(1, sizeof *p);
    if (!m || !p) {
        free(m);
        free(p);
        return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    m->priv = p;
    snprintf(m->path, sizeof m->path, "%s", path);
    hive_status st = S_ISDIR(sb.st_mode) ? open_hf(m, path, err) : open_gguf(m, path, err);
    if (!st) {
        m->layers = calloc(m->hp.n_layers, sizeof *m->layers);
        st = m->layers ? model_bind_tensors(m, err) : hive_fail(err, HIVE_E_NOMEM, "out of memory");
    }
    if (!st) st = model_rope_tensors(m, err);
    if (!st && m->vocab.n_tokens > m->hp.vocab)
        HLOG_WARN("%s: the tokenizer has %u tokens but the embedding only %u rows", path, m->vocab.n_tokens,
                  m->hp.vocab);
    if (st) {
        hive_model_close(m);
        return st;
    }
    *out = m;
    return HIVE_OK;
}

void hive_model_close(hive_model_files *m) {
    if (!m) return;
    model_priv *p = m->priv;
    if (p) {
#ifdef HIVE_MODEL_HAVE_TOKENIZER
        if (p->vocab_from_json) hive_vocab_src_free(&m->vocab);
#endif
        for (uint32_t i = 0; i < p->n_files; i++) hive_tf_close(p->files[i]);
        free(p->files);
        free(p->tokens);
        free(p->merges);
        free(p->token_types);
        free(p->moe_layer);
        free(p->ssm_layer);
        free(p->blazr_type);
        for (uint32_t l = 0; p->expert_views && l < m->hp.n_layers; l++) free(p->expert_views[l]);
        free(p->expert_views);
        free(p);
    }
    free(m->chat_template);
    free(m->layers);
    free(m);
}
