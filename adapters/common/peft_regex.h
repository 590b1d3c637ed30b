/* Python `re` semantics the PEFT configs rely on, on top of PCRE2. */
#ifndef HIVE_ADAPTERS_PEFT_REGEX_H
#define HIVE_ADAPTERS_PEFT_REGEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct peft_regex peft_regex;

#define PEFT_RE_MATCH 0     /* re.match: anchored at the start only */
#define PEFT_RE_FULLMATCH 1 /* re.fullmatch */

/* NULL on a bad pattern or no memory, with a message in msg. */
peft_regex *peft_regex_compile(const char *pattern, int mode, char *msg, size_t cap);
void peft_regex_free(peft_regex *re);
/* 1 match, 0 no match, -1 matcher failure */
int peft_regex_test(const peft_regex *re, const char *subject);
/* Named group `group` of the match parsed as a non-negative decimal int into
 * *value: 1 when matched with the group set, 0 otherwise, -1 on failure. */
int peft_regex_group_int(const peft_regex *re, const char *subject, const char *group, int64_t *value);

/* One-shot helpers: 1 / 0, or -1 on a bad pattern (message in msg). */
int peft_re_fullmatch(const char *pattern, const char *subject, char *msg, size_t cap);
/* PEFT's get_pattern_key test: re.match(rf"(.*\.)?({key})$", name). */
int peft_re_pattern_key(const char *key, const char *name, char *msg, size_t cap);

#endif
