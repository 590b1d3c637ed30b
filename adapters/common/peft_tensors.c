/* adapter_model.safetensors through the host's tensor-file service. */
#include "peft_tensors.h"

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

hive_status peft_tensors_f32(peft_tensors *t, const char *name, uint32_t n_dims, const int64_t *shape, float **out,
                             hive_error **err) {
    const hive_host_api *h = t->host;
    *out = NULL;
    int64_t idx = find_index(t, name);
    hive_tensor_view v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    if (idx < 0 || h->tensor_file_find(h->ctx, t->file, name, &v) != HIVE_OK)
        return peft_fail(h, err, HIVE_E_NOTFOUND, ST_NAME ": missing tensor %s", name);
    t->used[idx] = 1;
    int same = v.n_dims == n_dims;
    uint64_t n = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        same = same && v.shape[i] == shape[i];
        n *= (uint64_t)shape[i];
    }
    if (!same) {
        char want[128], got[128];
        peft_shape_str(want, sizeof want, shape, n_dims);
        peft_shape_str(got, sizeof got, v.shape, v.n_dims < HIVE_MAX_DIMS ? v.n_dims : HIVE_MAX_DIMS);
        return peft_fail(h, err, HIVE_E_SHAPE, "%s: expected %s, found %s", name, want, got);
    }
    uint64_t esize = v.dtype == HIVE_DTYPE_F32 ? 4 : 2;
    if (v.dtype != HIVE_DTYPE_F32 && v.dtype != HIVE_DTYPE_F16 && v.dtype != HIVE_DTYPE_BF16)
        return peft_fail(h, err, HIVE_E_UNSUPPORTED, "%s: dtype %s not supported (F32, F16 or BF16)", name,
                         peft_dtype_name(v.dtype));
    if (!v.data || v.nbytes < n * esize)
        return peft_fail(h, err, HIVE_E_INVALID, "%s: %llu bytes of data, expected %llu", name,
                         (unsigned long long)v.nbytes, (unsigned long long)(n * esize));
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!f) return peft_fail(h, err, HIVE_E_NOMEM, "%s: out of memory", name);
    peft_to_f32(v.dtype, v.data, f, n);
    const char *what = "";
    uint64_t bad = peft_first_nonfinite(f, n, &what);
    if (bad < n) {
        free(f);
        return peft_fail(h, err, HIVE_E_INVALID, "%s: tensor '%s' holds %s at element %llu (of %llu)",
                         t->path ? t->path : ST_NAME, name, what, (unsigned long long)bad, (unsigned long long)n);
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
