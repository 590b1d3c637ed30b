/* Internal layout of hive_tokenizer, shared by the tokenizer's .c files. */
#ifndef HIVE_TOKENIZER_IMPL_H
#define HIVE_TOKENIZER_IMPL_H

#include <uthash.h>

#include "tokenizer/merge_table.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"

/* vocab string (as in the file) -> id */
typedef struct tok_by_text {
    const char *key; /* points into hive_tokenizer.text */
    int32_t id;
    UT_hash_handle hh;
} tok_by_text;


/* Added tokens (CONTROL and USER_DEFINED) cut out of the text before
 * pre-tokenization; sorted by first byte so a position checks few. */
typedef struct tok_added {
    int32_t id;
    int special; /* CONTROL: only matched when parse_special */
    const char *text;
    size_t len;
} tok_added;

struct hive_tokenizer {
    uint32_t n_vocab;
    char **text;       /* [n_vocab] NUL-terminated vocab strings */
    uint32_t *len;     /* [n_vocab] */
    int32_t *types;    /* [n_vocab] HIVE_TOKEN_* */
    tok_by_text *by_text;
    tok_by_text *by_text_nodes; /* one allocation for all nodes */
    hive_merge_table merges;
    int32_t byte_id[256]; /* token of each single byte, -1 when missing */
    tok_added *added;
    size_t n_added;
    size_t added_start[257]; /* added[added_start[b] .. added_start[b+1]) start with byte b */
    hive_pretok *pretok;
    int ignore_merges;
    int32_t bos, eos, eot, pad, unk;
    int add_bos;
};

int32_t hive_tok_lookup(const hive_tokenizer *t, const char *s, size_t n);
/* Runs byte-level BPE on one pre-token piece (raw bytes), appending ids. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;
int hive_tok_ids_push(tok_ids *ids, int32_t id);
int hive_tok_bpe_piece(const hive_tokenizer *t, const char *s, size_t n, tok_ids *out);

#endif
