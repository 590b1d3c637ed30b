/* The real model, SmolLM2-135M-Instruct Q4_1 (scripts/fetch-models.sh), against
 * independent references made by scripts/ (skipped when the model is absent):
 *  - transformers loading the same GGUF (dequantized to f32): with
 *    --weights f32 our logits match to 1e-3 relative and greedy chat tokens
 *    are identical;
 *  - llama.cpp (llama-cpp-python, AVX2 build) on the native Q4_1 weights, f16
 *    KV cache, each prompt and its greedy continuation evaluated in one batch:
 *    on every CPU kernel level our logits are llama.cpp's, bit for bit (the
 *    fingerprint of all 320 x 49152 logits); on other backends the top-1
 *    agrees at >= 98.8% of positions and at every position where llama.cpp's
 *    top-2 gap is >= 0.5 (docs/TESTING.md, "SmolLM2 against llama.cpp").
 * On the CPU backend both run once per kernel level this CPU has (HIVE_CPU_ISA
 * caps it; a level the CPU lacks is skipped, named). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden_util.h"
#include "util/dtype.h"

#define NEED_MODEL(m)                                                                   \
    const char *m = golden_model_path();                                                       \
    if (!m) {                                                                           \
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");     \
        skip();                                                                         \
    }

/* The CPU kernel levels, best first (plugins/onednn-cpu, HIVE_CPU_ISA). On
 * another backend ($HIVE_TEST_BACKEND) the list is that backend alone. */
static const char *const LEVELS[] = {"avx512vnni", "avx512", "avxvnni", "avx2", "scalar"};
#define N_LEVELS (sizeof LEVELS / sizeof LEVELS[0])

/* Opens the model with kernels of `level` (NULL: another backend, as is).
 * Returns 1, closed, when the CPU lacks the level. */
static int open_level(golden_env *env, const char *m, int32_t wdtype, int qk_hf_order, uint32_t kv_dtype,
                      const char *level) {
    if (level) setenv("HIVE_CPU_ISA", level, 1);
    golden_next.kv_dtype = kv_dtype;
    int opened = golden_env_open(env, m, 512, wdtype, qk_hf_order);
    golden_next.kv_dtype = 0;
    unsetenv("HIVE_CPU_ISA");
    assert_int_equal(opened, 0);
    if (!level) return 0;
    char want[32];
    snprintf(want, sizeof want, "(%s)", level);
    const char *dev = env->sel.plugin->devices[env->sel.device].name;
    if (strstr(dev, want)) return 0;
    printf("skipped level %s: this CPU or build lacks it (device: %s)\n", level, dev);
    golden_env_close(env);
    return 1;
}

static void hf_f32_logits(const char *m, const char *level) {
    cJSON *g = golden_load_json(HIVE_SOURCE_DIR "/tests/golden/data/smollm2/hf_logits.json");
    assert_non_null(g);
    golden_env env;
    if (open_level(&env, m, HIVE_DTYPE_F32, 1, 0, level)) {
        cJSON_Delete(g);
        return;
    }
    uint32_t V = (uint32_t)cJSON_GetObjectItem(g, "n_vocab")->valueint;
    int32_t ids[64], seqs[64] = {0}, argmax[64];
    uint8_t want[64];
    int n = golden_json_ints(cJSON_GetObjectItem(g, "prompt_ids"), ids, 64);
    golden_json_ints(cJSON_GetObjectItem(g, "argmax"), argmax, 64);
    int32_t seq;
    assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
    for (int i = 0; i < n; i++) seqs[i] = seq, want[i] = 1;
    float *lg = malloc((size_t)n * V * sizeof *lg);
    hive_fwd_batch b = {(uint32_t)n, ids, seqs, want, NULL};
    assert_int_equal(hive_engine_forward(env.eng, &b, lg, NULL), HIVE_OK);
    const cJSON *gaps = cJSON_GetObjectItem(g, "top2_gap");
    for (int i = 0; i < n; i++) {
        int32_t ours = golden_argmax(lg + (size_t)i * V, V);
        if (ours != argmax[i] && cJSON_GetArrayItem(gaps, i)->valuedouble > 1e-3)
            fail_msg("position %d: argmax %d, transformers %d (gap %.4f)", i, ours, argmax[i],
                     cJSON_GetArrayItem(gaps, i)->valuedouble);
    }
    /* last position: exact top-200 logits, and the whole row at 3 decimals */
    const float *last = lg + (size_t)(n - 1) * V;
    const cJSON *tid = cJSON_GetObjectItem(g, "last_top_ids"), *tlg = cJSON_GetObjectItem(g, "last_top_logits");
    double max_ref = 0, max_diff = 0;
    for (int k = 0; k < cJSON_GetArraySize(tid); k++) {
        double r = cJSON_GetArrayItem(tlg, k)->valuedouble, o = last[cJSON_GetArrayItem(tid, k)->valueint];
        max_ref = fmax(max_ref, fabs(r));
        max_diff = fmax(max_diff, fabs(o - r));
    }
    double rel = max_diff / max_ref;
    if (rel > 1e-3) fail_msg("top-200 logits: relative error %.3g > 1e-3", rel);
    const cJSON *row = cJSON_GetObjectItem(g, "last_logits_3dp");
    double row_diff = 0;
    for (uint32_t v = 0; v < V; v++) row_diff = fmax(row_diff, fabs(last[v] - cJSON_GetArrayItem(row, (int)v)->valuedouble));
    if (row_diff > 5e-4 + 1e-3 * max_ref) fail_msg("full last row: max difference %.4g", row_diff);
    printf("%s: f32 vs transformers: top-200 relative error %.2e, full row max |diff| %.2e (3-decimal reference)\n",
           level ? level : golden_backend(), rel, row_diff);

    /* chat: greedy tokens identical */
    const cJSON *chat = cJSON_GetObjectItem(g, "chat");
    int32_t cp[256], cg[64];
    int ncp = golden_json_ints(cJSON_GetObjectItem(chat, "prompt_ids"), cp, 256);
    int ncg = golden_json_ints(cJSON_GetObjectItem(chat, "greedy_ids"), cg, 64);
    int32_t cseq, cseqs[256];
    assert_int_equal(hive_engine_seq_new(env.eng, &cseq, NULL), HIVE_OK);
    for (int i = 0; i < ncp; i++) cseqs[i] = cseq;
    hive_fwd_batch cb = {(uint32_t)ncp, cp, cseqs, NULL, NULL};
    assert_int_equal(hive_engine_forward(env.eng, &cb, lg, NULL), HIVE_OK);
    for (int k = 0; k < ncg; k++) {
        int32_t t = golden_argmax(lg, V);
        if (t != cg[k]) fail_msg("chat greedy token %d: %d, transformers %d", k, t, cg[k]);
        hive_fwd_batch one = {1, &t, &cseq, NULL, NULL};
        assert_int_equal(hive_engine_forward(env.eng, &one, lg, NULL), HIVE_OK);
    }
    printf("chat: %d greedy tokens identical to transformers: %s\n", ncg,
           cJSON_GetObjectItem(chat, "answer_text")->valuestring);
    free(lg);
    golden_env_close(&env);
    cJSON_Delete(g);
}

static void test_hf_f32_logits(void **s) {
    (void)s;
    NEED_MODEL(m);
    if (golden_backend()) hf_f32_logits(m, NULL);
    else
        for (size_t i = 0; i < N_LEVELS; i++) hf_f32_logits(m, LEVELS[i]);
}

/* FNV-1a over the bytes of n floats: a fingerprint of a run's logits */
static uint64_t fnv(uint64_t h, const float *x, size_t n) {
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof *x; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Returns the fingerprint of all logits, or 0 when the level was skipped.
 * exact: the logits must be llama.cpp's, bit for bit. */
static uint64_t llamacpp_teacher_forced(const char *m, const char *level, int exact) {
    cJSON *g = golden_load_json(HIVE_SOURCE_DIR "/tests/golden/data/smollm2/llamacpp_greedy.json");
    assert_non_null(g);
    golden_env env;
    /* native Q4_1 / Q8_0 weights, f16 KV cache: llama.cpp's defaults */
    if (open_level(&env, m, -1, 0, HIVE_DTYPE_F16, level)) {
        cJSON_Delete(g);
        return 0;
    }
    uint64_t print = 1469598103934665603ull;
    uint32_t V = hive_engine_hparams(env.eng)->vocab;
    int total = 0, agree = 0, agree_greedy = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g, "prompts")) {
        int32_t p[512], cont[512], ref[512], seqs[1024];
        uint8_t want[1024];
        int np = golden_json_ints(cJSON_GetObjectItem(c, "prompt_ids"), p, 512);
        int nc = golden_json_ints(cJSON_GetObjectItem(c, "continuation_ids"), cont, 512);
        int nr = golden_json_ints(cJSON_GetObjectItem(c, "teacher_forced_argmax"), ref, 512);
        const cJSON *gaps = cJSON_GetObjectItem(c, "teacher_forced_top2_gap");
        assert_true(np > 0 && nc > 0 && nr == nc && cJSON_GetArraySize(gaps) >= nc);
        int32_t all[1024];
        memcpy(all, p, (size_t)np * sizeof *p);
        memcpy(all + np, cont, (size_t)nc * sizeof *cont);
        int32_t seq;
        assert_int_equal(hive_engine_seq_new(env.eng, &seq, NULL), HIVE_OK);
        for (int i = 0; i < np + nc; i++) seqs[i] = seq, want[i] = i >= np - 1 && i < np + nc - 1;
        float *lg = malloc((size_t)nc * V * sizeof *lg);
        hive_fwd_batch b = {(uint32_t)(np + nc), all, seqs, want, NULL};
        assert_int_equal(hive_engine_forward(env.eng, &b, lg, NULL), HIVE_OK);
        print = fnv(print, lg, (size_t)nc * V);
        for (int k = 0; k < nc; k++) {
            int32_t ours = golden_argmax(lg + (size_t)k * V, V);
            double gap = cJSON_GetArrayItem(gaps, k)->valuedouble;
            total++;
            agree_greedy += ours == cont[k];
            if (ours == ref[k]) {
                agree++;
                continue;
            }
            const float *row = lg + (size_t)k * V;
            printf("  disagreement: prompt \"%.24s\" position %d: ours %d, llama.cpp %d (llama.cpp top-2 gap %.3f; "
                   "our logit for ours - for theirs %.3f)\n",
                   cJSON_GetObjectItem(c, "text")->valuestring, k, ours, ref[k], gap, row[ours] - row[ref[k]]);
            if (gap >= 0.5)
                fail_msg("prompt \"%.40s\" position %d: ours %d, llama.cpp %d with a clear top-2 gap %.3f",
                         cJSON_GetObjectItem(c, "text")->valuestring, k, ours, ref[k], gap);
        }
        free(lg);
        hive_engine_seq_free(env.eng, seq);
    }
    const char *want_print = cJSON_GetObjectItem(g, "teacher_forced_logits_fnv")->valuestring;
    char got[17];
    snprintf(got, sizeof got, "%016llx", (unsigned long long)print);
    double rate = (double)agree / total;
    printf("%s: llama.cpp teacher-forced: top-1 agrees at %d / %d positions (%.1f%%; %d / %d with its greedy "
           "continuation, made one token per step); logits fingerprint %s, llama.cpp's %s%s\n",
           level ? level : golden_backend(), agree, total, 100 * rate, agree_greedy, total, got, want_print,
           strcmp(got, want_print) ? "" : ": bit-identical");
    assert_true(total >= 5 * 32);
    if (exact && strcmp(got, want_print))
        fail_msg("%s: logits differ from llama.cpp's (fingerprint %s, llama.cpp %s)", level, got, want_print);
    if (rate < 0.988) fail_msg("top-1 agreement %.1f%% < 98.8%%", 100 * rate);
    golden_env_close(&env);
    cJSON_Delete(g);
    return print;
}

static void test_llamacpp_teacher_forced(void **s) {
    (void)s;
    NEED_MODEL(m);
    if (golden_backend()) {
        llamacpp_teacher_forced(m, NULL, 0);
        return;
    }
    /* every level computes as llama.cpp's AVX2 build does */
    for (size_t i = 0; i < N_LEVELS; i++) llamacpp_teacher_forced(m, LEVELS[i], 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_f32_logits),
        cmocka_unit_test(test_llamacpp_teacher_forced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
