/* KV caches with q4_0 or bf16 halves, and K and V of different types (ABI
 * 1.6 has_v_dtype): attention equals exact attention (in double) over the
 * values the cache holds (ref_kv_values: q8_0 and q4_0 halves quantized as
 * llama.cpp does, in the rotated basis the plugin stores them in); an f16 K
 * rounds q to f16 and an f16 V the softmax weights, as the f16 cache does.
 * Plus kv_alloc's refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "reference.h"
#include "tests.h"

enum { HD = 64, NKV = 2, NH = 6, LEN = 300, BS = 16, NB = 20 };

static double kv_case(uint32_t kt, uint32_t vt) {
    hive_kv_desc kd = {sizeof kd, kt, 2, NB, BS, NKV, HD, 0, 1, vt, 0, 0, 0, 0};
    hive_kv_cache *kv = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, NULL), HIVE_OK);
    int32_t table[NB], seq[LEN], pos[LEN];
    for (int i = 0; i < NB; i++) table[i] = (i * 7 + 3) % NB; /* pages out of order */
    for (int i = 0; i < LEN; i++) seq[i] = 0, pos[i] = i;
    hive_batch sb = {sizeof sb, LEN, seq, pos, 1, NB, table};
    test_tensor k = tt_new(LEN, NKV * HD, NKV * HD, 0), v = tt_new(LEN, NKV * HD, NKV * HD + 5, 0);
    for (int t = 0; t < LEN; t++) /* K with a few large channels, as real keys have */
        for (int i = 0; i < NKV * HD; i++) tt_row(&k, t)[i] *= i % 17 == 3 ? 8.0f : 1.0f;
    assert_int_equal(api->op_kv_store(dev, kv, 1, &k.t, &v.t, &sb, NULL), HIVE_OK);
    int32_t qseq[3] = {0, 0, 0}, qpos[3] = {LEN - 1, 130, 0};
    hive_batch qb = {sizeof qb, 3, qseq, qpos, 1, NB, table};
    test_tensor q = tt_new(3, NH * HD, NH * HD, 0), out = tt_new(3, NH * HD, NH * HD, 0);
    const float scale = 0.25f;
    assert_int_equal(api->op_attention(dev, kv, 1, &q.t, NH, scale, &qb, &out.t, NULL), HIVE_OK);
    static float kq[LEN][NKV * HD], vq[LEN][NKV * HD];
    for (int t = 0; t < LEN; t++)
        for (int h = 0; h < NKV; h++) {
            ref_kv_values(kt, tt_row(&k, t) + h * HD, kq[t] + h * HD, HD);
            ref_kv_values(vt, tt_row(&v, t) + h * HD, vq[t] + h * HD, HD);
        }
    static uint8_t q_f16[LEN], p_f16[LEN];
    static double exact[3 * NH * HD];
    memset(q_f16, kt == HIVE_DTYPE_F16, sizeof q_f16);
    memset(p_f16, vt == HIVE_DTYPE_F16, sizeof p_f16);
    ref_attention_exact(tt_row(&q, 0), (size_t)q.t.row_stride, 3, qpos, NH, NKV, HD, scale, &kq[0][0], &vq[0][0],
                        q_f16, p_f16, exact);
    double worst = ref_worst_rel(tt_row(&out, 0), (size_t)out.t.row_stride, exact, 3, NH * HD);
    tt_free(&k); tt_free(&v); tt_free(&q); tt_free(&out);
    api->kv_free(dev, kv);
    return worst;
}

void test_attention_kv_types(void **state) {
    (void)state;
    uint32_t saved = rnd_state();
    rnd_seed(20261203u);
    static const struct { uint32_t k, v; const char *name; } pairs[] = {
        {HIVE_DTYPE_Q4_0, HIVE_DTYPE_Q4_0, "q4_0"},      {HIVE_DTYPE_BF16, HIVE_DTYPE_BF16, "bf16"},
        {HIVE_DTYPE_Q8_0, HIVE_DTYPE_F16, "q8_0,f16"},   {HIVE_DTYPE_F16, HIVE_DTYPE_Q8_0, "f16,q8_0"},
        {HIVE_DTYPE_Q8_0, HIVE_DTYPE_Q4_0, "q8_0,q4_0"}, {HIVE_DTYPE_Q4_0, HIVE_DTYPE_BF16, "q4_0,bf16"},
        {HIVE_DTYPE_BF16, HIVE_DTYPE_F16, "bf16,f16"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        double worst = kv_case(pairs[i].k, pairs[i].v);
        /* float sums against double ones (measured: 3e-8 to 5e-7); an f16 V's
         * weights may round one ulp apart, which could cost more */
        double tol = pairs[i].v == HIVE_DTYPE_F16 ? 2e-5 : 2e-6;
        printf("%-10s cache: worst |attention - exact over the cache's values| / (1 + |exact|) = %.3g\n",
               pairs[i].name, worst);
        if (!(worst < tol)) fail_msg("%s: %g over %g", pairs[i].name, worst, tol);
    }
    rnd_seed(saved);
}

void test_attention_kv_refusals(void **state) {
    (void)state;
    hive_kv_desc kd = {sizeof kd, HIVE_DTYPE_F16, 1, 4, 4, 2, 64, 0, 1, HIVE_DTYPE_F32, 0, 0, 0, 0};
    hive_kv_cache *kv = NULL;
    hive_error *err = NULL;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, &err), HIVE_E_UNSUPPORTED); /* f32 pairs only with f32 */
    assert_non_null(strstr(last_error, "f32 for both"));
    kd.v_dtype = HIVE_DTYPE_Q4_1;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(last_error, "V dtype q4_1"));
    kd.v_dtype = HIVE_DTYPE_Q4_0, kd.head_dim = 40; /* not whole blocks of 32 */
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, &err), HIVE_E_UNSUPPORTED);
    assert_non_null(strstr(last_error, "q4_0 cache needs head_dim a multiple of 32"));
    /* a 1.5 host's descriptor ends before has_v_dtype: V is K's type, whatever follows */
    kd.head_dim = 64, kd.v_dtype = HIVE_DTYPE_F32;
    kd.struct_size = offsetof(hive_kv_desc, has_v_dtype);
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, &err), HIVE_OK);
    api->kv_free(dev, kv);
    /* has_v_dtype 0: v_dtype is not read */
    kd.struct_size = sizeof kd, kd.has_v_dtype = 0;
    assert_int_equal(api->kv_alloc(dev, &kd, &kv, &err), HIVE_OK);
    api->kv_free(dev, kv);
}
