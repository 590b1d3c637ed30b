/* Row-wise ops, rope, embed, plugin/device info, and their error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "reference.h"
#include "tests.h"

static void assert_close(double got, double want, double tol, const char *what, int64_t i) {
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want)))) {
        fprintf(stderr, "%s[%lld]: got %.8g, want %.8g\n", what, (long long)i, got, want);
        fail();
    }
}

void test_plugin_info(void **state) {
    (void)state;
    hive_plugin_info pi;
    memset(&pi, 0, sizeof pi);
    pi.struct_size = sizeof pi;
    assert_int_equal(plugin_query(&pi), HIVE_OK);
    assert_int_equal(pi.kind, HIVE_PLUGIN_BACKEND);
    assert_string_equal(pi.name, "onednn-cpu");
    assert_int_equal(pi.abi_major, 1);
    assert_int_equal(pi.abi_minor, HIVE_ABI_MINOR);
    assert_int_equal(pi.min_host_minor, 0);
    assert_non_null(strstr(pi.build, "oneDNN"));
    assert_non_null(strstr(pi.build, "avx2"));
    /* an older, shorter host struct: nothing past its size is written */
    struct { hive_plugin_info head; char canary[8]; } small;
    memset(&small, 0x5a, sizeof small);
    small.head.struct_size = offsetof(hive_plugin_info, build);
    assert_int_equal(plugin_query(&small.head), HIVE_OK);
    assert_int_equal(small.head.struct_size, offsetof(hive_plugin_info, build));
    assert_int_equal((unsigned char)small.canary[0], 0x5a);
    assert_true(*(const unsigned char *)&small.head.build == 0x5a); /* untouched */

    hive_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    uint32_t n = 0;
    assert_int_equal(api->device_count(&n, NULL), HIVE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(api->device_info(0, &info, NULL), HIVE_OK);
    assert_true(info.score >= 10);
    assert_true(strlen(info.name) > 0);
    assert_non_null(strstr(info.reason, "avx512"));
    assert_true(info.memory_total > 0);
    assert_true(api->struct_size == sizeof(hive_backend_api));
    assert_true(api->caps & HIVE_BACKEND_CAP_HOST_MEMORY);
    assert_non_null(api->op_argmax);
    assert_null(api->get_extension(dev, 0x7fff, 0)); /* unknown id */
    assert_int_equal(api->synchronize(dev, NULL), HIVE_OK);
    assert_int_equal(api->device_info(1, &info, NULL), HIVE_E_NODEVICE);
}

void test_embed(void **state) {
    (void)state;
    static const uint32_t dtypes[] = {HIVE_DTYPE_F32,  HIVE_DTYPE_F16,  HIVE_DTYPE_BF16,
                                      HIVE_DTYPE_Q8_0, HIVE_DTYPE_Q4_0, HIVE_DTYPE_Q4_1,
                                      HIVE_DTYPE_Q4_K, HIVE_DTYPE_Q6_K};
    const int32_t ids[] = {3, 0, 4, 3, 1};
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
        void *raw;
        float *deq;
        ref_make_weight(dtypes[d], 5, 512, &raw, &deq);
        hive_weight *t = tw_upload(dtypes[d], 5, 512, raw);
        assert_non_null(t);
        test_tensor out = tt_new(5, 512, 520, 1);
        assert_int_equal(api->op_embed(dev, t, ids, &out.t, NULL), HIVE_OK);
        for (int r = 0; r < 5; r++)
            for (int i = 0; i < 512; i++)
                assert_close(tt_row(&out, r)[i], deq[ids[r] * 512 + i], 1e-6, ref_dtype_name(dtypes[d]), i);
        int32_t bad[] = {0, 5, 0, 0, 0};
        assert_int_equal(api->op_embed(dev, t, bad, &out.t, NULL), HIVE_E_INVALID);
        tt_free(&out);
        api->weight_free(dev, t);
        free(raw);
        free(deq);
    }
}

void test_rmsnorm(void **state) {
    (void)state;
    const int64_t rows = 3, cols = 100;
    float gain[100];
    for (int i = 0; i < cols; i++) gain[i] = rnd_uniform(0.5f, 1.5f);
    hive_weight *g = tw_upload(HIVE_DTYPE_F32, 1, cols, gain);
    test_tensor x = tt_new(rows, cols, 104, 2);
    float *x0 = malloc(sizeof(float) * 104 * 3);
    memcpy(x0, x.host, sizeof(float) * (2 * 104 + 100));
    /* out aliases x */
    assert_int_equal(api->op_rmsnorm(dev, &x.t, g, 1e-5f, &x.t, NULL), HIVE_OK);
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int i = 0; i < cols; i++) ss += (double)x0[r * 104 + i] * x0[r * 104 + i];
        double inv = 1.0 / sqrt(ss / cols + 1e-5);
        for (int i = 0; i < cols; i++)
            assert_close(tt_row(&x, r)[i], x0[r * 104 + i] * inv * gain[i], 1e-5, "rmsnorm", i);
    }
    free(x0);
    tt_free(&x);
    api->weight_free(dev, g);
}

void test_binary(void **state) {
    (void)state;
    const int64_t rows = 4, cols = 33;
    for (uint32_t op = HIVE_BINARY_ADD; op <= HIVE_BINARY_MUL; op++) {
        for (int bcast = 0; bcast < 2; bcast++) {
            test_tensor a = tt_new(rows, cols, cols, 0);
            test_tensor b = tt_new(bcast ? 1 : rows, cols, cols + 1, 0);
            float a0[4 * 33];
            memcpy(a0, a.host, sizeof a0);
            assert_int_equal(api->op_binary(dev, op, &a.t, &b.t, &a.t, NULL), HIVE_OK);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t i = 0; i < cols; i++) {
                    float bv = tt_row(&b, bcast ? 0 : r)[i], av = a0[r * cols + i];
                    assert_close(tt_row(&a, r)[i], op ? av * bv : av + bv, 1e-6, "binary", i);
                }
            tt_free(&a);
            tt_free(&b);
        }
        float wv[33];
        for (int i = 0; i < cols; i++) wv[i] = rnd_uniform(-2, 2);
        hive_weight *w = tw_upload(HIVE_DTYPE_F32, 1, cols, wv);
        test_tensor a = tt_new(rows, cols, cols, 0), o = tt_new(rows, cols, cols, 0);
        assert_int_equal(api->op_binary_weight(dev, op, &a.t, w, &o.t, NULL), HIVE_OK);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 0; i < cols; i++) {
                float av = tt_row(&a, r)[i];
                assert_close(tt_row(&o, r)[i], op ? av * wv[i] : av + wv[i], 1e-6, "binary_weight", i);
            }
        tt_free(&a);
        tt_free(&o);
        api->weight_free(dev, w);
    }
}

void test_swiglu(void **state) {
    (void)state;
    const int64_t rows = 2, cols = 1003;
    test_tensor g = tt_new(rows, cols, cols, 0), u = tt_new(rows, cols, cols, 0);
    for (int64_t i = 0; i < rows * cols; i++) g.host[i] *= (i % 7 == 0) ? 40.0f : 6.0f;
    float *g0 = malloc(sizeof(float) * rows * cols);
    memcpy(g0, g.host, sizeof(float) * rows * cols);
    assert_int_equal(api->op_swiglu(dev, &g.t, &u.t, &g.t, NULL), HIVE_OK); /* out aliases gate */
    for (int64_t i = 0; i < rows * cols; i++) {
        double x = g0[i];
        assert_close(g.host[i], x / (1.0 + exp(-x)) * u.host[i], 2e-6, "swiglu", i);
    }
    free(g0);
    tt_free(&g);
    tt_free(&u);
}

/* angles: HIVE_ROPE_ANGLES_TABLE, _GGML, or ~0u for a 1.2 descriptor (no angles field) */
static void rope_case(uint32_t mode, uint32_t angles) {
    const uint32_t heads = 3, hd = 16, rot = 12;
    const int64_t rows = 3;
    float inv_freq[6];
    for (uint32_t i = 0; i < rot / 2; i++) inv_freq[i] = powf(10000.0f, -2.0f * i / rot);
    int32_t pos[3] = {0, 7, 1234};
    hive_batch batch = {sizeof batch, 3, NULL, pos, 0, 0, NULL};
    hive_rope_desc rd = {sizeof rd, mode, heads, hd, rot, 0.9f, inv_freq, angles, powf(10000.0f, -2.0f / rot)};
    int ggml = angles == HIVE_ROPE_ANGLES_GGML;
    if (angles == ~0u) rd.struct_size = offsetof(hive_rope_desc, angles), rd.angles = HIVE_ROPE_ANGLES_GGML;
    test_tensor x = tt_new(rows, heads * hd, heads * hd + 4, 0);
    float x0[3 * 52];
    memcpy(x0, x.host, sizeof(float) * (2 * 52 + 48)); /* the last row has no padding */
    assert_int_equal(api->op_rope(dev, &x.t, &rd, &batch, NULL), HIVE_OK);
    for (int64_t r = 0; r < rows; r++)
        for (uint32_t h = 0; h < heads; h++) {
            const float *in = x0 + r * 52 + h * hd;
            const float *got = tt_row(&x, r) + h * hd;
            float want[16];
            memcpy(want, in, sizeof want); /* dims past rot_dims pass through */
            float run = (float)pos[r]; /* llama.cpp: a running product of f32 angles */
            for (uint32_t i = 0; i < rot / 2; i++, run *= rd.theta_scale) {
                uint32_t a = mode == HIVE_ROPE_NORMAL ? 2 * i : i;
                uint32_t b = mode == HIVE_ROPE_NORMAL ? 2 * i + 1 : i + rot / 2;
                double th = ggml ? (double)run : (double)((float)pos[r] * inv_freq[i]);
                want[a] = (float)(0.9 * (in[a] * cos(th) - in[b] * sin(th)));
                want[b] = (float)(0.9 * (in[a] * sin(th) + in[b] * cos(th)));
            }
            for (uint32_t i = 0; i < hd; i++) assert_close(got[i], want[i], 2e-5, "rope", i);
        }
    tt_free(&x);
}

void test_rope(void **state) {
    (void)state;
    for (uint32_t a = 0; a < 2; a++) {
        rope_case(HIVE_ROPE_NORMAL, a);
        rope_case(HIVE_ROPE_NEOX, a);
    }
    rope_case(HIVE_ROPE_NEOX, ~0u); /* a 1.2 host's descriptor: the table's angles */
    /* the two arithmetics differ (else the test above would not tell them apart) */
    float inv[2] = {1.0f, powf(10000.0f, -0.5f)}, xa[4] = {0.3f, -1.1f, 0.7f, 0.2f}, xb[4];
    memcpy(xb, xa, sizeof xa);
    int32_t pos[1] = {1234};
    hive_batch batch = {sizeof batch, 1, NULL, pos, 0, 0, NULL};
    test_tensor ta = tt_new(1, 4, 4, 0), tb = tt_new(1, 4, 4, 0);
    memcpy(tt_row(&ta, 0), xa, sizeof xa), memcpy(tt_row(&tb, 0), xb, sizeof xb);
    hive_rope_desc ra = {sizeof ra, HIVE_ROPE_NORMAL, 1, 4, 4, 1.0f, inv, HIVE_ROPE_ANGLES_TABLE, inv[1]};
    hive_rope_desc rb = ra;
    rb.angles = HIVE_ROPE_ANGLES_GGML;
    assert_int_equal(api->op_rope(dev, &ta.t, &ra, &batch, NULL), HIVE_OK);
    assert_int_equal(api->op_rope(dev, &tb.t, &rb, &batch, NULL), HIVE_OK);
    assert_true(memcmp(tt_row(&ta, 0), tt_row(&tb, 0), sizeof xa) != 0);
    rb.angles = 7;
    assert_int_equal(api->op_rope(dev, &tb.t, &rb, &batch, NULL), HIVE_E_UNSUPPORTED);
    tt_free(&ta);
    tt_free(&tb);
}

void test_get_rows_argmax(void **state) {
    (void)state;
    test_tensor x = tt_new(6, 50, 55, 0), out = tt_new(3, 50, 50, 0);
    int32_t rows[3] = {5, 0, 2};
    assert_int_equal(api->op_get_rows(dev, &x.t, rows, 3, &out.t, NULL), HIVE_OK);
    for (int i = 0; i < 3; i++) assert_memory_equal(tt_row(&out, i), tt_row(&x, rows[i]), 50 * 4);
    tt_row(&x, 1)[17] = 5.0f;
    tt_row(&x, 3)[49] = 5.0f;
    tt_row(&x, 4)[0] = 5.0f;
    tt_row(&x, 4)[30] = 5.0f; /* tie: the first one wins */
    int32_t ids[6];
    assert_int_equal(api->op_argmax(dev, &x.t, ids, NULL), HIVE_OK);
    assert_int_equal(ids[1], 17);
    assert_int_equal(ids[3], 49);
    assert_int_equal(ids[4], 0);
    for (int r = 0; r < 6; r++) {
        int best = 0;
        for (int i = 1; i < 50; i++)
            if (tt_row(&x, r)[i] > tt_row(&x, r)[best]) best = i;
        assert_int_equal(ids[r], best);
    }
    rows[1] = 6;
    assert_int_equal(api->op_get_rows(dev, &x.t, rows, 3, &out.t, NULL), HIVE_E_INVALID);
    tt_free(&x);
    tt_free(&out);
}

/* out[rows[i]] += scale[i] * x[i]; rows not listed stay as they were; a row
 * outside out or a width mismatch is refused with out untouched. */
void test_add_rows_scaled(void **state) {
    (void)state;
    assert_non_null(api->op_add_rows_scaled);
    test_tensor x = tt_new(3, 40, 44, 0), out = tt_new(5, 40, 48, 0), before = tt_new(5, 40, 40, 0);
    for (int r = 0; r < 5; r++) memcpy(tt_row(&before, r), tt_row(&out, r), 40 * sizeof(float));
    int32_t rows[3] = {4, 0, 2};
    float scale[3] = {0.5f, -2.0f, 1.25f};
    assert_int_equal(api->op_add_rows_scaled(dev, &x.t, rows, scale, &out.t, NULL), HIVE_OK);
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 40; c++) {
            float want = tt_row(&before, r)[c];
            for (int i = 0; i < 3; i++)
                if (rows[i] == r) want += scale[i] * tt_row(&x, i)[c];
            assert_float_equal(tt_row(&out, r)[c], want, 1e-6f * (1.0f + fabsf(want)));
        }
    for (int r = 0; r < 5; r++) memcpy(tt_row(&before, r), tt_row(&out, r), 40 * sizeof(float));
    rows[1] = 5;
    hive_error *err = NULL;
    assert_int_equal(api->op_add_rows_scaled(dev, &x.t, rows, scale, &out.t, &err), HIVE_E_INVALID);
    assert_non_null(strstr(last_error, "add_rows_scaled"));
    for (int r = 0; r < 5; r++) assert_memory_equal(tt_row(&out, r), tt_row(&before, r), 40 * sizeof(float));
    test_tensor narrow = tt_new(3, 39, 39, 0);
    rows[1] = 1;
    assert_int_equal(api->op_add_rows_scaled(dev, &narrow.t, rows, scale, &out.t, &err), HIVE_E_SHAPE);
    tt_free(&x);
    tt_free(&out);
    tt_free(&before);
    tt_free(&narrow);
}

/* Mamba2's ops against the formulas written out here: two sequences, rows
 * interleaved, each continuing its own state row; bad slots and shapes are
 * refused naming the op. */
void test_ssm_ops(void **state) {
    (void)state;
    assert_non_null(api->op_ssm_conv);
    assert_non_null(api->op_ssm_scan);
    /* conv: 3 channels, kernel 3; rows: seq 0, seq 1, seq 0; state rows 2 and 0 */
    enum { CH = 3, K = 3, R = 3 };
    test_tensor x = tt_new(R, CH, CH, 0), out = tt_new(R, CH, CH, 0), st = tt_new(3, CH * (K - 1), CH * (K - 1), 0);
    float w[CH * K], bias[CH];
    for (int i = 0; i < CH * K; i++) w[i] = 0.1f * (float)(i + 1) - 0.4f;
    for (int c = 0; c < CH; c++) bias[c] = 0.05f * (float)c;
    float st0[3][CH * (K - 1)];
    for (int r = 0; r < 3; r++) memcpy(st0[r], tt_row(&st, r), sizeof st0[r]);
    hive_weight *ww = tw_upload(HIVE_DTYPE_F32, 1, CH * K, w), *bw = tw_upload(HIVE_DTYPE_F32, 1, CH, bias);
    int32_t row_seq[R] = {0, 1, 0}, pos[R] = {0, 0, 1}, slots[2] = {2, 0};
    hive_batch b = {sizeof b, R, row_seq, pos, 2, 0, NULL};
    assert_int_equal(api->op_ssm_conv(dev, &x.t, ww, bw, K, &b, slots, &st.t, &out.t, NULL), HIVE_OK);
    float hist[2][CH][K]; /* per sequence: the window, oldest first */
    for (int j = 0; j < 2; j++)
        for (int c = 0; c < CH; c++)
            for (int k = 0; k < K - 1; k++) hist[j][c][k] = st0[slots[j]][c * (K - 1) + k];
    for (int r = 0; r < R; r++) {
        int j = row_seq[r];
        for (int c = 0; c < CH; c++) {
            hist[j][c][K - 1] = tt_row(&x, r)[c];
            float acc = bias[c];
            for (int k = 0; k < K; k++) acc += w[c * K + k] * hist[j][c][k];
            float want = acc / (1.0f + expf(-acc));
            assert_float_equal(tt_row(&out, r)[c], want, 1e-5f);
            memmove(hist[j][c], hist[j][c] + 1, (K - 1) * sizeof(float));
        }
    }
    for (int c = 0; c < CH; c++) /* the state rows hold each sequence's last K - 1 inputs */
        assert_float_equal(tt_row(&st, 2)[c * (K - 1) + 1], tt_row(&x, 2)[c], 0);
    assert_memory_equal(tt_row(&st, 1), st0[1], sizeof st0[1]); /* no sequence's row: untouched */
    slots[1] = 3;
    hive_error *err = NULL;
    assert_int_equal(api->op_ssm_conv(dev, &x.t, ww, bw, K, &b, slots, &st.t, &out.t, &err), HIVE_E_INVALID);
    assert_non_null(strstr(last_error, "ssm_conv"));
    slots[1] = 0;
    assert_int_equal(api->op_ssm_conv(dev, &x.t, ww, bw, K + 1, &b, slots, &st.t, &out.t, &err), HIVE_E_SHAPE);

    /* scan: 2 heads of 2 dims, 1 group, state 2 */
    enum { H = 2, P = 2, N = 2 };
    test_tensor xs = tt_new(R, H * P, H * P, 0), dt = tt_new(R, H, H, 0), Bm = tt_new(R, N, N, 0),
                Cm = tt_new(R, N, N, 0), y = tt_new(R, H * P, H * P, 0), ss = tt_new(2, H * P * N, H * P * N, 0);
    float A[H] = {-0.5f, -1.5f}, D[H] = {0.3f, -0.2f}, dtb[H] = {0.1f, -0.4f}, s0[2][H * P * N];
    for (int r = 0; r < 2; r++) memcpy(s0[r], tt_row(&ss, r), sizeof s0[r]);
    hive_weight *Aw = tw_upload(HIVE_DTYPE_F32, 1, H, A), *Dw = tw_upload(HIVE_DTYPE_F32, 1, H, D),
                *bw2 = tw_upload(HIVE_DTYPE_F32, 1, H, dtb);
    hive_ssm_desc d = {sizeof d, H, P, 1, N, 0, 0.0f, INFINITY};
    int32_t sslots[2] = {1, 0};
    assert_int_equal(api->op_ssm_scan(dev, &xs.t, &dt.t, &Bm.t, &Cm.t, Aw, Dw, bw2, &d, &b, sslots, &ss.t, &y.t, NULL),
                     HIVE_OK);
    for (int r = 0; r < R; r++) {
        float *s_ = s0[sslots[row_seq[r]]];
        for (int h = 0; h < H; h++) {
            float v = tt_row(&dt, r)[h] + dtb[h], dth = logf(1.0f + expf(v)), decay = expf(dth * A[h]);
            for (int p = 0; p < P; p++) {
                float xv = tt_row(&xs, r)[h * P + p], acc = 0;
                for (int n = 0; n < N; n++) {
                    float *sv = &s_[(h * P + p) * N + n];
                    *sv = *sv * decay + dth * tt_row(&Bm, r)[n] * xv;
                    acc += *sv * tt_row(&Cm, r)[n];
                }
                assert_float_equal(tt_row(&y, r)[h * P + p], acc + D[h] * xv, 1e-5f);
            }
        }
    }
    d.n_groups = 3; /* does not divide the heads */
    assert_int_equal(api->op_ssm_scan(dev, &xs.t, &dt.t, &Bm.t, &Cm.t, Aw, Dw, bw2, &d, &b, sslots, &ss.t, &y.t, &err),
                     HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "ssm_scan"));
    test_tensor *all[] = {&x, &out, &st, &xs, &dt, &Bm, &Cm, &y, &ss};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tt_free(all[i]);
    hive_weight *ws[] = {ww, bw, Aw, Dw, bw2};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) api->weight_free(dev, ws[i]);
}

void test_op_shape_errors(void **state) {
    (void)state;
    test_tensor a = tt_new(2, 10, 10, 0), b = tt_new(2, 11, 11, 0);
    hive_error *err = NULL;
    assert_int_equal(api->op_binary(dev, HIVE_BINARY_ADD, &a.t, &b.t, &a.t, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "binary"));
    assert_int_equal(api->op_swiglu(dev, &a.t, &b.t, &a.t, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "swiglu"));
    float g[11] = {0};
    hive_weight *gw = tw_upload(HIVE_DTYPE_F32, 1, 11, g);
    assert_int_equal(api->op_rmsnorm(dev, &a.t, gw, 1e-5f, &a.t, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "rmsnorm"));
    assert_int_equal(api->op_binary_weight(dev, HIVE_BINARY_MUL, &a.t, gw, &a.t, &err), HIVE_E_SHAPE);
    assert_int_equal(api->op_binary(dev, 7, &a.t, &a.t, &a.t, &err), HIVE_E_UNSUPPORTED);
    float inv[4] = {1, 1, 1, 1};
    int32_t pos[2] = {0, 1};
    hive_batch batch = {sizeof batch, 2, NULL, pos, 0, 0, NULL};
    hive_rope_desc rd = {sizeof rd, HIVE_ROPE_NEOX, 3, 4, 4, 1.0f, inv, 0, 0}; /* 12 != 10 cols */
    assert_int_equal(api->op_rope(dev, &a.t, &rd, &batch, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "rope"));
    hive_tensor wrong_dtype = a.t;
    wrong_dtype.dtype = HIVE_DTYPE_F16;
    assert_int_equal(api->op_swiglu(dev, &wrong_dtype, &a.t, &a.t, &err), HIVE_E_UNSUPPORTED);
    /* malformed views never crash */
    hive_tensor no_buf = a.t, neg = a.t, odd = a.t;
    no_buf.buf = NULL;
    neg.cols = -3;
    odd.offset = 2;
    assert_int_equal(api->op_matmul(dev, NULL, gw, NULL, 1, 0, &a.t, &err), HIVE_E_INVALID);
    assert_int_equal(api->op_matmul(dev, &a.t, NULL, NULL, 1, 0, &a.t, &err), HIVE_E_INVALID);
    assert_int_equal(api->op_rmsnorm(dev, &no_buf, gw, 1e-5f, &a.t, &err), HIVE_E_INVALID);
    assert_int_equal(api->op_binary(dev, HIVE_BINARY_ADD, &neg, &a.t, &a.t, &err), HIVE_E_SHAPE);
    assert_int_equal(api->op_argmax(dev, &odd, (int32_t[2]){0}, &err), HIVE_E_INVALID);
    assert_int_equal(api->op_rope(dev, &a.t, &rd, NULL, &err), HIVE_E_INVALID);
    assert_int_equal(api->buffer_upload(dev, a.buf, 1u << 30, g, 4, &err), HIVE_E_INVALID);
    api->weight_free(dev, gw);
    tt_free(&a);
    tt_free(&b);
}
