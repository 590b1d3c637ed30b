/* Structured output: grammars (GBNF, JSON Schema, regex, any JSON), compiled
 * to a byte-level pushdown grammar, and per-row matchers that give the set of
 * tokens allowed next. See docs/GRAMMAR.md.
 *
 * Threading: a hive_grammar and a hive_grammar_vocab are immutable once made
 * (but for the grammar's token-mask cache, which is thread safe) and may be
 * shared by any number of matchers on any threads; one matcher is used by one
 * thread at a time. */
#ifndef HIVE_GRAMMAR_GRAMMAR_H
#define HIVE_GRAMMAR_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>
#include "hive_abi.h"

struct hive_tokenizer;

typedef struct hive_grammar hive_grammar;

typedef struct hive_grammar_opts {
    /* JSON grammars (schema, any JSON): between two tokens of JSON, at most
     * one newline and json_ws_max spaces or tabs, so a model cannot loop on
     * whitespace. */
    uint32_t json_ws_max;
} hive_grammar_opts;
void hive_grammar_opts_default(hive_grammar_opts *o); /* json_ws_max 2 */

/* GBNF in llama.cpp's syntax; the start rule is `root`. */
hive_status hive_grammar_from_gbnf(const char *text, size_t len, hive_grammar **out, hive_error **err);
/* A JSON Schema document (text). Unsupported keywords are HIVE_E_UNSUPPORTED
 * naming the keyword and where it is; nothing is silently dropped. */
hive_status hive_grammar_from_json_schema(const char *schema, size_t len, const hive_grammar_opts *o,
                                          hive_grammar **out, hive_error **err);
/* An anchored regular expression: the whole output must match it. */
hive_status hive_grammar_from_regex(const char *re, size_t len, hive_grammar **out, hive_error **err);
/* Shipped grammars: "json" (any JSON value), "json-object" (any JSON object),
 * "sql-postgres" (a practical PostgreSQL subset). */
hive_status hive_grammar_builtin(const char *name, const hive_grammar_opts *o, hive_grammar **out, hive_error **err);
void hive_grammar_free(hive_grammar *g);

/* The GBNF text a JSON Schema / regex compiles to (malloc'd), for debugging
 * and for tests; the compile functions above use it. */
hive_status hive_json_schema_to_gbnf(const char *schema, size_t len, const hive_grammar_opts *o, char **gbnf,
                                     hive_error **err);
hive_status hive_regex_to_gbnf(const char *re, size_t len, char **gbnf, hive_error **err);
/* The GBNF text of a shipped grammar (malloc'd), NULL for an unknown name. */
char *hive_grammar_builtin_gbnf(const char *name, const hive_grammar_opts *o);

/* Grammar statistics (rules, elements, byte classes) for `grammar check`. */
typedef struct hive_grammar_stats {
    uint32_t n_rules, n_elems, n_classes;
} hive_grammar_stats;
void hive_grammar_get_stats(const hive_grammar *g, hive_grammar_stats *st);

/* ---- vocabulary: every token's decoded bytes, as a trie ---- */

typedef struct hive_grammar_vocab hive_grammar_vocab;
/* tokens[i] / lens[i]: the decoded bytes of token i (NULL/0 = never allowed,
 * e.g. control tokens); end_ids: the tokens that end generation (EOS, EOT),
 * allowed only where the grammar accepts. */
hive_status hive_grammar_vocab_new(uint32_t n_vocab, const char *const *tokens, const uint32_t *lens,
                                   const int32_t *end_ids, size_t n_end, hive_grammar_vocab **out, hive_error **err);
/* From a tokenizer: byte-level decoded tokens, control tokens excluded, EOS/EOT as end tokens. */
hive_status hive_grammar_vocab_from_tokenizer(const struct hive_tokenizer *tok, hive_grammar_vocab **out,
                                              hive_error **err);
void hive_grammar_vocab_free(hive_grammar_vocab *v);
uint32_t hive_grammar_vocab_size(const hive_grammar_vocab *v);
int hive_grammar_vocab_is_end(const hive_grammar_vocab *v, int32_t id);

/* ---- matcher: one per row ---- */

typedef struct hive_grammar_matcher hive_grammar_matcher;
/* g and v must outlive the matcher. */
hive_grammar_matcher *hive_grammar_matcher_new(const hive_grammar *g, const hive_grammar_vocab *v, hive_error **err);
void hive_grammar_matcher_free(hive_grammar_matcher *m);
/* Advances by one token. HIVE_E_INVALID (state unchanged) when the grammar
 * does not allow it; an end token is accepted only in an accepting state. */
hive_status hive_grammar_matcher_accept(hive_grammar_matcher *m, int32_t token, hive_error **err);
/* Advances by raw bytes (tests, `grammar check`). Returns how many bytes were
 * accepted; == len when all were. State moves only over the accepted bytes. */
size_t hive_grammar_matcher_accept_bytes(hive_grammar_matcher *m, const char *bytes, size_t len);
/* Undoes the last n accept() calls (accept_bytes counts as one per call). */
hive_status hive_grammar_matcher_rollback(hive_grammar_matcher *m, uint32_t n, hive_error **err);
void hive_grammar_matcher_reset(hive_grammar_matcher *m);
/* The input so far is a complete sentence (an end token is allowed). */
int hive_grammar_matcher_is_accepting(const hive_grammar_matcher *m);
/* Accepting and nothing more can follow: generation should stop. */
int hive_grammar_matcher_is_complete(const hive_grammar_matcher *m);
/* allowed: (n_vocab + 31) / 32 words; bit i set = token i may come next.
 * Returns the number of allowed tokens; 0 with *err set on a limit error. */
size_t hive_grammar_matcher_fill_mask(hive_grammar_matcher *m, uint32_t *allowed, hive_error **err);
/* Tokens spelling the bytes the grammar forces next (where it allows one
 * byte, whitespace aside, and the input cannot end), longest token first, at
 * most max into out: a draft for speculative decoding, which the target
 * verifies (a JSON schema's keys and punctuation). The state is unchanged. */
size_t hive_grammar_matcher_forced_tokens(hive_grammar_matcher *m, int32_t *out, size_t max);
/* Masks of several rows at once, in parallel (OpenMP) when there are several.
 * Returns HIVE_OK, or the first row's error. */
hive_status hive_grammar_fill_masks(hive_grammar_matcher *const *rows, uint32_t *const *allowed, size_t n_rows,
                                    hive_error **err);

#endif
