/* GGUF v2/v3 parser: header, metadata key/values and tensor infos, every
 * length and offset checked against the mapped file before it is used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tensor_file.h"
#include "model/tensor_file_impl.h"
#include "util/dtype.h"
#include "util/error.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NESTING 8

typedef struct {
    const uint8_t *p;
    uint64_t size, pos;
} reader;

static uint64_t left(const reader *r) { return r->size - r->pos; }

static hive_status need(reader *r, uint64_t n, const char *what, hive_error **err) {
    if (n > left(r))
        return hive_fail(err, HIVE_E_INVALID,
                         "truncated GGUF file: %s needs %llu bytes at offset %llu but the file is %llu bytes",
                         what, (unsigned long long)n, (unsigned long long)r->pos, (unsigned long long)r->size);
    return HIVE_OK;
}

static hive_status rd_u32(reader *r, uint32_t *v, const char *what, hive_error **err) {
    hive_status st = need(r, 4, what, err);
    if (st) return st;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return HIVE_OK;
}

static hive_status rd_u64(reader *r, uint64_t *v, const char *what, hive_error **err) {
    hive_status st = need(r, 8, what, err);
    if (st) return st;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return HIVE_OK;
}

static hive_status rd_str(reader *r, hive_str *s, const char *what, hive_error **err) {
    uint64_t len;
    hive_status st = rd_u64(r, &len, what, err);
    if (st) return st;
    if (len > left(r))
        return hive_fail(err, HIVE_E_INVALID,
                         "malformed GGUF file: %s has length %llu at offset %llu, past the end of the file (%llu bytes)",
                         what, (unsigned long long)len, (unsigned long long)(r->pos - 8),
                         (unsigned long long)r->size);
    s->ptr = (const char *)r->p + r->pos;
    s->len = len;
    r->pos += len;
    return HIVE_OK;
}

/* Bytes of a scalar GGUF value type; 0 for strings, arrays and unknown types. */
static uint64_t scalar_size(uint32_t t) {
    switch (t) {
    case HIVE_GGUF_U8: case HIVE_GGUF_I8: case HIVE_GGUF_BOOL: return 1;
    case HIVE_GGUF_U16: case HIVE_GGUF_I16: return 2;
    case HIVE_GGUF_U32: case HIVE_GGUF_I32: case HIVE_GGUF_F32: return 4;
    case HIVE_GGUF_U64: case HIVE_GGUF_I64: case HIVE_GGUF_F64: return 8;
    default: return 0;
    }
}

/* Skips one value of type t; fills kv (when given) with where it lies. */
static hive_status rd_value(reader *r, uint32_t t, int depth, gguf_kv *kv, const char *key, hive_error **err) {
    uint64_t sz = scalar_size(t);
    if (sz) {
        if (kv) kv->off = r->pos;
        hive_status st = need(r, sz, key, err);
        if (st == HIVE_OK) r->pos += sz;
        return st;
    }
    if (t == HIVE_GGUF_STRING) {
        hive_str s;
        hive_status st = rd_str(r, &s, key, err);
        if (st == HIVE_OK && kv) {
            kv->off = (uint64_t)((const uint8_t *)s.ptr - r->p);
            kv->n = s.len;
        }
        return st;
    }
    if (t != HIVE_GGUF_ARRAY)
        return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: key %s has unknown value type %u", key, t);
    if (depth >= GGUF_MAX_NESTING)
        return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: key %s nests arrays too deeply", key);
    uint32_t et;
    uint64_t n;
    hive_status st = rd_u32(r, &et, key, err);
    if (!st) st = rd_u64(r, &n, key, err);
    if (st) return st;
    if (kv) {
        kv->elem_type = et;
        kv->n = n;
        kv->off = r->pos;
    }
    uint64_t esz = scalar_size(et);
    if (esz) {
        if (n > left(r) / esz)
            return hive_fail(err, HIVE_E_INVALID,
                             "malformed GGUF file: array %s of %llu elements runs past the end of the file", key,
                             (unsigned long long)n);
        r->pos += n * esz;
        return HIVE_OK;
    }
    /* strings take at least 8 bytes each and arrays 12, so n is bounded by the file */
    uint64_t min_elem = et == HIVE_GGUF_STRING ? 8 : 12;
    if (et != HIVE_GGUF_STRING && et != HIVE_GGUF_ARRAY)
        return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: array %s has unknown element type %u", key, et);
    if (n > left(r) / min_elem)
        return hive_fail(err, HIVE_E_INVALID,
                         "malformed GGUF file: array %s of %llu elements runs past the end of the file", key,
                         (unsigned long long)n);
    if (kv && et == HIVE_GGUF_STRING) {
        kv->str_offs = malloc((n ? n : 1) * sizeof *kv->str_offs);
        if (!kv->str_offs) return hive_fail(err, HIVE_E_NOMEM, "out of memory reading array %s", key);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (kv && kv->str_offs) kv->str_offs[i] = r->pos;
        st = rd_value(r, et, depth + 1, NULL, key, err);
        if (st) return st;
    }
    return HIVE_OK;
}

static hive_status index_keys(struct hive_tensor_file *f, hive_error **err) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) total += f->kvs[i].key.len + 1;
    f->kv_names = malloc(total ? total : 1);
    f->kv_entries = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv_entries);
    if (!f->kv_names || !f->kv_entries) return hive_fail(err, HIVE_E_NOMEM, "out of memory indexing GGUF keys");
    char *p = f->kv_names;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        size_t len = (size_t)f->kvs[i].key.len;
        memcpy(p, f->kvs[i].key.ptr, len);
        p[len] = '\0';
        if (strlen(p) != len)
            return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: key %llu has an embedded NUL byte",
                             (unsigned long long)i);
        tf_name_entry *dup = NULL;
        HASH_FIND(hh, f->kv_index, p, len, dup);
        if (dup) return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: key %s appears twice", p);
        f->kv_entries[i].name = p;
        f->kv_entries[i].index = i;
        HASH_ADD_KEYPTR(hh, f->kv_index, p, len, &f->kv_entries[i]);
        p += len + 1;
    }
    return HIVE_OK;
}

static const char *ggml_type_name(uint32_t t) {
    static const char *names[] = {
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
        "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
        "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8",
        "IQ4_NL_8_8", "MXFP4",
    };
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static int ggml_to_hive_dtype(uint32_t t) {
    switch (t) {
    case 0: return HIVE_DTYPE_F32;
    case 1: return HIVE_DTYPE_F16;
    case 2: return HIVE_DTYPE_Q4_0;
    case 3: return HIVE_DTYPE_Q4_1;
    case 8: return HIVE_DTYPE_Q8_0;
    case 12: return HIVE_DTYPE_Q4_K;
    case 14: return HIVE_DTYPE_Q6_K;
    case 30: return HIVE_DTYPE_BF16;
    default: return -1;
    }
}

static hive_status read_alignment(struct hive_tensor_file *f, uint64_t *align, hive_error **err) {
    int64_t a = GGUF_DEFAULT_ALIGNMENT;
    hive_status st = hive_gguf_get_i64(f, "general.alignment", &a, err);
    if (st == HIVE_E_NOTFOUND) st = HIVE_OK;
    if (st) return st;
    if (a <= 0 || (a & (a - 1)) != 0 || a > (1 << 30))
        return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: general.alignment %lld is not a power of two",
                         (long long)a);
    *align = (uint64_t)a;
    return HIVE_OK;
}

typedef struct {
    uint32_t ggml_type;
    uint64_t offset;
} tensor_info;

static hive_status read_tensor_info(reader *r, hive_tensor_view *v, hive_str *name, tensor_info *ti,
                                    hive_error **err) {
    hive_status st = rd_str(r, name, "tensor name", err);
    if (st) return st;
    char nm[256];
    snprintf(nm, sizeof nm, "%.*s", (int)(name->len < 200 ? name->len : 200), name->ptr);
    uint32_t n_dims;
    if ((st = rd_u32(r, &n_dims, nm, err))) return st;
    if (n_dims == 0 || n_dims > HIVE_MAX_DIMS)
        return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: tensor %s has %u dimensions (1..%d allowed)",
                         nm, n_dims, HIVE_MAX_DIMS);
    memset(v, 0, sizeof *v);
    v->struct_size = sizeof *v;
    v->n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne;
        if ((st = rd_u64(r, &ne, nm, err))) return st;
        if (ne > (uint64_t)INT64_MAX)
            return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: tensor %s has dimension %llu", nm,
                             (unsigned long long)ne);
        v->shape[n_dims - 1 - d] = (int64_t)ne; /* ggml ne[0] is innermost */
    }
    if ((st = rd_u32(r, &ti->ggml_type, nm, err))) return st;
    if ((st = rd_u64(r, &ti->offset, nm, err))) return st;
    return HIVE_OK;
}

/* Type mapping, block divisibility, byte size and bounds of one tensor. */
static hive_status place_tensor(const struct hive_tensor_file *f, hive_tensor_view *v, const hive_str *name,
                                const tensor_info *ti, uint64_t data_start, uint64_t align, hive_error **err) {
    char nm[256];
    snprintf(nm, sizeof nm, "%.*s", (int)(name->len < 200 ? name->len : 200), name->ptr);
    int dt = ggml_to_hive_dtype(ti->ggml_type);
    if (dt < 0)
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "tensor %s has GGUF type %s (%u), which Hive does not support; supported: "
                         "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K Q6_K",
                         nm, ggml_type_name(ti->ggml_type), ti->ggml_type);
    v->dtype = (uint32_t)dt;
    uint64_t elems;
    if (!tf_elem_count(v->shape, v->n_dims, &elems))
        return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: tensor %s has too many elements", nm);
    uint32_t blk = hive_dtype_block_elems(v->dtype), bb = hive_dtype_block_bytes(v->dtype);
    int64_t inner = v->shape[v->n_dims - 1];
    if (inner % blk != 0)
        return hive_fail(err, HIVE_E_INVALID,
                         "tensor %s: innermost dimension %lld is not a multiple of the %s block size %u", nm,
                         (long long)inner, ggml_type_name(ti->ggml_type), blk);
    if (elems / blk > UINT64_MAX / bb)
        return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: tensor %s is too large", nm);
    v->nbytes = elems / blk * bb;
    if (ti->offset % align != 0)
        return hive_fail(err, HIVE_E_INVALID, "malformed GGUF file: tensor %s offset %llu is not a multiple of the "
                         "alignment %llu", nm, (unsigned long long)ti->offset, (unsigned long long)align);
    uint64_t room = f->size - data_start;
    if (ti->offset > room || v->nbytes > room - ti->offset)
        return hive_fail(err, HIVE_E_INVALID,
                         "truncated or malformed GGUF file: tensor %s (data offset %llu, %llu bytes) extends past the end of the "
                         "file (%llu bytes of tensor data)",
                         nm, (unsigned long long)ti->offset, (unsigned long long)v->nbytes,
                         (unsigned long long)room);
    v->data = f->map + data_start + ti->offset;
    return HIVE_OK;
}

static hive_status parse_tensors(struct hive_tensor_file *f, reader *r, hive_error **err) {
    uint64_t align = GGUF_DEFAULT_ALIGNMENT;
    hive_status st = read_alignment(f, &align, err);
    if (st) return st;
    hive_str *names = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *names);
    tensor_info *infos = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *infos);
    f->views = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->views);
    if (!names || !infos || !f->views) st = hive_fail(err, HIVE_E_NOMEM, "out of memory reading tensor infos");
    for (uint64_t i = 0; !st && i < f->n_tensors; i++) st = read_tensor_info(r, &f->views[i], &names[i], &infos[i], err);
    uint64_t data_start = 0;
    if (!st) {
        data_start = (r->pos + align - 1) / align * align;
        if (data_start > f->size) {
            if (f->n_tensors > 0)
                st = hive_fail(err, HIVE_E_INVALID, "truncated GGUF file: tensor data would start at offset %llu "
                               "but the file is %llu bytes", (unsigned long long)data_start,
                               (unsigned long long)f->size);
            data_start = f->size;
        }
    }
    for (uint64_t i = 0; !st && i < f->n_tensors; i++)
        st = place_tensor(f, &f->views[i], &names[i], &infos[i], data_start, align, err);
    if (!st) st = tf_set_names(f, names, err);
    free(names);
    free(infos);
    return st;
}

hive_status tf_parse_gguf(struct hive_tensor_file *f, hive_error **err) {
    reader r = {f->map, f->size, 4};
    uint32_t version;
    hive_status st = rd_u32(&r, &version, "header", err);
    if (st) return st;
    if (version != 2 && version != 3)
        return hive_fail(err, HIVE_E_VERSION,
                         "GGUF version %u is not supported (Hive reads versions 2 and 3%s)", version,
                         version > 0xffff ? "; this may be a big-endian file" : "");
    f->gguf_version = version;
    if ((st = rd_u64(&r, &f->n_tensors, "header", err))) return st;
    if ((st = rd_u64(&r, &f->n_kv, "header", err))) return st;
    /* each key/value takes at least 13 bytes, each tensor info 24 */
    if (f->n_kv > left(&r) / 13 || f->n_tensors > left(&r) / 24)
        return hive_fail(err, HIVE_E_INVALID,
                         "malformed GGUF file: header claims %llu tensors and %llu keys, more than a %llu-byte file holds",
                         (unsigned long long)f->n_tensors, (unsigned long long)f->n_kv,
                         (unsigned long long)f->size);
    uint64_t n_tensors = f->n_tensors;
    f->n_tensors = 0; /* until views exist */
    f->kvs = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kvs);
    if (!f->kvs) return hive_fail(err, HIVE_E_NOMEM, "out of memory reading GGUF metadata");
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kvs[i];
        if ((st = rd_str(&r, &kv->key, "metadata key", err))) return st;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 200 ? kv->key.len : 200), kv->key.ptr);
        if ((st = rd_u32(&r, &kv->type, key, err))) return st;
        if ((st = rd_value(&r, kv->type, 0, kv, key, err))) return st;
    }
    if ((st = index_keys(f, err))) return st;
    f->n_tensors = n_tensors;
    st = parse_tensors(f, &r, err);
    if (st) f->n_tensors = 0;
    return st;
}
