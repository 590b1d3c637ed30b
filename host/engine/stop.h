/* Stop-string matcher over a detokenized text stream.
 *
 * Feed it text chunk by chunk (a chunk may end inside a stop string or inside a
 * UTF-8 character); it hands back the bytes that are safe to show now. Bytes that
 * could still be the start of a stop string, and a trailing incomplete UTF-8
 * sequence, are held back. On a match, the text before the earliest stop string
 * is released and everything from the stop string on is dropped (OpenAI's
 * behaviour: the stop string itself is never emitted). Matching is byte-wise. */
#ifndef HIVE_ENGINE_STOP_H
#define HIVE_ENGINE_STOP_H

#include <stddef.h>
#include "hive_abi.h"

typedef struct hive_stop hive_stop;

/* Copies the n strings; empty strings are ignored, n may be 0 (pass-through). */
hive_stop *hive_stop_new(const char *const *strs, size_t n, hive_error **err);
void hive_stop_free(hive_stop *st);

/* Appends chunk[0..len) and writes up to cap safe bytes to out; returns how many.
 * Safe bytes that do not fit in cap stay queued for the next feed or flush
 * (feed with len 0 drains them). *matched (if given) is set to 1 once a stop
 * string has been seen (and stays 1; later input is ignored), else 0.
 * Returns 0 and keeps nothing of the chunk when it cannot grow its buffer. */
size_t hive_stop_feed(hive_stop *st, const char *chunk, size_t len, char *out, size_t cap, int *matched);

/* End of stream: writes up to cap of everything still held (no stop matched, so
 * a held-back prefix is real text); call again while it returns cap. */
size_t hive_stop_flush(hive_stop *st, char *out, size_t cap);

/* Bytes currently held (queued or held back); 0 after a complete flush. */
size_t hive_stop_pending(const hive_stop *st);

/* Forgets the stream, keeps the stop strings. */
void hive_stop_reset(hive_stop *st);

#endif
