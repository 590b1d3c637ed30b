/* A thousand experts, from the command line (docs/EXPERTS.md): the fixture
 * generator (make-expert-zoo) is deterministic and its experts load;
 * `experts list DIR` and its errors; a broken package among many breaks only
 * its own use; `bench --expert-dir --zipf` on the real cache gets the hit rate
 * of an ideal LRU. CI uses 200 generated experts (not 1,000) to keep the test
 * short; docs/PERFORMANCE.md has the 1,000-expert run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZOO_N 200

static char g_tmp[] = "/tmp/hive-e2e-zoo-XXXXXX";

#include "cli_run.h"

static int sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static cJSON *json_out(void) {
    const char *start = strchr(g_out, '{'); /* after any log lines */
    cJSON *o = start ? cJSON_Parse(start) : NULL;
    if (!o) fail_msg("not JSON:\n%s", g_out);
    return o;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("no number '%s'", key);
    return v->valuedouble;
}

/* A directory of 5 generated experts, a broken manifest and a non-archive. */
static const char *broken_dir(void) {
    static char d[128];
    snprintf(d, sizeof d, "%s/mixed", g_tmp);
    assert_int_equal(sh("mkdir -p %s/broken && cp -r %s/zoo/zoo-000[0-4] %s/ && printf '{\"name\": ' > "
                        "%s/broken/manifest.json && echo junk > %s/garbage.expert", d, g_tmp, d, d, d), 0);
    return d;
}

static void test_generator(void **s) {
    (void)s;
    assert_int_equal(sh("test $(ls %s/zoo | wc -l) -eq %d && test $(ls %s/zoo/*.expert | wc -l) -eq %d", g_tmp, ZOO_N,
                        g_tmp, ZOO_N / 10), 0);
    /* deterministic: the same seed gives the same bytes, another seed others */
    assert_int_equal(sh("%s %s/again --count 12 --seed 7 >/dev/null && %s %s/other --count 12 --seed 8 >/dev/null", ZOO_TOOL,
                        g_tmp, ZOO_TOOL, g_tmp), 0);
    for (int i = 0; i < 12; i++) {
        const char *ext = i % 10 == 9 ? ".expert" : "";
        if (sh("diff -r %s/zoo/zoo-%04d%s %s/again/zoo-%04d%s", g_tmp, i, ext, g_tmp, i, ext))
            fail_msg("zoo-%04d differs between two runs with seed 7", i);
    }
    assert_int_not_equal(sh("diff -r -q %s/again %s/other >/dev/null", g_tmp, g_tmp), 0);
    /* random, non-zero f16 weights: no +0 or -0 element after the header */
    char path[256];
    snprintf(path, sizeof path, "%s/zoo/zoo-0000/adapter_model.safetensors", g_tmp);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint64_t hl = 0;
    assert_int_equal(fread(&hl, 8, 1, f), 1);
    assert_int_equal(fseek(f, (long)(8 + hl), SEEK_SET), 0);
    uint16_t h;
    size_t n = 0;
    while (fread(&h, 2, 1, f) == 1) {
        if ((h & 0x7fff) == 0) fail_msg("%s: element %zu is zero", path, n);
        n++;
    }
    fclose(f);
    assert_true(n > 1000);
    assert_int_equal(sh("%s >/dev/null 2>&1", ZOO_TOOL), 2);
}

static void test_list(void **s) {
    (void)s;
    EXPECTF(0, "NAME", "experts list %s/zoo", g_tmp);
    char want[64];
    snprintf(want, sizeof want, "%d experts in", ZOO_N);
    assert_non_null(strstr(g_out, want));
    /* an archive: its description is shown (seed 7 made zoo-0009 a LoRA) */
    assert_non_null(strstr(g_out, "zoo-0009  lora         10   45.5 KiB  zoo expert 9: LoRA r=10 on o_proj, q_proj of layer 7"));
    assert_int_equal(runf("experts list %s/zoo --json", g_tmp), 0);
    cJSON *o = json_out();
    assert_int_equal((int)num(o, "count"), ZOO_N);
    assert_int_equal((int)num(o, "broken"), 0);
    int by_type[3] = {0};
    double total = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, "experts")) {
        const char *type = cJSON_GetObjectItem(x, "type")->valuestring;
        const cJSON *rank = cJSON_GetObjectItem(x, "rank");
        int k = !strcmp(type, "lora") ? 0 : !strcmp(type, "dora") ? 1 : !strcmp(type, "ia3") ? 2 : -1;
        if (k < 0) {
            fail_msg("unexpected type %s", type);
            return;
        }
        by_type[k]++;
        if (k < 2 && !(cJSON_IsNumber(rank) && rank->valueint >= 4 && rank->valueint <= 16))
            fail_msg("%s: rank out of 4..16", cJSON_GetObjectItem(x, "name")->valuestring);
        if (k == 2) assert_true(cJSON_IsNull(rank));
        assert_true(num(x, "size_bytes") > 0);
        total += num(x, "size_bytes");
    }
    cJSON_Delete(o);
    assert_true(by_type[0] > ZOO_N / 2 && by_type[1] > 0 && by_type[2] > 0);
    assert_true(total < 40e3 * ZOO_N); /* small: ~28 KB each */
    /* errors */
    EXPECTF(1, "No such file or directory", "experts list %s/none", g_tmp);
    EXPECTF(1, "is not a directory", "experts list %s/zoo/zoo-0009.expert", g_tmp);
    EXPECT(2, "experts list", "usage: hive-host experts list DIR");
    /* broken entries are listed with their errors, the others as usual */
    const char *d = broken_dir();
    EXPECTF(1, "7 experts in", "experts list %s", d);
    assert_non_null(strstr(g_out, "cannot be read"));
    assert_non_null(strstr(g_out, "expert 'broken': "));
    assert_non_null(strstr(g_out, "manifest.json: not valid JSON"));
    assert_non_null(strstr(g_out, "expert 'garbage': "));
    assert_non_null(strstr(g_out, "zoo-0004  "));
    assert_int_equal(runf("experts list %s --json", d), 1);
    o = json_out();
    assert_int_equal((int)num(o, "broken"), 2);
    cJSON_Delete(o);
}

static void test_loads_and_bench(void **s) {
    (void)s;
    const char *m = real_model();
    if (!m) {
        skip(); /* run scripts/fetch-models.sh */
        return;
    }
    /* one of each kind, and an archive, loaded together through generate */
    EXPECTF(0, "", "--threads 2 generate --model %s --greedy --max-tokens 2 --prompt hi --expert %s/zoo/zoo-0000 "
                   "--expert %s/zoo/zoo-0003 --expert %s/zoo/zoo-0009.expert --expert %s/zoo/zoo-0042",
            m, g_tmp, g_tmp, g_tmp, g_tmp);
    /* every generated expert loads: a uniform trace that draws each of them */
    if (runf("--threads 2 bench --model %s --expert-dir %s/zoo --requests 3000 --zipf 0 --expert-cache-max 1000 --json", m,
             g_tmp))
        fail_msg("bench:\n%s", g_out);
    cJSON *o = json_out();
    assert_int_equal((int)num(o, "failed_requests"), 0);
    assert_int_equal((int)num(o, "loads"), ZOO_N);
    cJSON_Delete(o);
    /* a cache of 20 under Zipf s=1: the real cache's hit rate is an ideal LRU's */
    if (runf("--threads 2 bench --model %s --expert-dir %s/zoo --requests 2000 --zipf 1.0 --expert-cache-max 20 --json", m,
             g_tmp))
        fail_msg("bench:\n%s", g_out);
    o = json_out();
    double hit = num(o, "hit_rate"), ideal = num(o, "ideal_lru_hit_rate");
    if (fabs(hit - ideal) > 0.02) fail_msg("hit rate %.4f, ideal LRU %.4f:\n%s", hit, ideal, g_out);
    assert_true(ideal > 0.3 && ideal < 0.95);
    assert_int_equal((int)(num(o, "hits") + num(o, "loads")), 2000);
    assert_int_equal((int)num(cJSON_GetObjectItem(o, "load"), "count"), (int)num(o, "loads"));
    assert_int_equal((int)num(cJSON_GetObjectItem(o, "attach"), "count"), (int)num(o, "hits"));
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "load_by_type"), "lora"));
    cJSON_Delete(o);
    /* the same seed, the same trace */
    EXPECTF(0, "hit rate", "--threads 2 bench --model %s --expert-dir %s/zoo --requests 300 --expert-cache-max 20 --seed 3",
            m, g_tmp);
    static char first[sizeof g_out];
    snprintf(first, sizeof first, "%s", strstr(g_out, "hit rate"));
    *strchr(first, '\n') = 0;
    EXPECTF(0, first, "--threads 2 bench --model %s --expert-dir %s/zoo --requests 300 --expert-cache-max 20 --seed 3", m,
            g_tmp);
    EXPECTF(2, "--requests", "bench --model %s --expert-dir %s/zoo --requests 0", m, g_tmp);
    EXPECTF(2, "--zipf", "bench --model %s --expert-dir %s/zoo --zipf x", m, g_tmp);
    /* lazy discovery: a broken package fails its own requests, naming itself, not the others */
    const char *d = broken_dir();
    EXPECTF(1, "requests failed; the first: ", "--threads 2 bench --model %s --expert-dir %s --requests 200 --zipf 0", m, d);
    assert_non_null(strstr(g_out, "hit rate"));
    assert_true(strstr(g_out, "broken/manifest.json") || strstr(g_out, "garbage.expert"));
    /* routing reads every manifest: the broken ones are named and skipped, the prompt still runs */
    EXPECTF(0, "[route: ", "--threads 2 generate --model %s --expert auto --expert-dir %s --prompt hi --max-tokens 1 --verbose",
            m, d);
    assert_non_null(strstr(g_out, "expert 'broken' ("));
    assert_non_null(strstr(g_out, "expert 'garbage' ("));
    assert_non_null(strstr(g_out, "of 7 candidates"));
}

static int setup(void **s) {
    (void)s;
    if (!mkdtemp(g_tmp)) return -1;
    char cache[128];
    snprintf(cache, sizeof cache, "%s/cache", g_tmp);
    if (setenv("HIVE_CACHE", cache, 1)) return -1; /* archives unpack here, not into ~/.cache */
    return sh("%s %s/zoo --count %d --seed 7 >/dev/null", ZOO_TOOL, g_tmp, ZOO_N);
}

static int teardown(void **s) {
    (void)s;
    return sh("rm -rf %s", g_tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_loads_and_bench),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
