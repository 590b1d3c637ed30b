/* Where a tokenizer comes from: a neutral description filled either from GGUF
 * metadata (tokenizer.ggml.*) or from a Hugging Face tokenizer.json. */
#ifndef HIVE_TOKENIZER_VOCAB_H
#define HIVE_TOKENIZER_VOCAB_H

#include <stdint.h>
#include "hive_abi.h"

/* Token types as GGUF stores them (tokenizer.ggml.token_type). */
#define HIVE_TOKEN_NORMAL       1
#define HIVE_TOKEN_UNKNOWN      2
#define HIVE_TOKEN_CONTROL      3
#define HIVE_TOKEN_USER_DEFINED 4
#define HIVE_TOKEN_UNUSED       5
#define HIVE_TOKEN_BYTE         6

typedef struct hive_vocab_src {
    uint32_t n_tokens;
    const hive_str *tokens;     /* byte-level BPE strings ("Ġthe"), as in the file */
    const int32_t *types;       /* [n_tokens] HIVE_TOKEN_*, NULL = all normal */
    uint32_t n_merges;
    const hive_str *merges;     /* "Ġ t" : left, one space, right */
    char pre[32];               /* pre-tokenizer: GGUF tokenizer.ggml.pre ("smollm", "qwen2",
                                   "llama-bpe", "gpt2", "default"...) */
    int32_t bos_id, eos_id, pad_id, unk_id;  /* -1 when absent */
    int32_t eot_id;             /* end of turn (<|im_end|>), -1 when absent */
    int add_bos;                /* prepend BOS when encoding a prompt */
    /* private: storage owned by whoever filled this (freed with hive_vocab_src_free) */
    void *owner;
} hive_vocab_src;

/* Fill from a tokenizer.json, or a directory holding one (+ tokenizer_config.json
 * beside it for bos/eos/pad/unk, add_bos_token and the chat template, else
 * chat_template.jinja). Byte-level BPE only; the pre_tokenizer is mapped to
 * a GGUF pre name (ByteLevel -> "gpt2", Digits+ByteLevel -> "smollm", known
 * Split regexes -> "qwen2", "llama-bpe", "qwen35"), others HIVE_E_UNSUPPORTED.
 * chat_template may be NULL; *chat_template is malloc'd or NULL. */
hive_status hive_vocab_from_tokenizer_json(const char *path, hive_vocab_src *out, char **chat_template,
                                           hive_error **err);
/* Frees what hive_vocab_from_tokenizer_json allocated; a no-op for a source
 * whose owner it did not set (GGUF views: leave owner NULL). */
void hive_vocab_src_free(hive_vocab_src *v);

#endif
