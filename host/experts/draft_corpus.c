/* Draft corpus files (draft_corpus.h). */
#include "experts/draft_corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

const char *hive_draft_corpus_path(const char *value) {
    return value && *value && strcmp(value, "none") != 0 ? value : NULL;
}

hive_status hive_draft_corpus_text(const char *path, char **text, size_t *len, hive_error **err) {
    *text = NULL, *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return hive_fail(err, HIVE_E_IO, "%s", strerror(errno));
    char *buf = malloc(HIVE_DRAFT_CORPUS_MAX + 1);
    size_t n = buf ? fread(buf, 1, HIVE_DRAFT_CORPUS_MAX + 1, f) : 0;
    int read_err = ferror(f) ? errno : 0; /* a directory opens, then fails to read */
    fclose(f);
    hive_status st = HIVE_OK;
    if (!buf) st = hive_fail(err, HIVE_E_NOMEM, "out of memory");
    else if (read_err) st = hive_fail(err, HIVE_E_IO, "%s", strerror(read_err));
    else if (n > HIVE_DRAFT_CORPUS_MAX) st = hive_fail(err, HIVE_E_INVALID, "larger than 4 MiB");
    else if (!n) st = hive_fail(err, HIVE_E_INVALID, "empty");
    if (st != HIVE_OK) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *text = buf, *len = n;
    return HIVE_OK;
}
