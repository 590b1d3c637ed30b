/* Shared pieces of the libFuzzer harnesses (tests/fuzz/fuzz_*.c): a private
 * scratch directory per process, file writing for parsers that only take a
 * path, and a common workout of a tokenizer built from fuzzed input. */
#ifndef HIVE_FUZZ_UTIL_H
#define HIVE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

/* Created on first use under $TMPDIR (or /tmp), removed at exit. */
const char *fuzz_scratch_dir(void);
/* scratch dir + "/" + name, in a static buffer (copy it before the next call). */
const char *fuzz_path(const char *name);
/* Writes n bytes to path (truncating); aborts on I/O failure: that is the
 * harness's problem, not a finding in the parser. */
void fuzz_write_file(const char *path, const void *data, size_t n);
/* Removes path and everything under it (no symlinks followed). */
void fuzz_rm_tree(const char *path);
/* A fresh, empty directory at path (removing what was there). */
void fuzz_fresh_dir(const char *path);
/* Reads every byte of [p, p + n) so ASan checks the range is valid. */
void fuzz_touch(const void *p, size_t n);
/* Quiet logging (the parsers warn a lot on garbage) unless FUZZ_VERBOSE is set. */
void fuzz_quiet_logs(void);

/* Builds a tokenizer from src and encodes, decodes and stream-decodes a fixed
 * text with it, and renders a chat with chat_template (may be NULL). */
void fuzz_exercise_tokenizer(const hive_vocab_src *src, const char *chat_template);

#endif
