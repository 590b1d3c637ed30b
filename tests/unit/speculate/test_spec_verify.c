/* The verification step of speculative sampling keeps the target
 * distribution exactly: for a fixed context, 20,000 draws of the next token
 * through hive_spec_verify_sampled (a draft drawn from q, accepted or
 * resampled) follow p, the final distribution of the sampler pipeline
 * (penalties, top-k, top-p, min-p, temperature), by a chi-square test
 * (p-value > 0.001), for a deliberately biased q, for a one-hot q (the lookup
 * drafter) on a likely, an unlikely and an impossible token. Each case also
 * shows the test has teeth: accepting every draft gives a p-value < 1e-6.
 * Also: hive_sampler_distribution is what hive_sampler_sample draws from,
 * the lookup drafter, and --draft parsing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"
#include "engine/speculate.h"
#include "util/error.h"

#define V 64
#define DRAWS 20000

/* regularized upper incomplete gamma Q(a, x) (Numerical Recipes' gser/gcf) */
static double gamma_q(double a, double x) {
    if (x <= 0) return 1.0;
    double gln = lgamma(a);
    if (x < a + 1) {
        double ap = a, sum = 1.0 / a, del = sum;
        for (int n = 0; n < 1000; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-15) break;
        }
        return 1.0 - sum * exp(-x + a * log(x) - gln);
    }
    double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
    for (int i = 1; i < 1000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return exp(-x + a * log(x) - gln) * h;
}

/* p-value of observed counts against probabilities p (dense, V entries);
 * bins expecting fewer than 5 draws are pooled. A count where p == 0 fails. */
static double chi_square_p(const unsigned *count, const double *p, unsigned n) {
    double chi = 0, pooled_e = 0, pooled_o = 0;
    int bins = 0;
    for (int i = 0; i < V; i++) {
        double e = p[i] * n;
        if (p[i] == 0 && count[i]) return 0.0; /* a token the target never gives */
        if (e < 5) {
            pooled_e += e;
            pooled_o += count[i];
            continue;
        }
        chi += (count[i] - e) * (count[i] - e) / e;
        bins++;
    }
    if (pooled_e > 0) {
        chi += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
        bins++;
    }
    return bins > 1 ? gamma_q((bins - 1) / 2.0, chi / 2.0) : 1.0;
}

static void make_logits(float *l, uint32_t seed, float scale) {
    uint64_t s = seed;
    for (int i = 0; i < V; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = scale * (float)((s >> 40) & 0xffff) / 65536.0f;
    }
}

static hive_sampler *sampler(float temp, int top_k, float top_p, float min_p, float rep, uint64_t seed) {
    hive_sampling s;
    hive_sampling_defaults(&s);
    s.temperature = temp;
    s.top_k = top_k;
    s.top_p = top_p;
    s.min_p = min_p;
    s.repetition_penalty = rep;
    s.penalty_last_n = 8;
    s.seed = seed;
    hive_sampler *smp = hive_sampler_new(&s, V, NULL);
    assert_non_null(smp);
    return smp;
}

static void dense_of(const hive_token_prob *d, size_t n, double *out) {
    memset(out, 0, V * sizeof *out);
    double sum = 0;
    for (size_t i = 0; i < n; i++) out[d[i].id] = d[i].p, sum += d[i].p;
    assert_true(fabs(sum - 1.0) < 1e-9);
}

static const int32_t history[] = {3, 7, 7, 12, 40, 3, 9, 21, 5, 7};

typedef struct fixture {
    hive_sampler *target, *drafter;
    float logits[V];
    hive_token_prob p[V], q[V], resid[V];
    size_t n_p, n_q;
    double p_dense[V], scratch[V];
} fixture;

static void fixture_init(fixture *f) {
    memset(f, 0, sizeof *f);
    /* the target: every filter and a penalty active */
    f->target = sampler(0.8f, 24, 0.95f, 0.01f, 1.3f, 11);
    make_logits(f->logits, 5, 6.0f);
    f->n_p = hive_sampler_distribution(f->target, f->logits, history, sizeof history / sizeof *history, f->p);
    dense_of(f->p, f->n_p, f->p_dense);
    assert_true(f->n_p > 8 && f->n_p < V); /* the filters cut some tokens, many remain */
}

static void fixture_free(fixture *f) {
    hive_sampler_free(f->target);
    hive_sampler_free(f->drafter);
}

/* the sampler's own draws follow the distribution it reports */
static void test_distribution_is_what_sample_draws(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    unsigned count[V] = {0};
    for (int i = 0; i < DRAWS; i++)
        count[hive_sampler_sample(f.target, f.logits, history, sizeof history / sizeof *history)]++;
    double pv = chi_square_p(count, f.p_dense, DRAWS);
    printf("sample vs distribution: p-value %.4f\n", pv);
    assert_true(pv > 0.001);
    /* greedy: one token, p = 1 */
    hive_sampler *g = sampler(0.0f, 0, 1.0f, 0.0f, 1.0f, 1);
    hive_token_prob one[V];
    assert_int_equal(hive_sampler_distribution(g, f.logits, NULL, 0, one), 1);
    assert_int_equal(one[0].id, hive_sampler_sample(g, f.logits, NULL, 0));
    assert_true(one[0].p == 1.0);
    hive_sampler_free(g);
    fixture_free(&f);
}

/* a biased drafter: other logits, other settings (q far from p) */
static void test_biased_draft(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    f.drafter = sampler(1.5f, 0, 1.0f, 0.0f, 1.0f, 99);
    float dl[V];
    make_logits(dl, 77, 4.0f);
    for (int i = 0; i < 6; i++) dl[f.p[i].id] -= 3.0f; /* push q away from p's likely tokens */
    f.n_q = hive_sampler_distribution(f.drafter, dl, history, sizeof history / sizeof *history, f.q);
    double q_dense[V];
    dense_of(f.q, f.n_q, q_dense);
    unsigned out[V] = {0}, drafts[V] = {0}, accepted = 0;
    for (int i = 0; i < DRAWS; i++) {
        int32_t x = hive_sampler_draw_from(f.drafter, f.q, f.n_q);
        int acc = 0;
        int32_t t = hive_spec_verify_sampled(f.target, f.p, f.n_p, f.q, f.n_q, x, f.scratch, f.resid, &acc);
        out[t]++;
        drafts[x]++;
        accepted += (unsigned)acc;
        assert_true(!acc || t == x);
    }
    double pv = chi_square_p(out, f.p_dense, DRAWS), pv_all = chi_square_p(drafts, f.p_dense, DRAWS);
    /* the expected acceptance is sum min(p, q) */
    double overlap = 0;
    for (int i = 0; i < V; i++) overlap += fmin(f.p_dense[i], q_dense[i]);
    printf("biased q: p-value %.4f; acceptance %.3f (expected %.3f); accepting every draft: p-value %.3g\n", pv,
           (double)accepted / DRAWS, overlap, pv_all);
    assert_true(pv > 0.001);
    assert_true(pv_all < 1e-6);
    assert_true(fabs((double)accepted / DRAWS - overlap) < 0.02);
    for (int i = 0; i < V; i++) assert_true(f.scratch[i] == 0.0); /* scratch left zero */
    fixture_free(&f);
}

/* lookup: q one-hot at x; accept with p(x), else draw from p without x */
static void one_hot_case(fixture *f, int32_t x, const char *what) {
    unsigned out[V] = {0}, accepted = 0;
    for (int i = 0; i < DRAWS; i++) {
        int acc = 0;
        out[hive_spec_verify_sampled(f->target, f->p, f->n_p, NULL, 0, x, f->scratch, f->resid, &acc)]++;
        accepted += (unsigned)acc;
    }
    double pv = chi_square_p(out, f->p_dense, DRAWS);
    unsigned all[V] = {0};
    all[x] = DRAWS; /* what accepting every draft would give */
    double pv_all = chi_square_p(all, f->p_dense, DRAWS);
    printf("one-hot at %s token %d (p %.4f): p-value %.4f, acceptance %.4f; accepting every draft: p-value %.3g\n", what,
           x, f->p_dense[x], pv, (double)accepted / DRAWS, pv_all);
    assert_true(pv > 0.001);
    assert_true(pv_all < 1e-6);
    assert_true(fabs((double)accepted / DRAWS - f->p_dense[x]) < 0.02);
}

static void test_one_hot_draft(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    int32_t best = f.p[0].id, low = f.p[0].id, none = -1;
    for (size_t i = 0; i < f.n_p; i++) {
        if (f.p[i].p > f.p_dense[best]) best = f.p[i].id;
        if (f.p[i].p < f.p_dense[low]) low = f.p[i].id;
    }
    for (int i = 0; i < V && none < 0; i++)
        if (f.p_dense[i] == 0) none = i;
    assert_true(none >= 0);
    one_hot_case(&f, best, "the likeliest");
    one_hot_case(&f, low, "an unlikely");
    one_hot_case(&f, none, "an impossible");
    fixture_free(&f);
}

static void test_lookup(void **state) {
    (void)state;
    int32_t out[8];
    /* ... 5 6 7 8 9 ... 5 6 7 -> 8 9 10 (the most recent match wins) */
    const int32_t h[] = {1, 5, 6, 7, 1, 2, 5, 6, 7, 8, 9, 10, 3, 5, 6, 7};
    assert_int_equal(hive_spec_lookup(h, 16, 3, 8, out), 7);
    assert_int_equal(out[0], 8);
    assert_int_equal(out[2], 10);
    assert_int_equal(out[6], 7); /* runs on through the history */
    assert_int_equal(hive_spec_lookup(h, 16, 3, 2, out), 2);
    /* no 3-gram or 2-gram match: a single matching token is not enough
     * (HIVE_DRAFT_MIN_NGRAM), unless lookup:1 asks for it */
    const int32_t u[] = {4, 9, 1, 2, 3, 4};
    assert_int_equal(HIVE_DRAFT_MIN_NGRAM, 2);
    assert_int_equal(hive_spec_lookup(u, 6, 3, 8, out), 0);
    assert_int_equal(hive_spec_lookup(u, 6, 2, 8, out), 0);
    assert_int_equal(hive_spec_lookup(u, 6, 1, 8, out), 5);
    assert_int_equal(out[0], 9);
    /* a 2-gram is: ... 3 4 7 ... 3 4 -> 7 */
    const int32_t b2[] = {3, 4, 7, 8, 4, 3, 4};
    assert_int_equal(hive_spec_lookup(b2, 7, 3, 8, out), 5);
    assert_int_equal(out[0], 7);
    const int32_t none[] = {1, 2, 3};
    assert_int_equal(hive_spec_lookup(none, 3, 3, 8, out), 0);
    assert_int_equal(hive_spec_lookup(none, 1, 3, 8, out), 0);
}

/* --draft-corpus: the majority continuation, token by token, the longest
 * n-gram that occurs first (down to one token); a guess among many ends the
 * draft after it; past max_k only unanimous votes; the history breaks ties */
static void test_lookup_corpus(void **state) {
    (void)state;
    int32_t out[8];
    const int32_t c[] = {1, 2, 3, 4, 6, 0, 1, 2, 3, 4, 6, 0, 1, 2, 3, 5, 0, 1, 2, 9};
    const size_t nc = sizeof c / sizeof *c;
    const int32_t h[] = {7, 7, 1, 2};
    assert_int_equal(hive_spec_lookup_corpus(c, nc, h, 4, NULL, 0, 3, 8, 0, out), 8);
    assert_int_equal(out[0], 3); /* no "7 1 2"; after "1 2": 3 three times of four */
    assert_int_equal(out[1], 4); /* after "1 2 3": 4 twice, 5 once */
    assert_int_equal(out[2], 6);
    assert_int_equal(out[3], 0);
    assert_int_equal(out[4], 1);
    assert_int_equal(out[5], 2);
    assert_int_equal(out[6], 3); /* after "0 1 2": 3 twice, 9 once */
    assert_int_equal(out[7], 4); /* max_k */
    assert_int_equal(hive_spec_lookup_corpus(c, nc, h, 4, NULL, 0, 3, 2, 0, out), 2);
    /* the longest n-gram wins over a more frequent shorter one */
    const int32_t l[] = {5, 1, 2, 7, 6, 1, 2, 9, 4, 1, 2, 9}, hl[] = {5, 1, 2};
    assert_int_equal(hive_spec_lookup_corpus(l, 12, hl, 3, NULL, 0, 3, 1, 0, out), 1);
    assert_int_equal(out[0], 7);
    assert_int_equal(hive_spec_lookup_corpus(l, 12, hl, 3, NULL, 0, 2, 1, 0, out), 1); /* lookup:2: "1 2" -> 9 */
    assert_int_equal(out[0], 9);
    /* a three-way split: its first choice is drafted, then the draft stops */
    const int32_t sp[] = {3, 8, 1, 0, 3, 8, 2, 0, 3, 8, 4, 0}, hs[] = {3, 8};
    assert_int_equal(hive_spec_lookup_corpus(sp, 12, hs, 2, NULL, 0, 3, 8, 0, out), 1);
    assert_int_equal(out[0], 1);
    /* down to one token, unlike the history's lookup: a corpus votes */
    const int32_t one[] = {42, 3};
    assert_int_equal(hive_spec_lookup_corpus(c, nc, one, 2, NULL, 0, 3, 1, 0, out), 1);
    assert_int_equal(out[0], 4); /* after "3": 4 twice, 5 once */
    /* nothing matches; no corpus */
    const int32_t z[] = {42, 43};
    assert_int_equal(hive_spec_lookup_corpus(c, nc, z, 2, NULL, 0, 3, 8, 0, out), 0);
    assert_int_equal(hive_spec_lookup_corpus(NULL, 0, h, 4, NULL, 0, 3, 8, 0, out), 0);
    /* past max_k, up to sure_k, only what every occurrence (two at least) agrees on */
    const int32_t u[] = {1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 8}, hu[] = {1, 2};
    assert_int_equal(hive_spec_lookup_corpus(u, 15, hu, 2, NULL, 0, 3, 1, 8, out), 6);
    const int32_t want[] = {3, 4, 5, 0, 1, 2}; /* 3: two of three; then "0 1 2" -> 3 or 8 */
    for (int i = 0; i < 6; i++) assert_int_equal(out[i], want[i]);
    assert_int_equal(hive_spec_lookup_corpus(u, 15, hu, 2, NULL, 0, 3, 1, 4, out), 4);
    assert_int_equal(hive_spec_lookup_corpus(u, 15, hu, 2, NULL, 0, 3, 1, 0, out), 1);
    assert_int_equal(hive_spec_lookup_corpus(c, nc, h, 4, NULL, 0, 3, 1, 8, out), 1); /* "1 2 3" -> 4 or 5 */
    /* where the examples disagree, the history's own choice after the last
     * token: at a split whatever it is (and the draft goes on), else only
     * one of the examples' */
    const int32_t sp3[] = {9, 1, 0, 9, 2, 0, 9, 3, 0}, g7[] = {9, 7, 4, 9};
    assert_int_equal(hive_spec_lookup_corpus(sp3, 9, g7, 4, g7, 4, 3, 8, 0, out), 1);
    assert_int_equal(out[0], 7);
    assert_int_equal(hive_spec_lookup_corpus(sp3, 9, g7, 4, NULL, 0, 3, 8, 0, out), 1);
    assert_int_equal(out[0], 1); /* a tie: the first seen */
    const int32_t maj[] = {9, 1, 0, 9, 1, 0, 9, 2, 0}, g2[] = {9, 2, 4, 9}, g5[] = {9, 5, 4, 9};
    assert_int_equal(hive_spec_lookup_corpus(maj, 9, g2, 4, g2, 4, 3, 2, 0, out), 2);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 0);
    assert_int_equal(hive_spec_lookup_corpus(maj, 9, g5, 4, g5, 4, 3, 2, 0, out), 2);
    assert_int_equal(out[0], 1); /* 5 is no example's: the majority's 1 */
    const int32_t once[] = {1, 2, 3, 4};
    assert_int_equal(hive_spec_lookup_corpus(once, 4, hu, 2, NULL, 0, 3, 1, 8, out), 1); /* 4 follows once */
}

static void test_parse(void **state) {
    (void)state;
    hive_spec_opts o;
    hive_error *err = NULL;
    assert_int_equal(hive_spec_parse("lookup", 8, &o, NULL), HIVE_OK);
    assert_int_equal(o.kind, HIVE_DRAFT_LOOKUP);
    assert_int_equal(o.ngram, 3);
    assert_int_equal(hive_spec_parse("lookup:5", 4, &o, NULL), HIVE_OK);
    assert_int_equal(o.ngram, 5);
    assert_int_equal(o.k, 4);
    assert_int_equal(hive_spec_parse("base", 8, &o, NULL), HIVE_OK);
    assert_int_equal(o.kind, HIVE_DRAFT_BASE);
    assert_int_equal(hive_spec_parse("model", 6, &o, NULL), HIVE_OK);
    assert_int_equal(o.kind, HIVE_DRAFT_MODEL);
    assert_int_equal(o.k, 6);
    assert_null(o.draft_engine); /* the caller opens the draft model */
    char name[16];
    hive_spec_describe(&o, name, sizeof name);
    assert_string_equal(name, "model");
    assert_int_equal(hive_spec_parse("", 0, &o, NULL), HIVE_OK);
    assert_int_equal(o.kind, HIVE_DRAFT_NONE);
    assert_int_equal(hive_spec_parse("none", 8, &o, NULL), HIVE_OK);
    const char *bad[] = {"nonsense", "lookup:", "lookup:0", "lookup:17", "lookup:3x", "lookups", "base:2", "model:q4_1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(hive_spec_parse(bad[i], 8, &o, &err), HIVE_E_INVALID);
        assert_non_null(strstr(hive_error_message(err), "--draft"));
        hive_error_free(err);
        err = NULL;
    }
    assert_int_equal(hive_spec_parse("lookup", 0, &o, &err), HIVE_E_INVALID);
    assert_non_null(strstr(hive_error_message(err), "--draft-max"));
    hive_error_free(err);
    err = NULL;
    assert_int_equal(hive_spec_parse("lookup", HIVE_DRAFT_MAX_K + 1, &o, &err), HIVE_E_INVALID);
    hive_error_free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distribution_is_what_sample_draws),
        cmocka_unit_test(test_biased_draft),
        cmocka_unit_test(test_one_hot_draft),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_lookup_corpus),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
