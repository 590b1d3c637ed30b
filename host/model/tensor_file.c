/* Opening, mapping and indexing tensor files; the format parsers live in
 * gguf.c and safetensors.c. */
#include "model/tensor_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/tensor_file_impl.h"
#include "util/error.h"

int tf_elem_count(const int64_t *shape, uint32_t n_dims, uint64_t *out) {
    uint64_t n = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        if (shape[i] < 0) return 0;
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && n > UINT64_MAX / d) return 0;
        n *= d;
    }
    *out = n;
    return 1;
}

hive_status tf_set_names(struct hive_tensor_file *f, const hive_str *names, hive_error **err) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) total += names[i].len + 1;
    f->names = malloc(total ? total : 1);
    f->entries = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->entries);
    if (!f->names || !f->entries) return hive_fail(err, HIVE_E_NOMEM, "out of memory indexing tensor names");
    char *p = f->names;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        memcpy(p, names[i].ptr, names[i].len);
        p[names[i].len] = '\0';
        if (strlen(p) != names[i].len)
            return hive_fail(err, HIVE_E_INVALID, "tensor %llu has a name with an embedded NUL byte",
                             (unsigned long long)i);
        f->views[i].name = p;
        tf_name_entry *dup = NULL;
        HASH_FIND(hh, f->index, p, names[i].len, dup);
        if (dup) return hive_fail(err, HIVE_E_INVALID, "tensor %s appears twice", p);
        f->entries[i].name = p;
        f->entries[i].index = i;
        HASH_ADD_KEYPTR(hh, f->index, p, names[i].len, &f->entries[i]);
        p += names[i].len + 1;
    }
    return HIVE_OK;
}

static hive_status map_file(struct hive_tensor_file *f, hive_error **err) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hive_fail(err, HIVE_E_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return hive_fail(err, HIVE_E_IO, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return hive_fail(err, HIVE_E_IO, "not a regular file");
    }
    f->size = (uint64_t)st.st_size;
    if (f->size == 0) {
        close(fd);
        return hive_fail(err, HIVE_E_INVALID, "file is empty");
    }
    void *m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (m == MAP_FAILED) return hive_fail(err, HIVE_E_IO, "cannot mmap: %s", strerror(e));
    f->map = m;
    return HIVE_OK;
}

/* Format detection and parsing of mapped (or borrowed) bytes; closes f on failure. */
static hive_status parse_any(struct hive_tensor_file *f, hive_status st, hive_tensor_file **out, hive_error **err) {
    if (st == HIVE_OK) {
        if (f->size >= 4 && memcmp(f->map, "GGUF", 4) == 0) {
            f->is_gguf = 1;
            st = tf_parse_gguf(f, err);
        } else {
            st = tf_parse_safetensors(f, err);
        }
    }
    if (st != HIVE_OK) {
        if (err) hive_error_prefix(*err, "%s", f->path ? f->path : "(tensor file)");
        hive_tf_close(f);
        return st;
    }
    *out = f;
    return HIVE_OK;
}

hive_status hive_tf_open(const char *path, hive_tensor_file **out, hive_error **err) {
    *out = NULL;
    if (!path) return hive_fail(err, HIVE_E_INVALID, "tensor file path is NULL");
    struct hive_tensor_file *f = calloc(1, sizeof *f);
    if (!f) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    f->path = strdup(path);
    hive_status st = f->path ? map_file(f, err) : hive_fail(err, HIVE_E_NOMEM, "out of memory");
    return parse_any(f, st, out, err);
}

hive_status hive_tf_open_mem(const char *name, const void *data, uint64_t size, hive_tensor_file **out,
                             hive_error **err) {
    *out = NULL;
    if (!name || (!data && size)) return hive_fail(err, HIVE_E_INVALID, "tensor file name or data is NULL");
    struct hive_tensor_file *f = calloc(1, sizeof *f);
    if (!f) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    f->path = strdup(name);
    f->borrowed = 1;
    f->map = data;
    f->size = size;
    hive_status st = HIVE_OK;
    if (!f->path) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    else if (size == 0) st = hive_fail(err, HIVE_E_INVALID, "file is empty");
    return parse_any(f, st, out, err);
}

uint64_t hive_tf_count(const hive_tensor_file *f) { return f ? f->n_tensors : 0; }

hive_status hive_tf_get(const hive_tensor_file *f, uint64_t index, hive_tensor_view *out) {
    if (!f || !out || index >= f->n_tensors) return HIVE_E_INVALID;
    *out = f->views[index];
    return HIVE_OK;
}

hive_status hive_tf_find(const hive_tensor_file *f, const char *name, hive_tensor_view *out) {
    if (!f || !name) return HIVE_E_INVALID;
    tf_name_entry *e = NULL;
    HASH_FIND_STR(f->index, name, e);
    if (!e) return HIVE_E_NOTFOUND;
    if (out) *out = f->views[e->index];
    return HIVE_OK;
}

void hive_tf_close(hive_tensor_file *f) {
    if (!f) return;
    HASH_CLEAR(hh, f->index);
    HASH_CLEAR(hh, f->kv_index);
    if (f->kvs)
        for (uint64_t i = 0; i < f->n_kv; i++) free(f->kvs[i].str_offs);
    free(f->kvs);
    free(f->kv_names);
    free(f->kv_entries);
    free(f->entries);
    free(f->names);
    free(f->views);
    if (f->map && !f->borrowed) munmap((void *)f->map, (size_t)f->size);
    free(f->path);
    free(f);
}

int hive_tf_is_gguf(const hive_tensor_file *f) { return f && f->is_gguf; }
const char *hive_tf_path(const hive_tensor_file *f) { return f ? f->path : NULL; }
