/* Sampler: greedy, seeding, top-k/top-p/min-p/temperature distributions
 * (empirical frequencies against a reference computed here), penalties, validation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"
#include "util/error.h"

#define N_DRAWS 40000
#define FREQ_TOL 0.012 /* ~5 sigma for p = 0.5 over N_DRAWS */

/* Plain multinomial sampling: no filters, temperature 1, no penalties. */
static hive_sampling plain(uint64_t seed) {
    hive_sampling s;
    hive_sampling_defaults(&s);
    s.temperature = 1.0f;
    s.top_k = 0;
    s.top_p = 1.0f;
    s.min_p = 0.0f;
    s.seed = seed;
    return s;
}

static hive_sampler *make(const hive_sampling *s, uint32_t n_vocab) {
    hive_error *err = NULL;
    hive_sampler *smp = hive_sampler_new(s, n_vocab, &err);
    if (!smp) fail_msg("hive_sampler_new: %s", hive_error_message(err));
    return smp;
}

/* logits[ids[i]] = log(probs[i]); every other token gets a negligible logit. */
static float *peaked_logits(uint32_t n_vocab, const int32_t *ids, const double *probs, size_t n) {
    float *l = malloc(n_vocab * sizeof *l);
    assert_non_null(l);
    for (uint32_t i = 0; i < n_vocab; i++) l[i] = -60.0f;
    for (size_t i = 0; i < n; i++) l[ids[i]] = (float)log(probs[i]);
    return l;
}

/* Draws N_DRAWS tokens; counts[id] per token. */
static void histogram(hive_sampler *smp, const float *logits, uint32_t n_vocab, unsigned *counts) {
    memset(counts, 0, n_vocab * sizeof *counts);
    for (int i = 0; i < N_DRAWS; i++) {
        int32_t t = hive_sampler_sample(smp, logits, NULL, 0);
        assert_true(t >= 0 && (uint32_t)t < n_vocab);
        counts[t]++;
    }
}

/* Frequencies of ids[] match want[] (already renormalised); nothing else appears. */
static void assert_freqs(const unsigned *counts, uint32_t n_vocab, const int32_t *ids, const double *want, size_t n) {
    unsigned in_set = 0;
    for (size_t i = 0; i < n; i++) {
        double f = (double)counts[ids[i]] / N_DRAWS;
        if (fabs(f - want[i]) > FREQ_TOL)
            fail_msg("token %d: frequency %.4f, expected %.4f", ids[i], f, want[i]);
        in_set += counts[ids[i]];
    }
    (void)n_vocab;
    assert_int_equal(in_set, N_DRAWS);
}

static void test_greedy_picks_argmax_lowest_id_on_ties(void **state) {
    (void)state;
    hive_sampling s = plain(1);
    s.temperature = 0.0f;
    hive_sampler *smp = make(&s, 8);
    float logits[8] = {0.1f, 3.0f, -2.0f, 5.0f, 5.0f, NAN, 4.9f, -INFINITY};
    for (int i = 0; i < 10; i++) assert_int_equal(hive_sampler_sample(smp, logits, NULL, 0), 3);
    logits[3] = 1.0f;
    assert_int_equal(hive_sampler_sample(smp, logits, NULL, 0), 4);
    hive_sampler_free(smp);
}

static void fill_random_logits(float *l, uint32_t n, unsigned seed) {
    srand(seed);
    for (uint32_t i = 0; i < n; i++) l[i] = (float)rand() / (float)RAND_MAX * 4.0f;
}

static void draw_sequence(uint64_t seed, const float *logits, uint32_t n_vocab, int32_t *out, size_t n) {
    hive_sampling s = plain(seed);
    hive_sampler *smp = make(&s, n_vocab);
    for (size_t i = 0; i < n; i++) out[i] = hive_sampler_sample(smp, logits, NULL, 0);
    hive_sampler_free(smp);
}

static void test_seed_reproducible_and_distinct(void **state) {
    (void)state;
    enum { V = 100, N = 300 };
    float logits[V];
    fill_random_logits(logits, V, 7);
    int32_t a[N], b[N], c[N], z[N];
    draw_sequence(42, logits, V, a, N);
    draw_sequence(42, logits, V, b, N);
    draw_sequence(43, logits, V, c, N);
    draw_sequence(0, logits, V, z, N);
    assert_memory_equal(a, b, sizeof a);
    int differ = 0, differ0 = 0;
    for (int i = 0; i < N; i++) {
        differ += a[i] != c[i];
        differ0 += a[i] != z[i];
    }
    /* Near-uniform over 100 tokens: independent streams agree ~1% of the time. */
    assert_true(differ > N / 2);
    assert_true(differ0 > N / 2);

    /* Reseeding restarts the stream. */
    hive_sampling s = plain(42);
    hive_sampler *smp = make(&s, V);
    for (int i = 0; i < 5; i++) hive_sampler_sample(smp, logits, NULL, 0);
    hive_sampler_reseed(smp, 42);
    for (int i = 0; i < N; i++) assert_int_equal(hive_sampler_sample(smp, logits, NULL, 0), a[i]);
    hive_sampler_free(smp);
}

static void test_random_seed_differs_between_samplers(void **state) {
    (void)state;
    enum { V = 100, N = 300 };
    float logits[V];
    fill_random_logits(logits, V, 9);
    int32_t a[N], b[N];
    draw_sequence(HIVE_SEED_RANDOM, logits, V, a, N);
    draw_sequence(HIVE_SEED_RANDOM, logits, V, b, N);
    int differ = 0;
    for (int i = 0; i < N; i++) differ += a[i] != b[i];
    assert_true(differ > N / 2);
}

static void test_top_k_1_equals_greedy(void **state) {
    (void)state;
    enum { V = 5000 };
    float *logits = malloc(V * sizeof *logits);
    assert_non_null(logits);
    for (unsigned round = 0; round < 20; round++) {
        fill_random_logits(logits, V, round + 100);
        hive_sampling g = plain(round), k1 = plain(round);
        g.temperature = 0.0f;
        k1.top_k = 1;
        k1.temperature = 1.5f;
        hive_sampler *sg = make(&g, V), *sk = make(&k1, V);
        assert_int_equal(hive_sampler_sample(sk, logits, NULL, 0), hive_sampler_sample(sg, logits, NULL, 0));
        hive_sampler_free(sg);
        hive_sampler_free(sk);
    }
    free(logits);
}

static void test_full_distribution_matches_softmax(void **state) {
    (void)state;
    enum { V = 300 };
    const int32_t ids[] = {299, 5, 120};
    const double probs[] = {0.5, 0.3, 0.2};
    float *logits = peaked_logits(V, ids, probs, 3);
    hive_sampling s = plain(11);
    hive_sampler *smp = make(&s, V);
    unsigned *counts = malloc(V * sizeof *counts);
    histogram(smp, logits, V, counts);
    assert_freqs(counts, V, ids, probs, 3);
    free(counts);
    free(logits);
    hive_sampler_free(smp);
}

static void test_top_k_keeps_k_best(void **state) {
    (void)state;
    enum { V = 300 };
    const int32_t ids[] = {10, 150, 3, 277, 42};
    const double probs[] = {0.35, 0.25, 0.2, 0.15, 0.05};
    float *logits = peaked_logits(V, ids, probs, 5);
    hive_sampling s = plain(5);
    s.top_k = 3;
    hive_sampler *smp = make(&s, V);
    unsigned *counts = malloc(V * sizeof *counts);
    histogram(smp, logits, V, counts);
    const double want[] = {0.35 / 0.8, 0.25 / 0.8, 0.2 / 0.8};
    assert_freqs(counts, V, ids, want, 3);
    free(counts);
    free(logits);
    hive_sampler_free(smp);
}

/* Unsorted path (top_k off; V above the first partial sort's size) and sorted
 * path (top_k on): the nucleus is {0.4, 0.3, 0.15} since 0.4 + 0.3 < 0.8. */
static void test_top_p_renormalises_nucleus(void **state) {
    (void)state;
    enum { V = 300 };
    const int32_t ids[] = {290, 17, 250, 99, 3};
    const double probs[] = {0.4, 0.3, 0.15, 0.1, 0.05};
    float *logits = peaked_logits(V, ids, probs, 5);
    unsigned *counts = malloc(V * sizeof *counts);
    for (int top_k = 0; top_k <= 10; top_k += 10) { /* unsorted, then sorted by top-k */
        hive_sampling s = plain(77);
        s.top_p = 0.8f;
        s.top_k = top_k;
        hive_sampler *smp = make(&s, V);
        histogram(smp, logits, V, counts);
        const double want[] = {0.4 / 0.85, 0.3 / 0.85, 0.15 / 0.85};
        assert_freqs(counts, V, ids, want, 3);
        hive_sampler_free(smp);
    }
    free(counts);
    free(logits);
}

static int cmp_desc_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* A wide nucleus (thousands of tokens) takes the sampler past its first partial
 * sort; the reference finds the cutoff with a full sort. A huge temperature makes
 * the draw uniform over the nucleus, so a nucleus cut too short shows up as a
 * missing bottom decile and one cut too long as draws past the cutoff. */
static void test_top_p_wide_nucleus(void **state) {
    (void)state;
    enum { V = 2000, DRAWS = 5000 };
    float *logits = malloc(V * sizeof *logits);
    uint32_t *rank = malloc(V * sizeof *rank);
    double *p = malloc(V * sizeof *p);
    assert_non_null(logits);
    assert_non_null(rank);
    assert_non_null(p);
    /* Distinct logits in a shuffled order: 7919 is prime and does not divide V, so this is a permutation. */
    for (uint32_t i = 0; i < V; i++) {
        uint32_t level = (i * 7919u) % V;
        logits[i] = (float)level * 1e-4f;
        rank[i] = V - 1 - level; /* 0 = best */
    }
    double z = 0.0;
    for (uint32_t i = 0; i < V; i++) z += exp((double)logits[i]);
    for (uint32_t i = 0; i < V; i++) p[i] = exp((double)logits[i]) / z;
    qsort(p, V, sizeof *p, cmp_desc_double);
    const float top_p = 0.6f;
    double cum = 0.0;
    uint32_t keep = 0;
    while (cum < top_p) cum += p[keep++];
    assert_true(keep > 1000); /* well past the first partial sort (256) */

    hive_sampling s = plain(3);
    s.top_p = top_p;
    s.temperature = 1e4f;
    hive_sampler *smp = make(&s, V);
    unsigned past_cutoff = 0, bottom_decile = 0;
    for (int i = 0; i < DRAWS; i++) {
        uint32_t r = rank[hive_sampler_sample(smp, logits, NULL, 0)];
        past_cutoff += r > keep; /* one token of slack for rounding at the boundary */
        bottom_decile += r >= keep - keep / 10 && r < keep;
    }
    assert_int_equal(past_cutoff, 0);
    double f = (double)bottom_decile / DRAWS;
    if (fabs(f - 0.1) > 0.02) fail_msg("bottom decile of the nucleus drawn %.4f of the time, expected 0.1", f);
    hive_sampler_free(smp);
    free(p);
    free(rank);
    free(logits);
}

/* All logits equal: ties go to the lower id, so the nucleus is ids [0, V/2]. */
static void test_top_p_flat_distribution(void **state) {
    (void)state;
    enum { V = 600 };
    float *logits = calloc(V, sizeof *logits);
    assert_non_null(logits);
    hive_sampling s = plain(6);
    s.top_p = 0.5f;
    hive_sampler *smp = make(&s, V);
    int32_t highest = 0;
    for (int i = 0; i < 3000; i++) {
        int32_t t = hive_sampler_sample(smp, logits, NULL, 0);
        assert_true(t <= V / 2);
        if (t > highest) highest = t;
    }
    assert_true(highest >= V / 2 - 20);
    hive_sampler_free(smp);
    free(logits);
}

static void test_min_p_excludes(void **state) {
    (void)state;
    enum { V = 300 };
    const int32_t ids[] = {290, 1, 150, 200};
    const double probs[] = {0.5, 0.3, 0.12, 0.08};
    float *logits = peaked_logits(V, ids, probs, 4);
    hive_sampling s = plain(8);
    s.min_p = 0.2f; /* threshold 0.1: 0.08 is out */
    hive_sampler *smp = make(&s, V);
    unsigned *counts = malloc(V * sizeof *counts);
    histogram(smp, logits, V, counts);
    const double want[] = {0.5 / 0.92, 0.3 / 0.92, 0.12 / 0.92};
    assert_freqs(counts, V, ids, want, 3);
    free(counts);
    free(logits);
    hive_sampler_free(smp);
}

/* Temperature T turns p into p^(1/T), renormalised. */
static void test_temperature_sharpens(void **state) {
    (void)state;
    enum { V = 300 };
    const int32_t ids[] = {100, 200, 299};
    const double probs[] = {0.5, 0.3, 0.2};
    float *logits = peaked_logits(V, ids, probs, 3);
    hive_sampling s = plain(21);
    s.temperature = 0.5f;
    hive_sampler *smp = make(&s, V);
    unsigned *counts = malloc(V * sizeof *counts);
    histogram(smp, logits, V, counts);
    double z = 0.25 + 0.09 + 0.04;
    const double want[] = {0.25 / z, 0.09 / z, 0.04 / z};
    assert_freqs(counts, V, ids, want, 3);
    free(counts);
    free(logits);
    hive_sampler_free(smp);
}

/* Reference: HF repetition penalty, then OpenAI presence/frequency. */
static float ref_penalty(float l, unsigned count, float rep, float pres, float freq) {
    if (count == 0) return l;
    l = l > 0 ? l / rep : l * rep;
    return l - (float)count * freq - pres;
}

static void test_penalties_match_reference(void **state) {
    (void)state;
    enum { V = 10 };
    const float base[V] = {1.0f, -0.5f, 0.0f, 3.0f, 2.0f, 2.0f, -4.0f, -1.0f, 0.5f, 9.0f};
    /* 99 and -1 are outside the vocab and must be ignored. */
    const int32_t hist[] = {9, 5, 5, 7, 99, 2, 5, -1, 0};
    const size_t n_hist = sizeof hist / sizeof hist[0];
    const float rep = 1.3f, pres = 0.5f, freq = 0.25f;

    struct { int32_t last_n; unsigned counts[V]; } cases[] = {
        {-1, {1, 0, 1, 0, 0, 3, 0, 1, 0, 1}}, /* whole history */
        {64, {1, 0, 1, 0, 0, 3, 0, 1, 0, 1}},
        {4, {1, 0, 1, 0, 0, 1, 0, 0, 0, 0}}, /* window: 2, 5, -1, 0 */
        {0, {0}},                            /* off */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hive_sampling s = plain(1);
        s.repetition_penalty = rep;
        s.presence_penalty = pres;
        s.frequency_penalty = freq;
        s.penalty_last_n = cases[c].last_n;
        hive_sampler *smp = make(&s, V);
        for (int pass = 0; pass < 2; pass++) { /* twice: the scratch counts must reset */
            float l[V];
            memcpy(l, base, sizeof l);
            hive_sampler_penalize(smp, l, hist, n_hist);
            for (int i = 0; i < V; i++) {
                float want = ref_penalty(base[i], cases[c].counts[i], rep, pres, freq);
                if (fabsf(l[i] - want) > 1e-6f)
                    fail_msg("last_n %d token %d: %g, expected %g", cases[c].last_n, i, (double)l[i],
                             (double)want);
            }
        }
        hive_sampler_free(smp);
    }
}

static void test_penalties_steer_sampling(void **state) {
    (void)state;
    hive_sampling s = plain(1);
    s.temperature = 0.0f;
    s.repetition_penalty = 1.1f; /* 3.0 / 1.1 = 2.73 < 2.9 */
    hive_sampler *smp = make(&s, 3);
    const float logits[3] = {3.0f, 2.9f, -1.0f};
    const int32_t hist[] = {0};
    assert_int_equal(hive_sampler_sample(smp, logits, NULL, 0), 0);
    assert_int_equal(hive_sampler_sample(smp, logits, hist, 1), 1);
    hive_sampler_free(smp);

    s = plain(1);
    s.temperature = 0.0f;
    s.frequency_penalty = 0.1f; /* 3.0 - 2 * 0.1 = 2.8 < 2.9 */
    smp = make(&s, 3);
    const int32_t hist2[] = {0, 0};
    assert_int_equal(hive_sampler_sample(smp, logits, hist2, 1), 0);
    assert_int_equal(hive_sampler_sample(smp, logits, hist2, 2), 1);
    hive_sampler_free(smp);
}

static void expect_invalid(const hive_sampling *s, uint32_t n_vocab, const char *name) {
    hive_error *err = NULL;
    hive_sampler *smp = hive_sampler_new(s, n_vocab, &err);
    assert_null(smp);
    assert_non_null(err);
    assert_int_equal(err->code, HIVE_E_INVALID);
    if (!strstr(hive_error_message(err), name))
        fail_msg("error \"%s\" does not name %s", hive_error_message(err), name);
    hive_error_free(err);
}

static void test_invalid_parameters_named(void **state) {
    (void)state;
    hive_sampling s;
#define BAD(field, value, name)    \
    hive_sampling_defaults(&s);    \
    s.field = value;               \
    expect_invalid(&s, 100, name);
    BAD(temperature, -0.1f, "temperature");
    BAD(temperature, NAN, "temperature");
    BAD(temperature, INFINITY, "temperature");
    BAD(top_k, -1, "top_k");
    BAD(top_p, 0.0f, "top_p");
    BAD(top_p, 1.01f, "top_p");
    BAD(top_p, NAN, "top_p");
    BAD(min_p, -0.01f, "min_p");
    BAD(min_p, 1.5f, "min_p");
    BAD(repetition_penalty, 0.0f, "repetition_penalty");
    BAD(repetition_penalty, -1.0f, "repetition_penalty");
    BAD(presence_penalty, 2.5f, "presence_penalty");
    BAD(frequency_penalty, -3.0f, "frequency_penalty");
    BAD(penalty_last_n, -2, "penalty_last_n");
#undef BAD
    hive_sampling_defaults(&s);
    expect_invalid(&s, 0, "n_vocab");
    /* Range ends are accepted. */
    s.temperature = 0.0f;
    s.top_k = 0;
    s.top_p = 1.0f;
    s.min_p = 1.0f;
    s.presence_penalty = -2.0f;
    s.frequency_penalty = 2.0f;
    s.penalty_last_n = -1;
    hive_sampler_free(make(&s, 1));
}

static void test_defaults(void **state) {
    (void)state;
    hive_sampling s;
    hive_sampling_defaults(&s);
    assert_true(s.temperature == 0.7f && s.top_k == 40 && s.top_p == 0.95f && s.min_p == 0.05f);
    assert_true(s.repetition_penalty == 1.0f && s.presence_penalty == 0.0f && s.frequency_penalty == 0.0f);
    assert_int_equal(s.penalty_last_n, 64);
    assert_true(s.seed == HIVE_SEED_RANDOM);
    assert_int_equal(hive_sampling_validate(&s, NULL), HIVE_OK);
}

/* Degenerate logits still give an in-range token. */
static void test_degenerate_logits(void **state) {
    (void)state;
    enum { V = 6 };
    hive_sampling s = plain(4);
    hive_sampler *smp = make(&s, V);
    float all_ninf[V], with_pinf[V], all_nan[V];
    for (int i = 0; i < V; i++) {
        all_ninf[i] = -INFINITY;
        with_pinf[i] = 0.0f;
        all_nan[i] = NAN;
    }
    with_pinf[4] = INFINITY;
    assert_int_equal(hive_sampler_sample(smp, all_ninf, NULL, 0), 0);
    assert_int_equal(hive_sampler_sample(smp, with_pinf, NULL, 0), 4);
    assert_int_equal(hive_sampler_sample(smp, all_nan, NULL, 0), 0);
    /* A single finite token among -inf is the only possible draw. */
    all_ninf[3] = -5.0f;
    for (int i = 0; i < 50; i++) assert_int_equal(hive_sampler_sample(smp, all_ninf, NULL, 0), 3);
    hive_sampler_free(smp);
}

/* A Qwen-sized vocab with default settings and with top-k off. */
static void test_large_vocab(void **state) {
    (void)state;
    enum { V = 152064 };
    float *logits = malloc(V * sizeof *logits);
    assert_non_null(logits);
    fill_random_logits(logits, V, 5);
    for (int i = 0; i < V; i++) logits[i] *= 3.0f;
    hive_sampling configs[3];
    hive_sampling_defaults(&configs[0]);
    configs[0].seed = 1;
    configs[1] = configs[0];
    configs[1].top_k = 0;
    configs[1].min_p = 0.0f; /* nucleus of tens of thousands of tokens */
    configs[2] = configs[1];
    configs[2].top_p = 1.0f;
    for (int c = 0; c < 3; c++) {
        hive_sampler *smp = make(&configs[c], V);
        for (int i = 0; i < 20; i++) {
            int32_t t = hive_sampler_sample(smp, logits, NULL, 0);
            assert_true(t >= 0 && t < V);
        }
        hive_sampler_free(smp);
    }
    free(logits);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_picks_argmax_lowest_id_on_ties),
        cmocka_unit_test(test_seed_reproducible_and_distinct),
        cmocka_unit_test(test_random_seed_differs_between_samplers),
        cmocka_unit_test(test_top_k_1_equals_greedy),
        cmocka_unit_test(test_full_distribution_matches_softmax),
        cmocka_unit_test(test_top_k_keeps_k_best),
        cmocka_unit_test(test_top_p_renormalises_nucleus),
        cmocka_unit_test(test_top_p_wide_nucleus),
        cmocka_unit_test(test_top_p_flat_distribution),
        cmocka_unit_test(test_min_p_excludes),
        cmocka_unit_test(test_temperature_sharpens),
        cmocka_unit_test(test_penalties_match_reference),
        cmocka_unit_test(test_penalties_steer_sampling),
        cmocka_unit_test(test_invalid_parameters_named),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_degenerate_logits),
        cmocka_unit_test(test_large_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
