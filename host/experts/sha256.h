/* SHA-256 of files (OpenSSL libcrypto), as lowercase hex. The cached variant
 * remembers results by real path + size + mtime, in memory and under
 * <cache root>/sha256/, so a large base model is hashed once. */
#ifndef HIVE_EXPERTS_SHA256_H
#define HIVE_EXPERTS_SHA256_H

#include <stddef.h>
#include "hive_abi.h"

#define HIVE_SHA256_HEX 65 /* 64 digits + NUL */

hive_status hive_sha256_file(const char *path, char hex[HIVE_SHA256_HEX], hive_error **err);
hive_status hive_sha256_file_cached(const char *path, char hex[HIVE_SHA256_HEX], hive_error **err);
/* SHA-256 of n bytes in memory: into hex (NULL: skipped) and/or raw (32 bytes; NULL: skipped). 0, or -1 on an OpenSSL failure. */
int hive_sha256_bytes(const void *data, size_t n, char hex[HIVE_SHA256_HEX], unsigned char raw[32]);
/* True for 64 hex digits (either case). */
int hive_sha256_is_hex(const char *s);
/* Forget the in-memory cache (tests). */
void hive_sha256_cache_clear(void);

#endif
