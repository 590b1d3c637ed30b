/* Plain PEFT directories as experts, from the command line (docs/EXPERTS.md):
 * `generate --expert DIR` gives the same greedy output as the package
 * `experts pack` makes of DIR, and both differ from the base model; broken
 * or unsupported adapter_config.json files get clear errors; a base model
 * mismatch warns, and fails with --strict-base. */
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

#define MODEL HIVE_SOURCE_DIR "/tests/golden/data/llama"
#define ADAPTERS MODEL "/adapters"
#define GEN "--cpu generate --model " MODEL " --ctx 256 --greedy --max-tokens 12 --prompt 'Hello, Hive!'"

static char g_tmp[] = "/tmp/hive-e2e-peft-XXXXXX";

#include "cli_run.h"

static void sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static void test_dir_equals_package(void **s) {
    (void)s;
    static char base[sizeof g_out], dir_out[sizeof g_out];
    assert_int_equal(runf(GEN), 0);
    snprintf(base, sizeof base, "%s", g_out);
    static const char *const k_adapters[] = {"lora", "dora", "ia3", "prompt"};
    for (size_t i = 0; i < sizeof k_adapters / sizeof k_adapters[0]; i++) {
        const char *a = k_adapters[i];
        if (runf(GEN " --expert " ADAPTERS "/%s", a) != 0) fail_msg("--expert %s (a PEFT directory):\n%s", a, g_out);
        snprintf(dir_out, sizeof dir_out, "%s", g_out);
        if (!strcmp(dir_out, base)) fail_msg("%s: the PEFT directory did not change the output:\n%s", a, g_out);
        EXPECTF(0, "packed", "experts pack " ADAPTERS "/%s -o %s/%s.expert", a, g_tmp, a);
        EXPECTF(0, "ok: expert", "experts validate %s/%s.expert --model " MODEL, g_tmp, a);
        EXPECTF(0, "ok: expert", "experts validate " ADAPTERS "/%s --model " MODEL, a);
        if (runf(GEN " --expert %s/%s.expert", g_tmp, a) != 0) fail_msg("--expert %s.expert:\n%s", a, g_out);
        if (strcmp(dir_out, g_out)) fail_msg("%s: directory and package differ:\n%s\nvs\n%s", a, dir_out, g_out);
    }
    EXPECTF(0, "PEFT adapter directory", "experts inspect " ADAPTERS "/dora");
    assert_non_null(strstr(g_out, "expert:        dora"));
    assert_non_null(strstr(g_out, "adapter 0:   dora"));
}

static void test_pack_options(void **s) {
    (void)s;
    EXPECTF(0, "packed", "experts pack " ADAPTERS "/lora -o %s/t.expert --name tiny --description 'a tiny LoRA' "
                        "--decoding temperature=0 --decoding top_k=7 --decoding stop_sequences=';'", g_tmp);
    /* deterministic: the same inputs give the same bytes */
    EXPECTF(0, "packed", "experts pack " ADAPTERS "/lora -o %s/t2.expert --name tiny --description 'a tiny LoRA' "
                        "--decoding temperature=0 --decoding top_k=7 --decoding stop_sequences=';'", g_tmp);
    sh("cmp -s %s/t.expert %s/t2.expert", g_tmp, g_tmp);
    EXPECTF(0, "expert:        tiny 1.0.0", "experts inspect %s/t.expert", g_tmp);
    assert_non_null(strstr(g_out, "a tiny LoRA"));
    EXPECTF(0, "sampling.top_k                 = 7  # manifest", "--expert %s/t.expert --print-config", g_tmp);
    EXPECTF(1, "--decoding top_kk", "experts pack " ADAPTERS "/lora -o %s/u.expert --decoding top_kk=3", g_tmp);
    EXPECTF(1, "training.decoding.top_k", "experts pack " ADAPTERS "/lora -o %s/u.expert --decoding top_k=0.5", g_tmp);
    /* --draft-corpus FILE: the package carries it as draft-corpus.txt and its manifest names it */
    sh("printf 'SELECT 1;\\nSELECT 2;\\n' > %s/corpus.txt && : > %s/empty.txt", g_tmp, g_tmp);
    EXPECTF(0, "packed", "experts pack " ADAPTERS "/lora -o %s/c.expert --draft-corpus %s/corpus.txt", g_tmp, g_tmp);
    EXPECTF(0, "packed", "experts pack " ADAPTERS "/lora -o %s/c2.expert --draft-corpus %s/corpus.txt", g_tmp, g_tmp);
    sh("cmp -s %s/c.expert %s/c2.expert", g_tmp, g_tmp);
    sh("mkdir -p %s/cx && tar xzf %s/c.expert -C %s/cx && cmp -s %s/cx/draft-corpus.txt %s/corpus.txt", g_tmp, g_tmp,
       g_tmp, g_tmp, g_tmp);
    EXPECTF(0, "speculative.draft_corpus", "experts inspect %s/c.expert", g_tmp);
    assert_non_null(strstr(g_out, "/draft-corpus.txt"));
    EXPECTF(0, "ok: expert", "experts validate %s/c.expert --model " MODEL, g_tmp);
    EXPECTF(1, "--draft-corpus /nonexistent.txt: No such file or directory",
            "experts pack " ADAPTERS "/lora -o %s/u.expert --draft-corpus /nonexistent.txt", g_tmp);
    EXPECTF(1, "empty.txt: empty", "experts pack " ADAPTERS "/lora -o %s/u.expert --draft-corpus %s/empty.txt", g_tmp,
            g_tmp);
    EXPECTF(1, "give the file with --draft-corpus FILE",
            "experts pack " ADAPTERS "/lora -o %s/u.expert --decoding draft_corpus=x.txt", g_tmp);
    EXPECTF(2, "usage: hive-host experts pack", "experts pack " ADAPTERS "/lora");
    EXPECTF(1, "not a plain PEFT adapter directory", "experts pack %s -o %s/u.expert", MODEL, g_tmp);
    sh("test ! -e %s/u.expert", g_tmp);
}

static void test_bad_configs(void **s) {
    (void)s;
    sh("cp -r " ADAPTERS "/lora %s/broken && printf '{\"peft_type\": \"LORA\", ' > %s/broken/adapter_config.json", g_tmp, g_tmp);
    EXPECTF(1, "broken/adapter_config.json: not valid JSON", GEN " --expert %s/broken", g_tmp);
    EXPECTF(1, "not valid JSON", "experts validate %s/broken", g_tmp);
    sh("cp -r " ADAPTERS "/lora %s/loha && echo '{\"peft_type\": \"LOHA\", \"r\": 4}' > %s/loha/adapter_config.json", g_tmp,
       g_tmp);
    EXPECTF(1, "peft_type 'LOHA' is not supported", GEN " --expert %s/loha", g_tmp);
    EXPECTF(1, "peft_type 'LOHA' is not supported", "experts inspect %s/loha", g_tmp);
    EXPECTF(1, "peft_type 'LOHA' is not supported", "experts pack %s/loha -o %s/loha.expert", g_tmp, g_tmp);
    sh("cp -r " ADAPTERS "/ia3 %s/noweights && rm %s/noweights/adapter_model.safetensors", g_tmp, g_tmp);
    EXPECTF(1, "no adapter_model.safetensors", GEN " --expert %s/noweights", g_tmp);
    sh("mkdir -p %s/empty", g_tmp);
    EXPECTF(1, "neither an expert package nor a PEFT adapter directory", GEN " --expert %s/empty", g_tmp);
}

static void test_base_mismatch(void **s) {
    (void)s;
    static char dir_out[sizeof g_out];
    assert_int_equal(runf(GEN " --expert " ADAPTERS "/lora"), 0);
    assert_null(strstr(g_out, "base_model_name_or_path")); /* the fixture names this model: no warning */
    snprintf(dir_out, sizeof dir_out, "%s", g_out);
    sh("cp -r " ADAPTERS "/lora %s/qwen && sed -i 's|\"tests/golden/data/llama\"|\"Qwen/Qwen3-0.6B\"|' "
       "%s/qwen/adapter_config.json && grep -q Qwen3 %s/qwen/adapter_config.json", g_tmp, g_tmp, g_tmp);
    const char *warn = "base_model_name_or_path 'Qwen/Qwen3-0.6B' does not name the loaded model";
    EXPECTF(0, warn, GEN " --expert %s/qwen", g_tmp);
    assert_non_null(strstr(g_out, "loading it anyway"));
    EXPECTF(1, warn, GEN " --expert %s/qwen --strict-base", g_tmp);
    assert_non_null(strstr(g_out, "--strict-base"));
    EXPECTF(0, "ok: expert 'qwen'", "experts validate %s/qwen --model " MODEL, g_tmp);
    EXPECTF(1, warn, "experts validate %s/qwen --model " MODEL " --strict-base", g_tmp);
    /* the config key too */
    sh("echo 'experts = { strict_base = true; };' > %s/strict.cfg", g_tmp);
    EXPECTF(1, warn, "--config %s/strict.cfg " GEN " --expert %s/qwen", g_tmp, g_tmp);
    /* a package made from it names that base, and manifests are always strict */
    EXPECTF(0, "packed", "experts pack %s/qwen -o %s/qwen.expert", g_tmp, g_tmp);
    EXPECTF(1, "targets base model(s) Qwen/Qwen3-0.6B", GEN " --expert %s/qwen.expert", g_tmp);
}

static int setup(void **s) {
    (void)s;
    if (!mkdtemp(g_tmp)) return -1;
    char cache[128];
    snprintf(cache, sizeof cache, "%s/cache", g_tmp);
    return setenv("HIVE_CACHE", cache, 1); /* packages unpack here, not into ~/.cache */
}

static int teardown(void **s) {
    (void)s;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    return system(cmd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_equals_package),
        cmocka_unit_test(test_pack_options),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_base_mismatch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
