/* Collected problems (see problems.h). */
#include "experts/problems.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/error.h"

void hive_problems_add(hive_problems *p, const char *fmt, ...) {
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    char **grown = n >= 0 ? realloc(p->msgs, (p->n + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(n >= 0 ? msg : NULL);
        p->oom = 1;
        return;
    }
    p->msgs = grown;
    p->msgs[p->n++] = msg;
}

void hive_problems_free(hive_problems *p) {
    for (size_t i = 0; i < p->n; i++) free(p->msgs[i]);
    free(p->msgs);
    p->msgs = NULL;
    p->n = 0;
    p->oom = 0;
}

hive_status hive_problems_fail(const hive_problems *p, hive_status code, hive_error **err) {
    if (p->oom) return hive_fail(err, HIVE_E_NOMEM, "out of memory while checking an expert");
    if (!p->n) return HIVE_OK;
    if (p->n == 1) return hive_fail(err, code, "%s", p->msgs[0]);
    return hive_fail(err, code, "%s (and %zu more problem%s)", p->msgs[0], p->n - 1, p->n == 2 ? "" : "s");
}
