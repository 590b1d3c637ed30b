/* kv_store + op_attention over a paged cache: GQA, two sequences, block tables
 * out of order, a context longer than one softmax chunk; f16 and f32 caches
 * (f16: q and the softmax weights rounded to f16, llama.cpp's arithmetic). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "reference.h"
#include "tests.h"

enum { N_LAYERS = 2, N_BLOCKS = 24, BS = 8, N_KV = 2, HD = 20, N_HEADS = 6, MAX_BLOCKS = 14 };
enum { LEN0 = 20, LEN1 = 100, KV_COLS = N_KV * HD, Q_COLS = N_HEADS * HD };

static void attention_case(uint32_t kv_dtype) {
    hive_kv_desc kd = {sizeof kd, kv_dtype, N_LAYERS, N_BLOCKS, BS, N_KV, HD, 0, 0, 0, 0, 0, 0, 0};
    hive_kv_cache *kv = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, NULL), HIVE_OK);
    /* seq 0: 3 blocks, seq 1: 13 blocks, physical ids shuffled and disjoint */
    int32_t table[2 * MAX_BLOCKS];
    const int32_t t0[] = {5, 2, 7};
    const int32_t t1[] = {1, 23, 3, 0, 12, 9, 20, 4, 16, 11, 6, 18, 14};
    memset(table, 0xff, sizeof table);
    memcpy(table, t0, sizeof t0);
    memcpy(table + MAX_BLOCKS, t1, sizeof t1);

    /* store the whole history of both sequences in one batch, into layer 1 */
    const int n_store = LEN0 + LEN1;
    int32_t seq[LEN0 + LEN1], pos[LEN0 + LEN1];
    for (int i = 0; i < n_store; i++) {
        seq[i] = i < LEN0 ? 0 : 1;
        pos[i] = i < LEN0 ? i : i - LEN0;
    }
    hive_batch sb = {sizeof sb, (uint32_t)n_store, seq, pos, 2, MAX_BLOCKS, table};
    test_tensor k = tt_new(n_store, KV_COLS, KV_COLS, 0), v = tt_new(n_store, KV_COLS, KV_COLS + 3, 0);
    assert_int_equal(api->op_kv_store(dev, kv, 1, &k.t, &v.t, &sb, NULL), HIVE_OK);

    /* query rows: ends and middles of both sequences */
    int32_t qseq[] = {0, 1, 1, 0, 1}, qpos[] = {LEN0 - 1, LEN1 - 1, 64, 0, 65};
    const int nq = 5;
    hive_batch qb = {sizeof qb, nq, qseq, qpos, 2, MAX_BLOCKS, table};
    test_tensor q = tt_new(nq, Q_COLS, Q_COLS, 0), out = tt_new(nq, Q_COLS, Q_COLS + 2, 0);
    for (int64_t i = 0; i < nq * Q_COLS; i++) q.host[i] *= 3.0f; /* peaky softmax */
    const float scale = 1.0f / sqrtf((float)HD);
    assert_int_equal(api->op_attention(dev, kv, 1, &q.t, N_HEADS, scale, &qb, &out.t, NULL), HIVE_OK);

    /* what the cache holds; an f16 cache also rounds q and the normalized
     * weights to f16, as llama.cpp's f16 path does */
    int f16 = kv_dtype == HIVE_DTYPE_F16;
    static float kq[LEN0 + LEN1][KV_COLS], vq[LEN0 + LEN1][KV_COLS];
    static uint8_t rounds[LEN1];
    memset(rounds, f16, sizeof rounds);
    for (int t = 0; t < n_store; t++)
        for (int i = 0; i < KV_COLS; i++) {
            kq[t][i] = f16 ? ref_f16_value(tt_row(&k, t)[i]) : tt_row(&k, t)[i];
            vq[t][i] = f16 ? ref_f16_value(tt_row(&v, t)[i]) : tt_row(&v, t)[i];
        }
    for (int r = 0; r < nq; r++) {
        int base = qseq[r] == 0 ? 0 : LEN0; /* store row of (seq, 0) */
        double exact[Q_COLS];
        ref_attention_exact(tt_row(&q, r), 0, 1, &qpos[r], N_HEADS, N_KV, HD, scale, kq[base], vq[base], rounds,
                            rounds, exact);
        for (int j = 0; j < Q_COLS; j++) {
            double got = tt_row(&out, r)[j], o = exact[j];
            if (!(fabs(got - o) <= 2e-5 + 2e-5 * fabs(o))) {
                fprintf(stderr, "attention %s row %d head %d dim %d: got %g want %g\n", f16 ? "f16" : "f32", r,
                        j / HD, j % HD, got, o);
                fail();
            }
        }
    }
    tt_free(&k); tt_free(&v); tt_free(&q); tt_free(&out);
    api->kv_free(dev, kv);
}

void test_attention_f16(void **state) {
    (void)state;
    attention_case(HIVE_DTYPE_F16);
}

void test_attention_f32(void **state) {
    (void)state;
    attention_case(HIVE_DTYPE_F32);
}

void test_attention_errors(void **state) {
    (void)state;
    hive_kv_desc kd = {sizeof kd, HIVE_DTYPE_F16, 1, 4, 4, 2, 8, 0, 0, 0, 0, 0, 0, 0};
    hive_kv_cache *kv = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, NULL), HIVE_OK);
    int32_t table[4] = {0, 1, 2, 3}, seq[2] = {0, 0}, pos[2] = {0, 1};
    hive_batch b = {sizeof b, 2, seq, pos, 1, 4, table};
    test_tensor q = tt_new(2, 5 * 8, 5 * 8, 0), out = tt_new(2, 5 * 8, 5 * 8, 0);
    hive_error *err = NULL;
    /* 5 heads over 2 kv heads */
    assert_int_equal(api->op_attention(dev, kv, 0, &q.t, 5, 1.0f, &b, &out.t, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "attention"));
    test_tensor q4 = tt_new(2, 4 * 8, 4 * 8, 0), o4 = tt_new(2, 4 * 8, 4 * 8, 0);
    assert_int_equal(api->op_attention(dev, kv, 1, &q4.t, 4, 1.0f, &b, &o4.t, &err), HIVE_E_INVALID);
    pos[1] = 16; /* needs block 4 of a 4-entry table */
    assert_int_equal(api->op_attention(dev, kv, 0, &q4.t, 4, 1.0f, &b, &o4.t, &err), HIVE_E_INVALID);
    pos[1] = 5;
    table[1] = 9; /* physical block outside the cache */
    assert_int_equal(api->op_attention(dev, kv, 0, &q4.t, 4, 1.0f, &b, &o4.t, &err), HIVE_E_INVALID);
    table[1] = 1;
    assert_int_equal(api->op_attention(dev, kv, 0, &q4.t, 4, 1.0f, &b, &o4.t, &err), HIVE_OK);
    test_tensor k = tt_new(2, 15, 15, 0);
    assert_int_equal(api->op_kv_store(dev, kv, 0, &k.t, &k.t, &b, &err), HIVE_E_SHAPE);
    assert_non_null(strstr(last_error, "kv_store"));
    hive_kv_desc bad = kd;
    bad.dtype = HIVE_DTYPE_Q4_1;
    hive_kv_cache *kv2 = NULL;
    assert_int_equal(api->kv_alloc(dev, &bad, &kv2, &err), HIVE_E_UNSUPPORTED);
    bad.dtype = HIVE_DTYPE_Q8_0; /* head_dim 8: not whole blocks of 32 */
    assert_int_equal(api->kv_alloc(dev, &bad, &kv2, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(last_error, "multiple of 32"));
    tt_free(&q); tt_free(&out); tt_free(&q4); tt_free(&o4); tt_free(&k);
    api->kv_free(dev, kv);
}

/* Resident memory of this process, bytes (/proc/self/statm). */
static long long rss_bytes(void) {
    long long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%lld %lld", &pages, &resident) != 2) resident = 0;
    if (f) fclose(f);
    return resident * 4096;
}

/* A pool of 1 GiB costs nothing until written: pages come on demand. */
void test_kv_pages_on_demand(void **state) {
    (void)state;
    hive_kv_desc kd = {sizeof kd, HIVE_DTYPE_F16, 8, 2048, 16, 8, 128, 0, 0, 0, 0, 0, 0, 0}; /* 2 x 512 MiB */
    long long before = rss_bytes();
    hive_kv_cache *kv = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, NULL), HIVE_OK);
    long long after = rss_bytes();
    printf("kv_alloc of 2 x 512 MiB: resident memory +%lld KiB\n", (after - before) / 1024);
    assert_true(after - before < (32ll << 20));
    /* a stored row reads back through attention (the untouched pages are zero) */
    int32_t table[1] = {2047}, seq = 0, pos = 0;
    hive_batch b = {sizeof b, 1, &seq, &pos, 1, 1, table};
    test_tensor k = tt_new(1, 8 * 128, 8 * 128, 0), q = tt_new(1, 8 * 128, 8 * 128, 0),
                out = tt_new(1, 8 * 128, 8 * 128, 0);
    assert_int_equal(api->op_kv_store(dev, kv, 7, &k.t, &k.t, &b, NULL), HIVE_OK);
    assert_int_equal(api->op_attention(dev, kv, 7, &q.t, 8, 1.0f, &b, &out.t, NULL), HIVE_OK);
    const float *kv_row = tt_row(&k, 0), *o = tt_row(&out, 0);
    for (int i = 0; i < 8 * 128; i++) /* one slot: the output is its V row, rounded to f16 */
        assert_float_equal(o[i], kv_row[i], 2e-3f * fabsf(kv_row[i]) + 1e-3f);
    assert_true(rss_bytes() - before < (64ll << 20));
    tt_free(&k); tt_free(&q); tt_free(&out);
    api->kv_free(dev, kv);
}

/* With more threads than (row, head) tasks, decode attention splits each head
 * (q.k by slots, p.V by dims): the same bits as one task per head. */
void test_attention_split_exact(void **state) {
    (void)state;
    enum { HD2 = 72, SLOTS = 1300, BS2 = 16, NB = (SLOTS + BS2 - 1) / BS2 + 2 }; /* 72 = 4 x 16 + 8 dims */
    hive_kv_desc kd = {sizeof kd, HIVE_DTYPE_F16, 1, NB, BS2, 1, HD2, 0, 0, 0, 0, 0, 0, 0};
    hive_kv_cache *kv = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, NULL), HIVE_OK);
    int32_t table[NB], seq[SLOTS], pos[SLOTS];
    for (int i = 0; i < NB; i++) table[i] = (i * 5 + 3) % NB; /* pages out of order */
    for (int i = 0; i < SLOTS; i++) seq[i] = 0, pos[i] = i;
    hive_batch sb = {sizeof sb, SLOTS, seq, pos, 1, NB, table};
    test_tensor k = tt_new(SLOTS, HD2, HD2, 0), v = tt_new(SLOTS, HD2, HD2, 0);
    assert_int_equal(api->op_kv_store(dev, kv, 0, &k.t, &v.t, &sb, NULL), HIVE_OK);
    int32_t qseq[2] = {0, 0}, qpos[2] = {SLOTS - 1, 700}; /* 2 rows x 2 heads = 4 tasks */
    hive_batch qb = {sizeof qb, 2, qseq, qpos, 1, NB, table};
    test_tensor q = tt_new(2, 2 * HD2, 2 * HD2, 0);
    test_tensor out[2] = {tt_new(2, 2 * HD2, 2 * HD2, 0), tt_new(2, 2 * HD2, 2 * HD2, 0)};
    const uint32_t threads[2] = {1, 16}; /* 4 >= 2 x 1 tasks: per head; 4 < 2 x 16: split */
    for (int i = 0; i < 2; i++) {
        hive_device_options opts = {sizeof opts, threads[i], 64, 0};
        hive_device *d = NULL;
        assert_int_equal(api->device_open(0, &opts, &d, NULL), HIVE_OK);
        assert_int_equal(api->op_attention(d, kv, 0, &q.t, 2, 0.125f, &qb, &out[i].t, NULL), HIVE_OK);
        api->device_close(d);
    }
    for (int r = 0; r < 2; r++)
        if (memcmp(tt_row(&out[0], r), tt_row(&out[1], r), 2 * HD2 * sizeof(float)))
            fail_msg("row %d: split attention differs from per-head attention", r);
    tt_free(&k); tt_free(&v); tt_free(&q); tt_free(&out[0]); tt_free(&out[1]);
    api->kv_free(dev, kv);
}

/* A q8_0 cache: attention equals exact attention over the values it holds
 * (llama.cpp's quantize_row_q8_0 written out again, of the rotated rows:
 * ref_kv_values). */
void test_attention_q8_0(void **state) {
    (void)state;
    enum { HD8 = 64, NKV8 = 2, NH8 = 6, LEN = 3000, NB8 = 190 };
    hive_kv_desc kd = {sizeof kd, HIVE_DTYPE_Q8_0, 1, NB8, 16, NKV8, HD8, 0, 0, 0, 0, 0, 0, 0};
    hive_kv_cache *kv = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, NULL), HIVE_OK);
    int32_t table[NB8], seq[LEN], pos[LEN];
    for (int i = 0; i < NB8; i++) table[i] = (i * 7 + 2) % NB8;
    for (int i = 0; i < LEN; i++) seq[i] = 0, pos[i] = i;
    hive_batch sb = {sizeof sb, LEN, seq, pos, 1, NB8, table};
    test_tensor k = tt_new(LEN, NKV8 * HD8, NKV8 * HD8, 0), v = tt_new(LEN, NKV8 * HD8, NKV8 * HD8, 0);
    assert_int_equal(api->op_kv_store(dev, kv, 0, &k.t, &v.t, &sb, NULL), HIVE_OK);
    int32_t qseq[3] = {0, 0, 0}, qpos[3] = {LEN - 1, 1700, 0};
    hive_batch qb = {sizeof qb, 3, qseq, qpos, 1, NB8, table};
    test_tensor q = tt_new(3, NH8 * HD8, NH8 * HD8, 0), out = tt_new(3, NH8 * HD8, NH8 * HD8, 0);
    const float scale = 0.3f;
    assert_int_equal(api->op_attention(dev, kv, 0, &q.t, NH8, scale, &qb, &out.t, NULL), HIVE_OK);
    static float kq[LEN][NKV8 * HD8], vq[LEN][NKV8 * HD8];
    for (int t = 0; t < LEN; t++)
        for (int h = 0; h < NKV8; h++) {
            ref_kv_values(HIVE_DTYPE_Q8_0, tt_row(&k, t) + h * HD8, kq[t] + h * HD8, HD8);
            ref_kv_values(HIVE_DTYPE_Q8_0, tt_row(&v, t) + h * HD8, vq[t] + h * HD8, HD8);
        }
    static double exact[3 * NH8 * HD8];
    ref_attention_exact(tt_row(&q, 0), (size_t)q.t.row_stride, 3, qpos, NH8, NKV8, HD8, scale, &kq[0][0], &vq[0][0],
                        NULL, NULL, exact);
    double worst = 0;
    for (int r = 0; r < 3; r++)
        for (int j = 0; j < NH8 * HD8; j++) {
            double err = fabs(tt_row(&out, r)[j] - exact[r * NH8 * HD8 + j]);
            if (isnan(err) || err > worst) worst = err; /* a NaN stays */
        }
    printf("q8_0 cache: worst |attention - exact over the quantized values| = %.3g\n", worst);
    assert_true(worst < 2e-5);
    tt_free(&k); tt_free(&v); tt_free(&q); tt_free(&out);
    api->kv_free(dev, kv);
}
