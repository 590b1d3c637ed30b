/* plugin_listing.c — see plugin_listing.h. */
#define _GNU_SOURCE
#include "plugin_listing.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The last listing printed, shown when an expectation fails. */
static char *last_listing;

static void remember_listing(const char *text)
{
    free(last_listing);
    last_listing = strdup(text);
}

static const char *shown_listing(void) { return last_listing ? last_listing : "(none)"; }

void expect_no_sanitizer_report(const host_result *res)
{
    if (strstr(res->err, "AddressSanitizer") || strstr(res->err, "runtime error:") ||
        strstr(res->err, "LeakSanitizer")) {
        host_result_dump(res);
        fail_msg("hive-host reported a sanitizer error (see stderr above)");
    }
}

cJSON *listing_run(const char *const *global_args, const char *env_assignment)
{
    const char *args[64];
    size_t n = 0;
    for (size_t i = 0; global_args[i]; i++) {
        assert_true(n < 60);
        args[n++] = global_args[i];
    }
    args[n++] = "--no-default-plugins";
    args[n++] = "plugins";
    args[n++] = "--json";
    args[n] = NULL;

    host_result res;
    host_run(args, env_assignment, &res);
    remember_listing(res.out);
    if (res.exit_code != 0) {
        host_result_dump(&res);
        fail_msg("`hive-host plugins --json` exited %d (signal %d); a listing must exit 0",
                 res.exit_code, res.signal);
    }
    expect_no_sanitizer_report(&res);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(res.out, &end, 1);
    if (!root || !cJSON_IsObject(root)) {
        host_result_dump(&res);
        fail_msg("stdout is not exactly one JSON object");
    }
    host_result_free(&res);

    const cJSON *abi = cJSON_GetObjectItemCaseSensitive(root, "host_abi");
    if (!cJSON_IsString(abi) || strcmp(abi->valuestring, HOST_ABI) != 0)
        fail_msg("expected \"host_abi\":\"" HOST_ABI "\" in %s", shown_listing());
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "plugins")))
        fail_msg("expected a \"plugins\" array in %s", shown_listing());
    const cJSON *selected = cJSON_GetObjectItemCaseSensitive(root, "selected");
    if (!selected || !(cJSON_IsNull(selected) || cJSON_IsObject(selected)))
        fail_msg("expected \"selected\" to be an object or null in %s", shown_listing());
    return root;
}

cJSON *listing_of_dir(const char *dir)
{
    const char *args[] = {"--plugin-dir", dir, NULL};
    return listing_run(args, NULL);
}

static int file_matches(const char *file, const char *name)
{
    size_t fl = strlen(file), nl = strlen(name);
    if (fl == nl)
        return strcmp(file, name) == 0;
    return fl > nl && file[fl - nl - 1] == '/' && strcmp(file + fl - nl, name) == 0;
}

const cJSON *listing_entry(const cJSON *root, const char *file_name)
{
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(root, "plugins"))
    {
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(entry, "file");
        if (cJSON_IsString(file) && file_matches(file->valuestring, file_name))
            return entry;
    }
    fail_msg("no plugin entry for file \"%s\" in %s", file_name, shown_listing());
    return NULL;
}

int listing_count(const cJSON *root)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "plugins"));
}

const char *entry_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNull(item))
        return NULL;
    if (!cJSON_IsString(item))
        fail_msg("expected string or null member \"%s\" in %s", key, shown_listing());
    return item->valuestring;
}

long long entry_int(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(item))
        fail_msg("expected number member \"%s\" in %s", key, shown_listing());
    return (long long)item->valuedouble;
}

void expect_substring(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("expected \"%s\" in \"%s\"\nlisting: %s", needle, text ? text : "(null)",
                 shown_listing());
}

void expect_str(const cJSON *obj, const char *key, const char *expected)
{
    const char *got = entry_str(obj, key);
    if (!got || strcmp(got, expected) != 0)
        fail_msg("expected \"%s\":\"%s\", got %s%s%s\nlisting: %s", key, expected,
                 got ? "\"" : "", got ? got : "null", got ? "\"" : "", shown_listing());
}

void expect_null(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNull(item))
        fail_msg("expected \"%s\":null in %s", key, shown_listing());
}

void expect_rejected(const cJSON *root, const char *file_name, const char *reason_part)
{
    const cJSON *entry = listing_entry(root, file_name);
    expect_str(entry, "status", "rejected");
    expect_substring(entry_str(entry, "reason"), reason_part);
}
