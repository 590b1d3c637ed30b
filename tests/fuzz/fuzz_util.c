/* Shared pieces of the libFuzzer harnesses (see fuzz_util.h). */
#include "fuzz_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/log.h"

static char g_dir[4096];

static void remove_scratch(void) {
    if (g_dir[0]) fuzz_rm_tree(g_dir);
}

const char *fuzz_scratch_dir(void) {
    if (g_dir[0]) return g_dir;
    const char *t = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/hive-fuzz-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_scratch);
    return g_dir;
}

const char *fuzz_path(const char *name) {
    static char buf[8192];
    snprintf(buf, sizeof buf, "%s/%s", fuzz_scratch_dir(), name);
    return buf;
}

void fuzz_write_file(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void fuzz_rm_tree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

void fuzz_fresh_dir(const char *path) {
    fuzz_rm_tree(path);
    if (mkdir(path, 0755) != 0) {
        perror(path);
        abort();
    }
}

volatile unsigned char fuzz_sink; /* keeps fuzz_touch's reads */

void fuzz_touch(const void *p, size_t n) {
    const unsigned char *b = p;
    unsigned char x = 0;
    for (size_t i = 0; i < n; i++) x ^= b[i];
    fuzz_sink = x;
}

void fuzz_quiet_logs(void) {
    /* FUZZ_VERBOSE=1 formats every message too, which also checks their arguments. */
    hive_log_set_level(getenv("FUZZ_VERBOSE") ? HIVE_LOG_TRACE : HIVE_LOG_ERROR);
}

static const char k_text[] = "Hello, world! It's 2024: caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac 12345 "
                             "<|im_start|>user\n  tabs\tand\r\nnewlines<|im_end|> \xff\xfe end";

void fuzz_exercise_tokenizer(const hive_vocab_src *src, const char *chat_template) {
    hive_tokenizer *t = NULL;
    hive_error *e = NULL;
    if (hive_tokenizer_new(src, &t, &e) != HIVE_OK) {
        hive_error_free(e);
        return;
    }
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (hive_tokenizer_encode(t, k_text, sizeof k_text - 1, special, HIVE_ADD_BOS_DEFAULT, &ids, &n, &e) != HIVE_OK) {
            hive_error_free(e);
            e = NULL;
            continue;
        }
        char *text = NULL;
        if (hive_tokenizer_decode(t, ids, n, special, &text, &e) == HIVE_OK) free(text);
        else hive_error_free(e);
        e = NULL;
        hive_detok d;
        hive_detok_init(&d, t, special);
        char out[64];
        for (size_t i = 0; i < n; i++) hive_detok_push(&d, ids[i], out, sizeof out);
        hive_detok_flush(&d, out, sizeof out);
        free(ids);
    }
    /* ids at and past the edges of the vocabulary */
    uint32_t nv = hive_tokenizer_n_vocab(t);
    int32_t edge[] = {-1, 0, (int32_t)nv - 1, (int32_t)nv, hive_tokenizer_bos(t), hive_tokenizer_eos(t),
                      hive_tokenizer_eot(t)};
    char buf[32];
    size_t len;
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        hive_tokenizer_token_bytes(t, edge[i], buf, sizeof buf, &len);
        hive_tokenizer_is_control(t, edge[i]);
    }
    hive_tokenizer_token_id(t, "<|im_end|>");
    hive_tokenizer_token_id(t, "hello");
    hive_tokenizer_free(t);

    hive_chat_msg msgs[] = {{"user", "What is 2+2?"}, {"assistant", "<think>x</think>4"}, {"user", "Thanks"}};
    char *chat = NULL;
    if (hive_chat_render(msgs, 3, 1, HIVE_THINKING_DEFAULT, chat_template, &chat, &e) == HIVE_OK) free(chat);
    else hive_error_free(e);
}
