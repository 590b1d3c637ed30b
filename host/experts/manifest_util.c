/* Small helpers shared by the manifest parsers. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experts/manifest_impl.h"
#include "util/error.h"

hive_status hive_read_text_file(const char *path, size_t max, char **out, hive_error **err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return hive_fail(err, HIVE_E_IO, "cannot open %s: %s", path, strerror(errno));
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf) return hive_fail(err, HIVE_E_NOMEM, "out of memory reading %s", path);
    if (bad) {
        free(buf);
        return hive_fail(err, HIVE_E_IO, "cannot read %s", path);
    }
    if (n > max) {
        free(buf);
        return hive_fail(err, HIVE_E_INVALID, "%s is larger than %zu bytes", path, max);
    }
    buf[n] = 0;
    *out = buf;
    return HIVE_OK;
}

int hive_json_whole(const cJSON *j, int64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *out = (int64_t)d;
    return 1;
}

int hive_strv_push(hive_strv *v, const char *s) {
    char **g = realloc(v->v, (v->n + 1) * sizeof *g);
    if (!g) return -1;
    v->v = g;
    if (!(g[v->n] = strdup(s))) return -1;
    v->n++;
    return 0;
}

void hive_strv_free(hive_strv *v) {
    for (size_t i = 0; i < v->n; i++) free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

int hive_json_strv(const hive_manifest *m, const cJSON *arr, const char *field, hive_strv *v, hive_problems *p) {
    if (!cJSON_IsArray(arr)) {
        hive_problems_add(p, "%s: %s: expected an array of strings", m->file, field);
        return -1;
    }
    int i = 0, bad = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it)) {
            hive_problems_add(p, "%s: %s[%d]: expected a string", m->file, field, i);
            bad = 1;
        } else if (hive_strv_push(v, it->valuestring)) {
            p->oom = 1;
        }
        i++;
    }
    return bad ? -1 : 0;
}

void hive_manifest_ignore(hive_manifest *m, const char *fmt, ...) {
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    hive_strv_push(&m->ignored, s);
    free(s);
}
