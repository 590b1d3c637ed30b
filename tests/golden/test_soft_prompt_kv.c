/* A soft prompt's virtual-token KV is computed once per expert set and
 * shared (host/engine/soft_prompt.c). Sequences attached from the template
 * give logits bit-identical to sequences whose virtual tokens were
 * prefilled, also when two of them diverge in one batch (each writes its own
 * copy of the partial page); the second attach runs no forward pass; the key
 * is the whole set (a LoRA beside the prompt gets its own template); pages
 * are reference-counted and return to the pool; a full pool drops a
 * template. Tiny llama + PEFT prompt tuning (4 virtual tokens) at page sizes
 * 2, 3 and 16 (whole pages only, both, partial page only), and the shipped
 * soft-prompt expert (20 virtual tokens) on SmolLM2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experts/cache.h"
#include "experts/compose.h"
#include "experts/expert.h"
#include "golden_util.h"
#include "util/dtype.h"
#include "util/error.h"

#define STEPS 3

static void attach(golden_env *g, int32_t seq, const hive_adapter_set *set) {
    hive_error *err = NULL;
    if (hive_engine_seq_set_adapters(g->eng, seq, set, &err) != HIVE_OK) fail_msg("attach: %s", hive_error_message(err));
}

static hive_soft_prompt_stats stats(golden_env *g) {
    hive_soft_prompt_stats s;
    hive_engine_soft_prompt_stats(g->eng, &s);
    return s;
}

/* Two sequences, prompts x and y interleaved in one batch (every row's
 * logits), then STEPS two-row decode steps; all logits into out. */
static void run_pair(golden_env *g, const int32_t seq[2], const int32_t *x, const int32_t *y, int np, float *out) {
    uint32_t V = hive_engine_hparams(g->eng)->vocab;
    int32_t toks[2 * 512], seqs[2 * 512];
    uint8_t want[2 * 512];
    assert_true(np <= 512);
    for (int i = 0; i < np; i++) {
        toks[2 * i] = x[i], toks[2 * i + 1] = y[i];
        seqs[2 * i] = seq[0], seqs[2 * i + 1] = seq[1];
        want[2 * i] = want[2 * i + 1] = 1;
    }
    hive_error *err = NULL;
    hive_fwd_batch b = {(uint32_t)(2 * np), toks, seqs, want, NULL};
    if (hive_engine_forward(g->eng, &b, out, &err) != HIVE_OK) fail_msg("prefill: %s", hive_error_message(err));
    out += (size_t)2 * np * V;
    for (int k = 0; k < STEPS; k++) {
        int32_t t[2] = {x[k], y[k]};
        uint8_t w[2] = {1, 1};
        hive_fwd_batch step = {2, t, seq, w, NULL};
        if (hive_engine_forward(g->eng, &step, out, &err) != HIVE_OK) fail_msg("decode: %s", hive_error_message(err));
        out += (size_t)2 * V;
    }
}

/* Logits of a pair whose virtual tokens were each prefilled (no template). */
static void reference(golden_env *g, const hive_adapter_set *set, const int32_t *x, const int32_t *y, int np,
                      float *out) {
    int32_t seq[2];
    for (int k = 0; k < 2; k++) {
        hive_engine_soft_prompts_drop(g->eng);
        uint64_t before = stats(g).prefills;
        assert_int_equal(hive_engine_seq_new(g->eng, &seq[k], NULL), HIVE_OK);
        attach(g, seq[k], set);
        assert_int_equal(stats(g).prefills, before + 1);
    }
    hive_engine_soft_prompts_drop(g->eng);
    run_pair(g, seq, x, y, np, out);
    for (int k = 0; k < 2; k++) hive_engine_seq_free(g->eng, seq[k]);
}

static void expect_same(const float *got, const float *want, size_t n, const char *what) {
    if (!memcmp(got, want, n * sizeof *got)) return;
    size_t i = 0;
    while (got[i] == want[i] || (got[i] != got[i] && want[i] != want[i])) i++;
    fail_msg("%s: logit %zu is %.9g, a prefilled soft prompt gives %.9g", what, i, got[i], want[i]);
}

static void tiny_llama(uint32_t block) {
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/llama", HIVE_SOURCE_DIR);
    golden_env env;
    golden_next.kv_block = block;
    golden_next.max_seqs = 6;
    int opened = golden_env_open(&env, dir, 64, -1, 1);
    golden_next.kv_block = 0;
    golden_next.max_seqs = 0;
    assert_int_equal(opened, 0);
    hive_adapter_ref prompt, lora;
    snprintf(path, sizeof path, "%s/adapters/prompt", dir);
    assert_int_equal(golden_load_adapter(&env, path, &prompt), 0);
    snprintf(path, sizeof path, "%s/adapters/lora", dir);
    assert_int_equal(golden_load_adapter(&env, path, &lora), 0);
    const uint32_t nv = prompt.desc.n_virtual_tokens, pages = nv / block, tail = nv % block;
    assert_int_equal(nv, 4);
    hive_adapter_set sp = {1, 1, {prompt}}, mix = {2, 2, {lora, prompt}};
    const hive_adapter_set *sets[2] = {&sp, &mix};

    snprintf(path, sizeof path, "%s/adapters/prompt/golden.json", dir);
    cJSON *fx = golden_load_json(path);
    assert_non_null(fx);
    int32_t x[64], y[64];
    int np = golden_json_ints(cJSON_GetObjectItem(fx, "prompt_ids"), x, 64);
    assert_true(np > STEPS);
    for (int i = 0; i < np; i++) y[i] = x[np - 1 - i]; /* diverges from x at once */
    uint32_t V = hive_engine_hparams(env.eng)->vocab;
    size_t n_logits = (size_t)(2 * np + 2 * STEPS) * V;
    float *ref[2], *got = malloc(n_logits * sizeof *got);
    for (int k = 0; k < 2; k++) {
        ref[k] = malloc(n_logits * sizeof *ref[k]);
        reference(&env, sets[k], x, y, np, ref[k]);
    }
    assert_int_not_equal(memcmp(ref[0], ref[1], n_logits * sizeof(float)), 0); /* the LoRA matters */

    uint32_t total, free_pages;
    for (int k = 0; k < 2; k++) {
        char what[64];
        snprintf(what, sizeof what, "page %u, %s", block, k ? "lora+prompt" : "prompt");
        /* the first attach of a set prefills (the prompt's template is not
         * the LoRA set's), the next ones share */
        hive_soft_prompt_stats s0 = stats(&env);
        int32_t first, seq[2];
        assert_int_equal(hive_engine_seq_new(env.eng, &first, NULL), HIVE_OK);
        attach(&env, first, sets[k]);
        assert_int_equal(stats(&env).prefills, s0.prefills + 1);
        assert_int_equal(stats(&env).templates, k + 1);
        for (int j = 0; j < 2; j++) {
            assert_int_equal(hive_engine_seq_new(env.eng, &seq[j], NULL), HIVE_OK);
            attach(&env, seq[j], sets[k]);
        }
        hive_soft_prompt_stats s1 = stats(&env);
        assert_int_equal(s1.prefills, s0.prefills + 1);
        assert_int_equal(s1.shared_attaches, s0.shared_attaches + 2);
        assert_int_equal(hive_engine_seq_len(env.eng, seq[0]), 0);
        /* whole pages held once; each sequence has its own copy of the partial one */
        int32_t all[3] = {first, seq[0], seq[1]};
        assert_int_equal(hive_engine_kv_pages_held(env.eng, all, 3), pages + 3 * (tail ? 1 : 0));
        run_pair(&env, seq, x, y, np, got);
        expect_same(got, ref[k], n_logits, what);
        hive_engine_seq_free(env.eng, first);
        for (int j = 0; j < 2; j++) hive_engine_seq_free(env.eng, seq[j]);
    }
    /* the templates keep their whole pages until dropped */
    hive_engine_kv_pages(env.eng, &total, &free_pages);
    assert_int_equal(stats(&env).template_pages, 2 * pages);
    assert_int_equal(free_pages, total - 2 * pages);
    /* PEFT's golden through a shared attach */
    char why[256];
    int tok_ok = 0;
    uint64_t shared = stats(&env).shared_attaches;
    double e = golden_run(&env, fx, &sp, &tok_ok, why, sizeof why);
    if (e > 1e-4 || !tok_ok) fail_msg("page %u: shared soft prompt vs PEFT: %.3g (%s)", block, e, why);
    assert_int_equal(stats(&env).shared_attaches, shared + 1);
    hive_engine_adapters_released(env.eng); /* the adapters are about to go */
    hive_engine_kv_pages(env.eng, &total, &free_pages);
    assert_int_equal(stats(&env).templates, 0);
    assert_int_equal(free_pages, total);
    printf("  page %2u: %u shared page(s) + %u copied row(s): bit-identical to a prefill\n", block, pages, tail);
    cJSON_Delete(fx);
    free(got);
    free(ref[0]);
    free(ref[1]);
    golden_free_adapter(&prompt);
    golden_free_adapter(&lora);
    golden_env_close(&env);
}

static void test_shared_equals_prefill(void **s) {
    (void)s;
    tiny_llama(2);
    tiny_llama(3);
    tiny_llama(16);
}

/* A template whose pages no sequence holds gives them back when the pool
 * runs out, rather than failing the sequence that needs them. */
static void test_full_pool_drops_template(void **s) {
    (void)s;
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/llama", HIVE_SOURCE_DIR);
    golden_env env;
    golden_next.kv_block = 2;
    golden_next.max_seqs = 2;
    int opened = golden_env_open(&env, dir, 12, -1, 1); /* 6 pages a sequence, 12 in all */
    golden_next.kv_block = 0;
    golden_next.max_seqs = 0;
    assert_int_equal(opened, 0);
    hive_adapter_ref prompt;
    snprintf(path, sizeof path, "%s/adapters/prompt", dir);
    assert_int_equal(golden_load_adapter(&env, path, &prompt), 0);
    hive_adapter_set sp = {1, 1, {prompt}};
    int32_t a, b, toks[24], seqs[24];
    assert_int_equal(hive_engine_seq_new(env.eng, &a, NULL), HIVE_OK);
    attach(&env, a, &sp);
    hive_engine_seq_free(env.eng, a);
    assert_int_equal(stats(&env).template_pages, 2);
    assert_int_equal(hive_engine_seq_new(env.eng, &a, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(env.eng, &b, NULL), HIVE_OK);
    for (int i = 0; i < 24; i++) toks[i] = 10 + i % 7, seqs[i] = i < 12 ? a : b;
    hive_error *err = NULL;
    hive_fwd_batch fb = {24, toks, seqs, NULL, NULL};
    float *lg = malloc(hive_engine_hparams(env.eng)->vocab * sizeof *lg);
    if (hive_engine_forward(env.eng, &fb, lg, &err) != HIVE_OK) fail_msg("%s", hive_error_message(err));
    assert_int_equal(stats(&env).templates, 0);
    hive_engine_seq_free(env.eng, a);
    hive_engine_seq_free(env.eng, b);
    uint32_t total, free_pages;
    hive_engine_kv_pages(env.eng, &total, &free_pages);
    assert_int_equal(free_pages, total);
    free(lg);
    golden_free_adapter(&prompt);
    golden_env_close(&env);
}

/* The shipped soft-prompt expert on SmolLM2 (native Q4_1, f16 KV as the CLI
 * runs it): 20 virtual tokens, one shared page of 16 and 4 copied rows. */
static void test_smollm2_expert(void **s) {
    (void)s;
    const char *m = golden_model_path();
    if (!m) {
        printf("skipped: SmolLM2 GGUF not found (run scripts/fetch-models.sh)\n");
        skip();
    }
    golden_env env;
    golden_next.kv_dtype = HIVE_DTYPE_F16;
    int opened = golden_env_open(&env, m, 128, -1, 1);
    golden_next.kv_dtype = 0;
    assert_int_equal(opened, 0);
    hive_expert_target target;
    hive_expert_target_init(&target, &env.reg, env.eng, env.model);
    hive_expert_cache *cache = NULL;
    hive_error *err = NULL;
    assert_int_equal(hive_expert_cache_new(64ull << 20, &target, &cache, &err), HIVE_OK);
    const char *paths[1] = {HIVE_SOURCE_DIR "/examples/experts/soft-prompt.expert"};
    hive_expert_set set;
    if (hive_expert_set_acquire(cache, paths, 1, &set, &err) != HIVE_OK) fail_msg("%s", hive_error_message(err));
    assert_int_equal(set.members[0]->n_virtual_tokens, 20);
    int32_t x[12] = {1, 9690, 198, 3838, 314, 260, 3575, 282, 4649, 47, 2, 198}, y[12];
    for (int i = 0; i < 12; i++) y[i] = x[11 - i];
    uint32_t V = hive_engine_hparams(env.eng)->vocab;
    size_t n_logits = (size_t)(2 * 12 + 2 * STEPS) * V;
    float *ref = malloc(n_logits * sizeof *ref), *got = malloc(n_logits * sizeof *got);
    reference(&env, &set.set, x, y, 12, ref);
    int32_t first, seq[2];
    assert_int_equal(hive_engine_seq_new(env.eng, &first, NULL), HIVE_OK);
    attach(&env, first, &set.set);
    for (int j = 0; j < 2; j++) {
        assert_int_equal(hive_engine_seq_new(env.eng, &seq[j], NULL), HIVE_OK);
        attach(&env, seq[j], &set.set);
    }
    assert_int_equal(stats(&env).shared_attaches, 2);
    assert_int_equal(stats(&env).template_pages, 1);
    run_pair(&env, seq, x, y, 12, got);
    expect_same(got, ref, n_logits, "SmolLM2 soft-prompt.expert");
    hive_engine_seq_free(env.eng, first);
    for (int j = 0; j < 2; j++) hive_engine_seq_free(env.eng, seq[j]);
    hive_expert_set_release(&set);
    hive_expert_cache_free(cache); /* frees the expert: its template goes */
    uint32_t total, free_pages;
    hive_engine_kv_pages(env.eng, &total, &free_pages);
    assert_int_equal(free_pages, total);
    free(ref);
    free(got);
    golden_env_close(&env);
}

/* Built twice: the tiny models (also under ASan) and, with
 * SOFT_PROMPT_SMOLLM2, the real model (slow label). */
int main(void) {
#ifdef SOFT_PROMPT_SMOLLM2
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_smollm2_expert)};
    (void)test_shared_equals_prefill;
    (void)test_full_pool_drops_template;
#else
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shared_equals_prefill),
                                       cmocka_unit_test(test_full_pool_drops_template)};
    (void)test_smollm2_expert;
#endif
    return cmocka_run_group_tests(tests, NULL, NULL);
}
