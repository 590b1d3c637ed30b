#include "tok_test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"

const char *tt_data_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/data/tokenizer/%s", HIVE_SOURCE_DIR, rel);
    return buf;
}

int tt_file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

char *tt_read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

cJSON *tt_load_json(const char *path) {
    char *s = tt_read_text(path);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    return j;
}

static void print_ids(const char *what, const int32_t *v, size_t n) {
    fprintf(stderr, "  %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", v[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static int32_t *json_ids(const cJSON *arr, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *v = malloc((*n ? *n : 1) * sizeof *v);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) v[i++] = (int32_t)e->valuedouble;
    return v;
}

int tt_encode_matches(const hive_tokenizer *t, const char *text, const cJSON *want, int parse_special,
                      const char *label) {
    int32_t *ids = NULL;
    size_t n = 0, wn = 0;
    hive_error *err = NULL;
    hive_status st = hive_tokenizer_encode(t, text, strlen(text), parse_special, 0, &ids, &n, &err);
    int32_t *w = json_ids(want, &wn);
    int ok = st == HIVE_OK && n == wn && !memcmp(ids, w, n * sizeof *ids);
    if (!ok) {
        fprintf(stderr, "%s: encode mismatch for \"%s\" (%s)\n", label, text, hive_error_message(err));
        print_ids("want", w, wn);
        print_ids("got ", ids, n);
    }
    hive_error_free(err);
    free(ids);
    free(w);
    return ok;
}

int tt_decode_matches(const hive_tokenizer *t, const cJSON *ids, int skip_special, const char *want,
                      const char *label) {
    size_t n;
    int32_t *v = json_ids(ids, &n);
    char *text = NULL;
    hive_error *err = NULL;
    hive_status st = hive_tokenizer_decode(t, v, n, skip_special, &text, &err);
    int ok = st == HIVE_OK && !strcmp(text, want);
    if (!ok) fprintf(stderr, "%s: decode(skip=%d) want \"%s\" got \"%s\" (%s)\n", label, skip_special, want,
                     text ? text : "(null)", hive_error_message(err));
    hive_error_free(err);
    free(text);
    free(v);
    return ok;
}

int tt_stream_matches(const hive_tokenizer *t, const cJSON *ids, int skip_special, const char *want,
                      const char *label) {
    size_t n, len = 0;
    int32_t *v = json_ids(ids, &n);
    size_t cap = 3 * strlen(want) + 8 * n + 64;
    char *all = calloc(1, cap), piece[256];
    hive_detok d;
    hive_detok_init(&d, t, skip_special);
    for (size_t i = 0; i < n; i++) {
        size_t w = hive_detok_push(&d, v[i], piece, sizeof piece);
        if (len + w + 16 < cap) memcpy(all + len, piece, w);
        len += w;
    }
    if (len + 16 >= cap) len = cap - 17; /* more text than decode gives: a mismatch either way */
    len += hive_detok_flush(&d, all + len, 16);
    all[len] = 0;
    int ok = !strcmp(all, want);
    if (!ok) fprintf(stderr, "%s: streamed decode want \"%s\" got \"%s\"\n", label, want, all);
    free(all);
    free(v);
    return ok;
}
