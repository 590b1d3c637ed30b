/* Typed access to GGUF metadata. Values were bounds-checked at open, so these
 * only check types and ranges. */
#include <string.h>

#include "model/tensor_file.h"
#include "model/tensor_file_impl.h"
#include "util/error.h"

static const char *gguf_type_name(uint32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                  "bool", "string", "array", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static const gguf_kv *find_kv(const hive_tensor_file *f, const char *key) {
    if (!f || !key || !f->is_gguf) return NULL;
    tf_name_entry *e = NULL;
    HASH_FIND_STR(f->kv_index, key, e);
    return e ? &f->kvs[e->index] : NULL;
}

static int is_int_type(uint32_t t) {
    return t == HIVE_GGUF_U8 || t == HIVE_GGUF_I8 || t == HIVE_GGUF_U16 || t == HIVE_GGUF_I16 ||
           t == HIVE_GGUF_U32 || t == HIVE_GGUF_I32 || t == HIVE_GGUF_U64 || t == HIVE_GGUF_I64;
}

/* Reads an integer of type t at p; 0 when a u64 does not fit in int64. */
static int read_int(uint32_t t, const uint8_t *p, int64_t *out) {
    switch (t) {
    case HIVE_GGUF_U8: *out = p[0]; return 1;
    case HIVE_GGUF_I8: *out = (int8_t)p[0]; return 1;
    case HIVE_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); *out = v; return 1; }
    case HIVE_GGUF_I16: { int16_t v; memcpy(&v, p, 2); *out = v; return 1; }
    case HIVE_GGUF_U32: { uint32_t v; memcpy(&v, p, 4); *out = v; return 1; }
    case HIVE_GGUF_I32: { int32_t v; memcpy(&v, p, 4); *out = v; return 1; }
    case HIVE_GGUF_I64: { int64_t v; memcpy(&v, p, 8); *out = v; return 1; }
    case HIVE_GGUF_U64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > (uint64_t)INT64_MAX) return 0;
        *out = (int64_t)v;
        return 1;
    }
    default: return 0;
    }
}

static uint64_t int_size(uint32_t t) {
    switch (t) {
    case HIVE_GGUF_U8: case HIVE_GGUF_I8: return 1;
    case HIVE_GGUF_U16: case HIVE_GGUF_I16: return 2;
    case HIVE_GGUF_U32: case HIVE_GGUF_I32: return 4;
    default: return 8;
    }
}

static hive_status mismatch(const char *key, uint32_t have, const char *want, hive_error **err) {
    return hive_fail(err, HIVE_E_INVALID, "GGUF key %s has type %s, expected %s", key, gguf_type_name(have), want);
}

hive_status hive_gguf_get_i64(const hive_tensor_file *f, const char *key, int64_t *out, hive_error **err) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv) return HIVE_E_NOTFOUND;
    if (!is_int_type(kv->type)) return mismatch(key, kv->type, "an integer", err);
    if (!read_int(kv->type, f->map + kv->off, out))
        return hive_fail(err, HIVE_E_INVALID, "GGUF key %s: value does not fit in a signed 64-bit integer", key);
    return HIVE_OK;
}

hive_status hive_gguf_get_u32(const hive_tensor_file *f, const char *key, uint32_t *out, hive_error **err) {
    int64_t v = 0;
    hive_status st = hive_gguf_get_i64(f, key, &v, err);
    if (st) return st;
    if (v < 0 || v > (int64_t)UINT32_MAX)
        return hive_fail(err, HIVE_E_INVALID, "GGUF key %s: value %lld does not fit in u32", key, (long long)v);
    *out = (uint32_t)v;
    return HIVE_OK;
}

hive_status hive_gguf_get_f32(const hive_tensor_file *f, const char *key, float *out, hive_error **err) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv) return HIVE_E_NOTFOUND;
    if (kv->type == HIVE_GGUF_F32) {
        memcpy(out, f->map + kv->off, 4);
    } else if (kv->type == HIVE_GGUF_F64) {
        double d;
        memcpy(&d, f->map + kv->off, 8);
        *out = (float)d;
    } else {
        return mismatch(key, kv->type, "f32 or f64", err);
    }
    return HIVE_OK;
}

hive_status hive_gguf_get_bool(const hive_tensor_file *f, const char *key, int *out, hive_error **err) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv) return HIVE_E_NOTFOUND;
    if (kv->type != HIVE_GGUF_BOOL) return mismatch(key, kv->type, "bool", err);
    *out = f->map[kv->off] != 0;
    return HIVE_OK;
}

hive_status hive_gguf_get_str(const hive_tensor_file *f, const char *key, hive_str *out, hive_error **err) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv) return HIVE_E_NOTFOUND;
    if (kv->type != HIVE_GGUF_STRING) return mismatch(key, kv->type, "string", err);
    out->ptr = (const char *)f->map + kv->off;
    out->len = kv->n;
    return HIVE_OK;
}

hive_status hive_gguf_get_arr(const hive_tensor_file *f, const char *key, uint32_t *elem_type, uint64_t *n,
                              hive_error **err) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv) return HIVE_E_NOTFOUND;
    if (kv->type != HIVE_GGUF_ARRAY) return mismatch(key, kv->type, "array", err);
    if (elem_type) *elem_type = kv->elem_type;
    if (n) *n = kv->n;
    return HIVE_OK;
}

static hive_status get_array(const hive_tensor_file *f, const char *key, uint64_t need_n, const gguf_kv **out,
                             hive_error **err) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv) return HIVE_E_NOTFOUND;
    if (kv->type != HIVE_GGUF_ARRAY) return mismatch(key, kv->type, "array", err);
    if (need_n > kv->n)
        return hive_fail(err, HIVE_E_INVALID, "GGUF array %s has %llu elements, %llu requested", key,
                         (unsigned long long)kv->n, (unsigned long long)need_n);
    *out = kv;
    return HIVE_OK;
}

hive_status hive_gguf_arr_str(const hive_tensor_file *f, const char *key, uint64_t i, hive_str *out,
                              hive_error **err) {
    const gguf_kv *kv = NULL;
    hive_status st = get_array(f, key, i < UINT64_MAX ? i + 1 : i, &kv, err); /* i + 1 must not wrap to 0 */
    if (st) return st;
    if (kv->elem_type != HIVE_GGUF_STRING || !kv->str_offs)
        return hive_fail(err, HIVE_E_INVALID, "GGUF array %s has elements of type %s, expected string", key,
                         gguf_type_name(kv->elem_type));
    uint64_t len;
    memcpy(&len, f->map + kv->str_offs[i], 8);
    out->ptr = (const char *)f->map + kv->str_offs[i] + 8;
    out->len = len;
    return HIVE_OK;
}

hive_status hive_gguf_arr_i32(const hive_tensor_file *f, const char *key, int32_t *out, uint64_t n,
                              hive_error **err) {
    const gguf_kv *kv = NULL;
    hive_status st = get_array(f, key, n, &kv, err);
    if (st) return st;
    if (!is_int_type(kv->elem_type))
        return hive_fail(err, HIVE_E_INVALID, "GGUF array %s has elements of type %s, expected an integer", key,
                         gguf_type_name(kv->elem_type));
    uint64_t esz = int_size(kv->elem_type);
    for (uint64_t i = 0; i < n; i++) {
        int64_t v;
        if (!read_int(kv->elem_type, f->map + kv->off + i * esz, &v) || v < INT32_MIN || v > INT32_MAX)
            return hive_fail(err, HIVE_E_INVALID, "GGUF array %s: element %llu does not fit in i32", key,
                             (unsigned long long)i);
        out[i] = (int32_t)v;
    }
    return HIVE_OK;
}

hive_status hive_gguf_arr_f32(const hive_tensor_file *f, const char *key, float *out, uint64_t n,
                              hive_error **err) {
    const gguf_kv *kv = NULL;
    hive_status st = get_array(f, key, n, &kv, err);
    if (st) return st;
    const uint8_t *p = f->map + kv->off;
    for (uint64_t i = 0; i < n; i++) {
        if (kv->elem_type == HIVE_GGUF_F32) {
            memcpy(&out[i], p + i * 4, 4);
        } else if (kv->elem_type == HIVE_GGUF_F64) {
            double d;
            memcpy(&d, p + i * 8, 8);
            out[i] = (float)d;
        } else if (is_int_type(kv->elem_type)) {
            int64_t v = 0;
            if (!read_int(kv->elem_type, p + i * int_size(kv->elem_type), &v))
                return hive_fail(err, HIVE_E_INVALID, "GGUF array %s: element %llu is out of range", key,
                                 (unsigned long long)i);
            out[i] = (float)v;
        } else {
            return hive_fail(err, HIVE_E_INVALID, "GGUF array %s has elements of type %s, expected numbers", key,
                             gguf_type_name(kv->elem_type));
        }
    }
    return HIVE_OK;
}

uint64_t hive_gguf_kv_count(const hive_tensor_file *f) { return f && f->is_gguf ? f->n_kv : 0; }

hive_status hive_gguf_kv_key(const hive_tensor_file *f, uint64_t i, hive_str *key, uint32_t *type) {
    if (!f || !f->is_gguf || i >= f->n_kv) return HIVE_E_INVALID;
    if (key) {
        key->ptr = f->kv_entries[i].name; /* NUL-terminated copy */
        key->len = f->kvs[i].key.len;
    }
    if (type) *type = f->kvs[i].type;
    return HIVE_OK;
}
