/* Helpers shared by the tokenizer tests: fixture paths, JSON, id comparison. */
#ifndef HIVE_TOK_TEST_UTIL_H
#define HIVE_TOK_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* HIVE_SOURCE_DIR/tests/data/tokenizer/<rel>, in a static buffer. */
const char *tt_data_path(const char *rel);
/* The parsed file, or NULL when it cannot be read. */
cJSON *tt_load_json(const char *path);
/* The whole file as a malloc'd string, or NULL. */
char *tt_read_text(const char *path);
int tt_file_exists(const char *path);

/* Encodes text and compares with the JSON id array; prints the first
 * difference. Returns 1 when equal. */
int tt_encode_matches(const hive_tokenizer *t, const char *text, const cJSON *want, int parse_special,
                      const char *label);
/* Decodes the JSON id array and compares with want. Returns 1 when equal. */
int tt_decode_matches(const hive_tokenizer *t, const cJSON *ids, int skip_special, const char *want,
                      const char *label);
/* Streams ids through hive_detok and compares the concatenation with want. */
int tt_stream_matches(const hive_tokenizer *t, const cJSON *ids, int skip_special, const char *want,
                      const char *label);

#endif
