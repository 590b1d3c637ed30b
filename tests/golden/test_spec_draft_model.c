/* The draft-model drafter (--draft-model) never changes greedy output: a
 * second engine on SmolLM2's own GGUF, at q8_0 weights and at the same
 * weights, drafts for the target with and without an expert, and
 * hive_generate gives the same text, tokens, finish reason and KV contents as
 * plain decoding. A same-weights draft is the target itself (batch
 * invariance: test_spec_kv), so every one of its draft tokens must be
 * accepted; the q8_0 draft must see drafts both accepted and rejected. A
 * draft model with another vocabulary (the tiny llama fixture) is refused,
 * by the session's vocabulary check and by hive_generate. Skipped without
 * SmolLM2 and under sanitizers. About 16 s on 2 cores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/generate.h"
#include "engine/speculate.h"
#include "experts/cache.h"
#include "experts/compose.h"
#include "golden_util.h"
#include "session/session.h"
#include "tokenizer/tokenizer.h"
#include "util/dtype.h"
#include "util/error.h"

#define CTX 256
#define TOKENS 32

typedef struct totals {
    uint32_t drafted, accepted, verify, cases;
} totals;

/* One greedy generation on a fresh target sequence; draft: the draft
 * model's engine (NULL = plain decoding), on a fresh sequence of its own. */
static void generate_one(hive_engine *target, hive_engine *draft, const hive_tokenizer *tok,
                         const hive_adapter_set *set, const int32_t *prompt, size_t n, golden_gen_out *out) {
    memset(out, 0, sizeof *out);
    int32_t seq, dseq = -1;
    hive_error *err = NULL;
    assert_int_equal(hive_engine_seq_new(target, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_set_adapters(target, seq, set, NULL), HIVE_OK);
    hive_spec_opts so;
    memset(&so, 0, sizeof so);
    if (draft) {
        assert_int_equal(hive_engine_seq_new(draft, &dseq, NULL), HIVE_OK);
        /* keep_on: every step that can draft is verified */
        so = (hive_spec_opts){HIVE_DRAFT_MODEL, 0, 8, dseq, 1, draft, NULL, 0};
    }
    hive_gen_params gp;
    memset(&gp, 0, sizeof gp);
    hive_sampling_defaults(&gp.sampling);
    gp.sampling.temperature = 0;
    gp.max_tokens = TOKENS;
    gp.ignore_eos = 1; /* full length: TOKENS tokens to compare on every prompt */
    gp.spec = draft ? &so : NULL;
    if (hive_generate(target, tok, seq, prompt, n, &gp, golden_collect, out, &out->st, &err) != HIVE_OK)
        fail_msg("generate: %s", hive_error_message(err));
    out->n_kv = hive_engine_seq_len(target, seq);
    assert_true(out->n_kv <= CTX);
    memcpy(out->kv, hive_engine_seq_tokens(target, seq), out->n_kv * sizeof(int32_t));
    hive_engine_seq_free(target, seq);
    if (dseq >= 0) hive_engine_seq_free(draft, dseq);
}

static const char *const prompts[] = {
    "Schema: users(id, name, age, city); orders(id, user_id, amount)\nQuestion: Which users live in Oslo?\nSQL:",
    "Extract the person as JSON: Person 7 is 31 years old and lives in Lima.\nJSON:",
    "Repeat this list three times: Kyoto, invoices, apples, pears, 12.\n1.",
    "Write a short story about a trip to Accra with 4 friends.",
};

/* Plain vs draft-model decoding of prompts[first..first+n): all equal. */
static totals compare(hive_engine *target, hive_engine *draft, const hive_tokenizer *tok, const hive_adapter_set *set,
                      int first, int n, const char *what) {
    static golden_gen_out a, b;
    totals t = {0};
    for (int i = first; i < first + n; i++) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        assert_int_equal(hive_tokenizer_encode(tok, prompts[i], strlen(prompts[i]), 1, -1, &ids, &n_ids, NULL), HIVE_OK);
        generate_one(target, NULL, tok, set, ids, n_ids, &a);
        generate_one(target, draft, tok, set, ids, n_ids, &b);
        free(ids);
        if (a.st.n_gen != b.st.n_gen || a.st.finish != b.st.finish || a.len != b.len || memcmp(a.text, b.text, a.len) ||
            a.n_kv != b.n_kv || memcmp(a.kv, b.kv, a.n_kv * sizeof(int32_t)))
            fail_msg("%s, prompt %d: output with the draft model differs from plain: %u vs %u tokens, text:\n"
                     "plain: %.*s\nspec:  %.*s", what, i, a.st.n_gen, b.st.n_gen, (int)a.len, a.text, (int)b.len, b.text);
        t.drafted += b.st.n_drafted, t.accepted += b.st.n_accepted, t.verify += b.st.n_verify, t.cases++;
    }
    printf("%-46s %u generations identical; %u verify passes, %u of %u draft tokens accepted\n", what, t.cases,
           t.verify, t.accepted, t.drafted);
    assert_true(t.verify > 0);
    assert_true(t.accepted > 0);
    return t;
}

/* With the meter on (as hive-host runs it), a draft model holding as many
 * weight bytes as the target costs a target step a draft token: it starts
 * off, and its sequence never runs, not even one step to price it. */
static void dear_draft_starts_off(hive_engine *target, hive_engine *draft, const hive_tokenizer *tok) {
    int32_t seq, dseq, *ids = NULL;
    size_t n = 0;
    assert_int_equal(hive_tokenizer_encode(tok, prompts[3], strlen(prompts[3]), 1, -1, &ids, &n, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(target, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(draft, &dseq, NULL), HIVE_OK);
    hive_spec_opts so = {HIVE_DRAFT_MODEL, 0, 8, dseq, 0, draft, NULL, 0};
    hive_gen_params gp;
    memset(&gp, 0, sizeof gp);
    hive_sampling_defaults(&gp.sampling);
    gp.sampling.temperature = 0;
    gp.max_tokens = 8;
    gp.spec = &so;
    hive_gen_stats st;
    hive_error *err = NULL;
    if (hive_generate(target, tok, seq, ids, n, &gp, NULL, NULL, &st, &err) != HIVE_OK)
        fail_msg("generate: %s", hive_error_message(err));
    assert_int_equal(st.n_verify, 0);
    assert_int_equal(st.n_spec_off, 1);
    assert_int_equal(hive_engine_seq_len(draft, dseq), 0);
    hive_engine_seq_free(target, seq);
    hive_engine_seq_free(draft, dseq);
    free(ids);
}

static void test_draft_model(void **state) {
    (void)state;
#ifdef HIVE_TEST_SANITIZED
    printf("[ SKIPPED ] SmolLM2 under sanitizers (too slow): the optimized build runs it\n");
    skip();
#endif
    const char *model = golden_model_path();
    if (!model) {
        printf("[ SKIPPED ] SmolLM2 GGUF absent: run scripts/fetch-models.sh\n");
        skip();
    }
    /* as hive-host opens them: f16 KV; the draft keeps the GGUF's q/k layout */
    golden_next.kv_dtype = HIVE_DTYPE_F16;
    golden_env target, q8, same;
    assert_int_equal(golden_env_open(&target, model, CTX, -1, 0), 0);
    assert_int_equal(golden_env_open(&q8, model, CTX, HIVE_DTYPE_Q8_0, 0), 0);
    assert_int_equal(golden_env_open(&same, model, CTX, -1, 0), 0);
    hive_tokenizer *tok = NULL;
    assert_int_equal(hive_tokenizer_new(&target.model->vocab, &tok, NULL), HIVE_OK);

    /* the same GGUF at q8_0: a different model, so some drafts fail */
    totals t = compare(target.eng, q8.eng, tok, NULL, 0, 4, "SmolLM2, q8_0 draft, k 8");
    assert_true(t.accepted < t.drafted);
    /* the same weights: the draft is the target, every draft token is its token */
    t = compare(target.eng, same.eng, tok, NULL, 0, 2, "SmolLM2, same-weights draft, k 8");
    assert_int_equal(t.accepted, t.drafted);
    dear_draft_starts_off(target.eng, same.eng, tok);
    hive_tokenizer_free(tok);
    golden_env_close(&target);

    /* with an expert: the target in HF q/k order with the SQL expert (DoRA),
     * the drafts from the q8_0 model without it */
    assert_int_equal(golden_env_open(&target, model, CTX, -1, 1), 0);
    assert_int_equal(hive_tokenizer_new(&target.model->vocab, &tok, NULL), HIVE_OK);
    hive_expert_target et;
    hive_expert_target_init(&et, &target.reg, target.eng, target.model);
    hive_expert_cache *cache = NULL;
    assert_int_equal(hive_expert_cache_new(64u << 20, &et, &cache, NULL), HIVE_OK);
    hive_expert_set set;
    golden_shipped_expert(cache, "sql", &set);
    t = compare(target.eng, q8.eng, tok, &set.set, 0, 2, "SmolLM2, sql expert, q8_0 draft, k 8");
    assert_true(t.accepted < t.drafted);
    hive_expert_set_release(&set);
    hive_expert_cache_free(cache);

    /* another vocabulary: the tiny llama fixture (260 tokens) */
    golden_next.kv_dtype = 0;
    golden_env tiny;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/llama", HIVE_SOURCE_DIR);
    assert_int_equal(golden_env_open(&tiny, dir, CTX, -1, 0), 0);
    assert_int_equal(hive_vocab_check_same(&target.model->vocab, &q8.model->vocab, NULL), HIVE_OK);
    uint32_t first_diff = 0; /* found here independently of the check */
    const hive_vocab_src *a = &target.model->vocab, *b = &tiny.model->vocab;
    while (first_diff < b->n_tokens && a->tokens[first_diff].len == b->tokens[first_diff].len &&
           !memcmp(a->tokens[first_diff].ptr, b->tokens[first_diff].ptr, b->tokens[first_diff].len))
        first_diff++;
    char want[64];
    snprintf(want, sizeof want, "token id %u is", first_diff);
    hive_error *err = NULL;
    assert_int_equal(hive_vocab_check_same(a, b, &err), HIVE_E_INVALID);
    if (!strstr(hive_error_message(err), want) || !strstr(hive_error_message(err), "260 in the draft"))
        fail_msg("vocabulary mismatch message lacks '%s' or the counts: %s", want, hive_error_message(err));
    printf("vocabulary check: %s\n", hive_error_message(err));
    hive_error_free(err);
    err = NULL;
    /* and hive_generate refuses such a drafter (and one without an engine) */
    int32_t seq, dseq, p[3] = {5, 6, 7};
    assert_int_equal(hive_engine_seq_new(target.eng, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(tiny.eng, &dseq, NULL), HIVE_OK);
    hive_spec_opts so = {HIVE_DRAFT_MODEL, 0, 8, dseq, 0, tiny.eng, NULL, 0};
    hive_gen_params gp;
    memset(&gp, 0, sizeof gp);
    hive_sampling_defaults(&gp.sampling);
    gp.max_tokens = 4;
    gp.spec = &so;
    hive_gen_stats st;
    assert_int_equal(hive_generate(target.eng, tok, seq, p, 3, &gp, NULL, NULL, &st, &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "output tokens"));
    hive_error_free(err);
    err = NULL;
    so.draft_engine = NULL;
    assert_int_equal(hive_generate(target.eng, tok, seq, p, 3, &gp, NULL, NULL, &st, &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "draft model"));
    hive_error_free(err);

    hive_tokenizer_free(tok);
    golden_env_close(&tiny);
    golden_env_close(&same);
    golden_env_close(&q8);
    golden_env_close(&target);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_draft_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
