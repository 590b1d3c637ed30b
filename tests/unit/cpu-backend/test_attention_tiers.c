/* Two-tier KV caches (ABI 1.9, --kv-tail): f16 pages and store pages (q8_0 /
 * q4_0) in one block table. Attention equals exact attention (in double)
 * over the values each page holds: an f16 page's slots take q rounded to f16
 * and the softmax weights rounded to f16 (as the f16 cache does), a store
 * page's take them f32. Store pages filled by op_kv_store hold the quantized
 * rows; pages filled by op_kv_migrate hold the quantized f16 rows. A cache
 * with a store tier whose batch reads no store page computes the f16 cache's
 * bits. Plus kv_alloc's and kv_migrate's refusals. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "reference.h"
#include "tests.h"

enum { HD = 64, NKV = 2, NH = 6, LEN = 300, BS = 16, NB = 24, NS = 16, PAGES = (LEN + BS - 1) / BS };

/* How a page of the sequence is filled */
enum { TAIL, STORED, MIGRATED };
static int page_kind(int page) {
    if (page >= 12) return TAIL;          /* the recent pages */
    if (page == 4) return TAIL;           /* an old page left f16 (a shared prefix page) */
    return page % 3 == 0 ? STORED : MIGRATED;
}

/* What the cache holds for x in a page of kind `kind` with store type st */
static void held_values(int kind, uint32_t st, const float *x, float *y, int n) {
    float h[HD];
    for (int i = 0; i < n; i++) h[i] = ref_f16_value(x[i]);
    if (kind == TAIL) {
        memcpy(y, h, n * sizeof *y);
        return;
    }
    const float *src = kind == MIGRATED ? h : x; /* migrate quantizes the f16 rows */
    ref_kv_values(st, src, y, n);
}

static double tier_case(uint32_t kt, uint32_t vt) {
    hive_kv_desc kd = {.struct_size = sizeof kd, .dtype = HIVE_DTYPE_F16, .n_layers = 2, .n_blocks = NB,
                       .block_size = BS, .n_kv_heads = NKV, .head_dim = HD, .n_store_blocks = NS,
                       .store_dtype = kt, .store_v_dtype = vt};
    hive_kv_cache *kv = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, NULL), HIVE_OK);
    /* the final table: tail pages out of order, store pages out of order */
    int32_t table[PAGES], staging[PAGES], seq[LEN], pos[LEN];
    for (int p = 0, nt = 0, ns = 0, nm = 0; p < PAGES; p++) {
        int kind = page_kind(p);
        table[p] = kind == TAIL ? (nt++ * 5 + 3) % 17 : NB + (ns++ * 7 + 2) % NS;
        staging[p] = kind == MIGRATED ? NB - 1 - nm++ : table[p]; /* a migrated page is written f16 first (17..) */
    }
    for (int i = 0; i < LEN; i++) seq[i] = 0, pos[i] = i;
    hive_batch sb = {sizeof sb, LEN, seq, pos, 1, PAGES, staging};
    test_tensor k = tt_new(LEN, NKV * HD, NKV * HD, 0), v = tt_new(LEN, NKV * HD, NKV * HD + 5, 0);
    for (int t = 0; t < LEN; t++) /* K with a few large channels, as real keys have */
        for (int i = 0; i < NKV * HD; i++) tt_row(&k, t)[i] *= i % 17 == 3 ? 8.0f : 1.0f;
    for (uint32_t l = 0; l < 2; l++) assert_int_equal(api->op_kv_store(dev, kv, l, &k.t, &v.t, &sb, NULL), HIVE_OK);
    for (int p = 0; p < PAGES; p++)
        if (page_kind(p) == MIGRATED)
            assert_int_equal(api->op_kv_migrate(dev, kv, (uint32_t)staging[p], (uint32_t)table[p], NULL), HIVE_OK);
    int32_t qseq[3] = {0, 0, 0}, qpos[3] = {LEN - 1, 130, 40};
    hive_batch qb = {sizeof qb, 3, qseq, qpos, 1, PAGES, table};
    test_tensor q = tt_new(3, NH * HD, NH * HD, 0), out = tt_new(3, NH * HD, NH * HD, 0);
    const float scale = 0.25f;
    assert_int_equal(api->op_attention(dev, kv, 1, &q.t, NH, scale, &qb, &out.t, NULL), HIVE_OK);
    static float kq[LEN][NKV * HD], vq[LEN][NKV * HD];
    for (int t = 0; t < LEN; t++)
        for (int h = 0; h < NKV; h++) {
            held_values(page_kind(t / BS), kt, tt_row(&k, t) + h * HD, kq[t] + h * HD, HD);
            held_values(page_kind(t / BS), vt, tt_row(&v, t) + h * HD, vq[t] + h * HD, HD);
        }
    static uint8_t f16[LEN]; /* tail pages round q and the weights to f16 */
    static double exact[3 * NH * HD];
    for (int t = 0; t < LEN; t++) f16[t] = page_kind(t / BS) == TAIL;
    ref_attention_exact(tt_row(&q, 0), (size_t)q.t.row_stride, 3, qpos, NH, NKV, HD, scale, &kq[0][0], &vq[0][0],
                        f16, f16, exact);
    double worst = ref_worst_rel(tt_row(&out, 0), (size_t)out.t.row_stride, exact, 3, NH * HD);
    tt_free(&k); tt_free(&v); tt_free(&q); tt_free(&out);
    api->kv_free(dev, kv);
    return worst;
}

void test_attention_kv_tiers(void **state) {
    (void)state;
    uint32_t saved = rnd_state();
    rnd_seed(20261204u);
    static const struct { uint32_t k, v; const char *name; } pairs[] = {
        {HIVE_DTYPE_Q8_0, HIVE_DTYPE_Q8_0, "f16 + q8_0"}, {HIVE_DTYPE_Q4_0, HIVE_DTYPE_Q4_0, "f16 + q4_0"},
        {HIVE_DTYPE_Q8_0, HIVE_DTYPE_Q4_0, "f16 + q8_0,q4_0"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        double worst = tier_case(pairs[i].k, pairs[i].v);
        /* as test_attention_kv's f16 V: weights may round one ulp apart */
        printf("%-16s tiers: worst |attention - exact over the pages' values| / (1 + |exact|) = %.3g\n",
               pairs[i].name, worst);
        if (!(worst < 2e-5)) fail_msg("%s: %g", pairs[i].name, worst);
    }
    rnd_seed(saved);
}

/* No store page read: the f16 cache's own path and bits. */
void test_attention_kv_tiers_f16_bits(void **state) {
    (void)state;
    uint32_t saved = rnd_state();
    rnd_seed(20261205u);
    hive_kv_desc plain = {.struct_size = sizeof plain, .dtype = HIVE_DTYPE_F16, .n_layers = 1, .n_blocks = NB,
                          .block_size = BS, .n_kv_heads = NKV, .head_dim = HD};
    hive_kv_desc tiers = plain;
    tiers.n_store_blocks = NS, tiers.store_dtype = tiers.store_v_dtype = HIVE_DTYPE_Q8_0;
    hive_kv_cache *a = NULL, *b = NULL;
    assert_int_equal(api->kv_alloc(dev, &plain, &a, NULL), HIVE_OK);
    assert_int_equal(api->kv_alloc(dev, &tiers, &b, NULL), HIVE_OK);
    int32_t table[PAGES], seq[LEN], pos[LEN], qseq[2] = {0, 0}, qpos[2] = {LEN - 1, 77};
    for (int p = 0; p < PAGES; p++) table[p] = (p * 5 + 1) % NB;
    for (int i = 0; i < LEN; i++) seq[i] = 0, pos[i] = i;
    hive_batch sb = {sizeof sb, LEN, seq, pos, 1, PAGES, table}, qb = {sizeof qb, 2, qseq, qpos, 1, PAGES, table};
    test_tensor k = tt_new(LEN, NKV * HD, NKV * HD, 0), v = tt_new(LEN, NKV * HD, NKV * HD, 0);
    test_tensor q = tt_new(2, NH * HD, NH * HD, 0), oa = tt_new(2, NH * HD, NH * HD, 0), ob = tt_new(2, NH * HD, NH * HD, 0);
    assert_int_equal(api->op_kv_store(dev, a, 0, &k.t, &v.t, &sb, NULL), HIVE_OK);
    assert_int_equal(api->op_kv_store(dev, b, 0, &k.t, &v.t, &sb, NULL), HIVE_OK);
    assert_int_equal(api->op_attention(dev, a, 0, &q.t, NH, 0.125f, &qb, &oa.t, NULL), HIVE_OK);
    assert_int_equal(api->op_attention(dev, b, 0, &q.t, NH, 0.125f, &qb, &ob.t, NULL), HIVE_OK);
    assert_memory_equal(tt_row(&oa, 0), tt_row(&ob, 0), 2 * NH * HD * sizeof(float));
    tt_free(&k); tt_free(&v); tt_free(&q); tt_free(&oa); tt_free(&ob);
    api->kv_free(dev, a);
    api->kv_free(dev, b);
    rnd_seed(saved);
}

void test_attention_kv_tiers_refusals(void **state) {
    (void)state;
    hive_kv_desc kd = {.struct_size = sizeof kd, .dtype = HIVE_DTYPE_F16, .n_layers = 1, .n_blocks = 4,
                       .block_size = 4, .n_kv_heads = 1, .head_dim = 64, .n_store_blocks = 4,
                       .store_dtype = HIVE_DTYPE_F16, .store_v_dtype = HIVE_DTYPE_Q8_0};
    hive_kv_cache *kv = NULL;
    hive_error *err = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, &err), HIVE_E_UNSUPPORTED); /* store tier: q8_0 / q4_0 */
    assert_non_null(strstr(last_error, "store pages of K f16"));
    kd.store_dtype = HIVE_DTYPE_Q4_0;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, &err), HIVE_OK);
    assert_int_equal(api->op_kv_migrate(dev, kv, 4, 5, &err), HIVE_E_INVALID); /* source is a store page */
    assert_int_equal(api->op_kv_migrate(dev, kv, 1, 3, &err), HIVE_E_INVALID); /* target is a tail page */
    assert_int_equal(api->op_kv_migrate(dev, kv, 1, 8, &err), HIVE_E_INVALID); /* past the store tier */
    assert_non_null(strstr(last_error, "kv_migrate: page 1 -> 8"));
    assert_int_equal(api->op_kv_migrate(dev, kv, 1, 7, &err), HIVE_OK);
    /* a table naming a page past both tiers */
    int32_t table[2] = {7, 8}, seq[1] = {0}, pos[1] = {5};
    hive_batch b = {sizeof b, 1, seq, pos, 1, 2, table};
    test_tensor q = tt_new(1, 64, 64, 0), out = tt_new(1, 64, 64, 0);
    assert_int_equal(api->op_attention(dev, kv, 0, &q.t, 1, 1.0f, &b, &out.t, &err), HIVE_E_INVALID);
    table[1] = 0;
    assert_int_equal(api->op_attention(dev, kv, 0, &q.t, 1, 1.0f, &b, &out.t, &err), HIVE_OK);
    api->kv_free(dev, kv);
    /* a 1.8 host's descriptor ends before n_store_blocks: no store tier, whatever follows */
    kd.struct_size = offsetof(hive_kv_desc, n_store_blocks), kd.store_dtype = HIVE_DTYPE_F32;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, &err), HIVE_OK);
    table[0] = 0, table[1] = 4;
    assert_int_equal(api->op_attention(dev, kv, 0, &q.t, 1, 1.0f, &b, &out.t, &err), HIVE_E_INVALID);
    assert_int_equal(api->op_kv_migrate(dev, kv, 0, 4, &err), HIVE_E_INVALID);
    tt_free(&q); tt_free(&out);
    api->kv_free(dev, kv);
}
