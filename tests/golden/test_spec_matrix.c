/* The exactness matrix on SmolLM2: greedy output is the same with
 * and without speculation for every drafter (lookup, base, a draft model),
 * with no expert and with each adapter type (the shipped json LoRA, sql
 * DoRA, ia3 and soft-prompt experts), the json and sql experts under their
 * own grammars (their schema, sql-postgres) as hive-host runs them: 50
 * prompts x 64 tokens per cell (EOS ignored; a grammar may end an output
 * sooner). The reference is plain greedy decoding of the same prompts (side
 * by side without a grammar, hive_generate with one); a speculative run must
 * give its tokens (all of them in the KV), and under a grammar the same
 * text and finish. Drafters run with the meter kept on
 * (every step that can draft is verified); each cell must see drafts
 * accepted, and each drafter over the matrix drafts both accepted and
 * rejected. The draft model is SmolLM2's own GGUF at q8_0.
 * HIVE_SPEC_PROMPTS=N runs N prompts a cell. Skipped without SmolLM2 and
 * under sanitizers (the optimized build runs it). */
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
#include "grammar/grammar.h"
#include "grammar/grammar_config.h"
#include "tokenizer/tokenizer.h"
#include "util/clock.h"
#include "util/dtype.h"
#include "util/error.h"

#define CTX 256
#define TOKENS 64
#define BATCH 10
#define MAX_PROMPTS 50

typedef struct cell {
    hive_engine *eng, *draft_eng; /* the target; the draft model's engine */
    const hive_tokenizer *tok;
    const hive_adapter_set *set;  /* NULL: no expert */
    hive_grammar_matcher *m;      /* NULL: no grammar */
} cell;

/* One greedy generation of TOKENS tokens (EOS ignored, so every prompt gives
 * them all) on fresh sequences; spec NULL: plain. */
static void run_one(const cell *c, const int32_t *prompt, size_t n, const hive_spec_opts *spec, golden_gen_out *out) {
    memset(out, 0, sizeof *out);
    int32_t seq, dseq = -1;
    hive_error *err = NULL;
    assert_int_equal(hive_engine_seq_new(c->eng, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_set_adapters(c->eng, seq, c->set, NULL), HIVE_OK);
    hive_spec_opts so;
    if (spec) {
        so = *spec;
        hive_engine *de = so.kind == HIVE_DRAFT_MODEL ? c->draft_eng : so.kind == HIVE_DRAFT_BASE ? c->eng : NULL;
        if (de) {
            assert_int_equal(hive_engine_seq_new(de, &dseq, NULL), HIVE_OK);
            so.draft_seq = dseq;
            so.draft_engine = so.kind == HIVE_DRAFT_MODEL ? de : NULL;
        }
    }
    hive_gen_params gp;
    memset(&gp, 0, sizeof gp);
    hive_sampling_defaults(&gp.sampling);
    gp.sampling.temperature = 0;
    gp.max_tokens = TOKENS + 1; /* the KV then holds all TOKENS compared */
    gp.ignore_eos = 1;
    gp.grammar = c->m;
    gp.spec = spec ? &so : NULL;
    if (c->m) hive_grammar_matcher_reset(c->m);
    if (hive_generate(c->eng, c->tok, seq, prompt, n, &gp, golden_collect, out, &out->st, &err) != HIVE_OK)
        fail_msg("generate: %s", hive_error_message(err));
    out->n_kv = hive_engine_seq_len(c->eng, seq);
    assert_true(out->n_kv <= CTX);
    memcpy(out->kv, hive_engine_seq_tokens(c->eng, seq), out->n_kv * sizeof(int32_t));
    hive_engine_seq_free(c->eng, seq);
    if (dseq >= 0) hive_engine_seq_free(so.kind == HIVE_DRAFT_MODEL ? c->draft_eng : c->eng, dseq);
}

typedef struct totals {
    uint32_t drafted, accepted, verify, cases;
} totals;

static totals by_kind[4]; /* over the matrix: each drafter's drafts both accepted and rejected */

/* Every drafter in kinds[] against the plain reference over n_prompts prompts. */
static void run_cell(const cell *c, const char *what, const hive_draft_kind *kinds, int n_kinds, int n_prompts) {
    static golden_gen_out ref[BATCH], got;
    static int32_t batched[BATCH * TOKENS];
    totals tot[3] = {{0}};
    double t0 = hive_now_ms();
    for (int b0 = 0; b0 < n_prompts; b0 += BATCH) {
        int n = n_prompts - b0 < BATCH ? n_prompts - b0 : BATCH;
        int32_t *ids[BATCH];
        size_t lens[BATCH];
        for (int i = 0; i < n; i++) {
            char text[512];
            golden_smol_prompt(b0 + i, text, sizeof text);
            assert_int_equal(hive_tokenizer_encode(c->tok, text, strlen(text), 1, -1, &ids[i], &lens[i], NULL), HIVE_OK);
        }
        /* plain references: side by side, or one by one under a grammar (the mask is per row) */
        if (!c->m) assert_int_equal(golden_greedy_batched(c->eng, c->set, ids, lens, n, TOKENS, batched), 0);
        for (int i = 0; i < n; i++)
            if (c->m || (b0 == 0 && i == 0)) { /* once without a grammar: the batched reference is hive_generate's */
                run_one(c, ids[i], lens[i], NULL, &ref[i]);
                if (!c->m && memcmp(ref[i].kv + lens[i], batched, TOKENS * sizeof(int32_t)))
                    fail_msg("%s: the side-by-side reference differs from hive_generate on prompt 0", what);
            }
        for (int k = 0; k < n_kinds; k++) {
            const hive_spec_opts spec = {kinds[k], kinds[k] == HIVE_DRAFT_LOOKUP ? 3 : 0, 8, -1, 1, NULL, NULL, 0};
            for (int i = 0; i < n; i++) {
                run_one(c, ids[i], lens[i], &spec, &got);
                /* a grammar may end the output early: then as early as plain decoding */
                const int32_t *want = c->m ? ref[i].kv + lens[i] : batched + (size_t)i * TOKENS;
                uint32_t n_want = c->m ? ref[i].n_kv - (uint32_t)lens[i] : TOKENS;
                if (got.n_kv != lens[i] + n_want)
                    fail_msg("%s, drafter %d: prompt %d: %u tokens in the KV, plain decoding %zu", what, (int)kinds[k],
                             b0 + i, got.n_kv, lens[i] + n_want);
                for (uint32_t t = 0; t < n_want; t++)
                    if (got.kv[lens[i] + t] != want[t])
                        fail_msg("%s, drafter %d: prompt %d differs from plain decoding at token %u (%d vs %d)", what,
                                 (int)kinds[k], b0 + i, t, got.kv[lens[i] + t], want[t]);
                if (c->m && (got.len != ref[i].len || memcmp(got.text, ref[i].text, got.len) ||
                             got.st.finish != ref[i].st.finish))
                    fail_msg("%s, drafter %d: prompt %d: text or finish differs:\nplain: %.*s\nspec:  %.*s", what,
                             (int)kinds[k], b0 + i, (int)ref[i].len, ref[i].text, (int)got.len, got.text);
                tot[k].drafted += got.st.n_drafted;
                tot[k].accepted += got.st.n_accepted;
                tot[k].verify += got.st.n_verify;
                tot[k].cases++;
            }
        }
        for (int i = 0; i < n; i++) free(ids[i]);
    }
    static const char *const names[] = {"none", "lookup", "base", "model"};
    for (int k = 0; k < n_kinds; k++) {
        printf("%-44s %-6s %3u x %d tokens identical; %5u verify passes, %5u of %5u draft tokens accepted\n", what,
               names[kinds[k]], tot[k].cases, TOKENS, tot[k].verify, tot[k].accepted, tot[k].drafted);
        assert_true(tot[k].verify > 0);
        assert_true(tot[k].accepted > 0);
        by_kind[kinds[k]].accepted += tot[k].accepted, by_kind[kinds[k]].drafted += tot[k].drafted;
    }
    printf("%-44s (%.1f s)\n", what, (hive_now_ms() - t0) / 1e3);
}

/* The expert's own grammar, as its manifest asks for it: json's schema, sql's sql-postgres. */
static hive_grammar *expert_grammar(const char *name) {
    hive_grammar_opts go;
    hive_grammar_opts_default(&go);
    hive_grammar *g = NULL;
    hive_error *err = NULL;
    if (!strcmp(name, "sql")) {
        assert_int_equal(hive_grammar_builtin("sql-postgres", &go, &g, NULL), HIVE_OK);
        return g;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/examples/experts/json/schema.json", HIVE_SOURCE_DIR);
    if (hive_grammar_compile("json-schema", path, &go, &g, &err) != HIVE_OK)
        fail_msg("%s: %s", path, hive_error_message(err));
    return g;
}

static void test_matrix(void **state) {
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
    const char *env = getenv("HIVE_SPEC_PROMPTS");
    int n_prompts = env && atoi(env) > 0 ? atoi(env) : MAX_PROMPTS;
    /* as hive-host opens them: f16 KV, HF q/k order for experts; the draft model in the GGUF's layout */
    golden_next.kv_dtype = HIVE_DTYPE_F16;
    golden_next.max_seqs = BATCH + 2;
    golden_env target, draft;
    assert_int_equal(golden_env_open(&target, model, CTX, -1, 1), 0);
    assert_int_equal(golden_env_open(&draft, model, CTX, HIVE_DTYPE_Q8_0, 0), 0);
    golden_next.max_seqs = 0;
    golden_next.kv_dtype = 0;
    hive_tokenizer *tok = NULL;
    assert_int_equal(hive_tokenizer_new(&target.model->vocab, &tok, NULL), HIVE_OK);
    hive_grammar_vocab *gv = NULL;
    assert_int_equal(hive_grammar_vocab_from_tokenizer(tok, &gv, NULL), HIVE_OK);

    const hive_draft_kind all[] = {HIVE_DRAFT_LOOKUP, HIVE_DRAFT_BASE, HIVE_DRAFT_MODEL};
    const hive_draft_kind no_base[] = {HIVE_DRAFT_LOOKUP, HIVE_DRAFT_MODEL}; /* base needs experts */
    cell c = {target.eng, draft.eng, tok, NULL, NULL};
    run_cell(&c, "SmolLM2, no expert", no_base, 2, n_prompts);

    hive_expert_target et;
    hive_expert_target_init(&et, &target.reg, target.eng, target.model);
    hive_expert_cache *cache = NULL;
    assert_int_equal(hive_expert_cache_new(256u << 20, &et, &cache, NULL), HIVE_OK);
    static const char *const experts[] = {"json", "sql", "ia3", "soft-prompt"};
    for (int i = 0; i < 4; i++) {
        char what[96];
        hive_expert_set set;
        golden_shipped_expert(cache, experts[i], &set);
        hive_grammar *g = i < 2 ? expert_grammar(experts[i]) : NULL;
        hive_grammar_matcher *m = g ? hive_grammar_matcher_new(g, gv, NULL) : NULL;
        assert_true(!g || m);
        c.set = &set.set;
        c.m = m;
        snprintf(what, sizeof what, "SmolLM2, %s expert%s", experts[i], g ? " + its grammar" : "");
        run_cell(&c, what, all, 3, n_prompts);
        hive_grammar_matcher_free(m);
        hive_grammar_free(g);
        hive_expert_set_release(&set);
    }
    for (int k = HIVE_DRAFT_LOOKUP; k <= HIVE_DRAFT_MODEL; k++) {
        assert_true(by_kind[k].accepted > 0);
        assert_true(by_kind[k].accepted < by_kind[k].drafted);
    }
    hive_expert_cache_free(cache);
    hive_grammar_vocab_free(gv);
    hive_tokenizer_free(tok);
    golden_env_close(&draft);
    golden_env_close(&target);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_matrix)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
