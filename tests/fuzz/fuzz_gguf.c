/* Fuzzes the GGUF reader: header, metadata and tensor infos (gguf.c), every
 * typed metadata accessor (gguf_meta.c), then what hive_model_open does with
 * a .gguf: hyper-parameters, tokenizer metadata and tensor binding
 * (gguf_model.c, arch.c), and a tokenizer built from that metadata. The bytes
 * are parsed in place (hive_tf_open_mem) so ASan sees any read past the end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "model/model_impl.h"
#include "model/tensor_file.h"
#include "util/error.h"

static void drop(hive_error **e) {
    hive_error_free(*e);
    *e = NULL;
}

static void walk_metadata(const hive_tensor_file *f) {
    uint64_t n = hive_gguf_kv_count(f);
    for (uint64_t i = 0; i < n; i++) {
        hive_str key;
        uint32_t type;
        if (hive_gguf_kv_key(f, i, &key, &type) != HIVE_OK) abort(); /* i < count */
        const char *k = key.ptr;
        hive_error *e = NULL;
        int64_t iv;
        uint32_t uv;
        float fv;
        int bv;
        hive_str sv;
        if (hive_gguf_get_i64(f, k, &iv, &e) != HIVE_OK) drop(&e);
        if (hive_gguf_get_u32(f, k, &uv, &e) != HIVE_OK) drop(&e);
        if (hive_gguf_get_f32(f, k, &fv, &e) != HIVE_OK) drop(&e);
        if (hive_gguf_get_bool(f, k, &bv, &e) != HIVE_OK) drop(&e);
        if (hive_gguf_get_str(f, k, &sv, &e) == HIVE_OK) fuzz_touch(sv.ptr, (size_t)sv.len);
        else drop(&e);
        uint32_t et;
        uint64_t cnt;
        if (hive_gguf_get_arr(f, k, &et, &cnt, &e) != HIVE_OK) {
            drop(&e);
            continue;
        }
        uint64_t m = cnt < 64 ? cnt : 64;
        for (uint64_t j = 0; j < m; j++) {
            if (hive_gguf_arr_str(f, k, j, &sv, &e) == HIVE_OK) fuzz_touch(sv.ptr, (size_t)sv.len);
            else drop(&e);
        }
        if (hive_gguf_arr_str(f, k, cnt, &sv, &e) != HIVE_OK) drop(&e); /* one past the end */
        if (hive_gguf_arr_str(f, k, UINT64_MAX, &sv, &e) != HIVE_OK) drop(&e);
        int32_t ib[64];
        float fb[64];
        if (hive_gguf_arr_i32(f, k, ib, m, &e) != HIVE_OK) drop(&e);
        if (hive_gguf_arr_f32(f, k, fb, m, &e) != HIVE_OK) drop(&e);
    }
    hive_gguf_kv_key(f, n, NULL, NULL);
}

static void walk_tensors(const hive_tensor_file *f) {
    uint64_t n = hive_tf_count(f);
    for (uint64_t i = 0; i < n; i++) {
        hive_tensor_view v;
        if (hive_tf_get(f, i, &v) != HIVE_OK || hive_tf_find(f, v.name, NULL) != HIVE_OK) abort();
        fuzz_touch(v.data, (size_t)v.nbytes);
    }
}

/* What open_gguf in model.c does after opening the file; takes f. */
static void open_model(hive_tensor_file *f) {
    hive_model_files *m = calloc(1, sizeof *m);
    model_priv *p = calloc(1, sizeof *p);
    hive_tensor_file **files = malloc(sizeof *files);
    if (!m || !p || !files) abort();
    files[0] = f;
    p->files = files;
    p->n_files = 1;
    m->priv = p;
    m->is_gguf = 1;
    hive_error *e = NULL;
    hive_status st = model_gguf_hparams(f, &m->hp, &e);
    if (st == HIVE_OK) st = model_gguf_vocab(m, f, &e);
    if (st == HIVE_OK) {
        m->layers = calloc(m->hp.n_layers, sizeof *m->layers);
        if (!m->layers) abort();
        st = model_bind_tensors(m, &e);
        if (m->vocab.n_tokens) fuzz_exercise_tokenizer(&m->vocab, m->chat_template);
    }
    hive_error_free(e);
    hive_model_close(m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A copy of exactly `size` bytes: the fuzzer's buffer may be reused. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    if (size) memcpy(copy, data, size);
    hive_tensor_file *f = NULL;
    hive_error *e = NULL;
    if (hive_tf_open_mem("fuzz.gguf", copy, size, &f, &e) == HIVE_OK) {
        walk_metadata(f);
        walk_tensors(f);
        open_model(f);
    } else {
        hive_error_free(e);
    }
    free(copy);
    return 0;
}
