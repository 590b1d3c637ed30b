/* Private layout of hive_tensor_file, shared by the GGUF and safetensors
 * parsers and the common accessors. Not part of the model interface. */
#ifndef HIVE_MODEL_TENSOR_FILE_IMPL_H
#define HIVE_MODEL_TENSOR_FILE_IMPL_H

#include <stdint.h>
#include <uthash.h>

#include "hive_abi.h"

/* Name -> index entry for tensors and GGUF keys. */
typedef struct tf_name_entry {
    const char *name;   /* NUL-terminated, in the file's arena */
    uint64_t index;
    UT_hash_handle hh;
} tf_name_entry;

/* One GGUF key/value. Scalars and array payloads are offsets into the map;
 * string arrays also get an offset table so element i is O(1). */
typedef struct gguf_kv {
    hive_str key;            /* points into the map */
    uint32_t type;           /* HIVE_GGUF_* */
    uint32_t elem_type;      /* arrays only */
    uint64_t n;              /* arrays: element count; strings: byte length */
    uint64_t off;            /* scalar value / string bytes / first array element */
    uint64_t *str_offs;      /* string arrays: offset of each element's length field */
} gguf_kv;

struct hive_tensor_file {
    char *path;
    int is_gguf;
    const uint8_t *map;      /* read-only mapping of the whole file */
    int borrowed;            /* map is the caller's memory (hive_tf_open_mem): not unmapped */
    uint64_t size;

    uint64_t n_tensors;
    hive_tensor_view *views;
    char *names;             /* arena holding every tensor name */
    tf_name_entry *entries;  /* [n_tensors], linked into `index` */
    tf_name_entry *index;    /* uthash head */

    /* GGUF only */
    uint32_t gguf_version;
    uint64_t n_kv;
    gguf_kv *kvs;
    char *kv_names;          /* arena of NUL-terminated keys (for the hash) */
    tf_name_entry *kv_entries;
    tf_name_entry *kv_index;
};

/* Fill f->views/n_tensors (and the GGUF metadata) from the mapped bytes.
 * Names are collected as hive_str pointing into the map or elsewhere; the
 * common code copies them into the arena (tf_set_names). */
hive_status tf_parse_gguf(struct hive_tensor_file *f, hive_error **err);
hive_status tf_parse_safetensors(struct hive_tensor_file *f, hive_error **err);

/* Copies the n names into one arena, points views[i].name at them and builds
 * the hash; fails on duplicate names. */
hive_status tf_set_names(struct hive_tensor_file *f, const hive_str *names, hive_error **err);

/* Product of dims with overflow check; 0 on overflow or negative dims. */
int tf_elem_count(const int64_t *shape, uint32_t n_dims, uint64_t *out);

#endif
