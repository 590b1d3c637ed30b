/* GPT-2 byte-level alphabet (each byte <-> one printable code point) and the
 * UTF-8 helpers the tokenizer needs. */
#ifndef HIVE_TOKENIZER_BYTE_LEVEL_H
#define HIVE_TOKENIZER_BYTE_LEVEL_H

#include <stddef.h>
#include <stdint.h>

/* Code point that stands for byte b in byte-level token strings ("Ġ" for ' '). */
uint32_t hive_bl_byte_to_cp(uint8_t b);
/* Byte a code point stands for, or -1 when cp is not in the alphabet. */
int hive_bl_cp_to_byte(uint32_t cp);

/* Writes cp as UTF-8 into out (>= 4 bytes); returns bytes written. */
size_t hive_utf8_put(uint32_t cp, char *out);
/* Decodes one well-formed code point at s (n bytes left); returns its length,
 * or 0 when the bytes there are not a complete valid sequence. */
size_t hive_utf8_get(const char *s, size_t n, uint32_t *cp);
/* Length of the longest prefix of s[0..n) that could still grow into a valid
 * sequence (1..3 bytes of a truncated character), 0 if s starts none. */
size_t hive_utf8_incomplete_prefix(const char *s, size_t n);

/* Text of byte-level string s (a vocab token) as raw bytes: each code point
 * maps back to its byte; if any code point is outside the alphabet the token
 * is taken verbatim (as HF's ByteLevel decoder does). out needs n bytes. */
size_t hive_bl_decode(const char *s, size_t n, char *out);
/* Byte-level spelling of raw bytes: out needs 2*n bytes. */
size_t hive_bl_encode(const char *s, size_t n, char *out);

/* A growable byte buffer. */
typedef struct hive_buf {
    char *data;
    size_t len, cap;
} hive_buf;
int hive_buf_append(hive_buf *b, const char *s, size_t n); /* 0 on success */
/* Appends s with invalid UTF-8 replaced by U+FFFD, one per maximal invalid
 * subpart (as Rust's String::from_utf8_lossy). When hold_tail, a truncated
 * character at the very end is not written; *held gets its length. */
int hive_buf_append_lossy(hive_buf *b, const char *s, size_t n, int hold_tail, size_t *held);

#endif
