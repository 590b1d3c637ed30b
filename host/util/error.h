/* Host-owned errors: a status code and a message. Plugins make them through
 * hive_host_api.error_new; the host frees them. */
#ifndef HIVE_UTIL_ERROR_H
#define HIVE_UTIL_ERROR_H

#include <stdarg.h>
#include "hive_abi.h"

struct hive_error {
    hive_status code;
    char *msg;
};

hive_error *hive_error_new(hive_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
hive_error *hive_error_newv(hive_status code, const char *fmt, va_list ap);
/* Prepends "context: " to an existing message (err may be NULL). */
void hive_error_prefix(hive_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hive_error_free(hive_error *err);
const char *hive_error_message(const hive_error *err); /* "(no message)" for NULL */
const char *hive_status_name(hive_status s);

/* Set *err (if err) and return code: `return hive_fail(err, HIVE_E_IO, "...", ...);` */
hive_status hive_fail(hive_error **err, hive_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
