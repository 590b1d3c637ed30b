/* A list of problems found while checking an expert package: validation goes
 * on after the first one so `hive-host experts validate` can list them all. */
#ifndef HIVE_EXPERTS_PROBLEMS_H
#define HIVE_EXPERTS_PROBLEMS_H

#include <stddef.h>
#include "hive_abi.h"

typedef struct hive_problems {
    char **msgs;
    size_t n;
    int oom; /* a message could not be stored */
} hive_problems;

void hive_problems_add(hive_problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hive_problems_free(hive_problems *p);
/* HIVE_OK when empty; else `code` with the first message, plus "(and N more
 * problems)" when there are several. */
hive_status hive_problems_fail(const hive_problems *p, hive_status code, hive_error **err);

#endif
