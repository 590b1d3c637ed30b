/* Micro-benchmark (not a test): GEMV throughput of onednn-cpu for the decode
 * shapes of SmolLM2-135M, in GB/s of weight bytes streamed, so it can be put
 * next to the machine's memory bandwidth.
 * Usage: onednn-cpu-bench [plugin.so|-] [decode]   (HIVE_CPU_ISA=scalar|avx2|avxvnni|avx512|avx512vnni caps it)
 *        onednn-cpu-bench [plugin.so|-] attention CTX [THREADS|0 [ROWS [f16|q8_0 [shuffled|ordered]]]]
 *          (the sequence's pages out of order, as after churn, or in order, as the engine hands
 *          a fresh sequence its pages; default shuffled)
 *        onednn-cpu-bench levels
 *        onednn-cpu-bench membw [THREADS]  (bench_membw.c: the machine's read bandwidth)
 *        onednn-cpu-bench [plugin.so|-] ssm_scan T HEADS HEAD_DIM STATE [CHUNK [THREADS]]  (bench_ssm.c)
 * `decode` runs a whole SmolLM2-135M-shaped decode step instead of single GEMVs;
 * `levels` times every ISA level's kernels against each other (bench_levels.c). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hive_abi.h"

static void b_log(void *ctx, int32_t level, const char *msg) {
    (void)ctx;
    if (level <= HIVE_LOG_WARN) fprintf(stderr, "log: %s\n", msg);
}
static hive_error *b_error_new(void *ctx, hive_status code, const char *fmt, ...) {
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error %d: ", code);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return NULL;
}
static void *b_alloc(void *ctx, uint64_t n, uint64_t align) {
    (void)ctx;
    void *p = NULL;
    return posix_memalign(&p, align ? align : 64, n) ? NULL : p;
}
static void b_free(void *ctx, void *p) {
    (void)ctx;
    free(p);
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU seconds of the process: with one thread, the time actually computing even
 * when other jobs share the cores (spinning OpenMP workers inflate it with two). */
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static uint32_t rng = 12345;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void bench(const hive_backend_api *api, uint32_t threads, uint32_t dtype, const char *dname,
                  int64_t n_out, int64_t n_in, int64_t rows) {
    hive_device_options opts = {sizeof opts, threads, (uint32_t)rows, 0};
    hive_device *dev;
    if (api->device_open(0, &opts, &dev, NULL)) return;
    size_t blk = dtype == HIVE_DTYPE_Q8_0 ? 34 : dtype == HIVE_DTYPE_F32 ? 128 : 20;
    size_t wbytes = (size_t)n_out * (size_t)(n_in / 32) * blk;
    uint8_t *wd = malloc(wbytes);
    for (size_t i = 0; i < wbytes; i++) wd[i] = (uint8_t)next_u32();
    for (size_t b = 0; dtype != HIVE_DTYPE_F32 && b < wbytes / blk; b++) { /* f16 scales 2^-8 */
        wd[b * blk] = 0; wd[b * blk + 1] = 0x1c;
        if (dtype == HIVE_DTYPE_Q4_1) { wd[b * blk + 2] = 0; wd[b * blk + 3] = 0x9c; }
    }
    hive_weight_desc desc = {sizeof desc, dtype, n_out, n_in, "bench"};
    hive_weight *w;
    hive_buffer *buf;
    if (dtype == HIVE_DTYPE_F32) /* random bytes are not sane floats */
        for (size_t i = 0; i < wbytes / 4; i++) ((float *)wd)[i] = (float)(next_u32() % 2000) / 1e5f;
    if (api->weight_upload(dev, &desc, wd, &w, NULL) ||
        api->buffer_alloc(dev, (uint64_t)(n_in + n_out) * 4 * rows, &buf, NULL)) return;
    float *x = api->buffer_host_ptr(dev, buf);
    for (int64_t i = 0; i < n_in * rows; i++) x[i] = (float)(next_u32() % 2000) / 1000.0f - 1.0f;
    hive_tensor tx = {sizeof tx, HIVE_DTYPE_F32, buf, 0, rows, n_in, n_in};
    hive_tensor to = {sizeof to, HIVE_DTYPE_F32, buf, (uint64_t)(n_in * rows) * 4, rows, n_out, n_out};
    for (int i = 0; i < 20; i++) api->op_matmul(dev, &tx, w, NULL, 1.0f, 0.0f, &to, NULL);
    int iters = (int)(2e8 / (double)wbytes / (double)rows) + 3;
    double best = 1e30, best_cpu = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s(), c0 = cpu_s();
        for (int i = 0; i < iters; i++) api->op_matmul(dev, &tx, w, NULL, 1.0f, 0.0f, &to, NULL);
        double dt = (now_s() - t0) / iters, dc = (cpu_s() - c0) / iters / threads;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    printf("%-5s rows=%-3lld %6lld x %-5lld threads=%u  %8.1f us  %6.2f GB/s  %6.1f GFLOP/s  "
           "(cpu time/thread: %6.2f GB/s)\n",
           dname, (long long)rows, (long long)n_out, (long long)n_in, threads, best * 1e6, wbytes / best / 1e9,
           2.0 * n_out * n_in * rows / best / 1e9, wbytes / best_cpu / 1e9);
    api->buffer_free(dev, buf);
    api->weight_free(dev, w);
    api->device_close(dev);
    free(wd);
}

/* A SmolLM2-135M decode step (30 layers, hidden 576, 9 heads / 3 kv heads of 64,
 * ffn 1536, Q4_1 linears, Q8_0 tied head of 49152) as the host would call the
 * table, at context length `ctx`; prints tokens/s. */
static hive_weight *rand_weight(const hive_backend_api *api, hive_device *dev, uint32_t dtype,
                                int64_t rows, int64_t cols) {
    size_t blk = dtype == HIVE_DTYPE_Q8_0 ? 34 : dtype == HIVE_DTYPE_Q4_1 ? 20 : 128;
    size_t n = (size_t)rows * (size_t)(cols / 32) * blk;
    uint8_t *d = malloc(n);
    for (size_t i = 0; i < n; i++) d[i] = (uint8_t)next_u32();
    if (dtype == HIVE_DTYPE_F32)
        for (size_t i = 0; i < n / 4; i++) ((float *)d)[i] = 1.0f;
    else
        for (size_t b = 0; b < n / blk; b++) { d[b * blk] = 0; d[b * blk + 1] = 0x1c; d[b * blk + 3] = 0x9c; d[b * blk + 2] = 0; }
    hive_weight_desc desc = {sizeof desc, dtype, rows, cols, "w"};
    hive_weight *w = NULL;
    api->weight_upload(dev, &desc, d, &w, NULL);
    free(d);
    return w;
}

static void bench_decode(const hive_backend_api *api, uint32_t threads, int ctx) {
    enum { L = 30, H = 576, NH = 9, NKV = 3, HD = 64, F = 1536, V = 49152, BS = 16 };
    hive_device_options opts = {sizeof opts, threads, 1, 0};
    hive_device *dev;
    if (api->device_open(0, &opts, &dev, NULL)) return;
    hive_weight *wq[L], *wk[L], *wv[L], *wo[L], *wg[L], *wu[L], *wd[L], *n1[L], *n2[L];
    for (int l = 0; l < L; l++) {
        wq[l] = rand_weight(api, dev, HIVE_DTYPE_Q4_1, H, H);
        wk[l] = rand_weight(api, dev, HIVE_DTYPE_Q4_1, NKV * HD, H);
        wv[l] = rand_weight(api, dev, HIVE_DTYPE_Q4_1, NKV * HD, H);
        wo[l] = rand_weight(api, dev, HIVE_DTYPE_Q4_1, H, H);
        wg[l] = rand_weight(api, dev, HIVE_DTYPE_Q4_1, F, H);
        wu[l] = rand_weight(api, dev, HIVE_DTYPE_Q4_1, F, H);
        wd[l] = rand_weight(api, dev, HIVE_DTYPE_Q4_1, H, F);
        n1[l] = rand_weight(api, dev, HIVE_DTYPE_F32, 1, H);
        n2[l] = rand_weight(api, dev, HIVE_DTYPE_F32, 1, H);
    }
    hive_weight *head = rand_weight(api, dev, HIVE_DTYPE_Q8_0, V, H);
    hive_weight *nf = rand_weight(api, dev, HIVE_DTYPE_F32, 1, H);
    hive_kv_desc kd = {sizeof kd, HIVE_DTYPE_F16, L, 64, BS, NKV, HD, 0, 0, 0, 0, 0, 0, 0};
    hive_kv_cache *kv;
    hive_buffer *buf;
    if (api->kv_alloc(dev, &kd, &kv, NULL) || api->buffer_alloc(dev, 4 * (H * 4 + F * 2 + V), &buf, NULL)) return;
    float *base = api->buffer_host_ptr(dev, buf);
    for (int i = 0; i < H; i++) base[i] = 0.01f * (float)(i % 7);
    uint64_t off = 0;
#define T(name, cols) hive_tensor name = {sizeof name, HIVE_DTYPE_F32, buf, off, 1, cols, cols}; off += 4 * (cols)
    T(x, H); T(xn, H); T(q, H); T(k, NKV * HD); T(v, NKV * HD); T(att, H); T(g, F); T(u, F); T(logits, V);
#undef T
    float inv[HD / 2];
    for (int i = 0; i < HD / 2; i++) inv[i] = 1.0f / (float)(i + 1);
    int32_t table[64], seq = 0, pos = ctx, id;
    for (int i = 0; i < 64; i++) table[i] = i;
    hive_batch b = {sizeof b, 1, &seq, &pos, 1, 64, table};
    hive_rope_desc rq = {sizeof rq, HIVE_ROPE_NEOX, NH, HD, HD, 1.0f, inv, 0, 0};
    hive_rope_desc rk = {sizeof rk, HIVE_ROPE_NEOX, NKV, HD, HD, 1.0f, inv, 0, 0};
    double best = 1e30, best_cpu = 1e30;
    for (int step = 0; step < 25; step++) {
        double t0 = now_s(), c0 = cpu_s();
        for (int l = 0; l < L; l++) {
            api->op_rmsnorm(dev, &x, n1[l], 1e-5f, &xn, NULL);
            api->op_matmul(dev, &xn, wq[l], NULL, 1, 0, &q, NULL);
            api->op_matmul(dev, &xn, wk[l], NULL, 1, 0, &k, NULL);
            api->op_matmul(dev, &xn, wv[l], NULL, 1, 0, &v, NULL);
            api->op_rope(dev, &q, &rq, &b, NULL);
            api->op_rope(dev, &k, &rk, &b, NULL);
            api->op_kv_store(dev, kv, (uint32_t)l, &k, &v, &b, NULL);
            api->op_attention(dev, kv, (uint32_t)l, &q, NH, 0.125f, &b, &att, NULL);
            api->op_matmul(dev, &att, wo[l], NULL, 1, 1, &x, NULL); /* residual via beta */
            api->op_rmsnorm(dev, &x, n2[l], 1e-5f, &xn, NULL);
            api->op_matmul(dev, &xn, wg[l], NULL, 1, 0, &g, NULL);
            api->op_matmul(dev, &xn, wu[l], NULL, 1, 0, &u, NULL);
            api->op_swiglu(dev, &g, &u, &g, NULL);
            api->op_matmul(dev, &g, wd[l], NULL, 1, 1, &x, NULL);
        }
        api->op_rmsnorm(dev, &x, nf, 1e-5f, &xn, NULL);
        api->op_matmul(dev, &xn, head, NULL, 1, 0, &logits, NULL);
        api->op_argmax(dev, &logits, &id, NULL);
        double dt = now_s() - t0, dc = cpu_s() - c0;
        if (step >= 3 && dt < best) best = dt;
        if (step >= 3 && dc < best_cpu) best_cpu = dc;
    }
    printf("decode step (SmolLM2-135M shapes, ctx %d) threads=%u: %.2f ms = %.1f tokens/s "
           "(process cpu %.2f ms)\n",
           ctx, threads, best * 1e3, 1.0 / best, best_cpu * 1e3);
    for (int l = 0; l < L; l++) {
        hive_weight *ws[] = {wq[l], wk[l], wv[l], wo[l], wg[l], wu[l], wd[l], n1[l], n2[l]};
        for (int i = 0; i < 9; i++) api->weight_free(dev, ws[i]);
    }
    api->weight_free(dev, head);
    api->weight_free(dev, nf);
    api->kv_free(dev, kv);
    api->buffer_free(dev, buf);
    api->device_close(dev);
}

/* op_attention alone: `rows` rows of one sequence (1: a decode step; more:
 * a prefill chunk at positions ctx - rows + 1 .. ctx) over its cached slots,
 * all 30 layers (SmolLM2-135M: 9 heads, 3 KV heads, head_dim 64), f16 or
 * q8_0 cache */
static void bench_attention(const hive_backend_api *api, uint32_t threads, int ctx, int rows, uint32_t dtype,
                            int ordered) {
    enum { L = 30, NH = 9, NKV = 3, HD = 64, BS = 16, MAXB = 1040 };
    hive_device_options opts = {sizeof opts, threads, (uint32_t)rows, 0};
    hive_device *dev;
    if (rows < 1 || rows > ctx + 1 || api->device_open(0, &opts, &dev, NULL)) return;
    hive_kv_desc kd = {sizeof kd, dtype, L, MAXB, BS, NKV, HD, 0, 0, 0, 0, 0, 0, 0};
    hive_kv_cache *kv;
    hive_buffer *buf;
    const int64_t qf = (int64_t)rows * NH * HD; /* floats of q, and of out */
    if (ctx + 1 > MAXB * BS || api->kv_alloc(dev, &kd, &kv, NULL) ||
        api->buffer_alloc(dev, 4 * (2 * qf + 2 * NKV * HD), &buf, NULL))
        return;
    float *base = api->buffer_host_ptr(dev, buf);
    for (int64_t i = 0; i < 2 * qf + 2 * NKV * HD; i++) base[i] = (float)(next_u32() % 2000) / 1000.0f - 1.0f;
    hive_tensor q = {sizeof q, HIVE_DTYPE_F32, buf, 0, rows, NH * HD, NH * HD};
    hive_tensor out = {sizeof out, HIVE_DTYPE_F32, buf, 4 * qf, rows, NH * HD, NH * HD};
    hive_tensor k = {sizeof k, HIVE_DTYPE_F32, buf, 8 * qf, 1, NKV * HD, NKV * HD};
    hive_tensor v = {sizeof v, HIVE_DTYPE_F32, buf, 8 * qf + 4 * NKV * HD, 1, NKV * HD, NKV * HD};
    int32_t table[MAXB], seq0 = 0, pos0 = 0;
    for (int i = 0; i < MAXB; i++) table[i] = ordered ? i : (i * 7) % MAXB; /* out of order: a pool after churn */
    hive_batch b1 = {sizeof b1, 1, &seq0, &pos0, 1, MAXB, table};
    for (pos0 = 0; pos0 <= ctx; pos0++)
        for (int l = 0; l < L; l++) api->op_kv_store(dev, kv, (uint32_t)l, &k, &v, &b1, NULL);
    int32_t *seq = calloc((size_t)rows, sizeof *seq), *pos = malloc((size_t)rows * sizeof *pos);
    if (!seq || !pos) return;
    for (int r = 0; r < rows; r++) pos[r] = ctx - rows + 1 + r;
    hive_batch b = {sizeof b, (uint32_t)rows, seq, pos, 1, MAXB, table};
    double best = 1e30, best_cpu = 1e30;
    const int steps = rows > 1 ? 4 : 200;
    for (int step = 0; step < steps; step++) {
        double t0 = now_s(), c0 = cpu_s();
        for (int l = 0; l < L; l++) api->op_attention(dev, kv, (uint32_t)l, &q, NH, 0.125f, &b, &out, NULL);
        double dt = now_s() - t0, dc = cpu_s() - c0;
        if (step >= (rows > 1 ? 1 : 3) && dt < best) best = dt;
        if (step >= (rows > 1 ? 1 : 3) && dc < best_cpu) best_cpu = dc;
    }
    /* K and V bytes a call reads: every layer's slots 0..ctx, once */
    double kv_bytes = (double)L * (ctx + 1) * NKV * 2 * (dtype == HIVE_DTYPE_Q8_0 ? HD / 32 * 34 : HD * 2);
    printf("attention (30 layers, 9 heads / 3 kv, hd 64, %s cache, ctx %d, %d row%s, pages %s) threads=%u: %.3f ms "
           "per call (process cpu %.3f ms), KV read at %.1f GB/s\n",
           dtype == HIVE_DTYPE_Q8_0 ? "q8_0" : "f16", ctx, rows, rows > 1 ? "s" : "", ordered ? "ordered" : "shuffled",
           threads, best * 1e3, best_cpu * 1e3, kv_bytes / best * 1e-9);
    free(seq);
    free(pos);
    api->kv_free(dev, kv);
    api->buffer_free(dev, buf);
    api->device_close(dev);
}

int bench_levels(void);
int bench_membw(int threads); /* bench_membw.c */
int bench_ssm(const hive_backend_api *api, int argc, char **argv); /* bench_ssm.c */

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "levels")) return bench_levels();
    if (argc > 1 && !strcmp(argv[1], "membw")) return bench_membw(argc > 2 ? atoi(argv[2]) : 1);
    const char *path = argc > 1 && strcmp(argv[1], "-") ? argv[1] : HIVE_PLUGIN_BUILD_DIR "/onednn-cpu.so";
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return 1;
    }
    hive_plugin_init_fn init = (hive_plugin_init_fn)dlsym(so, HIVE_PLUGIN_INIT_SYMBOL);
    hive_host_api host = {0};
    host.struct_size = sizeof host;
    host.abi_major = HIVE_ABI_MAJOR;
    host.agreed_minor = HIVE_ABI_MINOR;
    host.log = b_log;
    host.error_new = b_error_new;
    host.alloc = b_alloc;
    host.free = b_free;
    const hive_backend_api *api;
    if (!init || init(&host, (const void **)&api, NULL)) return 1;
    hive_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    api->device_info(0, &info, NULL);
    printf("device: %s\nreason: %s\n", info.name, info.reason);
    if (argc > 2 && !strcmp(argv[2], "ssm_scan")) return bench_ssm(api, argc - 3, argv + 3);
    if (argc > 2 && !strcmp(argv[2], "decode")) {
        for (uint32_t t = 1; t <= 2; t++) bench_decode(api, t, 200);
        return 0;
    }
    if (argc > 2 && !strcmp(argv[2], "attention")) {
        int ctx = argc > 3 ? atoi(argv[3]) : 512;
        int only = argc > 4 ? atoi(argv[4]) : 0; /* a thread count alone (profiling) */
        int rows = argc > 5 ? atoi(argv[5]) : 1; /* rows > 1: a prefill chunk ending at ctx */
        uint32_t dt = argc > 6 && !strcmp(argv[6], "q8_0") ? HIVE_DTYPE_Q8_0 : HIVE_DTYPE_F16;
        int ordered = argc > 7 && !strcmp(argv[7], "ordered");
        for (uint32_t t = 1; t <= 2; t++)
            if (!only || (int)t == only) bench_attention(api, t, ctx, rows, dt, ordered);
        return 0;
    }
    static const int64_t shapes[][2] = {{1536, 576}, {576, 1536}, {49152, 576}};
    for (uint32_t t = 1; t <= 2; t++)
        for (int s = 0; s < 3; s++) {
            bench(api, t, HIVE_DTYPE_Q4_1, "q4_1", shapes[s][0], shapes[s][1], 1);
            bench(api, t, HIVE_DTYPE_Q8_0, "q8_0", shapes[s][0], shapes[s][1], 1);
        }
    /* prefill: 64 rows; f32 goes through oneDNN unless HIVE_CPU_NO_ONEDNN is set */
    for (uint32_t t = 1; t <= 2; t++) {
        bench(api, t, HIVE_DTYPE_Q4_1, "q4_1", 1536, 576, 64);
        bench(api, t, HIVE_DTYPE_F32, "f32", 1536, 576, 64);
    }
    return 0;
}
