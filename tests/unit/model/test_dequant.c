/* hive_dequantize / hive_quantize against scalar reference formulas and
 * hand-packed K-quant blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/dequant.h"
#include "util/dtype.h"

static uint32_t g_seed = 1;
static float frand(void) { /* uniform in [-1, 1) */
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)(g_seed >> 8) / (float)(1u << 23) - 1.0f;
}

static void put_f16(uint8_t *p, float f) {
    uint16_t h = hive_f32_to_f16(f);
    memcpy(p, &h, 2);
}
static float get_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return hive_f16_to_f32(h);
}

static void test_plain_types(void **state) {
    (void)state;
    float x[64], y[64];
    uint16_t h[64];
    for (int i = 0; i < 64; i++) x[i] = frand() * 100.0f;
    assert_int_equal(hive_quantize(HIVE_DTYPE_F16, x, h, 64), HIVE_OK);
    for (int i = 0; i < 64; i++) assert_int_equal(h[i], hive_f32_to_f16(x[i]));
    assert_int_equal(hive_dequantize(HIVE_DTYPE_F16, h, y, 64), HIVE_OK);
    for (int i = 0; i < 64; i++) assert_true(fabsf(y[i] - x[i]) <= fabsf(x[i]) * (1.0f / 2048) + 1e-7f);
    assert_int_equal(hive_quantize(HIVE_DTYPE_BF16, x, h, 64), HIVE_OK);
    assert_int_equal(hive_dequantize(HIVE_DTYPE_BF16, h, y, 64), HIVE_OK);
    for (int i = 0; i < 64; i++) assert_true(fabsf(y[i] - x[i]) <= fabsf(x[i]) * (1.0f / 256));
    /* bf16 is the top half of the f32 bits */
    uint16_t one = 0x3f80;
    assert_int_equal(hive_dequantize(HIVE_DTYPE_BF16, &one, y, 1), HIVE_OK);
    assert_true(y[0] == 1.0f);
    assert_int_equal(hive_quantize(HIVE_DTYPE_F32, x, y, 64), HIVE_OK);
    assert_memory_equal(x, y, sizeof x);
    assert_int_equal(hive_dequantize(HIVE_DTYPE_F32, x, y, 64), HIVE_OK);
    assert_memory_equal(x, y, sizeof x);
}

static void test_errors(void **state) {
    (void)state;
    float x[32] = {0};
    uint8_t b[256] = {0};
    assert_int_equal(hive_dequantize(HIVE_DTYPE_I32, b, x, 4), HIVE_E_UNSUPPORTED);
    assert_int_equal(hive_dequantize(99, b, x, 4), HIVE_E_UNSUPPORTED);
    assert_int_equal(hive_quantize(HIVE_DTYPE_Q4_K, x, b, 256), HIVE_E_UNSUPPORTED);
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q8_0, b, x, 31), HIVE_E_INVALID);
    assert_int_equal(hive_quantize(HIVE_DTYPE_Q4_0, x, b, 16), HIVE_E_INVALID);
}

/* ---- reference quantizers, written as the GGML format notes describe ---- */

static void ref_q8_0(const float *x, uint8_t *blk) {
    float amax = 0;
    for (int i = 0; i < 32; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]);
    float d = amax / 127, inv = d ? 1 / d : 0;
    put_f16(blk, d);
    for (int i = 0; i < 32; i++) blk[2 + i] = (uint8_t)(int8_t)roundf(x[i] * inv);
}

static void ref_q4_0(const float *x, uint8_t *blk) {
    int imax = 0;
    for (int i = 1; i < 32; i++)
        if (fabsf(x[i]) > fabsf(x[imax])) imax = i;
    float d = x[imax] / -8, inv = d ? 1 / d : 0;
    put_f16(blk, d);
    memset(blk + 2, 0, 16);
    for (int i = 0; i < 32; i++) {
        int q = (int)(int8_t)(x[i] * inv + 8.5f);
        if (q > 15) q = 15;
        blk[2 + i % 16] |= (uint8_t)(i < 16 ? q : q << 4);
    }
}

static void ref_q4_1(const float *x, uint8_t *blk) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    float d = (hi - lo) / 15, inv = d ? 1 / d : 0;
    put_f16(blk, d);
    put_f16(blk + 2, lo);
    memset(blk + 4, 0, 16);
    for (int i = 0; i < 32; i++) {
        int q = (int)(int8_t)((x[i] - lo) * inv + 0.5f);
        if (q > 15) q = 15;
        blk[4 + i % 16] |= (uint8_t)(i < 16 ? q : q << 4);
    }
}

/* nibble i of a 32-element 4-bit block: low nibbles hold 0..15, high 16..31 */
static int nib(const uint8_t *qs, int i) { return i < 16 ? qs[i] & 15 : qs[i - 16] >> 4; }

static void check_round_trip(uint32_t dtype, void (*ref)(const float *, uint8_t *), float step_div) {
    enum { NB = 16 };
    uint32_t bb = hive_dtype_block_bytes(dtype);
    float x[NB * 32], y[NB * 32];
    uint8_t got[NB * 34], want[NB * 34];
    for (int i = 0; i < NB * 32; i++) x[i] = frand() * (float)(1 + i / 32);
    x[5] = 7.5f;   /* a dominant positive value in block 0 */
    x[40] = -9.0f; /* a dominant negative value in block 1 */
    for (int i = 64; i < 96; i++) x[i] = 0.25f; /* a constant block: d = 0 for q4_1 */
    assert_int_equal(hive_quantize(dtype, x, got, NB * 32), HIVE_OK);
    for (int b = 0; b < NB; b++) ref(x + 32 * b, want + bb * b);
    assert_memory_equal(got, want, bb * NB);
    assert_int_equal(hive_dequantize(dtype, got, y, NB * 32), HIVE_OK);
    for (int b = 0; b < NB; b++) {
        const uint8_t *blk = got + bb * b;
        float d = get_f16(blk);
        for (int i = 0; i < 32; i++) {
            float expect;
            if (dtype == HIVE_DTYPE_Q8_0) expect = d * (float)(int8_t)blk[2 + i];
            else if (dtype == HIVE_DTYPE_Q4_0) expect = d * (float)(nib(blk + 2, i) - 8);
            else expect = d * (float)nib(blk + 4, i) + get_f16(blk + 2);
            assert_true(y[32 * b + i] == expect);
            /* reconstruction error: half a step, plus f16 rounding of d (and m) */
            float amax = 0;
            for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(x[32 * b + k]));
            float tol = amax / step_div * 0.5f + amax * 3e-3f + 1e-6f;
            if (fabsf(y[32 * b + i] - x[32 * b + i]) > tol)
                fail_msg("%s block %d elem %d: %g vs %g", hive_dtype_name(dtype), b, i, y[32 * b + i], x[32 * b + i]);
        }
    }
}

static void test_q8_0(void **state) {
    (void)state;
    check_round_trip(HIVE_DTYPE_Q8_0, ref_q8_0, 127);
    /* known block: d = 2, q = 0..31 - 16 */
    uint8_t blk[34];
    put_f16(blk, 2.0f);
    for (int i = 0; i < 32; i++) blk[2 + i] = (uint8_t)(int8_t)(i - 16);
    float y[32];
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q8_0, blk, y, 32), HIVE_OK);
    for (int i = 0; i < 32; i++) assert_true(y[i] == 2.0f * (float)(i - 16));
}

static void test_q4_0(void **state) {
    (void)state;
    check_round_trip(HIVE_DTYPE_Q4_0, ref_q4_0, 4.0f); /* clipping at 15 may cost a full step */
    /* the dominant value maps exactly onto -8 * d */
    float x[32] = {0}, y[32];
    uint8_t blk[18];
    x[3] = -4.0f;
    x[20] = 1.0f;
    assert_int_equal(hive_quantize(HIVE_DTYPE_Q4_0, x, blk, 32), HIVE_OK);
    assert_true(get_f16(blk) == 0.5f);
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q4_0, blk, y, 32), HIVE_OK);
    assert_true(y[3] == -4.0f && y[20] == 1.0f && y[0] == 0.0f);
}

static void test_q4_1(void **state) {
    (void)state;
    check_round_trip(HIVE_DTYPE_Q4_1, ref_q4_1, 15.0f / 2);
    float x[32], y[32];
    uint8_t blk[20];
    for (int i = 0; i < 32; i++) x[i] = 1.0f + (float)(i % 16) * 0.5f; /* exactly representable */
    assert_int_equal(hive_quantize(HIVE_DTYPE_Q4_1, x, blk, 32), HIVE_OK);
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q4_1, blk, y, 32), HIVE_OK);
    assert_memory_equal(x, y, sizeof x);
}

/* Q4_K: pack 8 (scale, min) 6-bit pairs the way the format stores them, then
 * check each element equals d*scale*q - dmin*min. */
static void test_q4_k(void **state) {
    (void)state;
    uint8_t blk[2 * 144];
    float want[512], y[512];
    for (int b = 0; b < 2; b++) {
        uint8_t *p = blk + 144 * b;
        float d = b ? 0.03125f : 0.5f, dmin = b ? 0.25f : 0.125f;
        put_f16(p, d);
        put_f16(p + 2, dmin);
        uint8_t sc[8], mn[8], q[256];
        for (int j = 0; j < 8; j++) {
            sc[j] = (uint8_t)((j * 9 + 5 + b * 17) % 64);
            mn[j] = (uint8_t)((j * 23 + 60 - b * 7) % 64);
        }
        uint8_t *s = p + 4;
        memset(s, 0, 12);
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                s[j] |= sc[j];
                s[j + 4] |= mn[j];
            } else {
                s[j + 4] = (uint8_t)((sc[j] & 15) | ((mn[j] & 15) << 4));
                s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
                s[j] |= (uint8_t)((mn[j] >> 4) << 6);
            }
        }
        for (int i = 0; i < 256; i++) q[i] = (uint8_t)((i * 7 + b * 3 + i / 32) % 16);
        uint8_t *qs = p + 16;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
        for (int i = 0; i < 256; i++) {
            int j = i / 32;
            want[256 * b + i] = d * (float)sc[j] * (float)q[i] - dmin * (float)mn[j];
        }
    }
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q4_K, blk, y, 512), HIVE_OK);
    for (int i = 0; i < 512; i++)
        if (fabsf(y[i] - want[i]) > 1e-5f) fail_msg("q4_k elem %d: %g, want %g", i, y[i], want[i]);
}

/* Q6_K: 6-bit values split into ql (low 4 bits) and qh (high 2 bits), 16
 * int8 scales each covering 16 elements, one f16 d at the end. */
static void test_q6_k(void **state) {
    (void)state;
    uint8_t blk[2 * 210];
    float want[512], y[512];
    memset(blk, 0, sizeof blk);
    for (int b = 0; b < 2; b++) {
        uint8_t *p = blk + 210 * b, *ql = p, *qh = p + 128;
        int8_t *sc = (int8_t *)(p + 192);
        float d = b ? 0.0078125f : 0.25f;
        put_f16(p + 208, d);
        for (int k = 0; k < 16; k++) sc[k] = (int8_t)((k * 37 + b * 11) % 256 - 128);
        for (int i = 0; i < 256; i++) {
            int q = (i * 13 + b * 5 + i / 64) % 64 - 32; /* -32..31 */
            int u = q + 32, h = i / 128, r = i % 128, run = r / 32, l = r % 32;
            uint8_t *lo = &ql[64 * h + (run & 1) * 32 + l];
            *lo |= (uint8_t)(run < 2 ? (u & 15) : (u & 15) << 4);
            qh[32 * h + l] |= (uint8_t)((u >> 4) << (2 * run));
            int si = 8 * h + 2 * run + l / 16;
            want[256 * b + i] = d * (float)sc[si] * (float)q;
        }
    }
    assert_int_equal(hive_dequantize(HIVE_DTYPE_Q6_K, blk, y, 512), HIVE_OK);
    for (int i = 0; i < 512; i++)
        if (fabsf(y[i] - want[i]) > 1e-4f) fail_msg("q6_k elem %d: %g, want %g", i, y[i], want[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_types), cmocka_unit_test(test_errors), cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_q4_0),        cmocka_unit_test(test_q4_1),   cmocka_unit_test(test_q4_k),
        cmocka_unit_test(test_q6_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
