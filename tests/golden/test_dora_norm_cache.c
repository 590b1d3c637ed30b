/* The DoRA norm cache (docs/EXPERTS.md) on the shipped sql expert and the
 * real SmolLM2 Q4_1 model, loaded the way hive-host loads experts: in a fresh
 * cache root the first cold load computes the norms and stores them, the
 * second reads them, a damaged file is detected and recomputed; all three
 * give bit-identical logits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experts/adapter_store.h"
#include "experts/cache.h"
#include "experts/cachedir.h"
#include "experts/compose.h"
#include "experts/expert.h"
#include "golden_util.h"
#include "util/error.h"

/* The last position's logits of a short prompt with the expert at `path`,
 * loaded cold (a fresh expert cache). */
static void expert_logits(golden_env *env, const char *path, float *lg) {
    hive_expert_target target;
    hive_expert_target_init(&target, &env->reg, env->eng, env->model);
    hive_expert_cache *cache = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(256ull << 20, &target, &cache, &err), HIVE_OK);
    const char *paths[1] = {path};
    hive_expert_set set;
    if (hive_expert_set_acquire(cache, paths, 1, &set, &err) != HIVE_OK) fail_msg("%s: %s", path, hive_error_message(err));
    static const int32_t prompt[8] = {1, 9690, 198, 2683, 1425, 314, 253, 3552};
    int32_t seq, seqs[8];
    assert_int_equal(hive_engine_seq_new(env->eng, &seq, NULL), HIVE_OK);
    if (hive_engine_seq_set_adapters(env->eng, seq, &set.set, &err) != HIVE_OK) fail_msg("%s", hive_error_message(err));
    for (int i = 0; i < 8; i++) seqs[i] = seq;
    hive_fwd_batch b = {8, prompt, seqs, NULL, NULL};
    assert_int_equal(hive_engine_forward(env->eng, &b, lg, NULL), HIVE_OK);
    hive_engine_seq_free(env->eng, seq);
    hive_expert_set_release(&set);
    hive_expert_cache_free(cache);
}

static char g_norms[PATH_MAX];
static int find_norms(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)ftw;
    const char *slash = strrchr(p, '/');
    if (flag == FTW_F && slash && !strcmp(slash + 1, "dora-norms")) snprintf(g_norms, sizeof g_norms, "%s", p);
    return 0;
}

static void test_dora_norm_cache(void **s) {
    (void)s;
    const char *m = golden_model_path();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    char root[] = "/tmp/hive-dora-cache-XXXXXX";
    assert_non_null(mkdtemp(root));
    char *old = getenv("HIVE_CACHE") ? strdup(getenv("HIVE_CACHE")) : NULL;
    setenv("HIVE_CACHE", root, 1);
    golden_env env;
    assert_int_equal(golden_env_open(&env, m, 64, -1, 1), 0);
    uint32_t V = hive_engine_hparams(env.eng)->vocab;
    float *computed = malloc((size_t)V * sizeof(float)), *lg = malloc((size_t)V * sizeof(float));
    const char *sql = HIVE_SOURCE_DIR "/examples/experts/sql.expert";
    hive_adapter_store_stats s0, s1;

    hive_adapter_store_get_stats(&s0);
    expert_logits(&env, sql, computed);
    hive_adapter_store_get_stats(&s1);
    assert_int_equal(s1.misses - s0.misses, 1);
    assert_int_equal(s1.writes - s0.writes, 1);
    g_norms[0] = 0;
    assert_int_equal(nftw(root, find_norms, 16, FTW_PHYS), 0);
    assert_true(g_norms[0] != 0);

    expert_logits(&env, sql, lg); /* from the cache */
    hive_adapter_store_get_stats(&s0);
    assert_int_equal(s0.hits - s1.hits, 1);
    assert_int_equal(s0.writes, s1.writes);
    assert_memory_equal(lg, computed, (size_t)V * sizeof(float));

    FILE *f = fopen(g_norms, "r+b"); /* one factor's bits flipped */
    assert_non_null(f);
    assert_int_equal(fseek(f, -2, SEEK_END), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, -2, SEEK_END), 0);
    fputc(c ^ 0x20, f);
    fclose(f);
    expert_logits(&env, sql, lg);
    hive_adapter_store_get_stats(&s1);
    assert_int_equal(s1.damaged - s0.damaged, 1);
    assert_int_equal(s1.writes - s0.writes, 1); /* recomputed and stored again */
    assert_memory_equal(lg, computed, (size_t)V * sizeof(float));

    free(computed);
    free(lg);
    golden_env_close(&env);
    if (old) setenv("HIVE_CACHE", old, 1);
    else unsetenv("HIVE_CACHE");
    free(old);
    hive_rm_rf(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_dora_norm_cache)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
