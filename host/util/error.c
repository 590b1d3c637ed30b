#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hive_error *hive_error_newv(hive_status code, const char *fmt, va_list ap) {
    hive_error *e = malloc(sizeof *e);
    if (!e) return NULL;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    e->code = code;
    e->msg = malloc((size_t)(n < 0 ? 0 : n) + 1);
    if (!e->msg) {
        free(e);
        return NULL;
    }
    vsnprintf(e->msg, (size_t)n + 1, fmt, ap);
    return e;
}

hive_error *hive_error_new(hive_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hive_error *e = hive_error_newv(code, fmt, ap);
    va_end(ap);
    return e;
}

void hive_error_prefix(hive_error *err, const char *fmt, ...) {
    if (!err) return;
    char pre[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    size_t n = strlen(pre) + 2 + strlen(err->msg) + 1;
    char *m = malloc(n);
    if (!m) return;
    snprintf(m, n, "%s: %s", pre, err->msg);
    free(err->msg);
    err->msg = m;
}

void hive_error_free(hive_error *err) {
    if (!err) return;
    free(err->msg);
    free(err);
}

const char *hive_error_message(const hive_error *err) {
    return (err && err->msg) ? err->msg : "(no message)";
}

const char *hive_status_name(hive_status s) {
    switch (s) {
    case HIVE_OK: return "ok";
    case HIVE_E_INVALID: return "invalid";
    case HIVE_E_NOMEM: return "out of memory";
    case HIVE_E_UNSUPPORTED: return "unsupported";
    case HIVE_E_NODEVICE: return "no device";
    case HIVE_E_DEVICE: return "device error";
    case HIVE_E_IO: return "i/o error";
    case HIVE_E_SHAPE: return "shape mismatch";
    case HIVE_E_VERSION: return "version mismatch";
    case HIVE_E_INTERNAL: return "internal error";
    case HIVE_E_NOTFOUND: return "not found";
    default: return "unknown status";
    }
}

hive_status hive_fail(hive_error **err, hive_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        hive_error_free(*err);
        *err = hive_error_newv(code, fmt, ap);
        va_end(ap);
    }
    return code;
}
