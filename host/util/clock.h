/* Monotonic wall clock for timings printed to users. */
#ifndef HIVE_UTIL_CLOCK_H
#define HIVE_UTIL_CLOCK_H

#include <time.h>

static inline double hive_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#endif
