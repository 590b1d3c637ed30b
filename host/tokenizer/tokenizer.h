/* Byte-level BPE tokenizer (GPT-2 style, as used by SmolLM2 and Qwen), with
 * special/added tokens matched before pre-tokenization, and a streaming decoder. */
#ifndef HIVE_TOKENIZER_TOKENIZER_H
#define HIVE_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "hive_abi.h"
#include "tokenizer/vocab.h"

typedef struct hive_tokenizer hive_tokenizer;

/* Copies what it needs from src (src may be freed afterwards). */
hive_status hive_tokenizer_new(const hive_vocab_src *src, hive_tokenizer **out, hive_error **err);
void hive_tokenizer_free(hive_tokenizer *t);

/* Encode text. parse_special: "<|im_start|>" in the text becomes the special
 * (CONTROL) token, as HF does by default; USER_DEFINED added tokens are always
 * matched whole. add_bos: 1 prepend BOS, 0 do not, HIVE_ADD_BOS_DEFAULT (-1)
 * follow the vocab's add_bos. *ids is malloc'd (never NULL on success). */
#define HIVE_ADD_BOS_DEFAULT (-1)
hive_status hive_tokenizer_encode(const hive_tokenizer *t, const char *text, size_t len, int parse_special,
                                  int add_bos, int32_t **ids, size_t *n_ids, hive_error **err);
/* Decode a whole sequence into a malloc'd NUL-terminated string.
 * skip_special: drop control tokens (as HF skip_special_tokens=True). */
hive_status hive_tokenizer_decode(const hive_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                                  char **text, hive_error **err);
/* Raw bytes of one token (byte-level decoded); special tokens give their text. */
hive_status hive_tokenizer_token_bytes(const hive_tokenizer *t, int32_t id, char *buf, size_t cap,
                                       size_t *len);

uint32_t hive_tokenizer_n_vocab(const hive_tokenizer *t);
int32_t hive_tokenizer_bos(const hive_tokenizer *t);
int32_t hive_tokenizer_eos(const hive_tokenizer *t);
int32_t hive_tokenizer_eot(const hive_tokenizer *t);
int hive_tokenizer_is_control(const hive_tokenizer *t, int32_t id);
/* -1 when `text` is not exactly one token */
int32_t hive_tokenizer_token_id(const hive_tokenizer *t, const char *text);

/* Streaming detokenizer: feed ids, get complete UTF-8 text only (bytes of a
 * character split across tokens are held until complete). */
typedef struct hive_detok {
    const hive_tokenizer *t;
    int skip_special;
    char pending[8];
    size_t n_pending;
} hive_detok;
void hive_detok_init(hive_detok *d, const hive_tokenizer *t, int skip_special);
/* Writes the text that became complete to out (cap bytes incl. NUL, always
 * NUL-terminated) and returns its length. Invalid UTF-8 becomes U+FFFD, as
 * in hive_tokenizer_decode; pushing every id then flushing gives exactly
 * what hive_tokenizer_decode gives for the whole sequence. */
size_t hive_detok_push(hive_detok *d, int32_t id, char *out, size_t cap);
size_t hive_detok_flush(hive_detok *d, char *out, size_t cap);

/* ChatML rendering (SmolLM2, Qwen2/2.5, Qwen3), reproducing what transformers'
 * apply_chat_template gives with the model's own template:
 * <|im_start|>role\ncontent<|im_end|>\n ..., ending with
 * "<|im_start|>assistant\n" when add_generation_prompt.
 * chat_template: the model's template text (GGUF tokenizer.chat_template or
 * tokenizer_config.json), read only for which behaviours it has:
 *  - a literal default system prompt (SmolLM2, Qwen2.5) is inserted when the
 *    first message is not a system message;
 *  - Qwen3 ("enable_thinking" in it): reasoning in earlier assistant turns is
 *    dropped, and enable_thinking == 0 appends "<think>\n\n</think>\n\n" to
 *    the generation prompt; "tool" messages become <tool_response> blocks.
 * NULL renders plain ChatML; a template without <|im_start|> gives
 * HIVE_E_UNSUPPORTED. Returns malloc'd text. */
typedef struct hive_chat_msg {
    const char *role;    /* "system", "user", "assistant", "tool" */
    const char *content;
} hive_chat_msg;
#define HIVE_THINKING_DEFAULT (-1)
hive_status hive_chat_render(const hive_chat_msg *msgs, size_t n, int add_generation_prompt,
                             int enable_thinking, const char *chat_template, char **out, hive_error **err);

#endif
