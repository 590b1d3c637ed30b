/* Logging to stderr, level from HIVE_LOG (error|warn|info|debug|trace, default info). */
#ifndef HIVE_UTIL_LOG_H
#define HIVE_UTIL_LOG_H

#include "hive_abi.h"

/* Reads HIVE_LOG once; returns -1 (and keeps info) when the value is unknown. */
int hive_log_init_from_env(void);
void hive_log_set_level(int level);
int hive_log_level(void);
const char *hive_log_level_name(int level);
/* -1 when `name` is not a level name */
int hive_log_parse_level(const char *name);

/* `prefix` may be NULL; plugin messages pass the plugin's name. */
void hive_logp(int level, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define hive_log(level, ...) hive_logp((level), NULL, __VA_ARGS__)
#define HLOG_ERROR(...) hive_logp(HIVE_LOG_ERROR, NULL, __VA_ARGS__)
#define HLOG_WARN(...)  hive_logp(HIVE_LOG_WARN, NULL, __VA_ARGS__)
#define HLOG_INFO(...)  hive_logp(HIVE_LOG_INFO, NULL, __VA_ARGS__)
#define HLOG_DEBUG(...) hive_logp(HIVE_LOG_DEBUG, NULL, __VA_ARGS__)
#define HLOG_TRACE(...) hive_logp(HIVE_LOG_TRACE, NULL, __VA_ARGS__)

#endif
