/* Fuzzes tokenizer.json loading (vocab_json.c) and what is built from it: the
 * BPE tokenizer (tokenizer.c, merges, added tokens, pre-tokenizer choice),
 * encoding, decoding and chat rendering with the loaded template. The input
 * is tokenizer.json, optionally followed by a NUL byte and the
 * tokenizer_config.json that sits beside it (JSON text has no NUL bytes).
 * The loader takes a path, so both are written to the scratch directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

static char g_json[4096], g_config[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    strcpy(g_json, fuzz_path("tokenizer.json"));
    strcpy(g_config, fuzz_path("tokenizer_config.json"));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    fuzz_write_file(g_json, data, json_len);
    if (nul) fuzz_write_file(g_config, nul + 1, size - json_len - 1);
    else unlink(g_config);

    hive_vocab_src v;
    char *tpl = NULL;
    hive_error *e = NULL;
    if (hive_vocab_from_tokenizer_json(g_json, &v, &tpl, &e) == HIVE_OK) {
        fuzz_exercise_tokenizer(&v, tpl);
        hive_vocab_src_free(&v);
        free(tpl);
    } else {
        hive_error_free(e);
    }
    return 0;
}
