/* The machine's read bandwidth, the ceiling of any kernel that streams
 * memory once (GEMV weights, a long KV cache): THREADS threads each sum
 * their share of a 512 MiB buffer, best of 10 passes. Not a test.
 * Usage: onednn-cpu-bench membw [THREADS] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BUF_BYTES = 512 << 20, MAX_THREADS = 64 };

typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} membw_part;

static void *membw_sum(void *arg) {
    membw_part *w = arg;
    uint64_t a[8] = {0}; /* eight independent sums: the loads, not an add chain, set the pace */
    for (size_t i = 0; i + 8 <= w->n; i += 8)
        for (int j = 0; j < 8; j++) a[j] += w->p[i + j];
    w->sum = a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
    return NULL;
}

static double membw_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int bench_membw(int threads) {
    if (threads < 1 || threads > MAX_THREADS) threads = 1;
    size_t n = BUF_BYTES / sizeof(uint64_t);
    uint64_t *buf = malloc(BUF_BYTES);
    if (!buf) return 1;
    for (size_t i = 0; i < n; i++) buf[i] = i * 0x9E3779B97F4A7C15ull; /* touched: real pages */
    double best = 1e30;
    uint64_t check = 0;
    for (int pass = 0; pass < 10; pass++) {
        pthread_t tid[MAX_THREADS];
        membw_part part[MAX_THREADS];
        double t0 = membw_now();
        for (int t = 0; t < threads; t++) {
            part[t] = (membw_part){buf + n / threads * t, n / threads, 0};
            pthread_create(&tid[t], NULL, membw_sum, &part[t]);
        }
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            check ^= part[t].sum;
        }
        double dt = membw_now() - t0;
        if (dt < best) best = dt;
    }
    printf("memory read, %d thread%s: %.1f GB/s (512 MiB, best of 10; check %llx)\n", threads, threads > 1 ? "s" : "",
           BUF_BYTES / best * 1e-9, (unsigned long long)(check & 0xff));
    free(buf);
    return 0;
}
