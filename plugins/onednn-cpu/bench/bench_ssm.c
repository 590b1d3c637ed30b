/* onednn-cpu-bench ssm_scan T HEADS HEAD_DIM STATE [CHUNK [THREADS]]: one
 * sequence's prefill of T tokens through op_ssm_scan (one group), stepped
 * token by token (HIVE_CPU_SSM_CHUNKED=0) against chunked (=1), in tokens/s,
 * best of a few calls, with the process CPU time beside the wall time (the
 * figure to trust on a loaded machine with one thread). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hive_abi.h"

static double clock_of(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float rnd(uint32_t *s, float lo, float hi) {
    *s = *s * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*s >> 8) / 16777216.0f;
}

int bench_ssm(const hive_backend_api *api, int argc, char **argv);
int bench_ssm(const hive_backend_api *api, int argc, char **argv) {
    if (argc < 4 || !api->op_ssm_scan) {
        fprintf(stderr, "usage: onednn-cpu-bench PLUGIN|- ssm_scan T HEADS HEAD_DIM STATE [CHUNK [THREADS]]\n");
        return 2;
    }
    int64_t T = atoll(argv[0]), H = atoll(argv[1]), P = atoll(argv[2]), N = atoll(argv[3]);
    uint32_t chunk = argc > 4 ? (uint32_t)atoi(argv[4]) : 0, threads = argc > 5 ? (uint32_t)atoi(argv[5]) : 1;
    if (T < 1 || H < 1 || P < 1 || N < 1) return 2;
    hive_device_options opts = {sizeof opts, threads, (uint32_t)T, 0};
    hive_device *dev;
    hive_buffer *buf;
    int64_t xs = T * H * P, dts = T * H, bs = T * N, ss = H * P * N, total = 2 * xs + dts + 2 * bs + ss;
    if (api->device_open(0, &opts, &dev, NULL) || api->buffer_alloc(dev, (uint64_t)total * 4, &buf, NULL)) return 1;
    float *f = api->buffer_host_ptr(dev, buf);
    uint32_t seed = 7;
    for (int64_t i = 0; i < total; i++) f[i] = rnd(&seed, -1.0f, 1.0f);
    int64_t o = 0;
    hive_tensor x = {sizeof x, HIVE_DTYPE_F32, buf, 0, T, H * P, H * P};
    hive_tensor y = {sizeof y, HIVE_DTYPE_F32, buf, (uint64_t)(o += xs) * 4, T, H * P, H * P};
    hive_tensor dt = {sizeof dt, HIVE_DTYPE_F32, buf, (uint64_t)(o += xs) * 4, T, H, H};
    hive_tensor B = {sizeof B, HIVE_DTYPE_F32, buf, (uint64_t)(o += dts) * 4, T, N, N};
    hive_tensor C = {sizeof C, HIVE_DTYPE_F32, buf, (uint64_t)(o += bs) * 4, T, N, N};
    hive_tensor st = {sizeof st, HIVE_DTYPE_F32, buf, (uint64_t)(o += bs) * 4, 1, ss, ss};
    float *hv = malloc((size_t)H * 3 * sizeof *hv), *y0 = malloc((size_t)xs * sizeof *y0);
    if (!hv || !y0) return 1;
    for (int64_t h = 0; h < H; h++) hv[h] = -expf(rnd(&seed, 0.0f, 2.7f)), hv[H + h] = 1.0f, hv[2 * H + h] = -2.0f;
    hive_weight *w[3];
    for (int i = 0; i < 3; i++) {
        hive_weight_desc wd = {sizeof wd, HIVE_DTYPE_F32, 1, (uint64_t)H, "ssm bench"};
        if (api->weight_upload(dev, &wd, hv + i * H, &w[i], NULL)) return 1;
    }
    hive_ssm_desc d = {sizeof d, (uint32_t)H, (uint32_t)P, 1, (uint32_t)N, chunk, 0.0f, INFINITY};
    int32_t *seq = calloc((size_t)T, sizeof *seq), *pos = malloc((size_t)T * sizeof *pos), slot = 0;
    if (!seq || !pos) return 1;
    for (int64_t t = 0; t < T; t++) pos[t] = (int32_t)t;
    hive_batch b = {sizeof b, (uint32_t)T, seq, pos, 1, 0, NULL};
    float *state = f + o;
    double diff = 0.0, scale = 0.0;
    for (int chunked = 0; chunked <= 1; chunked++) {
        setenv("HIVE_CPU_SSM_CHUNKED", chunked ? "1" : "0", 1);
        double best = 1e30, best_cpu = 1e30;
        for (int rep = 0; rep < 4; rep++) {
            memset(state, 0, (size_t)ss * sizeof *state);
            double t0 = clock_of(CLOCK_MONOTONIC), c0 = clock_of(CLOCK_PROCESS_CPUTIME_ID);
            if (api->op_ssm_scan(dev, &x, &dt, &B, &C, w[0], w[1], w[2], &d, &b, &slot, &st, &y, NULL)) return 1;
            double wall = clock_of(CLOCK_MONOTONIC) - t0, cpu = clock_of(CLOCK_PROCESS_CPUTIME_ID) - c0;
            if (wall < best) best = wall;
            if (cpu < best_cpu) best_cpu = cpu;
        }
        const float *yv = f + xs;
        for (int64_t i = 0; i < xs; i++) {
            if (!chunked) y0[i] = yv[i];
            else {
                double e = fabs((double)yv[i] - y0[i]);
                if (e > diff) diff = e;
                if (fabs(y0[i]) > scale) scale = fabs(y0[i]);
            }
        }
        printf("ssm_scan T=%lld heads=%lld head_dim=%lld state=%lld chunk=%u threads=%u %-9s: %.3f ms "
               "(%.0f tok/s), process cpu %.3f ms (%.0f tok/s)\n",
               (long long)T, (long long)H, (long long)P, (long long)N, chunk, threads,
               chunked ? "chunked" : "stepped", best * 1e3, T / best, best_cpu * 1e3, T / best_cpu);
    }
    printf("max |chunked - stepped| = %.3g (max |y| %.3g)\n", diff, scale);
    unsetenv("HIVE_CPU_SSM_CHUNKED");
    for (int i = 0; i < 3; i++) api->weight_free(dev, w[i]);
    free(hv), free(y0), free(seq), free(pos);
    api->buffer_free(dev, buf);
    api->device_close(dev);
    return 0;
}
