/* DoRA norms: the reference loop, the kernel choice, and the row split over
 * threads (dora_kernel.h). */
#include "dora_kernel.h"

#include <pthread.h>
#include <stdlib.h>

int dora_row_sumsq_ref(const float *W, const float *A, const float *B, uint32_t out, uint32_t in, uint32_t r,
                       double s, double *sumsq) {
    double *row = malloc((size_t)(in ? in : 1) * sizeof *row);
    if (!row) return -1;
    for (uint32_t o = 0; o < out; o++) {
        const float *w = W + (size_t)o * in;
        for (uint32_t i = 0; i < in; i++) row[i] = 0.0;
        for (uint32_t k = 0; k < r; k++) {
            double b = (double)B[(size_t)o * r + k];
            const float *ak = A + (size_t)k * in;
            for (uint32_t i = 0; i < in; i++) row[i] += b * ak[i];
        }
        double sum = 0.0;
        for (uint32_t i = 0; i < in; i++) {
            double v = (double)w[i] + s * row[i];
            sum += v * v;
        }
        sumsq[o] = sum;
    }
    free(row);
    return 0;
}

#if defined(DORA_HAVE_X86_KERNELS) && (defined(__x86_64__) || defined(__i386__))
#define DORA_X86 1
#endif

int dora_kernel_available(int level) {
    switch (level) {
    case DORA_LEVEL_REF:
    case DORA_LEVEL_GENERIC: return 1;
#ifdef DORA_X86
    /* __builtin_cpu_supports also checks that the OS saves the vector state */
    case DORA_LEVEL_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case DORA_LEVEL_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

int dora_kernel_best(void) {
    for (int l = DORA_LEVEL_COUNT - 1; l > DORA_LEVEL_GENERIC; l--)
        if (dora_kernel_available(l)) return l;
    return DORA_LEVEL_GENERIC;
}

const char *dora_kernel_name(int level) {
    static const char *const names[DORA_LEVEL_COUNT] = {"ref", "generic", "avx2", "avx512"};
    return level >= 0 && level < DORA_LEVEL_COUNT ? names[level] : "?";
}

static dora_sumsq_fn kernel_of(int level) {
    switch (level) {
#ifdef DORA_X86
    case DORA_LEVEL_AVX2: return dora_sumsq_avx2;
    case DORA_LEVEL_AVX512: return dora_sumsq_avx512;
#endif
    default: return dora_sumsq_generic;
    }
}

/* A pool of helper threads for the norms of one adapter load: helpers sleep
 * between modules; each module's rows are cut into chunks that the caller
 * and the helpers claim one at a time, so the caller never waits for a helper
 * that has not been scheduled yet (it takes the chunks itself), only for
 * chunks a helper is computing. */
#define DORA_CHUNK_ROWS 32u /* a multiple of every level's tile rows */
#define DORA_MAX_THREADS 256u

struct dora_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t tid[DORA_MAX_THREADS];
    uint32_t n_helpers;
    int quit;
    /* the current job, under mu */
    uint64_t gen;
    dora_sumsq_fn fn;
    const float *W;
    const double *Ad, *Bd;
    uint32_t out, in, r;
    double s;
    double *sumsq;
    uint32_t n_chunks, next, finished;
};

/* Claims and runs chunks of the current job until none is left; mu held on
 * entry and on return. */
static void run_chunks(dora_pool *p) {
    while (p->next < p->n_chunks) {
        uint32_t c = p->next++, o0 = c * DORA_CHUNK_ROWS;
        uint32_t o1 = o0 + DORA_CHUNK_ROWS < p->out ? o0 + DORA_CHUNK_ROWS : p->out;
        dora_sumsq_fn fn = p->fn;
        const float *W = p->W;
        const double *Ad = p->Ad, *Bd = p->Bd;
        uint32_t in = p->in, r = p->r;
        double s = p->s, *sumsq = p->sumsq;
        pthread_mutex_unlock(&p->mu);
        fn(W, Ad, Bd, o0, o1, in, r, s, sumsq);
        pthread_mutex_lock(&p->mu);
        if (++p->finished == p->n_chunks) pthread_cond_signal(&p->done);
    }
}

static void *helper(void *arg) {
    dora_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->gen == seen) pthread_cond_wait(&p->work, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        run_chunks(p);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

dora_pool *dora_pool_new(uint32_t threads) {
    if (threads <= 1) return NULL;
    dora_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->work, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    uint32_t want = threads - 1 < DORA_MAX_THREADS ? threads - 1 : DORA_MAX_THREADS;
    while (p->n_helpers < want && pthread_create(&p->tid[p->n_helpers], NULL, helper, p) == 0) p->n_helpers++;
    return p; /* with fewer helpers than asked when threads could not start */
}

uint32_t dora_pool_threads(const dora_pool *p) { return p ? p->n_helpers + 1 : 1; }

void dora_pool_free(dora_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (uint32_t t = 0; t < p->n_helpers; t++) pthread_join(p->tid[t], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int dora_row_sumsq(int level, dora_pool *pool, const float *W, const float *A, const float *B, uint32_t out,
                   uint32_t in, uint32_t r, double s, double *sumsq) {
    if (level == DORA_LEVEL_REF) return dora_row_sumsq_ref(W, A, B, out, in, r, s, sumsq);
    double *Ad = malloc(((size_t)r * in + (size_t)out * r + 1) * sizeof *Ad);
    if (!Ad) return -1;
    double *Bd = Ad + (size_t)r * in;
    for (size_t i = 0; i < (size_t)r * in; i++) Ad[i] = (double)A[i];
    for (size_t i = 0; i < (size_t)out * r; i++) Bd[i] = (double)B[i];
    dora_sumsq_fn fn = kernel_of(level);
    if (!pool || !pool->n_helpers || out <= DORA_CHUNK_ROWS) {
        fn(W, Ad, Bd, 0, out, in, r, s, sumsq);
    } else {
        pthread_mutex_lock(&pool->mu);
        pool->fn = fn;
        pool->W = W;
        pool->Ad = Ad;
        pool->Bd = Bd;
        pool->out = out;
        pool->in = in;
        pool->r = r;
        pool->s = s;
        pool->sumsq = sumsq;
        pool->n_chunks = (out + DORA_CHUNK_ROWS - 1) / DORA_CHUNK_ROWS;
        pool->next = pool->finished = 0;
        pool->gen++;
        pthread_cond_broadcast(&pool->work);
        run_chunks(pool);
        while (pool->finished < pool->n_chunks) pthread_cond_wait(&pool->done, &pool->mu);
        pool->n_chunks = 0; /* a helper waking late finds nothing to claim */
        pthread_mutex_unlock(&pool->mu);
    }
    free(Ad);
    return 0;
}
