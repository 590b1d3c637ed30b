/* test_gpu_ops.c — every op of each built GPU backend plugin against the scalar
 * references in gpu_ref.c. Without a device every test skips (after printing
 * the plugin's reason); nothing here fails for lack of hardware. */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu_harness.h"
#include "gpu_ref.h"

#define CHECK_ERR(e, tol, what)                                                  \
    do {                                                                         \
        const double e_ = (e);                                                   \
        if (!(e_ <= (tol))) fprintf(stderr, "%s: rel err %g > %g\n", what, e_, (double)(tol)); \
        assert_true(e_ <= (tol));                                                \
    } while (0)

/* ------------------------------------------------------------- probing -- */
static void test_probe(void **state) {
    gpu_fx *fx = *state;
    if (!fx->api) {
        fprintf(stderr, "%s: %s\n", fx->file, fx->load_error);
        /* a missing GPU runtime library is an environment fact, not a bug */
        if (strstr(fx->load_error, "cannot open shared object")) skip();
        fail_msg("%s did not load: %s", fx->file, fx->load_error);
    }
    hive_plugin_query_fn q = (hive_plugin_query_fn)dlsym(fx->handle, HIVE_PLUGIN_QUERY_SYMBOL);
    assert_non_null(q);
    hive_plugin_info info = {.struct_size = sizeof info};
    assert_int_equal(q(&info), HIVE_OK);
    assert_int_equal(info.kind, HIVE_PLUGIN_BACKEND);
    assert_int_equal(info.abi_major, HIVE_ABI_MAJOR);
    assert_non_null(info.name);
    if (fx->n_devices == 0) {
        fprintf(stderr, "%s: no device: %s\n", fx->file, fx->info0.reason);
        assert_int_equal(fx->info0.score, 0);
        assert_true(strstr(fx->info0.reason, "unavailable:") || strstr(fx->info0.reason, "no device"));
        /* opening must fail cleanly */
        hive_device *d = NULL;
        hive_error *err = NULL;
        assert_int_not_equal(fx->api->device_open(0, NULL, &d, &err), HIVE_OK);
        assert_null(d);
        free(err);
        skip();
    }
    fprintf(stderr, "%s: %s, %s\n", fx->file, fx->info0.name, fx->info0.reason);
    assert_true(fx->info0.score > 100);
    assert_true(fx->info0.name[0] != 0);
    assert_non_null(fx->dev);
}

/* -------------------------------------------------------------- matmul -- */
/* x rows are k + xpad floats apart (xpad 4 keeps 16-byte rows when k % 4 == 0;
 * 3 breaks that unless m == 1). With beta == 0, out starts as NaN: it must not
 * be read. */
static void matmul_case(gpu_fx *fx, uint32_t dtype, int64_t m, int64_t n, int64_t k, int with_bias, float beta,
                        int64_t xpad, uint32_t *seed) {
    void *raw;
    float *wf;
    ref_make_weight(dtype, n, k, seed, &raw, &wf);
    hive_weight *w = gpu_weight_new(fx, dtype, n, k, raw);
    float *bias = malloc((size_t)n * 4), *x = malloc((size_t)(m * k) * 4);
    float *out = malloc((size_t)(m * n) * 4), *ref = malloc((size_t)(m * n) * 4);
    assert_true(bias && x && out && ref);
    ref_fill(bias, n, seed, 1.0f);
    ref_fill(x, m * k, seed, 1.0f);
    if (beta != 0.0f) ref_fill(ref, m * n, seed, 1.0f);
    else
        for (int64_t i = 0; i < m * n; i++) ref[i] = NAN;
    hive_weight *b = with_bias ? gpu_weight_new(fx, HIVE_DTYPE_F32, 1, n, bias) : NULL;
    gpu_mat gx = gpu_mat_new(fx, m, k, xpad, x), go = gpu_mat_new(fx, m, n, 5, ref);
    const float alpha = with_bias ? 0.5f : 1.0f;
    hive_error *err = NULL;
    gpu_check(fx->api->op_matmul(fx->dev, &gx.t, w, b, alpha, beta, &go.t, &err), err, "op_matmul");
    gpu_mat_read(fx, &go, out);
    ref_matmul(x, wf, with_bias ? bias : NULL, alpha, beta, ref, m, n, k);
    char what[128];
    snprintf(what, sizeof what, "matmul dtype %u m %lld n %lld k %lld bias %d beta %g xpad %lld", dtype, (long long)m,
             (long long)n, (long long)k, with_bias, (double)beta, (long long)xpad);
    CHECK_ERR(gpu_rel_err(out, ref, m * n, 1e-3), dtype == HIVE_DTYPE_F32 ? 1e-3 : 1e-2, what);
    gpu_mat_free(fx, &gx);
    gpu_mat_free(fx, &go);
    fx->api->weight_free(fx->dev, w);
    if (b) fx->api->weight_free(fx->dev, b);
    free(raw);
    free(wf);
    free(bias);
    free(x);
    free(out);
    free(ref);
}

static void test_matmul(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    uint32_t seed = 1234;
    /* Quantized weights: GEMV (m <= 8) and dequantize + GEMM. */
    static const uint32_t quants[] = {HIVE_DTYPE_Q8_0, HIVE_DTYPE_Q4_0, HIVE_DTYPE_Q4_1, HIVE_DTYPE_Q4_K,
                                      HIVE_DTYPE_Q6_K};
    static const int64_t qms[] = {1, 5, 8, 37};
    for (size_t d = 0; d < sizeof quants / sizeof quants[0]; d++) {
        assert_int_not_equal(fx->api->weight_supported(fx->dev, quants[d]), 0);
        for (size_t i = 0; i < sizeof qms / sizeof qms[0]; i++)
            for (int bias = 0; bias < 2; bias++)
                matmul_case(fx, quants[d], qms[i], 100, 512, bias, bias ? 0.25f : 0.0f, 3, &seed);
    }
    /* f32 / f16 / bf16: m <= 8 takes gpu_gemv_plain, m = 37 the GEMM path. The
     * shapes reach every launch variant on a 132-SM H100: n 100 with k 512 /
     * 1024 (2 or 4 warps per row), k 72 (one warp per row), k 1001 (rows off
     * 16-byte boundaries: scalar loads, odd tail), n 3000 (one warp per row),
     * n 4500 (two rows per warp); xpad 3 / 4 give scalar / 16-byte x loads. */
    static const uint32_t plains[] = {HIVE_DTYPE_F32, HIVE_DTYPE_F16, HIVE_DTYPE_BF16};
    static const int64_t pms[] = {1, 3, 8, 37};
    static const int64_t shapes[][2] = {{100, 512}, {70, 72}, {100, 1001}, {100, 1024}, {3000, 256}, {4500, 256}};
    for (size_t d = 0; d < sizeof plains / sizeof plains[0]; d++) {
        assert_int_not_equal(fx->api->weight_supported(fx->dev, plains[d]), 0);
        for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
            for (size_t i = 0; i < sizeof pms / sizeof pms[0]; i++)
                for (int bias = 0; bias < 2; bias++)
                    for (int bt = 0; bt < 2; bt++)
                        matmul_case(fx, plains[d], pms[i], shapes[sh][0], shapes[sh][1], bias, bt ? 1.0f : 0.0f,
                                    (bias + bt) % 2 ? 4 : 3, &seed);
    }
}

/* ---------------------------------------------------------- row ops -- */
static void test_row_ops(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    enum { R = 7, C = 300 };
    uint32_t seed = 99;
    float a[R * C], b[R * C], g[C], got[R * C], ref[R * C];
    ref_fill(a, R * C, &seed, 2.0f);
    ref_fill(b, R * C, &seed, 2.0f);
    ref_fill(g, C, &seed, 1.0f);
    hive_weight *gw = gpu_weight_new(fx, HIVE_DTYPE_F32, 1, C, g);
    hive_error *err = NULL;

    /* rmsnorm, in place */
    gpu_mat ga = gpu_mat_new(fx, R, C, 4, a);
    gpu_check(fx->api->op_rmsnorm(fx->dev, &ga.t, gw, 1e-5f, &ga.t, &err), err, "op_rmsnorm");
    gpu_mat_read(fx, &ga, got);
    for (int r = 0; r < R; r++) {
        double ss = 0;
        for (int c = 0; c < C; c++) ss += (double)a[r * C + c] * a[r * C + c];
        const float inv = (float)(1.0 / sqrt(ss / C + 1e-5));
        for (int c = 0; c < C; c++) ref[r * C + c] = a[r * C + c] * inv * g[c];
    }
    CHECK_ERR(gpu_rel_err(got, ref, R * C, 1e-6), 1e-5, "rmsnorm");
    gpu_mat_free(fx, &ga);

    /* binary: full, broadcast row, weight */
    gpu_mat gb = gpu_mat_new(fx, R, C, 0, b), gb1 = gpu_mat_new(fx, 1, C, 0, b);
    for (uint32_t op = 0; op < 2; op++) {
        for (int mode = 0; mode < 3; mode++) {
            gpu_mat x = gpu_mat_new(fx, R, C, 1, a), o = gpu_mat_new(fx, R, C, 2, NULL);
            err = NULL;
            hive_status st = mode == 0   ? fx->api->op_binary(fx->dev, op, &x.t, &gb.t, &o.t, &err)
                             : mode == 1 ? fx->api->op_binary(fx->dev, op, &x.t, &gb1.t, &o.t, &err)
                                         : fx->api->op_binary_weight(fx->dev, op, &x.t, gw, &o.t, &err);
            gpu_check(st, err, "op_binary");
            gpu_mat_read(fx, &o, got);
            for (int i = 0; i < R * C; i++) {
                const float y = mode == 0 ? b[i] : mode == 1 ? b[i % C] : g[i % C];
                ref[i] = op == HIVE_BINARY_MUL ? a[i] * y : a[i] + y;
            }
            CHECK_ERR(gpu_rel_err(got, ref, R * C, 1e-6), 1e-6, "binary");
            gpu_mat_free(fx, &x);
            gpu_mat_free(fx, &o);
        }
    }
    gpu_mat_free(fx, &gb1);

    /* swiglu, out aliases gate */
    ga = gpu_mat_new(fx, R, C, 0, a);
    err = NULL;
    gpu_check(fx->api->op_swiglu(fx->dev, &ga.t, &gb.t, &ga.t, &err), err, "op_swiglu");
    gpu_mat_read(fx, &ga, got);
    for (int i = 0; i < R * C; i++) ref[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
    CHECK_ERR(gpu_rel_err(got, ref, R * C, 1e-6), 1e-5, "swiglu");

    /* get_rows */
    const int32_t rows[3] = {6, 0, 3};
    gpu_mat go = gpu_mat_new(fx, 3, C, 0, NULL);
    err = NULL;
    gpu_check(fx->api->op_get_rows(fx->dev, &gb.t, rows, 3, &go.t, &err), err, "op_get_rows");
    gpu_mat_read(fx, &go, got);
    for (int i = 0; i < 3; i++) memcpy(ref + i * C, b + rows[i] * C, C * sizeof(float));
    CHECK_ERR(gpu_rel_err(got, ref, 3 * C, 1e-6), 0.0, "get_rows");
    gpu_mat_free(fx, &go);

    /* argmax, with a tie resolved to the first index */
    float am[R * C];
    memcpy(am, b, sizeof am);
    am[2 * C + 17] = 50.0f;
    am[2 * C + 200] = 50.0f;
    gpu_mat gm = gpu_mat_new(fx, R, C, 3, am);
    int32_t ids[R];
    err = NULL;
    gpu_check(fx->api->op_argmax(fx->dev, &gm.t, ids, &err), err, "op_argmax");
    for (int r = 0; r < R; r++) {
        int best = 0;
        for (int c = 1; c < C; c++)
            if (am[r * C + c] > am[r * C + best]) best = c;
        assert_int_equal(ids[r], best);
    }
    assert_int_equal(ids[2], 17);
    gpu_mat_free(fx, &gm);
    gpu_mat_free(fx, &ga);
    gpu_mat_free(fx, &gb);
    fx->api->weight_free(fx->dev, gw);
}

static void test_embed(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    static const uint32_t dtypes[] = {HIVE_DTYPE_F32, HIVE_DTYPE_F16, HIVE_DTYPE_BF16, HIVE_DTYPE_Q8_0, HIVE_DTYPE_Q4_K};
    uint32_t seed = 7;
    const int32_t ids[4] = {3, 0, 9, 3};
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        void *raw;
        float *tf, got[4 * 256], ref[4 * 256];
        ref_make_weight(dtypes[d], 10, 256, &seed, &raw, &tf);
        hive_weight *t = gpu_weight_new(fx, dtypes[d], 10, 256, raw);
        gpu_mat o = gpu_mat_new(fx, 4, 256, 8, NULL);
        hive_error *err = NULL;
        gpu_check(fx->api->op_embed(fx->dev, t, ids, &o.t, &err), err, "op_embed");
        gpu_mat_read(fx, &o, got);
        for (int i = 0; i < 4; i++) memcpy(ref + i * 256, tf + ids[i] * 256, 256 * sizeof(float));
        CHECK_ERR(gpu_rel_err(got, ref, 4 * 256, 1e-6), 1e-6, "embed");
        gpu_mat_free(fx, &o);
        fx->api->weight_free(fx->dev, t);
        free(raw);
        free(tf);
    }
}

/* ---------------------------------------------------------------- rope -- */
static void test_rope(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    enum { R = 5, H = 4, D = 64 };
    const int32_t pos[R] = {0, 1, 7, 100, 3000};
    float inv[D / 2], x[R * H * D], got[R * H * D], ref[R * H * D];
    uint32_t seed = 5;
    ref_fill(x, R * H * D, &seed, 1.0f);
    for (uint32_t mode = 0; mode < 2; mode++)
        for (uint32_t rot = D / 2; rot <= D; rot += D / 2) {
            for (uint32_t i = 0; i < rot / 2; i++) inv[i] = powf(10000.0f, -2.0f * (float)i / (float)rot);
            hive_rope_desc rd = {.struct_size = sizeof rd, .mode = mode, .n_heads = H, .head_dim = D,
                                 .rot_dims = rot, .attn_factor = rot == D ? 1.0f : 1.2f, .inv_freq = inv};
            hive_batch b = {.struct_size = sizeof b, .n_rows = R, .row_pos = pos};
            gpu_mat g = gpu_mat_new(fx, R, H * D, 2, x);
            hive_error *err = NULL;
            gpu_check(fx->api->op_rope(fx->dev, &g.t, &rd, &b, &err), err, "op_rope");
            gpu_mat_read(fx, &g, got);
            memcpy(ref, x, sizeof ref);
            ref_rope(ref, R, H * D, &rd, pos);
            CHECK_ERR(gpu_rel_err(got, ref, R * H * D, 1e-6), 1e-3, mode ? "rope neox" : "rope normal");
            gpu_mat_free(fx, &g);
        }
}

/* ----------------------------------------------------------- attention -- */
static void attention_case(gpu_fx *fx, uint32_t kv_dtype, uint32_t n_heads, uint32_t n_kv, uint32_t hd) {
    enum { S = 2, BS = 16, MAXB = 24, NB = 64 };
    const int32_t len[S] = {300, 37}; /* prefill lengths; decode adds one row each */
    const int64_t ctx = 301, kw = (int64_t)n_kv * hd, qw = (int64_t)n_heads * hd;
    uint32_t seed = 77 + hd;
    /* block tables: a scrambled permutation of physical blocks */
    int32_t bt[S * MAXB];
    for (int i = 0; i < S * MAXB; i++) bt[i] = (int32_t)((i * 37 + 11) % NB);
    float *k = malloc((size_t)(S * ctx * kw) * 4), *v = malloc((size_t)(S * ctx * kw) * 4);
    assert_true(k && v);
    ref_fill(k, S * ctx * kw, &seed, 1.0f);
    ref_fill(v, S * ctx * kw, &seed, 1.0f);
    float *kr = malloc((size_t)(S * ctx * kw) * 4), *vr = malloc((size_t)(S * ctx * kw) * 4);
    assert_true(kr && vr);
    for (int64_t i = 0; i < S * ctx * kw; i++) {
        kr[i] = kv_dtype == HIVE_DTYPE_F16 ? ref_round_f16(k[i]) : k[i];
        vr[i] = kv_dtype == HIVE_DTYPE_F16 ? ref_round_f16(v[i]) : v[i];
    }
    hive_kv_desc kd = {.struct_size = sizeof kd, .dtype = kv_dtype, .n_layers = 2, .n_blocks = NB,
                       .block_size = BS, .n_kv_heads = n_kv, .head_dim = hd};
    hive_kv_cache *kv = NULL;
    hive_error *err = NULL;
    gpu_check(fx->api->kv_alloc(fx->dev, &kd, &kv, &err), err, "kv_alloc");

    for (int phase = 0; phase < 2; phase++) {
        /* phase 0: prefill of both sequences (seq 1 rows first); phase 1: one decode row each */
        const int64_t rows = phase == 0 ? len[0] + len[1] : S;
        int32_t *rs = malloc((size_t)rows * 4), *rp = malloc((size_t)rows * 4);
        float *kk = malloc((size_t)(rows * kw) * 4), *vv = malloc((size_t)(rows * kw) * 4);
        float *q = malloc((size_t)(rows * qw) * 4), *out = malloc((size_t)(rows * qw) * 4);
        float *ref = malloc((size_t)(rows * qw) * 4);
        assert_true(rs && rp && kk && vv && q && out && ref);
        int64_t r = 0;
        if (phase == 0) {
            for (int s = S - 1; s >= 0; s--)
                for (int32_t p = 0; p < len[s]; p++, r++) {
                    rs[r] = s;
                    rp[r] = p;
                }
        } else {
            for (int s = 0; s < S; s++, r++) {
                rs[r] = s;
                rp[r] = len[s];
            }
        }
        for (r = 0; r < rows; r++) {
            memcpy(kk + r * kw, k + ((int64_t)rs[r] * ctx + rp[r]) * kw, (size_t)kw * 4);
            memcpy(vv + r * kw, v + ((int64_t)rs[r] * ctx + rp[r]) * kw, (size_t)kw * 4);
        }
        ref_fill(q, rows * qw, &seed, 1.0f);
        hive_batch b = {.struct_size = sizeof b, .n_rows = (uint32_t)rows, .row_seq = rs, .row_pos = rp,
                        .n_seqs = S, .max_blocks = MAXB, .block_table = bt};
        gpu_mat gk = gpu_mat_new(fx, rows, kw, 0, kk), gv = gpu_mat_new(fx, rows, kw, 1, vv);
        gpu_mat gq = gpu_mat_new(fx, rows, qw, 2, q), go = gpu_mat_new(fx, rows, qw, 0, NULL);
        err = NULL;
        gpu_check(fx->api->op_kv_store(fx->dev, kv, 1, &gk.t, &gv.t, &b, &err), err, "op_kv_store");
        const float scale = 1.0f / sqrtf((float)hd);
        err = NULL;
        gpu_check(fx->api->op_attention(fx->dev, kv, 1, &gq.t, n_heads, scale, &b, &go.t, &err), err,
                  "op_attention");
        gpu_mat_read(fx, &go, out);
        ref_attention(q, kr, vr, ctx, rs, rp, rows, n_heads, n_kv, hd, scale, ref);
        char what[96];
        snprintf(what, sizeof what, "attention %s kv %s heads %u/%u dim %u", phase ? "decode" : "prefill",
                 kv_dtype == HIVE_DTYPE_F16 ? "f16" : "f32", n_heads, n_kv, hd);
        CHECK_ERR(gpu_rel_err(out, ref, rows * qw, 1e-3), 2e-3, what);
        gpu_mat_free(fx, &gk);
        gpu_mat_free(fx, &gv);
        gpu_mat_free(fx, &gq);
        gpu_mat_free(fx, &go);
        free(rs);
        free(rp);
        free(kk);
        free(vv);
        free(q);
        free(out);
        free(ref);
    }
    fx->api->kv_free(fx->dev, kv);
    free(k);
    free(v);
    free(kr);
    free(vr);
}

static void test_attention(void **state) {
    gpu_fx *fx = *state;
    gpu_fx_need_device(fx);
    attention_case(fx, HIVE_DTYPE_F16, 8, 2, 64);   /* GQA 4:1 */
    attention_case(fx, HIVE_DTYPE_F32, 4, 4, 128);  /* MHA */
    attention_case(fx, HIVE_DTYPE_F16, 12, 2, 80);  /* GQA 6:1, odd head_dim */
}

/* ---------------------------------------------------------------- main -- */
int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe), cmocka_unit_test(test_matmul), cmocka_unit_test(test_row_ops),
        cmocka_unit_test(test_embed), cmocka_unit_test(test_rope), cmocka_unit_test(test_attention)
    };
    return gpu_run_per_plugin(tests, sizeof tests / sizeof tests[0]);
}
