#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_level = HIVE_LOG_INFO;
static const char *const k_names[] = {"error", "warn", "info", "debug", "trace"};

int hive_log_parse_level(const char *name) {
    for (int i = 0; i <= HIVE_LOG_TRACE; i++)
        if (strcmp(name, k_names[i]) == 0) return i;
    return -1;
}

int hive_log_init_from_env(void) {
    const char *v = getenv("HIVE_LOG");
    if (!v || !*v) return 0;
    int l = hive_log_parse_level(v);
    if (l < 0) {
        hive_logp(HIVE_LOG_WARN, NULL, "HIVE_LOG=%s is not one of error|warn|info|debug|trace; using info", v);
        return -1;
    }
    g_level = l;
    return 0;
}

void hive_log_set_level(int level) { g_level = level; }
int hive_log_level(void) { return g_level; }
const char *hive_log_level_name(int level) {
    return (level >= 0 && level <= HIVE_LOG_TRACE) ? k_names[level] : "?";
}

void hive_logp(int level, const char *prefix, const char *fmt, ...) {
    if (level > g_level) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (prefix)
        fprintf(stderr, "hive: %s: [%s] %s\n", k_names[level < 0 ? 0 : level], prefix, msg);
    else
        fprintf(stderr, "hive: %s: %s\n", k_names[level < 0 ? 0 : level], msg);
}
