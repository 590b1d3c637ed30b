#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "test_writers.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tb_put(tbuf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = realloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}
void tb_u8(tbuf *b, uint8_t v) { tb_put(b, &v, 1); }
void tb_u32(tbuf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tb_put(b, x, 4);
}
void tb_u64(tbuf *b, uint64_t v) {
    tb_u32(b, (uint32_t)v);
    tb_u32(b, (uint32_t)(v >> 32));
}
void tb_gstr(tbuf *b, const char *s) {
    tb_u64(b, strlen(s));
    tb_put(b, s, strlen(s));
}
void tb_free(tbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void gw_init(gguf_w *w, uint32_t align) {
    memset(w, 0, sizeof *w);
    w->align = align;
    if (align != 32) gw_u32(w, "general.alignment", align);
}

void gw_scalar(gguf_w *w, const char *key, uint32_t type, const void *val, size_t size) {
    tb_gstr(&w->kv, key);
    tb_u32(&w->kv, type);
    tb_put(&w->kv, val, size);
    w->n_kv++;
}
void gw_u32(gguf_w *w, const char *key, uint32_t v) { gw_scalar(w, key, GT_U32, &v, 4); }
void gw_f32(gguf_w *w, const char *key, float v) { gw_scalar(w, key, GT_F32, &v, 4); }
void gw_bool(gguf_w *w, const char *key, int v) {
    uint8_t b = (uint8_t)(v != 0);
    gw_scalar(w, key, GT_BOOL, &b, 1);
}
void gw_str(gguf_w *w, const char *key, const char *v) {
    tb_gstr(&w->kv, key);
    tb_u32(&w->kv, GT_STR);
    tb_gstr(&w->kv, v);
    w->n_kv++;
}
void gw_arr(gguf_w *w, const char *key, uint32_t elem_type, const void *vals, size_t elem_size, uint64_t n) {
    tb_gstr(&w->kv, key);
    tb_u32(&w->kv, GT_ARR);
    tb_u32(&w->kv, elem_type);
    tb_u64(&w->kv, n);
    tb_put(&w->kv, vals, elem_size * n);
    w->n_kv++;
}
void gw_arr_str(gguf_w *w, const char *key, const char *const *vals, uint64_t n) {
    tb_gstr(&w->kv, key);
    tb_u32(&w->kv, GT_ARR);
    tb_u32(&w->kv, GT_STR);
    tb_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++) tb_gstr(&w->kv, vals[i]);
    w->n_kv++;
}

void gw_tensor(gguf_w *w, const char *name, uint32_t ggml_type, uint32_t n_dims, const int64_t *shape,
               const void *data, size_t nbytes) {
    while (w->data.len % w->align) tb_u8(&w->data, 0);
    tb_gstr(&w->info, name);
    tb_u32(&w->info, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) tb_u64(&w->info, (uint64_t)shape[n_dims - 1 - d]);
    tb_u32(&w->info, ggml_type);
    tb_u64(&w->info, w->data.len);
    tb_put(&w->data, data, nbytes);
    w->n_tensors++;
}

void gw_finish(gguf_w *w, tbuf *out) {
    memset(out, 0, sizeof *out);
    tb_put(out, "GGUF", 4);
    tb_u32(out, 3);
    tb_u64(out, w->n_tensors);
    tb_u64(out, w->n_kv);
    tb_put(out, w->kv.p, w->kv.len);
    tb_put(out, w->info.p, w->info.len);
    while (out->len % w->align) tb_u8(out, 0);
    tb_put(out, w->data.p, w->data.len);
    tb_free(&w->kv);
    tb_free(&w->info);
    tb_free(&w->data);
}

void sw_init(st_w *w) {
    memset(w, 0, sizeof *w);
    const char *open = "{\"__metadata__\":{\"format\":\"pt\"}";
    tb_put(&w->header, open, strlen(open));
}

void sw_tensor(st_w *w, const char *name, const char *dtype, uint32_t n_dims, const int64_t *shape,
               const void *data, size_t nbytes) {
    char buf[1024];
    int k = snprintf(buf, sizeof buf, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", name, dtype);
    for (uint32_t d = 0; d < n_dims; d++) k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%lld", d ? "," : "", (long long)shape[d]);
    k += snprintf(buf + k, sizeof buf - (size_t)k, "],\"data_offsets\":[%zu,%zu]}", w->data.len, w->data.len + nbytes);
    tb_put(&w->header, buf, (size_t)k);
    tb_put(&w->data, data, nbytes);
    w->n++;
}

void sw_finish(st_w *w, tbuf *out) {
    tb_u8(&w->header, '}');
    while (w->header.len % 8) tb_u8(&w->header, ' ');
    memset(out, 0, sizeof *out);
    tb_u64(out, w->header.len);
    tb_put(out, w->header.p, w->header.len);
    tb_put(out, w->data.p, w->data.len);
    tb_free(&w->header);
    tb_free(&w->data);
}

int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t got = fwrite(p, 1, n, f);
    return fclose(f) == 0 && got == n ? 0 : -1;
}

int write_text(const char *path, const char *text) { return write_file(path, text, strlen(text)); }

char *make_temp_dir(void) {
    const char *t = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/hive-model-test-XXXXXX", t && *t ? t : "/tmp") < 0) return NULL;
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR)
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}
