#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretok.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/byte_level.h"
#include "util/error.h"

/* The regexes, exactly as Hugging Face's tokenizer.json files spell them. */
/* HF ByteLevel(use_regex=true): GPT-2's pattern. */
static const char RE_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/* Qwen2 / Qwen2.5 / Qwen3 tokenizer.json Split pattern. */
static const char RE_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* Llama-3 tokenizer.json Split pattern: numbers in groups of up to three. */
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* Qwen3.5: letters take combining marks along. */
static const char RE_QWEN35[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct pretok_kind {
    const char *name;
    const char *regex;
    int split_digits;  /* HF Digits(individual_digits=true) runs first */
    int ignore_merges;
} pretok_kind;

/* GGUF names (llama.cpp's tokenizer.ggml.pre values) and what they mean.
 * "smollm"/"starcoder": the tokenizer.json is Sequence[Digits(individual),
 * ByteLevel(use_regex)], which llama.cpp also reproduces. */
static const pretok_kind KINDS[] = {
    {"default", RE_GPT2, 0, 0},   {"gpt2", RE_GPT2, 0, 0},         {"gpt-2", RE_GPT2, 0, 0},
    {"smollm", RE_GPT2, 1, 0},
    {"starcoder", RE_GPT2, 1, 0}, {"qwen2", RE_QWEN2, 0, 0},       {"deepseek-r1-qwen", RE_QWEN2, 0, 0},
    {"qwen35", RE_QWEN35, 0, 0},  {"llama-bpe", RE_LLAMA3, 0, 1}, {"llama3", RE_LLAMA3, 0, 1},
    {"llama-v3", RE_LLAMA3, 0, 1},
};

struct hive_pretok {
    const pretok_kind *kind;
    pcre2_code *re;
    pcre2_code *digit; /* one \p{N} character, when split_digits */
};

const char *hive_pretok_name_for_regex(const char *regex) {
    if (!regex) return NULL;
    if (!strcmp(regex, RE_GPT2)) return "gpt2";
    if (!strcmp(regex, RE_QWEN2)) return "qwen2";
    if (!strcmp(regex, RE_LLAMA3)) return "llama-bpe";
    if (!strcmp(regex, RE_QWEN35)) return "qwen35";
    return NULL;
}

static hive_status compile(const char *pattern, pcre2_code **out, hive_error **err) {
    int code;
    PCRE2_SIZE off;
    /* UCP: \s \p{L} etc. by Unicode properties, as the Rust/Oniguruma regexes
     * HF uses. MATCH_INVALID_UTF: bytes that are not UTF-8 simply never
     * match, so they fall into the gaps and still reach byte-level BPE. */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return hive_fail(err, HIVE_E_INTERNAL, "pre-tokenizer regex does not compile at %zu: %s", (size_t)off,
                         (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort: the interpreter is correct too */
    *out = re;
    return HIVE_OK;
}

hive_status hive_pretok_new(const char *name, hive_pretok **out, hive_error **err) {
    const pretok_kind *kind = NULL;
    if (!name || !name[0]) name = "default";
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (!strcmp(KINDS[i].name, name)) kind = &KINDS[i];
    if (!kind) return hive_fail(err, HIVE_E_UNSUPPORTED, "unknown pre-tokenizer \"%s\"", name);
    hive_pretok *p = calloc(1, sizeof *p);
    if (!p) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    p->kind = kind;
    hive_status st = compile(kind->regex, &p->re, err);
    if (st == HIVE_OK && kind->split_digits) st = compile("\\p{N}", &p->digit, err);
    if (st != HIVE_OK) {
        hive_pretok_free(p);
        return st;
    }
    *out = p;
    return HIVE_OK;
}

void hive_pretok_free(hive_pretok *p) {
    if (!p) return;
    pcre2_code_free(p->re);
    pcre2_code_free(p->digit);
    free(p);
}

int hive_pretok_ignore_merges(const hive_pretok *p) { return p->kind->ignore_merges; }

/* HF Split(behavior=Isolated): every match is a piece, and so is every gap
 * between matches. */
static hive_status split_isolated(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t n,
                                  hive_status (*emit)(void *, const char *, size_t, hive_error **), void *ectx,
                                  hive_error **err) {
    size_t pos = 0, gap = 0;
    while (pos < n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return hive_fail(err, HIVE_E_INTERNAL, "pre-tokenizer match failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (b == a) { /* no pattern here matches empty; step past one character to be safe */
            uint32_t cp;
            size_t l = hive_utf8_get(s + a, n - a, &cp);
            pos = a + (l ? l : 1);
            continue;
        }
        hive_status st;
        if (a > gap && (st = emit(ectx, s + gap, a - gap, err)) != HIVE_OK) return st;
        if ((st = emit(ectx, s + a, b - a, err)) != HIVE_OK) return st;
        pos = gap = b;
    }
    if (n > gap) return emit(ectx, s + gap, n - gap, err);
    return HIVE_OK;
}

typedef struct final_ctx {
    hive_piece_fn piece;
    void *ctx;
} final_ctx;

static hive_status emit_final(void *c, const char *s, size_t n, hive_error **err) {
    final_ctx *f = c;
    if (f->piece(f->ctx, s, n)) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    return HIVE_OK;
}

typedef struct digit_ctx {
    const hive_pretok *p;
    pcre2_match_data *md;
    final_ctx *fin;
} digit_ctx;

/* Second stage after the digit split: the main regex on each piece. */
static hive_status emit_regex(void *c, const char *s, size_t n, hive_error **err) {
    digit_ctx *d = c;
    return split_isolated(d->p->re, d->md, s, n, emit_final, d->fin, err);
}

hive_status hive_pretok_split(const hive_pretok *p, const char *text, size_t n, hive_piece_fn piece, void *ctx,
                              hive_error **err) {
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    if (!md) return hive_fail(err, HIVE_E_NOMEM, "out of memory");
    final_ctx fin = {piece, ctx};
    hive_status st;
    if (p->digit) {
        /* Digits and the regex need their own match data: the digit split is
         * still iterating while the regex runs on each of its pieces. */
        pcre2_match_data *md2 = pcre2_match_data_create(4, NULL);
        if (!md2) {
            pcre2_match_data_free(md);
            return hive_fail(err, HIVE_E_NOMEM, "out of memory");
        }
        digit_ctx d = {p, md2, &fin};
        st = split_isolated(p->digit, md, text, n, emit_regex, &d, err);
        pcre2_match_data_free(md2);
    } else {
        st = split_isolated(p->re, md, text, n, emit_final, &fin, err);
    }
    pcre2_match_data_free(md);
    return st;
}
