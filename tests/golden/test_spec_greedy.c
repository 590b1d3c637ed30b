/* Speculative decoding never changes greedy output: for every drafter
 * (lookup:N, base), with and without experts of each adapter type (LoRA,
 * DoRA, IA3, soft prompt) and under a grammar, hive_generate gives the same
 * text, the same tokens, the same finish reason and the same KV contents as
 * plain decoding. On the tiny llama fixture (PEFT adapters, many prompts,
 * fast) and on SmolLM2 with the shipped experts (50 prompts x 64 tokens with
 * lookup and no experts, $HIVE_SPEC_PROMPTS to change it; one prompt per
 * expert and drafter; skipped without the model).
 * Each case also requires drafts to have been accepted and rejected, so the
 * comparison exercises both paths. The draft-model drafter has its own test
 * (test_spec_draft_model.c: it needs engines of its own). */
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
#include "experts/expert.h"
#include "golden_util.h"
#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"
#include "util/clock.h"
#include "util/error.h"

typedef struct spec_totals {
    uint32_t drafted, accepted, verify, cases;
} spec_totals;

/* One generation on a fresh sequence (and a fresh drafter sequence). */
static void generate_one(golden_env *g, const hive_tokenizer *tok, const hive_adapter_set *set, const int32_t *prompt,
                         size_t n, const hive_spec_opts *spec, hive_grammar_matcher *m, uint32_t max_tokens,
                         golden_gen_out *out) {
    memset(out, 0, sizeof *out);
    int32_t seq, dseq = -1;
    hive_error *err = NULL;
    assert_int_equal(hive_engine_seq_new(g->eng, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_set_adapters(g->eng, seq, set, NULL), HIVE_OK);
    hive_spec_opts so;
    if (spec) {
        so = *spec;
        if (so.kind == HIVE_DRAFT_BASE) {
            assert_int_equal(hive_engine_seq_new(g->eng, &dseq, NULL), HIVE_OK);
            so.draft_seq = dseq;
        }
    }
    hive_gen_params gp;
    memset(&gp, 0, sizeof gp);
    hive_sampling_defaults(&gp.sampling);
    gp.sampling.temperature = 0;
    gp.max_tokens = max_tokens;
    gp.ignore_eos = 1; /* full length: every prompt gives max_tokens tokens to compare */
    gp.grammar = m;
    gp.spec = spec ? &so : NULL;
    if (m) hive_grammar_matcher_reset(m);
    if (hive_generate(g->eng, tok, seq, prompt, n, &gp, golden_collect, out, &out->st, &err) != HIVE_OK)
        fail_msg("generate: %s", hive_error_message(err));
    out->n_kv = hive_engine_seq_len(g->eng, seq);
    assert_true(out->n_kv <= sizeof out->kv / sizeof out->kv[0]);
    memcpy(out->kv, hive_engine_seq_tokens(g->eng, seq), out->n_kv * sizeof(int32_t));
    hive_engine_seq_free(g->eng, seq);
    if (dseq >= 0) hive_engine_seq_free(g->eng, dseq);
}

/* Plain vs speculative on one prompt: everything equal. */
static void compare_one(golden_env *g, const hive_tokenizer *tok, const hive_adapter_set *set, const int32_t *prompt,
                        size_t n, const hive_spec_opts *spec, hive_grammar_matcher *m, uint32_t max_tokens,
                        const char *what, spec_totals *tot) {
    static golden_gen_out a, b;
    generate_one(g, tok, set, prompt, n, NULL, m, max_tokens, &a);
    generate_one(g, tok, set, prompt, n, spec, m, max_tokens, &b);
    if (a.st.n_gen != b.st.n_gen || a.st.finish != b.st.finish || a.len != b.len || memcmp(a.text, b.text, a.len) ||
        a.n_kv != b.n_kv || memcmp(a.kv, b.kv, a.n_kv * sizeof(int32_t)))
        fail_msg("%s: speculative output differs from plain: %u vs %u tokens, finish %s vs %s, text:\n"
                 "plain: %.*s\nspec:  %.*s", what, a.st.n_gen, b.st.n_gen,
                 hive_finish_name(a.st.finish), hive_finish_name(b.st.finish), (int)a.len, a.text, (int)b.len, b.text);
    tot->drafted += b.st.n_drafted;
    tot->accepted += b.st.n_accepted;
    tot->verify += b.st.n_verify;
    tot->cases++;
}

/* strict: this case alone must have run both verification paths (some
 * drafts accepted, some rejected); else only the sum over cases must */
static double t_last;

static void report(const char *what, const spec_totals *t, int strict, spec_totals *sum) {
    double now = hive_now_ms();
    printf("%-52s %3u generations identical; %u verify passes, %u of %u draft tokens accepted (%.1f s)\n", what,
           t->cases, t->verify, t->accepted, t->drafted, t_last ? (now - t_last) / 1e3 : 0.0);
    t_last = now;
    if (sum) sum->verify += t->verify, sum->accepted += t->accepted, sum->drafted += t->drafted, sum->cases += t->cases;
    if (!strict) return;
    assert_true(t->verify > 0);
    assert_true(t->accepted > 0);
    assert_true(t->accepted < t->drafted);
}

/* ---- tiny llama: PEFT adapters of each type, many cheap generations ---- */

#define TINY_PROMPTS 8
#define TINY_TOKENS 40

static void tiny_prompt(int i, uint32_t V, int32_t *p, size_t *n) {
    /* a motif repeated with variations, so lookup finds n-grams to copy */
    size_t len = 24 + (size_t)(i % 4) * 6;
    for (size_t j = 0; j < len; j++) {
        uint32_t motif = (uint32_t)(j % (5 + i % 3));
        p[j] = (int32_t)((motif * 37u + (uint32_t)i * 11u + (j % 17 == 16 ? 5u : 0u)) % (V - 4)) + 3;
    }
    *n = len;
}

static void tiny_cases(golden_env *g, const hive_tokenizer *tok, const hive_adapter_set *set, const char *set_name,
                       hive_grammar_matcher *m) {
    const uint32_t V = hive_engine_hparams(g->eng)->vocab;
    /* the meter stays out of the way (keep_on): every step that can draft is verified */
    static const hive_spec_opts drafters[] = {
        {HIVE_DRAFT_LOOKUP, 3, 8, -1, 1, NULL, NULL, 0}, {HIVE_DRAFT_BASE, 0, 8, -1, 1, NULL, NULL, 0}, /* every set */
        /* LoRA and no experts */
        {HIVE_DRAFT_LOOKUP, 1, 4, -1, 1, NULL, NULL, 0}, {HIVE_DRAFT_BASE, 0, HIVE_DRAFT_MAX_K, -1, 1, NULL, NULL, 0}};
    for (size_t d = 0; d < sizeof drafters / sizeof drafters[0]; d++) {
        if (drafters[d].kind == HIVE_DRAFT_BASE && !set) continue; /* base needs experts (refused: below) */
        if (d >= 2 && set && set->id != 100) continue;
        spec_totals tot = {0};
        char what[96], name[32];
        hive_spec_describe(&drafters[d], name, sizeof name);
        snprintf(what, sizeof what, "tiny llama, %s, %s k %u%s", set_name, name, drafters[d].k, m ? ", grammar" : "");
        for (int i = 0; i < TINY_PROMPTS; i++) {
            int32_t p[64];
            size_t n;
            tiny_prompt(i, V, p, &n);
            compare_one(g, tok, set, p, n, &drafters[d], m, TINY_TOKENS, what, &tot);
        }
        report(what, &tot, 1, NULL);
    }
}

static void test_tiny(void **state) {
    (void)state;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/tests/golden/data/llama", HIVE_SOURCE_DIR);
    golden_env g;
    assert_int_equal(golden_env_open(&g, dir, 256, -1, 1), 0);
    hive_tokenizer *tok = NULL;
    assert_int_equal(hive_tokenizer_new(&g.model->vocab, &tok, NULL), HIVE_OK);
    static const char *const names[] = {"lora", "dora", "ia3", "prompt"};
    hive_adapter_ref refs[4];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/adapters/%s", dir, names[i]);
        assert_int_equal(golden_load_adapter(&g, path, &refs[i]), 0);
    }
    tiny_cases(&g, tok, NULL, "no experts", NULL);
    for (int i = 0; i < 4; i++) {
        hive_adapter_set set = {(uint64_t)(100 + i), 1, {refs[i]}};
        tiny_cases(&g, tok, &set, names[i], NULL);
    }
    /* a grammar: each verified position is masked as plain decoding masks it */
    hive_grammar *gr = NULL;
    hive_grammar_vocab *gv = NULL;
    const char *gbnf = "root ::= (word \" \")+ [0-9]\nword ::= [a-f] [a-f] [a-f]? [a-f]?";
    assert_int_equal(hive_grammar_from_gbnf(gbnf, strlen(gbnf), &gr, NULL), HIVE_OK);
    assert_int_equal(hive_grammar_vocab_from_tokenizer(tok, &gv, NULL), HIVE_OK);
    hive_grammar_matcher *m = hive_grammar_matcher_new(gr, gv, NULL);
    assert_non_null(m);
    tiny_cases(&g, tok, NULL, "no experts", m);
    hive_adapter_set lora = {200, 1, {refs[0]}};
    tiny_cases(&g, tok, &lora, "lora", m);
    hive_grammar_matcher_free(m);
    hive_grammar_vocab_free(gv);
    hive_grammar_free(gr);

    /* --draft base on a sequence without experts is refused, naming the way out */
    int32_t seq, dseq;
    assert_int_equal(hive_engine_seq_new(g.eng, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(g.eng, &dseq, NULL), HIVE_OK);
    hive_spec_opts so = {HIVE_DRAFT_BASE, 0, 8, dseq, 0, NULL, NULL, 0};
    hive_gen_params gp;
    memset(&gp, 0, sizeof gp);
    hive_sampling_defaults(&gp.sampling);
    gp.max_tokens = 4;
    gp.spec = &so;
    hive_gen_stats st;
    hive_error *err = NULL;
    int32_t p[3] = {5, 6, 7};
    assert_int_equal(hive_generate(g.eng, tok, seq, p, 3, &gp, NULL, NULL, &st, &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "--draft lookup"));
    hive_error_free(err);
    hive_engine_seq_free(g.eng, seq);
    hive_engine_seq_free(g.eng, dseq);

    for (int i = 0; i < 4; i++) golden_free_adapter(&refs[i]);
    hive_tokenizer_free(tok);
    golden_env_close(&g);
}

/* ---- SmolLM2 with the shipped experts ---- */

static spec_totals smol_sum;

static void smol_run(golden_env *g, const hive_tokenizer *tok, const hive_adapter_set *set, const char *what,
                     const hive_spec_opts *spec, int n_prompts, int first, uint32_t max_tokens, hive_grammar_matcher *m) {
    spec_totals tot = {0};
    for (int i = first; i < first + n_prompts; i++) {
        char text[512];
        golden_smol_prompt(i, text, sizeof text);
        int32_t *ids = NULL;
        size_t n = 0;
        assert_int_equal(hive_tokenizer_encode(tok, text, strlen(text), 1, -1, &ids, &n, NULL), HIVE_OK);
        compare_one(g, tok, set, ids, n, spec, m, max_tokens, what, &tot);
        free(ids);
    }
    report(what, &tot, 0, &smol_sum);
}

/* The sql-postgres grammar and a matcher over SmolLM2's vocabulary. */
typedef struct sql_matcher {
    hive_grammar *gr;
    hive_grammar_vocab *gv;
    hive_grammar_matcher *m;
} sql_matcher;

static void sql_matcher_open(const hive_tokenizer *tok, sql_matcher *s) {
    hive_grammar_opts go;
    hive_grammar_opts_default(&go);
    memset(s, 0, sizeof *s);
    assert_int_equal(hive_grammar_builtin("sql-postgres", &go, &s->gr, NULL), HIVE_OK);
    assert_int_equal(hive_grammar_vocab_from_tokenizer(tok, &s->gv, NULL), HIVE_OK);
    assert_non_null(s->m = hive_grammar_matcher_new(s->gr, s->gv, NULL));
}

static void sql_matcher_close(sql_matcher *s) {
    hive_grammar_matcher_free(s->m);
    hive_grammar_vocab_free(s->gv);
    hive_grammar_free(s->gr);
}

/* The SQL expert's draft corpus (examples/experts/sql/draft-corpus.txt), tokenized. */
static int32_t *sql_corpus(const hive_tokenizer *tok, size_t *n) {
    char path[600];
    snprintf(path, sizeof path, "%s/examples/experts/sql/draft-corpus.txt", HIVE_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[64 << 10];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    int32_t *corpus = NULL;
    assert_int_equal(hive_tokenizer_encode(tok, text, len, 0, 0, &corpus, n, NULL), HIVE_OK);
    return corpus;
}

/* --draft-corpus: the SQL expert with its training answers as the corpus
 * (examples/experts/sql/draft-corpus.txt) on SQL prompts, without and with
 * its grammar (sql-postgres): the output is plain decoding's, and the corpus
 * is used: more draft tokens accepted than by lookup over the prompt alone
 * (under the grammar too, where a refused history draft gives way to the
 * corpus's). */
static void corpus_lookup_case(golden_env *g, const hive_tokenizer *tok, const hive_adapter_set *set) {
    size_t n_corpus = 0;
    int32_t *corpus = sql_corpus(tok, &n_corpus);
    const hive_spec_opts plain = {HIVE_DRAFT_LOOKUP, 3, 8, -1, 1, NULL, NULL, 0},
                         with = {HIVE_DRAFT_LOOKUP, 3, 8, -1, 1, NULL, corpus, n_corpus};
    sql_matcher sm;
    sql_matcher_open(tok, &sm);
    hive_grammar_matcher *m = sm.m;
    for (int gram = 0; gram < 2; gram++) {
        spec_totals t[2] = {{0}, {0}};
        for (int v = 0; v < 2; v++)
            for (int i = 0; i < 15; i += 5) { /* the SQL prompts */
                char prompt[512];
                golden_smol_prompt(i, prompt, sizeof prompt);
                int32_t *ids = NULL;
                size_t n = 0;
                assert_int_equal(hive_tokenizer_encode(tok, prompt, strlen(prompt), 1, -1, &ids, &n, NULL), HIVE_OK);
                compare_one(g, tok, set, ids, n, v ? &with : &plain, gram ? m : NULL, 24,
                            "SmolLM2, sql expert, lookup + corpus", &t[v]);
                free(ids);
            }
        report(gram ? "SmolLM2, sql expert + grammar, lookup:3 k 8" : "SmolLM2, sql expert, lookup:3 k 8", &t[0], 0,
               &smol_sum);
        report(gram ? "SmolLM2, sql expert + grammar, lookup:3 + corpus" : "SmolLM2, sql expert, lookup:3 + corpus",
               &t[1], 1, &smol_sum);
        assert_true(t[1].accepted > t[0].accepted);
    }
    sql_matcher_close(&sm);
    free(corpus);
}

/* --draft base as hive-host runs it (the meter on) for one LoRA expert, a
 * few MB against the base's ~100: a base step costs most of a plain one, so
 * it starts off, without running the drafter's sequence even once to price
 * a step (which a 20-token answer would not win back) */
static void base_off_for_light_experts(golden_env *g, const hive_tokenizer *tok, const hive_adapter_set *set) {
    int32_t seq, dseq, *ids = NULL;
    size_t n = 0;
    char text[512];
    golden_smol_prompt(1, text, sizeof text);
    assert_int_equal(hive_tokenizer_encode(tok, text, strlen(text), 1, -1, &ids, &n, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(g->eng, &seq, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_set_adapters(g->eng, seq, set, NULL), HIVE_OK);
    assert_int_equal(hive_engine_seq_new(g->eng, &dseq, NULL), HIVE_OK);
    hive_spec_opts so = {HIVE_DRAFT_BASE, 0, 8, dseq, 0, NULL, NULL, 0};
    hive_gen_params gp;
    memset(&gp, 0, sizeof gp);
    hive_sampling_defaults(&gp.sampling);
    gp.sampling.temperature = 0;
    gp.max_tokens = 24; /* past the 16 plain tokens after which a step used to be priced */
    gp.ignore_eos = 1;
    gp.spec = &so;
    hive_gen_stats st;
    hive_error *err = NULL;
    if (hive_generate(g->eng, tok, seq, ids, n, &gp, NULL, NULL, &st, &err) != HIVE_OK)
        fail_msg("base, meter on: %s", hive_error_message(err));
    assert_int_equal(st.n_verify, 0);
    assert_int_equal(st.n_spec_off, 1);
    assert_int_equal(hive_engine_seq_len(g->eng, dseq), 0);
    hive_engine_seq_free(g->eng, seq);
    hive_engine_seq_free(g->eng, dseq);
    free(ids);
}

/* The speculation state of a greedy generation with --draft lookup, the meter on. */
static hive_spec *greedy_lookup(golden_env *g, int32_t seq, const hive_tokenizer *tok) {
    hive_spec_opts so;
    assert_int_equal(hive_spec_parse("lookup", 8, &so, NULL), HIVE_OK);
    hive_sampling sp;
    hive_sampling_defaults(&sp);
    hive_spec *spec = hive_spec_new(g->eng, seq, &so, &sp, 1, 0, tok, NULL);
    assert_non_null(spec);
    return spec;
}

/* lookup's word completion (SmolLM2's tokenizer): a text that ends inside a
 * word an earlier word starts the same way drafts that word's rest, tokenized
 * alone; nothing at a word's end, nor from a match inside another word */
static void word_completion_drafts(golden_env *g, const hive_tokenizer *tok) {
    static const struct {
        const char *text, *want; /* want: the draft spelled out, "" for none */
    } cases[] = {
        {"Extract the person as JSON: Oliver is 29 years old.\n{\"name\":\"Ol", "iver"},
        {"Schema: users(id, name, age, city)\nSELECT name FROM users WHERE ci", "ty"},
        {"Tom is 29 years old.\n{\"name\":\"Tom", ""},         /* the word is complete */
        {"The player stays.\nA lay", ""},                     /* `lay` only inside `player` */
        {"He named it. Her name is Ann.\nThe name", ""},      /* the latest `name` is whole */
        {"Priya, age 41, works in Nairobi.\n{\"age\":4", "1"}, /* digits are word bytes */
    };
    int32_t seq;
    assert_int_equal(hive_engine_seq_new(g->eng, &seq, NULL), HIVE_OK);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hive_spec *spec = greedy_lookup(g, seq, tok);
        int32_t *ids = NULL, out[HIVE_DRAFT_MAX_K];
        size_t n = 0;
        assert_int_equal(hive_tokenizer_encode(tok, cases[c].text, strlen(cases[c].text), 0, 0, &ids, &n, NULL), HIVE_OK);
        int d = hive_spec_draft(spec, ids, n, 8, NULL, out, NULL);
        char *got = NULL;
        assert_int_equal(hive_tokenizer_decode(tok, out, d > 0 ? (size_t)d : 0, 0, &got, NULL), HIVE_OK);
        if (strcmp(got, cases[c].want)) fail_msg("'%s': drafted '%s', want '%s'", cases[c].text, got, cases[c].want);
        free(got);
        free(ids);
        hive_spec_free(spec);
    }
    hive_engine_seq_free(g->eng, seq);
}

/* What lookup drafts with the SQL corpus (SmolLM2's tokenizer, the
 * sql-postgres grammar fed the answer so far), as the text it spells:
 * after a miss (the meter's length 1) the run every example agrees on
 * (`SUM(` -> `amount) FROM orders`, each of the corpus's SUMs); the corpus
 * carrying on after the history's copy (`_` -> `id` from the schema, the
 * grammar refusing its `,`, then ` = `); and where the examples' numbers
 * disagree, the prompt's (` 35`, ` 12`). */
static void corpus_drafts(golden_env *g, const hive_tokenizer *tok) {
    static const char schema[] = "Schema: users(id, name, age, city); orders(id, user_id, product, amount)\n";
    static const struct {
        const char *question, *answer, *want; /* want: what the draft starts with */
        int meter;                            /* -1: a draft rejected first (the meter's length 1); 1: four
                                               * accepted (8); 0: as it starts (2) */
    } cases[] = {
        {"Question: What is the total amount of all orders for user 7?\n", "SELECT SUM(", "amount) FROM orders", -1},
        {"Question: Which products did user 12 order?\n", "SELECT product FROM orders WHERE user_", "id = 12", 1},
        {"Write the SQL query: How many users are older than 35?\n", "SELECT COUNT(*) FROM users WHERE age >", " 35;", 1},
    };
    size_t n_corpus = 0;
    int32_t *corpus = sql_corpus(tok, &n_corpus);
    sql_matcher sm;
    sql_matcher_open(tok, &sm);
    hive_grammar_matcher *m = sm.m;
    int32_t seq;
    assert_int_equal(hive_engine_seq_new(g->eng, &seq, NULL), HIVE_OK);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hive_spec_opts so;
        assert_int_equal(hive_spec_parse("lookup", 8, &so, NULL), HIVE_OK);
        so.corpus = corpus, so.n_corpus = n_corpus;
        hive_sampling sp;
        hive_sampling_defaults(&sp);
        hive_spec *spec = hive_spec_new(g->eng, seq, &so, &sp, 1, 0, tok, NULL);
        assert_non_null(spec);
        if (cases[c].meter) hive_spec_record(spec, cases[c].meter < 0 ? 2 : 4, 1.0, cases[c].meter < 0 ? 1 : 5);
        char prompt[512];
        snprintf(prompt, sizeof prompt, "%s%s", schema, cases[c].question);
        int32_t *p = NULL, *a = NULL, out[HIVE_DRAFT_MAX_K];
        size_t np = 0, na = 0;
        assert_int_equal(hive_tokenizer_encode(tok, prompt, strlen(prompt), 0, 0, &p, &np, NULL), HIVE_OK);
        assert_int_equal(hive_tokenizer_encode(tok, cases[c].answer, strlen(cases[c].answer), 0, 0, &a, &na, NULL),
                         HIVE_OK);
        int32_t *hist = malloc((np + na) * sizeof *hist);
        assert_non_null(hist);
        memcpy(hist, p, np * sizeof *hist);
        memcpy(hist + np, a, na * sizeof *hist);
        hive_grammar_matcher_reset(m);
        for (size_t i = 0; i < na; i++) assert_int_equal(hive_grammar_matcher_accept(m, a[i], NULL), HIVE_OK);
        int d = hive_spec_draft(spec, hist, np + na, 8, m, out, NULL);
        char *got = NULL;
        assert_int_equal(hive_tokenizer_decode(tok, out, d > 0 ? (size_t)d : 0, 0, &got, NULL), HIVE_OK);
        if (strncmp(got, cases[c].want, strlen(cases[c].want)))
            fail_msg("'%s': drafted '%s', want '%s...'", cases[c].answer, got, cases[c].want);
        free(got);
        free(hist);
        free(p);
        free(a);
        hive_spec_free(spec);
    }
    hive_engine_seq_free(g->eng, seq);
    sql_matcher_close(&sm);
    free(corpus);
}

/* The meter (lookup, on as hive-host runs it) has no plain step to price
 * speculation against while every pass drafts: it keeps drafting while every
 * draft token is accepted (a pass of r rows costs at most r plain steps), or
 * while the passes bring 2 tokens or more each on average, and takes plain
 * steps to measure once a draft is rejected with the passes under that. */
static void meter_probes_only_after_a_miss(golden_env *g) {
    int32_t seq;
    assert_int_equal(hive_engine_seq_new(g->eng, &seq, NULL), HIVE_OK);
    hive_spec *spec = greedy_lookup(g, seq, NULL);
    for (int i = 0; i < 8; i++) {
        hive_spec_record(spec, 2, 1.0, 3); /* two drafted, both accepted, a bonus token */
        assert_true(hive_spec_wants_draft(spec));
    }
    for (int i = 0; i < 8; i++) { /* both rejected, 8 times: 32 tokens in 16 passes, 2 a pass */
        hive_spec_record(spec, 2, 1.0, 1);
        assert_true(hive_spec_wants_draft(spec));
    }
    hive_spec_record(spec, 2, 1.0, 1); /* 33 tokens in 17 passes */
    assert_false(hive_spec_wants_draft(spec));
    assert_int_equal(hive_spec_times_off(spec), 0); /* a probe, not a verdict */
    hive_spec_free(spec);
    hive_engine_seq_free(g->eng, seq);
}


/* The 50 prompts x 64 tokens, lookup drafter, no experts: each
 * speculative run's tokens against the batched plain reference; the
 * reference itself is checked against hive_generate's plain decoding on the
 * first prompt of the first and the last batch. */
#define SMOL_TOKENS 64
#define SMOL_BATCH 10

static void smol_lookup_50(golden_env *g, const hive_tokenizer *tok, int n_prompts) {
    const hive_spec_opts lookup = {HIVE_DRAFT_LOOKUP, 3, 8, -1, 0, NULL, NULL, 0}; /* the meter on, as hive-host runs */
    spec_totals tot = {0};
    static golden_gen_out run;
    for (int b0 = 0; b0 < n_prompts; b0 += SMOL_BATCH) {
        int n = n_prompts - b0 < SMOL_BATCH ? n_prompts - b0 : SMOL_BATCH;
        int32_t *ids[SMOL_BATCH], ref[SMOL_BATCH * SMOL_TOKENS];
        size_t lens[SMOL_BATCH];
        for (int i = 0; i < n; i++) {
            char text[512];
            golden_smol_prompt(b0 + i, text, sizeof text);
            assert_int_equal(hive_tokenizer_encode(tok, text, strlen(text), 1, -1, &ids[i], &lens[i], NULL), HIVE_OK);
        }
        assert_int_equal(golden_greedy_batched(g->eng, NULL, ids, lens, n, SMOL_TOKENS, ref), 0);
        for (int i = 0; i < n; i++) {
            /* SMOL_TOKENS + 1 tokens: the KV then holds all SMOL_TOKENS compared */
            /* the reference is checked against plain hive_generate on the first prompt of the first and last batch */
            int check_plain = i == 0 && (b0 == 0 || b0 + SMOL_BATCH >= n_prompts);
            for (int spec = check_plain ? 0 : 1; spec < 2; spec++) {
                generate_one(g, tok, NULL, ids[i], lens[i], spec ? &lookup : NULL, NULL, SMOL_TOKENS + 1, &run);
                assert_int_equal(run.n_kv, lens[i] + SMOL_TOKENS);
                const int32_t *want = ref + (size_t)i * SMOL_TOKENS, *got = run.kv + lens[i];
                for (int t = 0; t < SMOL_TOKENS; t++)
                    if (got[t] != want[t])
                        fail_msg("prompt %d: %s decoding differs from the plain reference at token %d (%d vs %d)",
                                 b0 + i, spec ? "speculative" : "plain", t, got[t], want[t]);
                if (!spec) continue;
                tot.drafted += run.st.n_drafted;
                tot.accepted += run.st.n_accepted;
                tot.verify += run.st.n_verify;
                tot.cases++;
            }
            free(ids[i]);
        }
    }
    report("SmolLM2, no experts, lookup:3 k 8, 64 tokens", &tot, 1, &smol_sum);
}

static void test_smollm2(void **state) {
    (void)state;
    const char *model = golden_model_path();
    if (!model) {
        printf("[ SKIPPED ] SmolLM2 GGUF absent: run scripts/fetch-models.sh\n");
        skip();
    }
    golden_env g;
    golden_next.kv_dtype = HIVE_DTYPE_F16; /* as hive-host runs it */
    golden_next.max_seqs = SMOL_BATCH + 1;
    /* without experts hive-host keeps the GGUF's q/k layout (llama.cpp's arithmetic) */
    int rc = golden_env_open(&g, model, 160, -1, 0);
    golden_next.max_seqs = 0;
    assert_int_equal(rc, 0);
    hive_tokenizer *tok = NULL;
    assert_int_equal(hive_tokenizer_new(&g.model->vocab, &tok, NULL), HIVE_OK);
    const char *env = getenv("HIVE_SPEC_PROMPTS"); /* the 50 by default; more or fewer by hand */
    smol_lookup_50(&g, tok, env && atoi(env) > 0 ? atoi(env) : 50);
    word_completion_drafts(&g, tok);
    corpus_drafts(&g, tok);
    meter_probes_only_after_a_miss(&g);
    hive_tokenizer_free(tok);
    golden_env_close(&g);

    /* with experts (HF q/k order, as hive-host loads a model for experts) */
    assert_int_equal(golden_env_open(&g, model, 512, -1, 1), 0);
    golden_next.kv_dtype = 0;
    assert_int_equal(hive_tokenizer_new(&g.model->vocab, &tok, NULL), HIVE_OK);
    hive_expert_target target;
    hive_expert_target_init(&target, &g.reg, g.eng, g.model);
    hive_expert_cache *cache = NULL;
    assert_int_equal(hive_expert_cache_new(256u << 20, &target, &cache, NULL), HIVE_OK);
    static const char *const experts[] = {"json", "sql", "ia3", "soft-prompt"};
    static const int own_prompt[] = {1, 0, 4, 2}; /* a prompt of the kind each expert was trained for */
    const hive_spec_opts base = {HIVE_DRAFT_BASE, 0, 8, -1, 1, NULL, NULL, 0}, lookup2 = {HIVE_DRAFT_LOOKUP, 2, 6, -1, 1, NULL, NULL, 0};
    for (int i = 0; i < 4; i++) {
        char what[96];
        hive_expert_set set;
        golden_shipped_expert(cache, experts[i], &set);
        snprintf(what, sizeof what, "SmolLM2, %s expert, lookup:2 k 6, 32 tokens", experts[i]);
        smol_run(&g, tok, &set.set, what, &lookup2, 1, own_prompt[i], 32, NULL);
        snprintf(what, sizeof what, "SmolLM2, %s expert, base k 8, 32 tokens", experts[i]);
        smol_run(&g, tok, &set.set, what, &base, 1, own_prompt[i] + 5, 32, NULL);
        if (i == 0) base_off_for_light_experts(&g, tok, &set.set);
        if (i == 1) corpus_lookup_case(&g, tok, &set.set);
        if (i == 0) { /* the JSON expert under its own schema's grammar */
            char schema_path[600];
            snprintf(schema_path, sizeof schema_path, "%s/examples/experts/json/schema.json", HIVE_SOURCE_DIR);
            FILE *f = fopen(schema_path, "rb");
            assert_non_null(f);
            char schema[4096];
            size_t n = fread(schema, 1, sizeof schema - 1, f);
            fclose(f);
            schema[n] = 0;
            hive_grammar_opts go;
            hive_grammar_opts_default(&go);
            hive_grammar *gr = NULL;
            hive_grammar_vocab *gv = NULL;
            assert_int_equal(hive_grammar_from_json_schema(schema, n, &go, &gr, NULL), HIVE_OK);
            assert_int_equal(hive_grammar_vocab_from_tokenizer(tok, &gv, NULL), HIVE_OK);
            hive_grammar_matcher *m = hive_grammar_matcher_new(gr, gv, NULL);
            assert_non_null(m);
            smol_run(&g, tok, &set.set, "SmolLM2, json expert + schema grammar, lookup:2 k 6", &lookup2, 1, 1, 32, m);
            smol_run(&g, tok, &set.set, "SmolLM2, json expert + schema grammar, base k 8", &base, 1, 6, 32, m);
            hive_grammar_matcher_free(m);
            hive_grammar_vocab_free(gv);
            hive_grammar_free(gr);
        }
        hive_expert_set_release(&set);
    }
    hive_expert_cache_free(cache);
    hive_tokenizer_free(tok);
    golden_env_close(&g);
    /* over all SmolLM2 cases, both verification paths ran */
    assert_true(smol_sum.accepted > 0);
    assert_true(smol_sum.accepted < smol_sum.drafted);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_smollm2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
