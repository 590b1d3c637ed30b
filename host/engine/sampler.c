#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"

/* Top-p first tries the best TOP_P_FIRST_K candidates (enough for a peaked
 * distribution); a wider nucleus is found by bucketing logits below the max into
 * NUCLEUS_BUCKETS slices of NUCLEUS_RANGE nats (the rest share the last one), so
 * only the bucket where the mass crosses top_p is sorted, never the whole vocab. */
#define TOP_P_FIRST_K 256
#define NUCLEUS_BUCKETS 4096
#define NUCLEUS_RANGE 32.0f

typedef struct candidate {
    float logit; /* after penalties; reused as the unnormalised weight when drawing */
    int32_t id;
} candidate;

struct hive_sampler {
    hive_sampling params;
    uint32_t n_vocab;
    uint64_t rng[4];    /* xoshiro256** state */
    candidate *cand;    /* n_vocab */
    uint32_t *counts;   /* n_vocab, all zero between calls */
    int32_t *pen_ids;   /* n_vocab: distinct ids of the penalty window */
    double bucket_mass[NUCLEUS_BUCKETS];
};

void hive_sampling_defaults(hive_sampling *s) {
    s->temperature = 0.7f;
    s->top_k = 40;
    s->top_p = 0.95f;
    s->min_p = 0.05f;
    s->repetition_penalty = 1.0f;
    s->presence_penalty = 0.0f;
    s->frequency_penalty = 0.0f;
    s->penalty_last_n = 64;
    s->seed = HIVE_SEED_RANDOM;
}

/* Comparisons are written so NaN fails them. */
hive_status hive_sampling_validate(const hive_sampling *s, hive_error **err) {
    if (!s) return hive_fail(err, HIVE_E_INVALID, "sampling parameters missing");
    if (!(s->temperature >= 0.0f && isfinite(s->temperature)))
        return hive_fail(err, HIVE_E_INVALID, "temperature %g out of range: must be >= 0 (0 = greedy)",
                         (double)s->temperature);
    if (s->top_k < 0)
        return hive_fail(err, HIVE_E_INVALID, "top_k %d out of range: must be >= 0 (0 = off)", (int)s->top_k);
    if (!(s->top_p > 0.0f && s->top_p <= 1.0f))
        return hive_fail(err, HIVE_E_INVALID, "top_p %g out of range: must be in (0, 1]", (double)s->top_p);
    if (!(s->min_p >= 0.0f && s->min_p <= 1.0f))
        return hive_fail(err, HIVE_E_INVALID, "min_p %g out of range: must be in [0, 1]", (double)s->min_p);
    if (!(s->repetition_penalty > 0.0f && isfinite(s->repetition_penalty)))
        return hive_fail(err, HIVE_E_INVALID, "repetition_penalty %g out of range: must be > 0 (1 = off)",
                         (double)s->repetition_penalty);
    if (!(s->presence_penalty >= -2.0f && s->presence_penalty <= 2.0f))
        return hive_fail(err, HIVE_E_INVALID, "presence_penalty %g out of range: must be in [-2, 2]",
                         (double)s->presence_penalty);
    if (!(s->frequency_penalty >= -2.0f && s->frequency_penalty <= 2.0f))
        return hive_fail(err, HIVE_E_INVALID, "frequency_penalty %g out of range: must be in [-2, 2]",
                         (double)s->frequency_penalty);
    if (s->penalty_last_n < -1)
        return hive_fail(err, HIVE_E_INVALID,
                         "penalty_last_n %d out of range: must be >= -1 (0 = off, -1 = whole history)",
                         (int)s->penalty_last_n);
    return HIVE_OK;
}

/* ---- PRNG: splitmix64 expands the seed into xoshiro256** state. ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

void hive_sampler_reseed(hive_sampler *smp, uint64_t seed) {
    if (seed == HIVE_SEED_RANDOM) {
        struct timespec rt, mono;
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        /* The address separates samplers created within one clock tick. */
        seed = ((uint64_t)rt.tv_sec * 1000000000ULL + (uint64_t)rt.tv_nsec) ^
               ((uint64_t)mono.tv_nsec << 32) ^ (uint64_t)(uintptr_t)smp;
    }
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) smp->rng[i] = splitmix64(&x);
}

hive_sampler *hive_sampler_new(const hive_sampling *s, uint32_t n_vocab, hive_error **err) {
    if (hive_sampling_validate(s, err) != HIVE_OK) return NULL;
    if (n_vocab == 0 || n_vocab > (uint32_t)INT32_MAX) {
        hive_fail(err, HIVE_E_INVALID, "n_vocab %u out of range: must be in [1, %d]", n_vocab, INT32_MAX);
        return NULL;
    }
    hive_sampler *smp = calloc(1, sizeof *smp);
    if (smp) {
        smp->cand = malloc((size_t)n_vocab * sizeof *smp->cand);
        smp->counts = calloc(n_vocab, sizeof *smp->counts);
        smp->pen_ids = malloc((size_t)n_vocab * sizeof *smp->pen_ids);
    }
    if (!smp || !smp->cand || !smp->counts || !smp->pen_ids) {
        hive_sampler_free(smp);
        hive_fail(err, HIVE_E_NOMEM, "sampler for %u tokens: out of memory", n_vocab);
        return NULL;
    }
    smp->params = *s;
    smp->n_vocab = n_vocab;
    hive_sampler_reseed(smp, s->seed);
    return smp;
}

void hive_sampler_free(hive_sampler *smp) {
    if (!smp) return;
    free(smp->cand);
    free(smp->counts);
    free(smp->pen_ids);
    free(smp);
}

/* ---- penalties ---- */

static int penalties_active(const hive_sampling *p) {
    return p->penalty_last_n != 0 &&
           (p->repetition_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

/* Counts the window into smp->counts and lists its distinct ids in smp->pen_ids;
 * the caller must zero counts[pen_ids[i]] again. Returns the number of ids. */
static size_t count_window(hive_sampler *smp, const int32_t *history, size_t n_history) {
    size_t window = n_history;
    if (smp->params.penalty_last_n > 0 && (size_t)smp->params.penalty_last_n < window)
        window = (size_t)smp->params.penalty_last_n;
    const int32_t *h = history + (n_history - window);
    size_t n_ids = 0;
    for (size_t i = 0; i < window; i++) {
        int32_t t = h[i];
        if (t < 0 || (uint32_t)t >= smp->n_vocab) continue;
        if (smp->counts[t]++ == 0) smp->pen_ids[n_ids++] = t;
    }
    return n_ids;
}

static float penalize_one(const hive_sampling *p, float logit, uint32_t count) {
    /* HF/llama.cpp: pushing toward zero would raise negative logits, so those are multiplied. */
    logit = logit > 0.0f ? logit / p->repetition_penalty : logit * p->repetition_penalty;
    return logit - (float)count * p->frequency_penalty - p->presence_penalty;
}

void hive_sampler_penalize(hive_sampler *smp, float *logits, const int32_t *history, size_t n_history) {
    if (!penalties_active(&smp->params) || !history) return;
    size_t n_ids = count_window(smp, history, n_history);
    for (size_t i = 0; i < n_ids; i++) {
        int32_t t = smp->pen_ids[i];
        logits[t] = penalize_one(&smp->params, logits[t], smp->counts[t]);
        smp->counts[t] = 0;
    }
}

/* ---- candidate ordering: higher logit first, ties to the lower id ---- */

static int better(const candidate *a, const candidate *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_desc(const void *pa, const void *pb) {
    const candidate *a = pa, *b = pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static void swap_cand(candidate *a, candidate *b) {
    candidate t = *a;
    *a = *b;
    *b = t;
}

/* Min-heap on `better`: the root is the worst of the kept k. */
static void sift_down(candidate *h, size_t n, size_t i) {
    for (;;) {
        size_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(&h[worst], &h[l])) worst = l;
        if (r < n && better(&h[worst], &h[r])) worst = r;
        if (worst == i) return;
        swap_cand(&h[i], &h[worst]);
        i = worst;
    }
}

/* Moves the best k of c[0..n) to the front, sorted best first: O(n log k). */
static void select_top(candidate *c, size_t n, size_t k) {
    if (k < n) {
        for (size_t i = k / 2; i-- > 0;) sift_down(c, k, i);
        for (size_t i = k; i < n; i++) {
            if (better(&c[i], &c[0])) {
                swap_cand(&c[0], &c[i]);
                sift_down(c, k, 0);
            }
        }
    }
    qsort(c, k < n ? k : n, sizeof *c, cmp_desc);
}

static size_t best_index(const candidate *c, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (better(&c[i], &c[best])) best = i;
    return best;
}

/* ---- filters; probabilities are exp(logit - max) / z at temperature 1 ---- */

/* Keeps p >= min_p * p_max, i.e. logit >= max + log(min_p). Order is kept. */
static size_t apply_min_p(candidate *c, size_t n, float max, float min_p) {
    float threshold = max + logf(min_p);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].logit >= threshold) c[kept++] = c[i];
    return kept;
}

static double prob(float logit, float max, double z) { return (double)expf(logit - max) / z; }

/* Smallest best-first prefix of the sorted c[0..k) whose mass, added to `cum`,
 * reaches top_p (at least one); 0 when the whole of c[0..k) does not reach it. */
static size_t nucleus_len(const candidate *c, size_t k, float max, double z, double cum, float top_p) {
    for (size_t i = 0; i < k; i++) {
        cum += prob(c[i].logit, max, z);
        if (cum >= (double)top_p) return i + 1;
    }
    return 0;
}

static size_t bucket_of(float logit, float max) {
    float d = (max - logit) * ((float)NUCLEUS_BUCKETS / NUCLEUS_RANGE);
    return d < (float)(NUCLEUS_BUCKETS - 1) ? (size_t)d : NUCLEUS_BUCKETS - 1;
}

/* Buckets are ordered by logit, so every bucket before the one where the mass
 * crosses top_p is kept whole; only that bucket needs sorting. O(n) + its sort. */
static size_t nucleus_by_buckets(hive_sampler *smp, candidate *c, size_t n, float max, double z, float top_p) {
    double *mass = smp->bucket_mass;
    memset(mass, 0, sizeof smp->bucket_mass);
    for (size_t i = 0; i < n; i++) mass[bucket_of(c[i].logit, max)] += prob(c[i].logit, max, z);
    size_t cross = 0;
    double cum = 0.0;
    while (cross < NUCLEUS_BUCKETS && cum + mass[cross] < (double)top_p) cum += mass[cross++];
    if (cross == NUCLEUS_BUCKETS) return n; /* rounding kept the mass just under top_p */

    size_t before = 0; /* partition: buckets < cross, then bucket == cross, then the rest */
    for (size_t i = 0; i < n; i++)
        if (bucket_of(c[i].logit, max) < cross) swap_cand(&c[i], &c[before++]);
    size_t end = before;
    for (size_t i = before; i < n; i++)
        if (bucket_of(c[i].logit, max) == cross) swap_cand(&c[i], &c[end++]);
    qsort(c + before, end - before, sizeof *c, cmp_desc);
    size_t len = nucleus_len(c + before, end - before, max, z, cum, top_p);
    return before + (len ? len : end - before);
}

static size_t apply_top_p(hive_sampler *smp, candidate *c, size_t n, int sorted, float max, double z,
                          float top_p) {
    if (!sorted && n > TOP_P_FIRST_K) {
        select_top(c, n, TOP_P_FIRST_K);
        size_t len = nucleus_len(c, TOP_P_FIRST_K, max, z, 0.0, top_p);
        return len ? len : nucleus_by_buckets(smp, c, n, max, z, top_p);
    }
    if (!sorted) qsort(c, n, sizeof *c, cmp_desc);
    size_t len = nucleus_len(c, n, max, z, 0.0, top_p);
    return len ? len : n; /* rounding kept the mass just under top_p: keep everything */
}

/* Softmax weights at `temperature` over c[0..n), written into c[i].logit;
 * returns their sum. */
static double weigh(candidate *c, size_t n, float max, float temperature) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        c[i].logit = expf((c[i].logit - max) / temperature);
        total += (double)c[i].logit;
    }
    return total;
}

/* Softmax at `temperature` over c[0..n) and one draw from it. */
static int32_t draw(hive_sampler *smp, candidate *c, size_t n, float max, float temperature) {
    double total = weigh(c, n, max, temperature);
    double u = rng_uniform(smp->rng) * total;
    double cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += (double)c[i].logit;
        if (u < cum) return c[i].id;
    }
    /* u fell past the rounded total: the last token with nonzero weight. */
    for (size_t i = n; i-- > 0;)
        if (c[i].logit > 0.0f) return c[i].id;
    return c[0].id;
}

int hive_sampler_is_argmax(const hive_sampler *smp) {
    const hive_sampling *p = &smp->params;
    return (p->temperature == 0.0f || p->top_k == 1) && !penalties_active(p);
}

/* Steps 1-5 of the pipeline: penalties, then top-k, min-p and top-p leave the
 * survivors in smp->cand[0..*n) with the best logit *max. Returns a token id
 * when the answer is one token (greedy, or probabilities undefined), else -1. */
static int32_t filter(hive_sampler *smp, const float *logits, const int32_t *history, size_t n_history, size_t *n_out,
                      float *max_out) {
    const hive_sampling *p = &smp->params;
    candidate *c = smp->cand;
    size_t n = smp->n_vocab;
    for (size_t i = 0; i < n; i++) {
        c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
        c[i].id = (int32_t)i;
    }
    if (penalties_active(p) && history) {
        size_t n_ids = count_window(smp, history, n_history);
        for (size_t i = 0; i < n_ids; i++) {
            int32_t t = smp->pen_ids[i];
            c[t].logit = penalize_one(p, c[t].logit, smp->counts[t]);
            smp->counts[t] = 0;
        }
    }

    if (p->temperature == 0.0f || p->top_k == 1) return c[best_index(c, n)].id;

    int sorted = 0;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        select_top(c, n, (size_t)p->top_k);
        n = (size_t)p->top_k;
        sorted = 1;
    }
    size_t top = sorted ? 0 : best_index(c, n);
    float max = c[top].logit;
    /* All -inf, or +inf logits: probabilities are undefined, the best token is the answer. */
    if (!isfinite(max)) return c[top].id;

    /* Top-p needs the normaliser of the top-k set before min-p shrinks it. */
    double z = 0.0;
    if (p->top_p < 1.0f)
        for (size_t i = 0; i < n; i++) z += (double)expf(c[i].logit - max);

    /* Both filters keep a best-first prefix, so their intersection does not depend on
     * the order they run in; min-p first is a linear pass that shrinks what top-p sorts. */
    if (p->min_p > 0.0f) n = apply_min_p(c, n, max, p->min_p);
    if (p->top_p < 1.0f) n = apply_top_p(smp, c, n, sorted, max, z, p->top_p);
    *n_out = n;
    *max_out = max;
    return -1;
}

int32_t hive_sampler_sample(hive_sampler *smp, const float *logits, const int32_t *history, size_t n_history) {
    size_t n = 0;
    float max = 0.0f;
    int32_t only = filter(smp, logits, history, n_history, &n, &max);
    return only >= 0 ? only : draw(smp, smp->cand, n, max, smp->params.temperature);
}

size_t hive_sampler_distribution(hive_sampler *smp, const float *logits, const int32_t *history, size_t n_history,
                                 hive_token_prob *out) {
    size_t n = 0;
    float max = 0.0f;
    int32_t only = filter(smp, logits, history, n_history, &n, &max);
    if (only >= 0) {
        out[0] = (hive_token_prob){only, 1.0};
        return 1;
    }
    candidate *c = smp->cand;
    double total = weigh(c, n, max, smp->params.temperature);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].logit > 0.0f) out[kept++] = (hive_token_prob){c[i].id, (double)c[i].logit / total};
    return kept;
}

double hive_sampler_uniform(hive_sampler *smp) { return rng_uniform(smp->rng); }

int32_t hive_sampler_draw_from(hive_sampler *smp, const hive_token_prob *w, size_t n) {
    double total = 0.0;
    for (size_t i = 0; i < n; i++) total += w[i].p;
    double u = rng_uniform(smp->rng) * total, cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += w[i].p;
        if (u < cum) return w[i].id;
    }
    for (size_t i = n; i-- > 0;) /* u fell past the rounded total */
        if (w[i].p > 0.0) return w[i].id;
    return n ? w[0].id : -1;
}

void hive_sampler_apply_mask(float *logits, const uint32_t *allowed, uint32_t n_vocab) {
    for (uint32_t w = 0; w < (n_vocab + 31) / 32; w++) {
        uint32_t bits = allowed[w];
        if (bits == UINT32_MAX) continue;
        for (uint32_t i = w * 32; i < w * 32 + 32 && i < n_vocab; i++)
            if (!((bits >> (i & 31)) & 1)) logits[i] = -INFINITY;
    }
}
