/* The quantized kernels of every ISA level this CPU can run, against each
 * other and against the scalar reference (plugins/onednn-cpu/src):
 *  - activation quantization: every level gives the scalar blocks, bit for bit;
 *  - Q8_0 / Q4_0 / Q4_1 with power-of-two scales (every float step exact):
 *    every level and the scalar reference agree bit for bit, so the integer
 *    dot products are identical;
 *  - Q8_0 / Q4_0 / Q4_1 with real scales: every level, scalar included,
 *    agrees bit for bit (one summation order, llama.cpp's), the gemm tiles
 *    give vec_dot's bits, and all are within float-order tolerance of the
 *    exact dot (in double);
 *  - Q4_K / Q6_K / F16 / BF16 / F32 dots within tolerance of scalar;
 *  - llama.cpp's order for e^x, softmax sums, SwiGLU and the f16 attention
 *    dots (ggml_order.h): every level, scalar included, bit for bit; e^x
 *    within 2 ulp-ish (3e-7 relative) of libm's expf.
 * A level the CPU lacks is skipped with its name. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_features.h"
#include "ggml_order.h"
#include "kernels.h"

#define N 576 /* SmolLM2's hidden size: 18 blocks of 32, an even count */
#define N_ODD 544 /* 17 blocks: the odd tail */
#define N_K 768 /* 3 K-quant super-blocks */

static uint32_t rng_state = 1;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 17, rng_state ^= rng_state << 5;
    return rng_state;
}
static float rndf(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f; }

typedef struct {
    uint32_t dtype;
    const char *name;
    size_t blk;
} qtype;
static const qtype QTYPES[] = {{HIVE_DTYPE_Q8_0, "q8_0", sizeof(blk_q8_0)},
                               {HIVE_DTYPE_Q4_0, "q4_0", sizeof(blk_q4_0)},
                               {HIVE_DTYPE_Q4_1, "q4_1", sizeof(blk_q4_1)}};

/* nrows rows of n elements; pow2: scales 2^-k (exact products), else random */
static uint8_t *make_weights(const qtype *t, int nrows, int n, int pow2) {
    size_t nb = (size_t)nrows * (size_t)(n / 32);
    uint8_t *w = malloc(nb * t->blk);
    for (size_t i = 0; i < nb * t->blk; i++) w[i] = (uint8_t)rnd();
    for (size_t b = 0; b < nb; b++) {
        uint16_t h[2];
        h[0] = cpu_f32_to_f16(pow2 ? ldexpf(1.0f, -(int)(rnd() % 4) - 6) : rndf(1e-4f, 2e-2f));
        h[1] = cpu_f32_to_f16(pow2 ? -ldexpf(1.0f, -(int)(rnd() % 4) - 3) : rndf(-0.1f, 0.05f));
        memcpy(w + b * t->blk, h, t->dtype == HIVE_DTYPE_Q4_1 ? 4 : 2);
    }
    return w;
}

/* activation blocks with power-of-two d (s = d * sum q, exact) */
static void make_pow2_act(act_q8 *a, int n) {
    for (int k = 0; k < n / 32; k++) {
        int s0 = 0, s1 = 0;
        for (int i = 0; i < 32; i++) {
            a[k].q[i] = (int8_t)((int)(rnd() % 255) - 127);
            *(i < 16 ? &s0 : &s1) += a[k].q[i];
        }
        a[k].d = ldexpf(1.0f, -(int)(rnd() % 4) - 5);
        a[k].sum16[0] = (int16_t)s0, a[k].sum16[1] = (int16_t)s1;
        a[k].s = a[k].d * (float)(s0 + s1);
    }
}

static void make_act(const cpu_kernels *k, act_q8 *a, int n) {
    float x[N_K];
    for (int i = 0; i < n; i++) x[i] = rndf(-3.0f, 3.0f) * (i % 7 == 0 ? 4.0f : 1.0f);
    k->quantize_act(x, a, n);
}

static double bound(const qtype *t, const uint8_t *w, const act_q8 *a, int n) {
    /* sum of |terms|: the scale of float rounding in any summation order */
    double s = 0;
    for (int k = 0; k < n / 32; k++) {
        uint16_t h[2];
        memcpy(h, w + (size_t)k * t->blk, 4);
        s += fabs(cpu_f16_to_f32(h[0]) * a[k].d) * 32 * 127 * 16 + fabs(a[k].s * 16);
    }
    return s;
}

/* The dot in double from the blocks' definitions (GGUF): w = d q (Q8_0),
 * d (q - 8) (Q4_0), d q + m (Q4_1); x = d_x q_x, and s_x = d_x sum q_x as stored. */
static double exact_dot(const qtype *t, const uint8_t *w, const act_q8 *a, int n) {
    double s = 0;
    for (int k = 0; k < n / 32; k++) {
        const uint8_t *b = w + (size_t)k * t->blk;
        uint16_t h[2];
        memcpy(h, b, 4);
        double d = cpu_f16_to_f32(h[0]), acc = 0;
        const uint8_t *qs = b + (t->dtype == HIVE_DTYPE_Q4_1 ? 4 : 2);
        for (int e = 0; e < 32; e++) {
            int q = t->dtype == HIVE_DTYPE_Q8_0 ? (int8_t)qs[e] : e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4;
            if (t->dtype == HIVE_DTYPE_Q4_0) q -= 8;
            acc += (double)q * a[k].q[e];
        }
        s += d * a[k].d * acc;
        if (t->dtype == HIVE_DTYPE_Q4_1) s += (double)cpu_f16_to_f32(h[1]) * a[k].s;
    }
    return s;
}

static int level_of(void **state) { return (int)(intptr_t)*state; }

static void check_quantize(const cpu_kernels *ref, const cpu_kernels *k) {
    for (int rep = 0; rep < 20; rep++) {
        float x[N];
        for (int i = 0; i < N; i++) x[i] = rep == 0 ? 0.0f : rndf(-5.0f, 5.0f) * (rep % 3 ? 1.0f : 1e-3f);
        act_q8 a[N / 32], b[N / 32];
        memset(a, 0, sizeof a), memset(b, 0, sizeof b);
        ref->quantize_act(x, a, N);
        k->quantize_act(x, b, N);
        for (int j = 0; j < N / 32; j++)
            if (memcmp(&a[j], &b[j], sizeof a[j]))
                fail_msg("%s quantize_act: block %d differs from scalar (d %g vs %g)", k->isa, j, b[j].d, a[j].d);
    }
}

/* The 4-row group of row-major w starting at row r0 in k's layout: a copy,
 * packed (pack4.c) when k's kernels read that. */
static uint8_t *group_for(const cpu_kernels *k, const qtype *t, int n, const uint8_t *w, int r0) {
    size_t rb = (size_t)(n / 32) * t->blk;
    uint8_t *g = malloc(4 * rb);
    assert_non_null(g);
    if (k->packed[t->dtype]) cpu_pack4(t->dtype, w + (size_t)r0 * rb, 4, n, g);
    else memcpy(g, w + (size_t)r0 * rb, 4 * rb);
    return g;
}

/* out of vec_dot for rows r0..r0+nr of w (row-major, r0 % 4 == 0) against a */
static void vd(const cpu_kernels *k, const qtype *t, int n, const uint8_t *w, int r0, int nr, const act_q8 *a,
               float *out) {
    size_t rb = (size_t)(n / 32) * t->blk;
    uint8_t *g = group_for(k, t, n, w, r0);
    k->vec_dot[t->dtype](n, g, rb, nr, a, out);
    free(g);
}

static void check_qtype(const cpu_kernels *ref, const cpu_kernels *k, const cpu_kernels *avx2, const qtype *t,
                        int n) {
    enum { ROWS = 8, NX = 9 }; /* 9 activation rows: a full 8-row tile and a tail */
    size_t rb = (size_t)(n / 32) * t->blk, xr = (size_t)(n / 32) * sizeof(act_q8);
    /* 1. exact arithmetic: every level == scalar, bit for bit */
    for (int rep = 0; rep < 10; rep++) {
        uint8_t *w = make_weights(t, ROWS, n, 1);
        act_q8 a[N / 32];
        make_pow2_act(a, n);
        for (int nr = 1; nr <= 4; nr++) {
            float o_ref[4], o[4];
            vd(ref, t, n, w, 0, nr, a, o_ref);
            vd(k, t, n, w, 0, nr, a, o);
            for (int r = 0; r < nr; r++)
                if (memcmp(&o[r], &o_ref[r], sizeof o[r]))
                    fail_msg("%s %s n=%d exact case: row %d of %d gives %.9g, scalar %.9g (integer dots differ)",
                             k->isa, t->name, n, r, nr, o[r], o_ref[r]);
        }
        free(w);
    }
    /* 2. real scales */
    for (int rep = 0; rep < 10; rep++) {
        uint8_t *w = make_weights(t, ROWS, n, 0);
        act_q8 *x = malloc(NX * xr);
        for (int c = 0; c < NX; c++) make_act(ref, (act_q8 *)((char *)x + c * xr), n);
        for (int nr = 1; nr <= 4; nr++) {
            float o_ref[4], o[4], o2[4];
            vd(ref, t, n, w, 4, nr, x, o_ref);
            vd(k, t, n, w, 4, nr, x, o);
            if (avx2) {
                vd(avx2, t, n, w, 4, nr, x, o2);
                for (int r = 0; r < nr; r++)
                    if (memcmp(&o[r], &o2[r], sizeof o[r]))
                        fail_msg("%s %s n=%d: row %d of %d gives %.9g, avx2 %.9g: vector levels must agree bit for bit",
                                 k->isa, t->name, n, r, nr, o[r], o2[r]);
            }
            for (int r = 0; r < nr; r++) {
                if (memcmp(&o[r], &o_ref[r], sizeof o[r]))
                    fail_msg("%s %s n=%d: row %d gives %.9g, scalar %.9g: every level sums in llama.cpp's order",
                             k->isa, t->name, n, r, o[r], o_ref[r]);
                double tol = 2e-6 * bound(t, w + (size_t)(4 + r) * rb, x, n), exact = exact_dot(t, w + (size_t)(4 + r) * rb, x, n);
                if (fabs((double)o[r] - exact) > tol)
                    fail_msg("%s %s n=%d: row %d gives %.9g, exact %.9g (tolerance %.3g)", k->isa, t->name, n, r,
                             o[r], exact, tol);
            }
        }
        /* the gemm tiles: vec_dot's bits for every (nr, nx) */
        uint8_t *w0 = group_for(k, t, n, w, 0);
        if (k->gemm[t->dtype])
            for (int nr = 1; nr <= 4; nr++)
                for (int nx = 1; nx <= NX; nx++) {
                    float g[NX * 4];
                    k->gemm[t->dtype](n, w0, rb, nr, x, xr, nx, g, 4);
                    for (int c = 0; c < nx; c++) {
                        float o[4];
                        vd(k, t, n, w, 0, nr, (const act_q8 *)((const char *)x + c * xr), o);
                        for (int r = 0; r < nr; r++)
                            if (memcmp(&g[c * 4 + r], &o[r], sizeof o[r]))
                                fail_msg("%s %s gemm nr=%d nx=%d: [%d][%d] = %.9g, vec_dot %.9g", k->isa, t->name,
                                         nr, nx, c, r, g[c * 4 + r], o[r]);
                    }
                }
        free(w0);
        free(x);
        free(w);
    }
}

/* Q4_K, Q6_K (256-element super-blocks) and the float-weight dots */
static void check_other(const cpu_kernels *ref, const cpu_kernels *k) {
    act_q8 a[N_K / 32];
    make_act(ref, a, N_K);
    const struct { uint32_t dtype; size_t bytes; } kq[] = {{HIVE_DTYPE_Q4_K, sizeof(blk_q4_k)},
                                                          {HIVE_DTYPE_Q6_K, sizeof(blk_q6_k)}};
    for (int i = 0; i < 2; i++) {
        size_t rb = (N_K / 256) * kq[i].bytes;
        uint8_t *w = malloc(4 * rb);
        for (size_t j = 0; j < 4 * rb; j++) w[j] = (uint8_t)rnd();
        for (int b = 0; b < 4 * (N_K / 256); b++) { /* sane f16 d (and dmin) */
            uint8_t *blk = w + (size_t)b * kq[i].bytes;
            uint16_t d = cpu_f32_to_f16(rndf(1e-4f, 1e-3f));
            if (kq[i].dtype == HIVE_DTYPE_Q4_K) memcpy(blk, &d, 2), memcpy(blk + 2, &d, 2);
            else memcpy(blk + offsetof(blk_q6_k, d), &d, 2);
        }
        float o_ref[4], o[4];
        ref->vec_dot[kq[i].dtype](N_K, w, rb, 4, a, o_ref);
        k->vec_dot[kq[i].dtype](N_K, w, rb, 4, a, o);
        for (int r = 0; r < 4; r++)
            if (fabsf(o[r] - o_ref[r]) > 1e-4f * (1.0f + fabsf(o_ref[r])))
                fail_msg("%s dtype %u row %d: %.9g vs scalar %.9g", k->isa, kq[i].dtype, r, o[r], o_ref[r]);
        free(w);
    }
    float x[N], wf[4 * N], o_ref[4], o[4];
    uint16_t wh[4 * N];
    for (int i = 0; i < N; i++) x[i] = rndf(-1, 1);
    for (int i = 0; i < 4 * N; i++) wf[i] = rndf(-1, 1);
    const struct { uint32_t dtype; const void *w; size_t rb; } fl[] = {
        {HIVE_DTYPE_F32, wf, N * 4}, {HIVE_DTYPE_F16, wh, N * 2}, {HIVE_DTYPE_BF16, wh, N * 2}};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 4 * N; j++) wh[j] = fl[i].dtype == HIVE_DTYPE_BF16 ? cpu_f32_to_bf16(wf[j]) : cpu_f32_to_f16(wf[j]);
        ref->vec_dot[fl[i].dtype](N, fl[i].w, fl[i].rb, 4, x, o_ref);
        k->vec_dot[fl[i].dtype](N, fl[i].w, fl[i].rb, 4, x, o);
        for (int r = 0; r < 4; r++)
            if (fabsf(o[r] - o_ref[r]) > 1e-4f * (1.0f + fabsf(o_ref[r])))
                fail_msg("%s float dtype %u row %d: %.9g vs scalar %.9g", k->isa, fl[i].dtype, r, o[r], o_ref[r]);
    }
}

static void same_bits(const char *isa, const char *what, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a))
            fail_msg("%s %s [%d]: %.9g vs scalar %.9g", isa, what, i, a[i], b[i]);
}

/* e^x, softmax sums, SwiGLU and the f16 attention dots in llama.cpp's order */
static void check_ggml_order(const cpu_kernels *ref, const cpu_kernels *k) {
    enum { NX = 203, HD = 76 }; /* odd lengths: partial blocks of 8, a head_dim tail */
    float x[NX], y0[NX], y1[NX], u[NX];
    for (int i = 0; i < NX; i++) x[i] = rndf(-110.0f, 95.0f), u[i] = rndf(-2, 2);
    x[0] = -INFINITY, x[1] = 0.0f, x[2] = -0.0f, x[3] = 88.7f, x[4] = -103.9f, x[5] = -87.5f;
    double s0 = ref->exp_sum(x, 1.5f, y0, NX), s1 = k->exp_sum(x, 1.5f, y1, NX);
    same_bits(k->isa, "exp_sum", y1, y0, NX);
    if (memcmp(&s0, &s1, sizeof s0)) fail_msg("%s exp_sum total %.17g vs scalar %.17g", k->isa, s1, s0);
    for (int i = 0; i < NX; i++) x[i] = rndf(-30.0f, 30.0f);
    ref->silu_mul(x, u, y0, NX);
    k->silu_mul(x, u, y1, NX);
    same_bits(k->isa, "silu_mul", y1, y0, NX);
    /* f16 slots: q.k and the eight classes of p.v of one head, over rows in
     * any order; n crosses the kernels' blocks of 8 slots and chunks of 64 */
    enum { NSLOT = 150 };
    static uint16_t kv[NSLOT * HD];
    static size_t off[NSLOT];
    static float q[HD], p[NSLOT], d0[NSLOT], d1[NSLOT], o0[HD], o1[HD], cls[8 * HD];
    for (int i = 0; i < NSLOT * HD; i++) kv[i] = cpu_f32_to_f16(rndf(-3, 3));
    for (int t = 0; t < NSLOT; t++) off[t] = (size_t)((t * 7) % NSLOT) * HD * sizeof *kv;
    for (int i = 0; i < HD; i++) q[i] = cpu_f16_to_f32(cpu_f32_to_f16(rndf(-2, 2)));
    for (int i = 0; i < NSLOT; i++) p[i] = cpu_f16_to_f32(cpu_f32_to_f16(rndf(0, 1)));
    for (int hd = HD; hd >= 64; hd -= 12) /* a tail of 4 dims, then none */
        for (int n = 1; n <= NSLOT; n += n < 20 ? 1 : 13) {
            ref->dot_slots_f16(q, (const uint8_t *)kv, off, n, hd, d0);
            k->dot_slots_f16(q, (const uint8_t *)kv, off, n, hd, d1);
            same_bits(k->isa, "dot_slots_f16", d1, d0, n);
            ref->pv_f16(p, (const uint8_t *)kv, off, n, hd, o0, cls);
            k->pv_f16(p, (const uint8_t *)kv, off, n, hd, o1, cls);
            same_bits(k->isa, "pv_f16", o1, o0, hd);
        }
    /* q8_0 slots (head_dim 64 and 96: two and three blocks) */
    static blk_q8_0 q8[NSLOT * 3];
    static size_t off8[NSLOT];
    static float q96[96], v0[96], v1[96];
    for (int i = 0; i < 96; i++) q96[i] = rndf(-2, 2);
    for (int i = 0; i < NSLOT * 3; i++) {
        q8[i].d = cpu_f32_to_f16(rndf(0.001f, 0.05f));
        for (int j = 0; j < 32; j++) q8[i].qs[j] = (int8_t)(rand() % 255 - 127);
    }
    for (int t = 0; t < NSLOT; t++) off8[t] = (size_t)((t * 7) % NSLOT) * 3 * sizeof(blk_q8_0);
    for (int hd = 64; hd <= 96; hd += 32)
        for (int n = 1; n <= NSLOT; n += n < 20 ? 1 : 13) {
            ref->dot_slots_q8_0(q96, (const uint8_t *)q8, off8, n, hd, d0);
            k->dot_slots_q8_0(q96, (const uint8_t *)q8, off8, n, hd, d1);
            same_bits(k->isa, "dot_slots_q8_0", d1, d0, n);
            ref->pv_q8_0(p, (const uint8_t *)q8, off8, n, hd, v0);
            k->pv_q8_0(p, (const uint8_t *)q8, off8, n, hd, v1);
            same_bits(k->isa, "pv_q8_0", v1, v0, hd);
        }
    memcpy(d1, d0, sizeof d1);
    float mx0 = ref->scale_max_f32(0.125f, d0, NSLOT), mx1 = k->scale_max_f32(0.125f, d1, NSLOT);
    same_bits(k->isa, "scale_max_f32", d1, d0, NSLOT);
    if (mx0 != mx1) fail_msg("%s scale_max_f32 max %g vs scalar %g", k->isa, mx1, mx0);
}

/* ggml's e^x is an e^x: against libm over the range softmax and SiLU use */
static void test_expf_ggml(void **state) {
    (void)state;
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        float xv = -87.0f + 175.0f * (float)i / 200000.0f, want = expf(xv), got = cpu_expf_ggml(xv);
        double rel = fabs((double)got - want) / want;
        if (rel > worst) worst = rel;
    }
    printf("ggml's e^x vs libm expf on [-87, 88]: worst relative difference %.3g\n", worst);
    assert_true(worst < 3e-7);
    assert_true(cpu_expf_ggml(-INFINITY) == 0.0f && cpu_expf_ggml(-104.0f) == 0.0f);
    assert_true(isinf(cpu_expf_ggml(89.0f)) && cpu_expf_ggml(0.0f) == 1.0f);
    assert_true(isnan(cpu_expf_ggml(NAN)));
}

static void test_level(void **state) {
    int level = level_of(state);
    cpu_features f;
    cpu_detect(&f);
    if (!cpu_isa_usable(&f, level)) {
        printf("skipped: level %s: this CPU (%s) or build lacks it\n", cpu_isa_names[level], f.brand);
        skip();
    }
    cpu_kernels ref, k, avx2;
    cpu_kernels_init_level(&ref, CPU_ISA_SCALAR);
    cpu_kernels_init_level(&k, level);
    cpu_kernels_init_level(&avx2, CPU_ISA_AVX2);
    rng_state = 12345u + (uint32_t)level;
    check_quantize(&ref, &k);
    for (size_t i = 0; i < sizeof QTYPES / sizeof QTYPES[0]; i++) {
        check_qtype(&ref, &k, level > CPU_ISA_AVX2 ? &avx2 : NULL, &QTYPES[i], N);
        check_qtype(&ref, &k, level > CPU_ISA_AVX2 ? &avx2 : NULL, &QTYPES[i], N_ODD);
    }
    check_other(&ref, &k);
    check_ggml_order(&ref, &k);
    /* the variants the micro-benchmark compares: VNNI Q8_0 decode, 512-bit decode */
    if (level == CPU_ISA_AVXVNNI) {
        cpu_kernels all = k;
        cpu_kernels_init_avxvnni_all(&all);
        check_qtype(&ref, &all, &avx2, &QTYPES[0], N);
        check_qtype(&ref, &all, &avx2, &QTYPES[0], N_ODD);
    }
    /* the 256-bit levels on the row-major layout (what they ran before the packed one) */
    if (level == CPU_ISA_AVX2 || level == CPU_ISA_AVXVNNI) {
        cpu_kernels rowmajor = k;
        if (level == CPU_ISA_AVX2) cpu_kernels_init_avx2_rowmajor(&rowmajor);
        else cpu_kernels_init_avxvnni_rowmajor(&rowmajor);
        assert_true(k.packed[HIVE_DTYPE_Q4_1] && !rowmajor.packed[HIVE_DTYPE_Q4_1]);
        for (size_t i = 0; i < sizeof QTYPES / sizeof QTYPES[0]; i++) {
            check_qtype(&ref, &rowmajor, &avx2, &QTYPES[i], N);
            check_qtype(&ref, &rowmajor, &avx2, &QTYPES[i], N_ODD);
        }
    }
#ifdef HIVE_CPU_HAVE_AVX512
    if (level == CPU_ISA_AVX512 || level == CPU_ISA_AVX512VNNI) {
        cpu_kernels wide, rowmajor;
        if (level == CPU_ISA_AVX512) cpu_kernels_init_avx512_wide(&wide), cpu_kernels_init_avx512_rowmajor(&rowmajor);
        else cpu_kernels_init_avx512vnni_wide(&wide), cpu_kernels_init_avx512vnni_rowmajor(&rowmajor);
        assert_true(k.packed[HIVE_DTYPE_Q4_1] && !wide.packed[HIVE_DTYPE_Q4_1] && !rowmajor.packed[HIVE_DTYPE_Q4_1]);
        for (size_t i = 0; i < sizeof QTYPES / sizeof QTYPES[0]; i++) {
            check_qtype(&ref, &wide, &avx2, &QTYPES[i], N);
            check_qtype(&ref, &wide, &avx2, &QTYPES[i], N_ODD);
            check_qtype(&ref, &rowmajor, &avx2, &QTYPES[i], N);
            check_qtype(&ref, &rowmajor, &avx2, &QTYPES[i], N_ODD);
        }
    }
#endif
    printf("%s: quantize, q8_0/q4_0/q4_1 (vec_dot and gemm), q4_k, q6_k, f32/f16/bf16, e^x, softmax, swiglu, f16 attention agree\n", cpu_isa_names[level]);
}

/* The 4-row layout (pack4.c): every row comes back as it went in, the
 * padding of a last group of fewer than four rows is zero, and the packed
 * kernels give row-major's bits on such a tail group. */
static void test_pack4(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof QTYPES / sizeof QTYPES[0]; i++) {
        const qtype *t = &QTYPES[i];
        enum { ROWS = 7 };
        size_t rb = (size_t)(N / 32) * t->blk;
        uint8_t *w = make_weights(t, ROWS, N, 0), *p = malloc(cpu_pack4_bytes(ROWS, rb)), *row = malloc(rb);
        assert_non_null(p), assert_non_null(row);
        assert_int_equal(cpu_pack4_bytes(ROWS, rb), 8 * rb);
        cpu_pack4(t->dtype, w, ROWS, N, p);
        assert_true(memcmp(p, w, 4 * rb)); /* really rearranged */
        for (int r = 0; r < ROWS; r++) {
            cpu_unpack4_row(t->dtype, p, r, N, row);
            if (memcmp(row, w + (size_t)r * rb, rb)) fail_msg("%s: row %d does not come back from the 4-row layout", t->name, r);
        }
        cpu_unpack4_row(t->dtype, p, ROWS, N, row); /* the padding row */
        for (size_t b = 0; b < rb; b++) assert_int_equal(row[b], 0);
        cpu_features f;
        cpu_detect(&f);
        for (int level = CPU_ISA_AVX2; level < CPU_ISA_COUNT; level++) {
            cpu_kernels k, ref;
            if (!cpu_isa_usable(&f, level)) continue;
            cpu_kernels_init_level(&k, level);
            if (!k.packed[t->dtype]) continue;
            cpu_kernels_init_level(&ref, CPU_ISA_SCALAR);
            act_q8 a[N / 32];
            make_act(&ref, a, N);
            float o[4], o_ref[3];
            k.vec_dot[t->dtype](N, p + 4 * rb, rb, 3, a, o);
            ref.vec_dot[t->dtype](N, w + 4 * rb, rb, 3, a, o_ref);
            assert_memory_equal(o, o_ref, sizeof o_ref);
        }
        free(w), free(p), free(row);
    }
}

/* HIVE_CPU_ISA caps the level dispatch picks: every name is honoured, an
 * unknown one is reported and ignored. */
static void test_isa_cap(void **state) {
    (void)state;
    cpu_features f;
    cpu_detect(&f);
    int ok;
    for (int l = 0; l < CPU_ISA_COUNT; l++) {
        int got = cpu_isa_pick(&f, cpu_isa_names[l], &ok);
        assert_true(ok);
        assert_true(got <= l);
        assert_true(cpu_isa_usable(&f, got));
    }
    assert_int_equal(cpu_isa_pick(&f, "scalar", &ok), CPU_ISA_SCALAR);
    int top = cpu_isa_pick(&f, NULL, &ok);
    assert_int_equal(cpu_isa_pick(&f, "avx9000", &ok), top);
    assert_false(ok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        {"level_scalar", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_SCALAR},
        {"level_avx2", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVX2},
        {"level_avxvnni", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVXVNNI},
        {"level_avx512", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVX512},
        {"level_avx512vnni", test_level, NULL, NULL, (void *)(intptr_t)CPU_ISA_AVX512VNNI},
        cmocka_unit_test(test_isa_cap),
        cmocka_unit_test(test_pack4),
        cmocka_unit_test(test_expf_ggml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
