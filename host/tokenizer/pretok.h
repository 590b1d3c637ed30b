/* Pre-tokenization: cut text into the pieces BPE runs on, with the regex (and
 * digit splitting) that the vocabulary's merges were learned with. */
#ifndef HIVE_TOKENIZER_PRETOK_H
#define HIVE_TOKENIZER_PRETOK_H

#include <stddef.h>
#include "hive_abi.h"

typedef struct hive_pretok hive_pretok;

/* name: GGUF tokenizer.ggml.pre ("gpt2", "default", "smollm", "qwen2",
 * "llama-bpe", ...). Unknown names fail with HIVE_E_UNSUPPORTED. */
hive_status hive_pretok_new(const char *name, hive_pretok **out, hive_error **err);
void hive_pretok_free(hive_pretok *p);
/* Whether BPE should take a piece that is already a whole vocab token as is
 * (HF BPE ignore_merges; Llama-3). */
int hive_pretok_ignore_merges(const hive_pretok *p);

/* Calls piece(ctx, s, n) for each piece of text[0..n) in order; the pieces
 * cover the text exactly. A non-zero return from piece stops and is returned
 * as HIVE_E_NOMEM. Invalid UTF-8 is tolerated (it ends up in its own pieces). */
typedef int (*hive_piece_fn)(void *ctx, const char *s, size_t n);
hive_status hive_pretok_split(const hive_pretok *p, const char *text, size_t n, hive_piece_fn piece, void *ctx,
                              hive_error **err);

/* Pre-tokenizer name for a tokenizer.json "pre_tokenizer" regex (as written in
 * the Split step), or NULL when it is none this code knows. */
const char *hive_pretok_name_for_regex(const char *regex);

#endif
