/* safetensors parser: u64 header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the raw little-endian data. Offsets are relative to the data start. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tensor_file.h"
#include "model/tensor_file_impl.h"
#include "util/error.h"

#define ST_MAX_HEADER (256ull << 20) /* far above any real header */

static int st_dtype(const char *s) {
    if (strcmp(s, "F32") == 0) return HIVE_DTYPE_F32;
    if (strcmp(s, "F16") == 0) return HIVE_DTYPE_F16;
    if (strcmp(s, "BF16") == 0) return HIVE_DTYPE_BF16;
    if (strcmp(s, "I32") == 0) return HIVE_DTYPE_I32;
    if (strcmp(s, "I8") == 0) return HIVE_DTYPE_I8;
    return -1;
}

static uint64_t st_elem_bytes(uint32_t dt) {
    switch (dt) {
    case HIVE_DTYPE_F32: case HIVE_DTYPE_I32: return 4;
    case HIVE_DTYPE_F16: case HIVE_DTYPE_BF16: return 2;
    default: return 1;
    }
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static hive_status parse_entry(const cJSON *t, uint64_t data_size, const uint8_t *data, hive_tensor_view *v,
                               hive_error **err) {
    const char *nm = t->string;
    if (!cJSON_IsObject(t)) return hive_fail(err, HIVE_E_INVALID, "malformed safetensors header: %s is not an object", nm);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return hive_fail(err, HIVE_E_INVALID,
                         "malformed safetensors header: tensor %s needs dtype, shape and data_offsets [begin, end]", nm);
    int dt = st_dtype(dtype->valuestring);
    if (dt < 0)
        return hive_fail(err, HIVE_E_UNSUPPORTED,
                         "tensor %s has safetensors dtype %s, which Hive does not support; supported: F32 F16 BF16 I32 I8",
                         nm, dtype->valuestring);
    memset(v, 0, sizeof *v);
    v->struct_size = sizeof *v;
    v->dtype = (uint32_t)dt;
    int nd = cJSON_GetArraySize(shape);
    if (nd > HIVE_MAX_DIMS)
        return hive_fail(err, HIVE_E_INVALID, "tensor %s has %d dimensions (at most %d)", nm, nd, HIVE_MAX_DIMS);
    v->n_dims = (uint32_t)nd;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape) {
        uint64_t x;
        if (!json_u64(d, &x)) return hive_fail(err, HIVE_E_INVALID, "malformed safetensors header: tensor %s has a bad shape", nm);
        v->shape[i++] = (int64_t)x;
    }
    uint64_t begin, end, elems;
    if (!json_u64(cJSON_GetArrayItem(offs, 0), &begin) || !json_u64(cJSON_GetArrayItem(offs, 1), &end) || end < begin)
        return hive_fail(err, HIVE_E_INVALID, "malformed safetensors header: tensor %s has bad data_offsets", nm);
    if (!tf_elem_count(v->shape, v->n_dims, &elems) || elems > UINT64_MAX / 8)
        return hive_fail(err, HIVE_E_INVALID, "malformed safetensors header: tensor %s is too large", nm);
    v->nbytes = elems * st_elem_bytes(v->dtype);
    if (end - begin != v->nbytes)
        return hive_fail(err, HIVE_E_INVALID,
                         "malformed safetensors header: tensor %s spans %llu bytes but its shape and dtype need %llu", nm,
                         (unsigned long long)(end - begin), (unsigned long long)v->nbytes);
    if (end > data_size)
        return hive_fail(err, HIVE_E_INVALID,
                         "truncated safetensors file: tensor %s ends at data offset %llu but the file holds %llu data bytes",
                         nm, (unsigned long long)end, (unsigned long long)data_size);
    v->data = data + begin;
    return HIVE_OK;
}

hive_status tf_parse_safetensors(struct hive_tensor_file *f, hive_error **err) {
    uint64_t hlen;
    if (f->size < 8)
        return hive_fail(err, HIVE_E_INVALID, "not a GGUF or safetensors file (%llu bytes)", (unsigned long long)f->size);
    memcpy(&hlen, f->map, 8);
    if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > f->size - 8)
        return hive_fail(err, HIVE_E_INVALID,
                         "not a GGUF or safetensors file: safetensors header length %llu does not fit a %llu-byte file",
                         (unsigned long long)hlen, (unsigned long long)f->size);
    cJSON *root = cJSON_ParseWithLength((const char *)f->map + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return hive_fail(err, HIVE_E_INVALID, "not a GGUF or safetensors file: the header is not a JSON object");
    }
    uint64_t n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, root) if (strcmp(t->string, "__metadata__") != 0) n++;
    hive_str *names = calloc(n ? n : 1, sizeof *names);
    f->views = calloc(n ? n : 1, sizeof *f->views);
    hive_status st = (!names || !f->views) ? hive_fail(err, HIVE_E_NOMEM, "out of memory") : HIVE_OK;
    const uint8_t *data = f->map + 8 + hlen;
    uint64_t i = 0;
    cJSON_ArrayForEach(t, root) {
        if (st) break;
        if (strcmp(t->string, "__metadata__") == 0) continue;
        names[i].ptr = t->string;
        names[i].len = strlen(t->string);
        st = parse_entry(t, f->size - 8 - hlen, data, &f->views[i], err);
        i++;
    }
    if (!st) {
        f->n_tensors = n;
        st = tf_set_names(f, names, err);
        if (st) f->n_tensors = 0;
    }
    free(names);
    cJSON_Delete(root);
    return st;
}
