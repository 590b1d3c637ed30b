/* Fuzzes the GBNF parser (host/grammar/gbnf.c, builder.c, utf8.c) and what
 * runs on a compiled grammar: a matcher fed bytes, masks over a small
 * vocabulary, forced drafts, rollback. The input is the grammar text, optionally followed by
 * a NUL byte and bytes to feed the matcher. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "grammar/grammar.h"
#include "util/error.h"

static hive_grammar_vocab *g_vocab;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    /* every byte, a few multi-byte tokens (one splits a UTF-8 character), an end token */
    static char bytes[256];
    static const char *const multi[] = {"ab", "{\"", "\":", "true", "\xC3\xA9", "\xE2\x82", " \"", "12"};
    const char *toks[256 + 9];
    uint32_t lens[256 + 9];
    for (int i = 0; i < 256; i++) bytes[i] = (char)i, toks[i] = &bytes[i], lens[i] = 1;
    for (int i = 0; i < 8; i++) toks[256 + i] = multi[i], lens[256 + i] = (uint32_t)strlen(multi[i]);
    toks[264] = "</s>", lens[264] = 4;
    int32_t end = 264;
    if (hive_grammar_vocab_new(265, toks, lens, &end, 1, &g_vocab, NULL) != HIVE_OK) abort();
    return 0;
}

static void exercise(const hive_grammar *g, const hive_grammar_vocab *v, const uint8_t *in, size_t n) {
    hive_error *err = NULL;
    hive_grammar_matcher *m = hive_grammar_matcher_new(g, v, &err);
    hive_error_free(err);
    if (!m) return;
    uint32_t mask[(265 + 31) / 32];
    for (size_t i = 0; i < n && i < 16; i++) { /* a few steps: each may cost up to the per-call work limit */
        err = NULL;
        if (!hive_grammar_matcher_fill_mask(m, mask, &err)) {
            hive_error_free(err);
            break;
        }
        /* a forced draft (speculative decoding) is text the grammar takes;
         * its walk left every transition cached, so no limit can refuse it */
        int32_t forced[8];
        size_t n_forced = hive_grammar_matcher_forced_tokens(m, forced, 8);
        for (size_t k = 0; k < n_forced; k++)
            if (hive_grammar_matcher_accept(m, forced[k], NULL) != HIVE_OK) abort();
        if (n_forced && hive_grammar_matcher_rollback(m, (uint32_t)n_forced, NULL) != HIVE_OK) abort();
        /* the byte's token when allowed, else the first allowed token */
        int32_t t = in[i];
        if (!((mask[t >> 5] >> (t & 31)) & 1))
            for (t = 0; t < 265 && !((mask[t >> 5] >> (t & 31)) & 1); t++) {}
        if (t == 264 || hive_grammar_matcher_accept(m, t, NULL) != HIVE_OK) break;
        if (in[i] == 0xFF) hive_grammar_matcher_rollback(m, 1, NULL);
    }
    (void)hive_grammar_matcher_is_accepting(m);
    (void)hive_grammar_matcher_is_complete(m);
    hive_grammar_matcher_reset(m);
    hive_grammar_matcher_accept_bytes(m, (const char *)in, n);
    hive_grammar_matcher_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    hive_grammar *g = NULL;
    hive_error *err = NULL;
    if (hive_grammar_from_gbnf((const char *)data, len, &g, &err) == HIVE_OK) {
        if (nul) exercise(g, g_vocab, nul + 1, size - len - 1);
        else exercise(g, g_vocab, data, size > 64 ? 64 : size);
    } else {
        fuzz_touch(hive_error_message(err), strlen(hive_error_message(err)));
    }
    hive_error_free(err);
    hive_grammar_free(g);
    return 0;
}
