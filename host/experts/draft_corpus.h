/* A draft corpus file (docs/SPECULATIVE.md): example outputs lookup drafts
 * from, named by --draft-corpus, an expert manifest's
 * training.decoding.draft_corpus, or carried by `experts pack`. One reader
 * and one set of checks for all of them; tokenizing is the session's. */
#ifndef HIVE_EXPERTS_DRAFT_CORPUS_H
#define HIVE_EXPERTS_DRAFT_CORPUS_H

#include <stddef.h>
#include "hive_abi.h"

#define HIVE_DRAFT_CORPUS_MAX (4 << 20) /* bytes: lookup scans the corpus for each drafted token */

/* The file a speculative.draft_corpus value names; NULL for none ("" or
 * "none", which turns an expert's corpus off). */
const char *hive_draft_corpus_path(const char *value);
/* The file's text (malloc'd, NUL-terminated; *len without the NUL): it must
 * be readable, not empty and at most HIVE_DRAFT_CORPUS_MAX bytes. The error
 * says what is wrong (strerror's text, "empty", "larger than 4 MiB"), not
 * which file. */
hive_status hive_draft_corpus_text(const char *path, char **text, size_t *len, hive_error **err);

#endif
