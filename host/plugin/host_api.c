/* The services the host gives each plugin. ctx is the plugin's record, so
 * logs carry the plugin's name and config lookups are scoped to it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/tensor_file.h"
#include "plugin/registry.h"
#include "util/error.h"
#include "util/log.h"

static void h_log(void *ctx, int32_t level, const char *msg) {
    hive_plugin *p = ctx;
    if (level < HIVE_LOG_ERROR) level = HIVE_LOG_ERROR;
    if (level > HIVE_LOG_TRACE) level = HIVE_LOG_TRACE;
    hive_logp(level, p->name ? p->name : "plugin", "%s", msg ? msg : "");
}

static hive_error *h_error_new(void *ctx, hive_status code, const char *fmt, ...) {
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    hive_error *e = hive_error_newv(code, fmt, ap);
    va_end(ap);
    return e;
}

static void *h_alloc(void *ctx, uint64_t nbytes, uint64_t align) {
    (void)ctx;
    if (align < 64) align = 64;
    if (align & (align - 1)) return NULL;
    void *ptr = NULL;
    if (posix_memalign(&ptr, (size_t)align, nbytes ? (size_t)nbytes : 1) != 0) return NULL;
    return ptr;
}

static void h_free(void *ctx, void *ptr) {
    (void)ctx;
    free(ptr);
}

static hive_status h_tf_open(void *ctx, const char *path, hive_tensor_file **out, hive_error **err) {
    (void)ctx;
    return hive_tf_open(path, out, err);
}
static uint64_t h_tf_count(void *ctx, const hive_tensor_file *f) {
    (void)ctx;
    return hive_tf_count(f);
}
static hive_status h_tf_get(void *ctx, const hive_tensor_file *f, uint64_t i, hive_tensor_view *out) {
    (void)ctx;
    return hive_tf_get(f, i, out);
}
static hive_status h_tf_find(void *ctx, const hive_tensor_file *f, const char *name, hive_tensor_view *out) {
    (void)ctx;
    return hive_tf_find(f, name, out);
}
static void h_tf_close(void *ctx, hive_tensor_file *f) {
    (void)ctx;
    hive_tf_close(f);
}

static const char *h_config_get(void *ctx, const char *key) {
    hive_plugin *p = ctx;
    if (!p->config || !p->name || !key) return NULL;
    return hive_config_plugin_value(p->config, p->name, key);
}

void hive_plugin_init_host_api(hive_plugin *p) {
    hive_host_api *h = &p->host_api;
    h->struct_size = sizeof *h;
    h->abi_major = HIVE_ABI_MAJOR;
    h->agreed_minor = p->agreed_minor;
    h->ctx = p;
    h->log = h_log;
    h->error_new = h_error_new;
    h->alloc = h_alloc;
    h->free = h_free;
    h->tensor_file_open = h_tf_open;
    h->tensor_file_count = h_tf_count;
    h->tensor_file_get = h_tf_get;
    h->tensor_file_find = h_tf_find;
    h->tensor_file_close = h_tf_close;
    h->plugin_path = p->realpath;
    h->config_get = h_config_get;
}
