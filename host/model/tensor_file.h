/* Tensor files: GGUF v3 and safetensors (single or sharded), memory-mapped.
 * Views use the ABI's hive_tensor_view: shape outermost-first ([out, in] for a
 * linear weight), so a GGUF tensor with ggml ne = {in, out} reads as [out, in]. */
#ifndef HIVE_MODEL_TENSOR_FILE_H
#define HIVE_MODEL_TENSOR_FILE_H

#include <stdint.h>
#include "hive_abi.h"

/* Opens a .gguf (detected by magic) or a .safetensors file. */
hive_status hive_tf_open(const char *path, hive_tensor_file **out, hive_error **err);
/* The same parse of bytes already in memory, borrowed (they must outlive the
 * file); `name` is for messages. The fuzz harnesses use it so that ASan sees
 * every read past the end, which a page-rounded mapping would hide. */
hive_status hive_tf_open_mem(const char *name, const void *data, uint64_t size, hive_tensor_file **out,
                             hive_error **err);
uint64_t hive_tf_count(const hive_tensor_file *f);
hive_status hive_tf_get(const hive_tensor_file *f, uint64_t index, hive_tensor_view *out);
/* HIVE_E_NOTFOUND when absent (no error is made) */
hive_status hive_tf_find(const hive_tensor_file *f, const char *name, hive_tensor_view *out);
void hive_tf_close(hive_tensor_file *f);
int hive_tf_is_gguf(const hive_tensor_file *f);
const char *hive_tf_path(const hive_tensor_file *f);

/* ---- GGUF metadata (all return HIVE_E_NOTFOUND when the key is absent and
 *      HIVE_E_INVALID, with a message naming key and types, on a type mismatch) */
#define HIVE_GGUF_U8 0
#define HIVE_GGUF_I8 1
#define HIVE_GGUF_U16 2
#define HIVE_GGUF_I16 3
#define HIVE_GGUF_U32 4
#define HIVE_GGUF_I32 5
#define HIVE_GGUF_F32 6
#define HIVE_GGUF_BOOL 7
#define HIVE_GGUF_STRING 8
#define HIVE_GGUF_ARRAY 9
#define HIVE_GGUF_U64 10
#define HIVE_GGUF_I64 11
#define HIVE_GGUF_F64 12

/* Any integer type, range-checked into the target. */
hive_status hive_gguf_get_i64(const hive_tensor_file *f, const char *key, int64_t *out, hive_error **err);
hive_status hive_gguf_get_u32(const hive_tensor_file *f, const char *key, uint32_t *out, hive_error **err);
/* f32 or f64 */
hive_status hive_gguf_get_f32(const hive_tensor_file *f, const char *key, float *out, hive_error **err);
hive_status hive_gguf_get_bool(const hive_tensor_file *f, const char *key, int *out, hive_error **err);
/* Points into the mapped file: not NUL-terminated. */
hive_status hive_gguf_get_str(const hive_tensor_file *f, const char *key, hive_str *out, hive_error **err);
/* Arrays: element type and count. */
hive_status hive_gguf_get_arr(const hive_tensor_file *f, const char *key, uint32_t *elem_type, uint64_t *n,
                              hive_error **err);
/* Element i of a string array (pointer into the mapped file). */
hive_status hive_gguf_arr_str(const hive_tensor_file *f, const char *key, uint64_t i, hive_str *out,
                              hive_error **err);
/* Numeric array copied out as int32/f32 (caller provides n elements). */
hive_status hive_gguf_arr_i32(const hive_tensor_file *f, const char *key, int32_t *out, uint64_t n,
                              hive_error **err);
hive_status hive_gguf_arr_f32(const hive_tensor_file *f, const char *key, float *out, uint64_t n,
                              hive_error **err);
/* Iterate metadata keys (for `info`): index < hive_gguf_kv_count. */
uint64_t hive_gguf_kv_count(const hive_tensor_file *f);
hive_status hive_gguf_kv_key(const hive_tensor_file *f, uint64_t i, hive_str *key, uint32_t *type);

#endif
