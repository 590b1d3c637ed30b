/* blazr's format through the CLI: `info` lists the layer types and
 * `generate` runs the briefly trained nano-start-shaped model
 * (tests/golden/data/blazr/nano, scripts/train-blazr-nano.py), greedy
 * output equal to the PyTorch reference's continuation in its golden.json;
 * `chat` runs two turns on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli_run.h"

#define NANO HIVE_SOURCE_DIR "/tests/golden/data/blazr/nano"

/* golden.json's decode_tokens as text (the model's vocabulary is bytes). */
static void golden_continuation(char *out, size_t cap) {
    static char json[1 << 20];
    FILE *fp = fopen(NANO "/golden.json", "rb");
    assert_non_null(fp);
    size_t n = fread(json, 1, sizeof json - 1, fp);
    fclose(fp);
    json[n] = '\0';
    const char *p = strstr(json, "\"decode_tokens\"");
    assert_non_null(p);
    p = strchr(p, '[');
    assert_non_null(p);
    size_t k = 0;
    for (p++; *p && *p != ']' && k + 1 < cap;) {
        char *end;
        long id = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        assert_true(id >= 0 && id < 256); /* a byte, not a special token */
        out[k++] = (char)id;
        p = end;
    }
    out[k] = '\0';
}

static void test_info_layer_types(void **s) {
    (void)s;
    EXPECT(0, "info --model " NANO, "layer types:    Mamba2 Mamba2 Mamba2 MlaWithMoe");
    assert_non_null(strstr(g_out, "architecture:   blazr"));
    assert_non_null(strstr(g_out, "shared expert:  ffn 64, always added"));
    EXPECT(0, "info --json --model " HIVE_SOURCE_DIR "/tests/golden/data/blazr/detect",
           "\"StandardTransformer\", \"Mamba2\", \"MlaWithMoe\", \"MlaWithMlp\"");
}

static void test_generate_nano(void **s) {
    (void)s;
    char want[256];
    golden_continuation(want, sizeof want);
    EXPECT(0, "--cpu generate --model " NANO " --greedy --max-tokens 20 --prompt 'The engine runs '", want);
    printf("nano: 'The engine runs ' -> '%s'\n", want);
}

/* A two-turn chat (ChatML template): the second turn extends the first, so
 * the Mamba2 state and the latent cache carry over or are recomputed. */
static void test_chat_two_turns(void **s) {
    (void)s;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "printf 'Hello\\nAgain\\n' | HIVE_LOG=warn %s --cpu chat --model %s --greedy --max-tokens 6 2>&1", HOST, NANO);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(g_out, 1, sizeof g_out - 1, p);
    g_out[n] = 0;
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("chat failed:\n%s", g_out);
    assert_null(strstr(g_out, "error"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_layer_types),
        cmocka_unit_test(test_generate_nano),
        cmocka_unit_test(test_chat_two_turns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
