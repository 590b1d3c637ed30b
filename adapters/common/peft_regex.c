/* Python `re` semantics the PEFT configs rely on, on top of PCRE2. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "peft_regex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct peft_regex {
    pcre2_code *code;
};

peft_regex *peft_regex_compile(const char *pattern, int mode, char *msg, size_t cap) {
    int ec = 0;
    PCRE2_SIZE off = 0;
    uint32_t opts = PCRE2_ANCHORED | (mode == PEFT_RE_FULLMATCH ? PCRE2_ENDANCHORED : 0);
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &ec, &off, NULL);
    if (!code) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(ec, buf, sizeof buf);
        if (msg && cap) snprintf(msg, cap, "bad regular expression \"%s\" at offset %zu: %s", pattern, (size_t)off, buf);
        return NULL;
    }
    peft_regex *re = malloc(sizeof *re);
    if (!re) {
        pcre2_code_free(code);
        if (msg && cap) snprintf(msg, cap, "out of memory");
        return NULL;
    }
    re->code = code;
    return re;
}

void peft_regex_free(peft_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

static int run(const peft_regex *re, const char *subject, pcre2_match_data **md_out) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md) return -1;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
    if (md_out && rc >= 0) {
        *md_out = md;
        return 1;
    }
    pcre2_match_data_free(md);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    return rc >= 0 ? 1 : -1;
}

int peft_regex_test(const peft_regex *re, const char *subject) { return run(re, subject, NULL); }

int peft_regex_group_int(const peft_regex *re, const char *subject, const char *group, int64_t *value) {
    pcre2_match_data *md = NULL;
    int rc = run(re, subject, &md);
    if (rc != 1) return rc;
    PCRE2_UCHAR *s = NULL;
    PCRE2_SIZE len = 0;
    int got = pcre2_substring_get_byname(md, (PCRE2_SPTR)group, &s, &len);
    pcre2_match_data_free(md);
    if (got != 0) return 0;
    int64_t v = 0;
    int ok = len > 0 && len < 18;
    for (PCRE2_SIZE i = 0; ok && i < len; i++) {
        if (s[i] < '0' || s[i] > '9') ok = 0;
        else v = v * 10 + (s[i] - '0');
    }
    pcre2_substring_free(s);
    if (!ok) return 0;
    *value = v;
    return 1;
}

int peft_re_fullmatch(const char *pattern, const char *subject, char *msg, size_t cap) {
    peft_regex *re = peft_regex_compile(pattern, PEFT_RE_FULLMATCH, msg, cap);
    if (!re) return -1;
    int rc = peft_regex_test(re, subject);
    peft_regex_free(re);
    return rc;
}

int peft_re_pattern_key(const char *key, const char *name, char *msg, size_t cap) {
    size_t n = strlen(key) + 16;
    char *pat = malloc(n);
    if (!pat) {
        if (msg && cap) snprintf(msg, cap, "out of memory");
        return -1;
    }
    snprintf(pat, n, "(.*\\.)?(%s)$", key);
    peft_regex *re = peft_regex_compile(pat, PEFT_RE_MATCH, msg, cap);
    free(pat);
    if (!re) return -1;
    int rc = peft_regex_test(re, name);
    peft_regex_free(re);
    return rc;
}
