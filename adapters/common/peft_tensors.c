/* adapter_model.safetensors through the host's tensor-file service. */
#include "peft_tensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peft_util.h"

#define ST_NAME "adapter_model.safetensors"

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

hive_status peft_tensors_open(const hive_host_api *host, const char *dir, peft_tensors *t, hive_error **err) {
    memset(t, 0, sizeof *t);
    t->host = host;
    if (!host->tensor_file_open || !host->tensor_file_count || !host->tensor_file_get || !host->tensor_file_find)
        return peft_fail(host, err, HIVE_E_UNSUPPORTED, "the host offers no tensor-file service");
    if (!dir) return peft_fail(host, err, HIVE_E_INVALID, "no adapter directory given");
    char *path = peft_join_path(dir, ST_NAME);
    char *bin = peft_join_path(dir, "adapter_model.bin");
    hive_status st = HIVE_OK;
    if (!path || !bin) {
        st = peft_fail(host, err, HIVE_E_NOMEM, "out of memory");
    } else if (!peft_file_exists(path)) {
        if (peft_file_exists(bin))
            st = peft_fail(host, err, HIVE_E_UNSUPPORTED,
                           "%s: adapter_model.bin (pickle) is not supported; save with safe_serialization=True", dir);
        else
            st = peft_fail(host, err, HIVE_E_NOTFOUND, "%s: no " ST_NAME, dir);
    } else {
        st = host->tensor_file_open(host->ctx, path, &t->file, err);
    }
    free(bin);
    if (st != HIVE_OK) {
        free(path);
        return st;
    }
    t->path = path;

    t->count = host->tensor_file_count(host->ctx, t->file);
    t->names = calloc(t->count ? t->count : 1, sizeof *t->names);
    t->used = calloc(t->count ? t->count : 1, 1);
    if (!t->names || !t->used) {
        peft_tensors_close(t);
        return peft_fail(host, err, HIVE_E_NOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < t->count; i++) {
        hive_tensor_view v;
        memset(&v, 0, sizeof v);
        v.struct_size = sizeof v;
        if (host->tensor_file_get(host->ctx, t->file, i, &v) != HIVE_OK || !v.name) {
            peft_tensors_close(t);
            return peft_fail(host, err, HIVE_E_IO, "%s/" ST_NAME ": cannot read tensor %llu", dir,
                             (unsigned long long)i);
        }
        t->names[i] = v.name;
    }
    qsort(t->names, t->count, sizeof *t->names, cmp_name);
    return HIVE_OK;
}

void peft_tensors_close(peft_tensors *t) {
    if (t->file && t->host && t->host->tensor_file_close) t->host->tensor_file_close(t->host->ctx, t->file);
    free(t->names);
    free(t->used);
    free(t->path);
    for (int i = 0; i < PEFT_STAGES; i++) free(t->stage[i]);
    memset(t, 0, sizeof *t);
}

static int64_t find_index(const peft_tensors *t, const char *name) {
    if (!t->count) return -1;
    const char **hit = bsearch(&name, t->names, t->count, sizeof *t->names, cmp_name);
    return hit ? hit - t->names : -1;
}

int peft_tensors_has(const peft_tensors *t, const char *name) { return find_index(t, name) >= 0; }

hive_status peft_tensors_expect(peft_tensors *t, const char *name, hive_error **err) {
    int64_t idx = find_index(t, name);
    if (idx < 0) return peft_fail(t->host, err, HIVE_E_NOTFOUND, ST_NAME ": missing tensor %s", name);
    t->used[idx] = 1;
    return HIVE_OK;
}

/* Finds `name`, marks it used and checks its shape, dtype and size; *n gets
 * its element count. */
static hive_status lookup(peft_tensors *t, const char *name, uint32_t n_dims, const int64_t *shape,
                          hive_tensor_view *v, uint64_t *n, hive_error **err) {
    const hive_host_api *h = t->host;
    int64_t idx = find_index(t, name);
    memset(v, 0, sizeof *v);
    v->struct_size = sizeof *v;
    if (idx < 0 || h->tensor_file_find(h->ctx, t->file, name, v) != HIVE_OK)
        return peft_fail(h, err, HIVE_E_NOTFOUND, ST_NAME ": missing tensor %s", name);
    t->used[idx] = 1;
    int same = v->n_dims == n_dims;
    *n = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        same = same && v->shape[i] == shape[i];
        *n *= (uint64_t)shape[i];
    }
    if (!same) {
        char want[128], got[128];
        peft_shape_str(want, sizeof want, shape, n_dims);
        peft_shape_str(got, sizeof got, v->shape, v->n_dims < HIVE_MAX_DIMS ? v->n_dims : HIVE_MAX_DIMS);
        return peft_fail(h, err, HIVE_E_SHAPE, "%s: expected %s, found %s", name, want, got);
    }
    uint64_t esize = v->dtype == HIVE_DTYPE_F32 ? 4 : 2;
    if (v->dtype != HIVE_DTYPE_F32 && v->dtype != HIVE_DTYPE_F16 && v->dtype != HIVE_DTYPE_BF16)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, "%s: dtype %s not supported (F32, F16 or BF16)", name,
                         peft_dtype_name(v->dtype));
    if (!v->data || v->nbytes < *n * esize)
        return peft_fail(h, err, HIVE_E_INVALID, "%s: %llu bytes of data, expected %llu", name,
                         (unsigned long long)v->nbytes, (unsigned long long)(*n * esize));
    return HIVE_OK;
}

static hive_status check_finite(const peft_tensors *t, const char *name, const float *f, uint64_t n,
                                hive_error **err) {
    const char *what = "";
    uint64_t bad = peft_first_nonfinite(f, n, &what);
    if (bad >= n) return HIVE_OK;
    return peft_fail(t->host, err, HIVE_E_INVALID, "%s: tensor '%s' holds %s at element %llu (of %llu)",
                     t->path ? t->path : ST_NAME, name, what, (unsigned long long)bad, (unsigned long long)n);
}

/* Converts v's n elements into stage buffer `stage`, grown when too small. */
static hive_status to_stage(peft_tensors *t, const char *name, const hive_tensor_view *v, uint64_t n,
                            uint32_t stage, float **out, hive_error **err) {
    if (stage >= PEFT_STAGES) return peft_fail(t->host, err, HIVE_E_INTERNAL, "%s: bad stage %u", name, stage);
    if (t->stage_cap[stage] < n) {
        free(t->stage[stage]);
        t->stage_cap[stage] = 0;
        if (!(t->stage[stage] = malloc((size_t)(n ? n : 1) * sizeof(float))))
            return peft_fail(t->host, err, HIVE_E_NOMEM, "%s: out of memory", name);
        t->stage_cap[stage] = n;
    }
    peft_to_f32(v->dtype, v->data, t->stage[stage], n);
    t->bytes_converted += n * sizeof(float);
    *out = t->stage[stage];
    return check_finite(t, name, *out, n, err);
}

hive_status peft_tensors_view_f32(peft_tensors *t, const char *name, uint32_t n_dims, const int64_t *shape,
                                  uint32_t stage, const float **out, hive_error **err) {
    *out = NULL;
    hive_tensor_view v;
    uint64_t n;
    hive_status st = lookup(t, name, n_dims, shape, &v, &n, err);
    if (st != HIVE_OK) return st;
    if (v.dtype == HIVE_DTYPE_F32 && (uintptr_t)v.data % _Alignof(float) == 0) {
        if ((st = check_finite(t, name, v.data, n, err)) != HIVE_OK) return st;
        t->bytes_in_place += n * sizeof(float);
        *out = v.data;
        return HIVE_OK;
    }
    float *f = NULL;
    if ((st = to_stage(t, name, &v, n, stage, &f, err)) == HIVE_OK) *out = f;
    return st;
}

hive_status peft_tensors_stage_f32(peft_tensors *t, const char *name, uint32_t n_dims, const int64_t *shape,
                                   uint32_t stage, float **out, hive_error **err) {
    *out = NULL;
    hive_tensor_view v;
    uint64_t n;
    hive_status st = lookup(t, name, n_dims, shape, &v, &n, err);
    return st == HIVE_OK ? to_stage(t, name, &v, n, stage, out, err) : st;
}

hive_status peft_tensors_f32(peft_tensors *t, const char *name, uint32_t n_dims, const int64_t *shape, float **out,
                             hive_error **err) {
    *out = NULL;
    hive_tensor_view v;
    uint64_t n;
    hive_status st = lookup(t, name, n_dims, shape, &v, &n, err);
    if (st != HIVE_OK) return st;
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!f) return peft_fail(t->host, err, HIVE_E_NOMEM, "%s: out of memory", name);
    peft_to_f32(v.dtype, v.data, f, n);
    t->bytes_converted += n * sizeof(float);
    if ((st = check_finite(t, name, f, n, err)) != HIVE_OK) {
        free(f);
        return st;
    }
    *out = f;
    return HIVE_OK;
}

hive_status peft_tensors_check_all_used(const peft_tensors *t, const char *what, hive_error **err) {
    char list[600];
    size_t len = 0;
    uint64_t n = 0;
    list[0] = 0;
    for (uint64_t i = 0; i < t->count; i++) {
        if (t->used[i]) continue;
        if (n < 3 && len < sizeof list)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", n ? ", " : "", t->names[i]);
        n++;
    }
    if (!n) return HIVE_OK;
    return peft_fail(t->host, err, HIVE_E_INVALID, ST_NAME ": %llu tensor%s target%s nothing (%s): %s%s",
                     (unsigned long long)n, n == 1 ? "" : "s", n == 1 ? "s" : "", what, list,
                     n > 3 ? ", ..." : "");
}
