/* `--expert auto`: generate and chat route the prompt to the shipped experts
 * (examples/experts) and to a plain PEFT directory by its name; the
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
#include "cli_run.h"

/* Routing runs before the model opens: these need no model file. */
static void test_auto_usage(void **s) {
    (void)s;
    EXPECT(2, "generate --model /nonexistent.gguf --expert auto --prompt 'SELECT it'", "no experts to choose from");
    /* the choice is printed before the (missing) model is reported: exit 1 */
    EXPECT(1, "generate --model /nonexistent.gguf --expert auto --expert-dir " EXPERTS " --verbose --prompt "
              "'Write the SQL query for this schema'", "[route: sql (score");
    EXPECT(1, "generate --model /nonexistent.gguf --expert auto --expert-dir " EXPERTS " --verbose --prompt "
              "'Tell me about dragons'", "[route: the base model (no expert scored >= 0.45)");
    EXPECT(1, "generate --model /nonexistent.gguf --expert auto --expert " EXPERTS "/json --route-threshold 0.1 "
              "--verbose --prompt 'Tell me about the city'", "[route: json (score");
    EXPECT(1, "generate --model /nonexistent.gguf --expert auto --expert /nonexistent-expert --prompt x",
           "/nonexistent-expert");
}

static void test_auto_real_model(void **s) {
    (void)s;
    const char *m = real_model();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    char args[2048];
    /* the README's SQL question: routed to sql, whose manifest grammar makes it a SELECT */
    snprintf(args, sizeof args,
             "--cpu --threads 2 generate --model %s --expert auto --expert-dir %s --verbose --chat --greedy "
             "--max-tokens 24 --prompt 'Schema: users(id, name, age, city); orders(id, user_id, product, amount)\n"
             "Question: Which users live in Toronto?'", m, EXPERTS);
    EXPECT(0, args, "[route: sql (score 0.50) of 4 candidates");
    assert_non_null(strstr(g_out, "SELECT"));
    /* chat routes on the first message */
    const char *turn = "/tmp/hive-e2e-route-chat.txt";
    FILE *f = fopen(turn, "w");
    assert_non_null(f);
    fputs("Extract the person as JSON: Oliver is 29 years old and lives in Toronto.\n", f);
    fclose(f);
    snprintf(args, sizeof args,
             "--cpu --threads 2 chat --model %s --expert auto --expert-dir %s --verbose --greedy --max-tokens 24 < %s",
             m, EXPERTS, turn);
    EXPECT(0, args, "[route: json (score");
    assert_non_null(strstr(g_out, "\"name\""));
    unlink(turn);
}

/* The two style experts, routed when the prompt asks for the style, and a
 * plain PEFT directory (the ia3 expert's adapter/ under a name that says what
 * it does) through --expert auto and --expert DIR. */
static void test_auto_style_and_peft_dir(void **s) {
    (void)s;
    const char *m = real_model();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    char args[4096], dir[128], cmd[512];
    char head[1200];
    snprintf(head, sizeof head, "--cpu --threads 2 generate --model %s --verbose --chat --greedy --max-tokens 24", m);
    snprintf(args, sizeof args, "%s --expert auto --expert-dir %s --prompt 'SHOUT it in caps: what is the capital of "
             "Norway?'", head, EXPERTS);
    EXPECT(0, args, "[route: ia3 (score 0.67) of 4 candidates");
    assert_non_null(strstr(g_out, "THE CAPITAL OF"));
    snprintf(args, sizeof args, "%s --expert auto --expert-dir %s --prompt 'Be friendly and polite: how many legs "
             "does a frog have?'", head, EXPERTS);
    EXPECT(0, args, "[route: soft-prompt (score 0.67) of 4 candidates");
    assert_non_null(strstr(g_out, "Sure!"));

    snprintf(dir, sizeof dir, "/tmp/hive-e2e-route-%d/shout-caps", (int)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/ia3/adapter/adapter_config.json %s/ia3/adapter/adapter_model.safetensors %s/",
             dir, EXPERTS, EXPERTS, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(args, sizeof args, "%s --expert auto --expert %s --prompt 'SHOUT it in caps: what is the capital of "
             "Norway?'", head, dir);
    EXPECT(0, args, "[route: shout-caps (score 0.67) of 1 candidate");
    assert_non_null(strstr(g_out, "THE CAPITAL OF"));
    snprintf(args, sizeof args, "%s --expert %s --prompt 'What is the capital of Norway?'", head, dir);
    EXPECT(0, args, "THE CAPITAL OF");
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/hive-e2e-route-%d", (int)getpid());
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_usage),
        cmocka_unit_test(test_auto_real_model),
        cmocka_unit_test(test_auto_style_and_peft_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
