/* `onednn-cpu-bench levels`: every ISA level's implementation of each
 * quantized kernel, side by side on this CPU, one thread. Shows that the
 * level dispatch picks is never slower than another level's (within noise)
 * on any kernel; prints which one it picks and a verdict line. Times are
 * thread CPU time, best of nine rounds that visit every variant in turn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cpu_features.h"
#include "kernels.h"

int bench_levels(void);

/* thread CPU time: one thread, so other jobs sharing the cores do not count */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const char *what;
    uint32_t dtype;
    size_t blk;
    int64_t rows, cols, nx; /* nx == 1: vec_dot (decode), else gemm over nx activation rows */
} kernel_case;

static void fill(uint8_t *w, size_t bytes, size_t blk, uint32_t dtype) {
    uint32_t s = 7;
    for (size_t i = 0; i < bytes; i++) s = s * 1664525u + 1013904223u, w[i] = (uint8_t)(s >> 24);
    for (size_t b = 0; b < bytes / blk; b++) { /* sane f16 scales */
        w[b * blk] = 0, w[b * blk + 1] = 0x1c;
        if (dtype == HIVE_DTYPE_Q4_1) w[b * blk + 2] = 0, w[b * blk + 3] = 0x9c;
    }
}

/* seconds for one full pass over the weight, `iters` passes averaged */
static double run_once(const cpu_kernels *k, const kernel_case *kc, const uint8_t *w, const act_q8 *x, float *out,
                       int iters) {
    size_t row_bytes = (size_t)(kc->cols / 32) * kc->blk, x_row = (size_t)(kc->cols / 32) * sizeof(act_q8);
    double t0 = now_s();
    for (int it = 0; it < iters; it++)
        for (int64_t r = 0; r < kc->rows; r += 4) {
            const uint8_t *wr = w + (size_t)r * row_bytes;
            if (kc->nx == 1) k->vec_dot[kc->dtype](kc->cols, wr, row_bytes, 4, x, out);
            else k->gemm[kc->dtype](kc->cols, wr, row_bytes, 4, x, x_row, (int)kc->nx, out, 4);
        }
    return (now_s() - t0) / iters;
}

int bench_levels(void) {
    cpu_features f;
    cpu_detect(&f);
    int cap_ok, picked = cpu_isa_pick(&f, getenv("HIVE_CPU_ISA"), &cap_ok);
    printf("cpu: %s\ndispatch picks: %s%s\n\n", f.brand, cpu_isa_names[picked],
           getenv("HIVE_CPU_ISA") ? " (HIVE_CPU_ISA caps it)" : "");
    /* variants: each usable level, plus each on the row-major layout (the
     * AVX-512 ones with 256-bit and with 512-bit decode dots) */
    cpu_kernels tables[CPU_ISA_COUNT + 8];
    const char *names[CPU_ISA_COUNT + 8];
    int nt = 0, picked_index = -1;
    for (int l = CPU_ISA_AVX2; l < CPU_ISA_COUNT; l++) {
        if (!cpu_isa_usable(&f, l)) continue;
        if (l == picked) picked_index = nt;
        cpu_kernels_init_level(&tables[nt], l);
        names[nt++] = cpu_isa_names[l];
        if (l == CPU_ISA_AVX2 || l == CPU_ISA_AVXVNNI) {
            cpu_kernels_init_level(&tables[nt], l);
            if (l == CPU_ISA_AVX2) cpu_kernels_init_avx2_rowmajor(&tables[nt]), tables[nt].isa = "avx2-rowmajor";
            else cpu_kernels_init_avxvnni_rowmajor(&tables[nt]);
            names[nt] = tables[nt].isa;
            nt++;
        }
        if (l == CPU_ISA_AVXVNNI) {
            cpu_kernels_init_level(&tables[nt], l);
            cpu_kernels_init_avxvnni_all(&tables[nt]);
            names[nt] = tables[nt].isa;
            nt++;
        }
#ifdef HIVE_CPU_HAVE_AVX512
        if (l == CPU_ISA_AVX512 || l == CPU_ISA_AVX512VNNI) {
            if (l == CPU_ISA_AVX512) cpu_kernels_init_avx512_rowmajor(&tables[nt]);
            else cpu_kernels_init_avx512vnni_rowmajor(&tables[nt]);
            names[nt] = tables[nt].isa;
            nt++;
            if (l == CPU_ISA_AVX512) cpu_kernels_init_avx512_wide(&tables[nt]);
            else cpu_kernels_init_avx512vnni_wide(&tables[nt]);
            names[nt] = tables[nt].isa;
            nt++;
        }
#endif
    }
    if (nt == 0) {
        printf("no vector level usable: nothing to compare\n");
        return 0;
    }
    static const kernel_case cases[] = {
        {"decode gemv, weights in L2 (1536 x 576)", HIVE_DTYPE_Q4_1, 20, 1536, 576, 1},
        {"decode gemv, weights from DRAM (65536 x 576)", HIVE_DTYPE_Q4_1, 20, 65536, 576, 1},
        {"decode gemv, weights in L2 (1536 x 576)", HIVE_DTYPE_Q4_0, 18, 1536, 576, 1},
        {"decode gemv, weights in L2 (1536 x 576)", HIVE_DTYPE_Q8_0, 34, 1536, 576, 1},
        {"decode gemv, weights from DRAM (49152 x 576)", HIVE_DTYPE_Q8_0, 34, 49152, 576, 1},
        {"prefill tile, 4 x 4 rows (1536 x 576)", HIVE_DTYPE_Q4_1, 20, 1536, 576, 4},
        {"prefill tile, 4 x 8 rows (1536 x 576)", HIVE_DTYPE_Q4_1, 20, 1536, 576, 8},
        {"prefill tile, 4 x 4 rows (1536 x 576)", HIVE_DTYPE_Q4_0, 18, 1536, 576, 4},
        {"prefill tile, 4 x 4 rows (1536 x 576)", HIVE_DTYPE_Q8_0, 34, 1536, 576, 4},
    };
    int slower = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const kernel_case *kc = &cases[ci];
        size_t bytes = (size_t)kc->rows * (size_t)(kc->cols / 32) * kc->blk;
        uint8_t *w = malloc(bytes), *wp = malloc(cpu_pack4_bytes(kc->rows, bytes / (size_t)kc->rows));
        act_q8 *x = malloc((size_t)kc->nx * (size_t)(kc->cols / 32) * sizeof *x);
        float *xf = malloc((size_t)kc->cols * sizeof *xf), out[32];
        fill(w, bytes, kc->blk, kc->dtype);
        cpu_pack4(kc->dtype, w, kc->rows, kc->cols, wp); /* for the levels that read the 4-row layout */
        for (int64_t i = 0; i < kc->cols; i++) xf[i] = (float)((i * 37) % 200) / 100.0f - 1.0f;
        for (int64_t c = 0; c < kc->nx; c++) tables[0].quantize_act(xf, x + c * (kc->cols / 32), kc->cols);
        const char *dn = kc->dtype == HIVE_DTYPE_Q4_1 ? "q4_1" : kc->dtype == HIVE_DTYPE_Q4_0 ? "q4_0" : "q8_0";
        printf("%s %s\n", dn, kc->what);
        /* round robin, best of 9: drift in the machine's load hits every variant alike */
        double t[CPU_ISA_COUNT + 8], fastest = 1e30;
        int iters = (int)(1e8 / ((double)kc->rows * kc->cols * kc->nx)) + 1;
        for (int i = 0; i < nt; i++) t[i] = 1e30;
        for (int rep = 0; rep < 9; rep++)
            for (int i = 0; i < nt; i++) {
                /* untimed warm-up: the core settles after the previous variant
                 * (512-bit code can leave it at another clock for a while) */
                const uint8_t *wi = tables[i].packed[kc->dtype] ? wp : w;
                run_once(&tables[i], kc, wi, x, out, iters);
                double dt = run_once(&tables[i], kc, wi, x, out, iters);
                if (dt < t[i]) t[i] = dt;
            }
        for (int i = 0; i < nt; i++)
            if (t[i] < fastest) fastest = t[i];
        for (int i = 0; i < nt; i++) {
            double gbs = (double)bytes / t[i] / 1e9;
            printf("  %-20s %9.1f us  %6.2f GB/s  %6.1f Gop/s  x%.2f of fastest%s\n", names[i], t[i] * 1e6, gbs,
                   2.0 * kc->rows * kc->cols * kc->nx / t[i] / 1e9, fastest / t[i],
                   i == picked_index ? "   <- dispatch" : "");
        }
        if (picked_index >= 0 && t[picked_index] > fastest * 1.08) {
            printf("  NOTE: dispatch's %s is %.0f%% slower than the fastest here\n", names[picked_index],
                   100.0 * (t[picked_index] / fastest - 1));
            slower++;
        }
        free(w), free(wp), free(x), free(xf);
    }
    printf("\nverdict: %s\n", slower ? "dispatch is slower than another level on some kernel (see NOTE lines)"
                                     : "dispatch's level is the fastest (within 8%, the noise of a shared machine) on every kernel");
    return slower ? 1 : 0;
}
