/* --draft / --draft-max on the command line: bad values are usage errors
 * before any loading; generate and chat give the same output with and without
 * speculation; bench --draft runs both and reports the speedup. The
 * real-model runs skip when SmolLM2 is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXPERTS HIVE_SOURCE_DIR "/examples/experts"
#define TINY HIVE_SOURCE_DIR "/tests/golden/data/llama" /* a 260-token vocabulary */
#include "cli_run.h"

static void test_usage(void **s) {
    (void)s;
    /* refused before the (missing) model is opened: exit 2 */
    EXPECT(2, "generate --model /nonexistent.gguf --draft nonsense --prompt x", "--draft 'nonsense': unknown drafter");
    EXPECT(2, "generate --model /nonexistent.gguf --draft lookup:0 --prompt x", "n-gram length");
    EXPECT(2, "generate --model /nonexistent.gguf --draft lookup --draft-max 0 --prompt x", "outside [1, 14]");
    EXPECT(2, "generate --model /nonexistent.gguf --draft lookup --draft-max 15 --prompt x", "outside [1, 14]");
    EXPECT(2, "chat --model /nonexistent.gguf --draft lookup:x < /dev/null", "n-gram length");
    EXPECT(2, "bench --model /nonexistent.gguf --draft lookup", "--prompt TEXT is required");
    EXPECT(2, "bench --model /nonexistent.gguf --draft lookup --prompt x -b 2", "-b and -d do not apply");
    /* --draft-model: the flags agree, the file exists, the weight format is known */
    EXPECT(2, "generate --model /nonexistent.gguf --draft model --prompt x", "give it with --draft-model PATH");
    EXPECT(2, "generate --model /nonexistent.gguf --draft-weights q4_1 --prompt x", "it needs --draft-model PATH");
    EXPECT(2, "bench --model /nonexistent.gguf --draft-weights q4_1 --prompt x", "it needs --draft-model PATH");
    EXPECT(2, "generate --model /nonexistent.gguf --draft lookup --draft-model " TINY " --prompt x",
           "goes with --draft model (or no --draft), not --draft lookup");
    EXPECT(2, "generate --model /nonexistent.gguf --draft-model /nonexistent-draft.gguf --prompt x",
           "--draft-model /nonexistent-draft.gguf: No such file or directory");
    EXPECT(2, "chat --model /nonexistent.gguf --draft model --draft-model " TINY " --draft-weights q5_k < /dev/null",
           "--draft-weights q5_k: must be native, f32, f16, bf16, q8_0, q4_0 or q4_1");
    /* --draft-corpus: lookup's, a readable file, not empty */
    EXPECT(2, "generate --model /nonexistent.gguf --draft base --draft-corpus " EXPERTS "/sql/draft-corpus.txt --prompt x",
           "--draft-corpus " EXPERTS "/sql/draft-corpus.txt goes with --draft lookup");
    EXPECT(2, "generate --model /nonexistent.gguf --draft lookup --draft-corpus /nonexistent.txt --prompt x",
           "--draft-corpus /nonexistent.txt: No such file or directory");
    EXPECT(2, "bench --model /nonexistent.gguf --draft lookup --draft-corpus /dev/null --prompt x",
           "--draft-corpus /dev/null: empty");
    EXPECT(2, "generate --model /nonexistent.gguf --draft lookup --draft-corpus /tmp --prompt x",
           "--draft-corpus /tmp: Is a directory");
}

static void test_real_model(void **s) {
    (void)s;
    const char *m = real_model();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    static char plain[1 << 16];
    char args[4096];
    const char *q = "'Schema: users(id, name, age, city); orders(id, user_id, product, amount)\n"
                    "Question: Which users live in Toronto and how old are they?'";
    /* the same bytes with and without each drafter (SQL expert, its grammar) */
    snprintf(args, sizeof args, "--cpu --threads 2 generate --model %s --expert %s/sql.expert --chat --greedy "
             "--max-tokens 40 --prompt %s", m, EXPERTS, q);
    EXPECT(0, args, "SELECT");
    memcpy(plain, g_out, sizeof plain);
    for (int d = 0; d < 2; d++) {
        snprintf(args, sizeof args, "--cpu --threads 2 generate --model %s --expert %s/sql.expert --chat --greedy "
                 "--max-tokens 40 --draft %s --prompt %s", m, EXPERTS, d ? "base --draft-max 4" : "lookup:2", q);
        EXPECT(0, args, "SELECT");
        if (strcmp(plain, g_out)) fail_msg("--draft changed the output:\nplain: %s\nspec:  %s", plain, g_out);
    }
    /* with the expert's draft corpus: the same bytes, and drafts accepted */
    snprintf(args, sizeof args, "--cpu --threads 2 generate --model %s --expert %s/sql.expert --chat --greedy "
             "--max-tokens 40 --draft lookup --draft-corpus %s/sql/draft-corpus.txt --prompt %s", m, EXPERTS, EXPERTS,
             q);
    EXPECT(0, args, "SELECT");
    if (strcmp(plain, g_out)) fail_msg("--draft-corpus changed the output:\nplain: %s\nspec:  %s", plain, g_out);
    /* an expert's own corpus (its manifest's training.decoding.draft_corpus) is
     * checked as the flag's file and named by its field; it is a default for
     * lookup only: other drafters never read it */
    char dir[64], cmd[2048];
    snprintf(dir, sizeof dir, "/tmp/hive-cli-spec-%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && mkdir -p %s && cp -r %s/sql/adapter %s/sql/manifest.json %s && : > %s/draft-corpus.txt", dir,
             dir, EXPERTS, EXPERTS, dir, dir);
    assert_int_equal(system(cmd), 0);
    EXPECTF(2, "manifest.json: training.decoding.draft_corpus ",
            "--cpu --threads 2 generate --model %s --expert %s --draft lookup --prompt x", m, dir);
    assert_non_null(strstr(g_out, "draft-corpus.txt: empty"));
    EXPECTF(0, "SELECT", "--cpu --threads 2 generate --model %s --expert %s --chat --max-tokens 4 --draft base "
            "--prompt x", m, dir);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    /* --draft lookup alone reads the expert's own corpus (its manifest's
     * draft_corpus): the same counts as that file given by --draft-corpus;
     * a --draft-corpus given wins over it, and none turns it off */
    const char *q3 = "'Schema: users(id, name, age, city); orders(id, user_id, product, amount)\n"
                     "Question: What is the total amount of all orders for user 7?'";
    char counts[4][128];
    for (int c = 0; c < 4; c++) {
        snprintf(args, sizeof args, "--cpu --threads 2 bench --model %s --expert %s/sql.expert --chat --greedy -n 24 "
                 "-r 1 --json --draft lookup %s%s%s --prompt %s", m, EXPERTS, c ? "--draft-corpus " : "",
                 c == 1 || c == 2 ? EXPERTS : "",
                 c == 1 ? "/sql/draft-corpus.txt" : c == 2 ? "/json/draft-corpus.txt" : c == 3 ? "none" : "", q3);
        EXPECT(0, args, "\"identical_output\":true");
        const char *a = strstr(g_out, "\"acceptance\":"), *v = strstr(g_out, "\"plain_steps\":");
        assert_true(a && v && v > a);
        snprintf(counts[c], sizeof counts[c], "%.*s", (int)(strchr(v, ',') - a), a);
    }
    if (strcmp(counts[0], counts[1]))
        fail_msg("the expert's corpus and --draft-corpus of the same file differ:\n%s\n%s", counts[0], counts[1]);
    if (!strcmp(counts[0], counts[2])) fail_msg("--draft-corpus did not replace the expert's corpus: %s", counts[0]);
    if (!strcmp(counts[0], counts[3])) fail_msg("--draft-corpus none left the expert's corpus on: %s", counts[0]);
    EXPECTF(0, "SELECT", "--cpu --threads 2 generate --model %s --expert %s/sql.expert --chat --max-tokens 4 "
            "--draft base --draft-corpus none --prompt x", m, EXPERTS);
    /* --verbose reports the speculation */
    snprintf(args, sizeof args, "--cpu --threads 2 generate --model %s --greedy --max-tokens 24 --draft lookup "
             "--verbose --prompt 'one two three four, one two three four, one two three'", m);
    EXPECT(0, args, "[speculation lookup:3, k 8:");
    /* base without experts: a usage error that names the way out */
    snprintf(args, sizeof args, "--cpu --threads 2 generate --model %s --draft base --prompt x", m);
    EXPECT(2, args, "use --draft lookup");
    /* --draft-model: another vocabulary is refused, naming the first id that differs */
    snprintf(args, sizeof args, "--cpu --threads 2 generate --model %s --draft-model %s --prompt x", m, TINY);
    EXPECT(2, args, "token id 0 is '<|endoftext|>' in the target, 'Ā' in the draft");
    /* the same bytes with SmolLM2 at q4_1 drafting for itself at f32 (cheap
     * enough that the meter lets it draft: bench below counts the passes);
     * one thread: f32 decoding on two threads crawls when other jobs hold the cores */
    const char *story = "'Write a short story about a dragon who learns to bake bread.'";
    snprintf(args, sizeof args, "--cpu --threads 1 generate --model %s --weights f32 --chat --greedy --max-tokens 24 "
             "--prompt %s", m, story);
    EXPECT(0, args, "");
    memcpy(plain, g_out, sizeof plain);
    snprintf(args, sizeof args, "--cpu --threads 1 generate --model %s --weights f32 --chat --greedy --max-tokens 24 "
             "--draft-model %s --draft-weights q4_1 --prompt %s", m, m, story);
    EXPECT(0, args, "");
    if (strcmp(plain, g_out)) fail_msg("--draft-model changed the output:\nplain: %s\nspec:  %s", plain, g_out);
    snprintf(args, sizeof args, "--cpu --threads 1 bench --model %s --weights f32 --chat --greedy -n 24 --json "
             "--draft-model %s --draft-weights q4_1 --prompt %s", m, m, story);
    EXPECT(0, args, "\"draft\":\"model\"");
    assert_non_null(strstr(g_out, "\"identical_output\":true"));
    if (strstr(g_out, "\"verify_passes\":0,")) fail_msg("bench --draft-model never drafted: %s", g_out);
    /* bench --draft: both runs in one command */
    snprintf(args, sizeof args, "--cpu --threads 2 bench --model %s --greedy -n 32 --draft lookup --prompt "
             "'Repeat: red, green, blue, red, green, blue, red, green'", m);
    EXPECT(0, args, "speedup");
    assert_non_null(strstr(g_out, "acceptance"));
    assert_non_null(strstr(g_out, "output       identical"));
    snprintf(args, sizeof args, "--cpu --threads 2 bench --model %s --greedy -n 16 --draft lookup --json --prompt "
             "'a b c a b c a b'", m);
    EXPECT(0, args, "\"identical_output\":true");
    assert_non_null(strstr(g_out, "\"speedup\":"));
    assert_non_null(strstr(g_out, "\"mean_accepted\":"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_real_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
