/*
 * plugin_listing.h — run `hive-host ... plugins --json` and check what it says
 * about each plugin file. Every expect_* fails the current cmocka test with a
 * message naming what was expected and the listing that was printed.
 */
#ifndef HIVE_ABI_PLUGIN_LISTING_H
#define HIVE_ABI_PLUGIN_LISTING_H

#include <cjson/cJSON.h>

#include "host_process.h"
#include "hive_abi.h"

/* The host's ABI version as the listing prints it, e.g. "1.2". */
#define HOST_ABI_STR2(x) #x
#define HOST_ABI_STR(x) HOST_ABI_STR2(x)
#define HOST_ABI HOST_ABI_STR(HIVE_ABI_MAJOR) "." HOST_ABI_STR(HIVE_ABI_MINOR)

/* Runs `hive-host <global_args...> --no-default-plugins plugins --json`
 * (global_args NULL-terminated), asserts exit 0, one JSON object on stdout,
 * no sanitizer report, and the top-level schema. Caller cJSON_Delete()s. */
cJSON *listing_run(const char *const *global_args, const char *env_assignment);

/* listing_run with `--plugin-dir dir` only. */
cJSON *listing_of_dir(const char *dir);

/* The entry whose "file" ends in "/<file_name>" (or equals it); fails if absent. */
const cJSON *listing_entry(const cJSON *root, const char *file_name);

/* Number of entries in "plugins". */
int listing_count(const cJSON *root);

/* The string member `key`, or NULL when it is JSON null; fails when missing. */
const char *entry_str(const cJSON *obj, const char *key);

/* The integer member `key`; fails when missing or not a number. */
long long entry_int(const cJSON *obj, const char *key);

void expect_substring(const char *text, const char *needle);
void expect_str(const cJSON *obj, const char *key, const char *expected);
void expect_null(const cJSON *obj, const char *key);

/* Entry `file_name` has status "rejected" and a reason containing `reason_part`. */
void expect_rejected(const cJSON *root, const char *file_name, const char *reason_part);

/* No AddressSanitizer / UBSan report in the host's stderr. */
void expect_no_sanitizer_report(const host_result *res);

#endif
