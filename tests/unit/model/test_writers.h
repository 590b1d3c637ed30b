/* Tiny GGUF and safetensors writers for the model tests. Written from the
 * format descriptions, independent of the readers under test. */
#ifndef HIVE_TEST_MODEL_WRITERS_H
#define HIVE_TEST_MODEL_WRITERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tbuf {
    uint8_t *p;
    size_t len, cap;
} tbuf;

void tb_put(tbuf *b, const void *src, size_t n);
void tb_u8(tbuf *b, uint8_t v);
void tb_u32(tbuf *b, uint32_t v);
void tb_u64(tbuf *b, uint64_t v);
void tb_gstr(tbuf *b, const char *s); /* GGUF string: u64 length + bytes */
void tb_free(tbuf *b);

/* GGUF value types */
enum { GT_U8, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STR, GT_ARR, GT_U64, GT_I64, GT_F64 };
/* ggml tensor types used here */
enum { GG_F32 = 0, GG_F16 = 1, GG_Q4_0 = 2, GG_Q4_1 = 3, GG_Q8_0 = 8, GG_Q4_K = 12, GG_Q5_K = 13, GG_Q6_K = 14,
       GG_BF16 = 30 };

typedef struct gguf_w {
    tbuf kv, info, data;
    uint64_t n_kv, n_tensors;
    uint32_t align;
} gguf_w;

/* align != 32 also writes general.alignment */
void gw_init(gguf_w *w, uint32_t align);
void gw_scalar(gguf_w *w, const char *key, uint32_t type, const void *val, size_t size);
void gw_u32(gguf_w *w, const char *key, uint32_t v);
void gw_f32(gguf_w *w, const char *key, float v);
void gw_bool(gguf_w *w, const char *key, int v);
void gw_str(gguf_w *w, const char *key, const char *v);
void gw_arr(gguf_w *w, const char *key, uint32_t elem_type, const void *vals, size_t elem_size, uint64_t n);
void gw_arr_str(gguf_w *w, const char *key, const char *const *vals, uint64_t n);
/* shape outermost-first, as Hive reports it; written reversed as ggml ne */
void gw_tensor(gguf_w *w, const char *name, uint32_t ggml_type, uint32_t n_dims, const int64_t *shape,
               const void *data, size_t nbytes);
/* Whole file bytes into *out (caller frees with tb_free); frees the writer. */
void gw_finish(gguf_w *w, tbuf *out);

typedef struct st_w {
    tbuf header, data;
    int n;
} st_w;
void sw_init(st_w *w);
void sw_tensor(st_w *w, const char *name, const char *dtype, uint32_t n_dims, const int64_t *shape,
               const void *data, size_t nbytes);
void sw_finish(st_w *w, tbuf *out);

int write_file(const char *path, const void *p, size_t n);
int write_text(const char *path, const char *text);
/* mkdtemp under TMPDIR or /tmp; returns a static-lifetime malloc'd path */
char *make_temp_dir(void);
void remove_tree(const char *dir);

#endif
