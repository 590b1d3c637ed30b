/* Arithmetic that llama.cpp's CPU build (ggml, AVX2 + FMA) uses for the
 * element-wise and attention steps, written out one lane at a time so every
 * kernel level, scalar included, gives its bits (docs/TESTING.md, "SmolLM2
 * against llama.cpp"):
 *  - e^x: the range reduction and polynomial of ARM's optimized-routines expf
 *    that ggml vectorizes (ggml_v_expf), with its scaling for |n| > 126;
 *  - a horizontal sum of eight lanes in the order of the AVX2 reduction:
 *    ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)). */
#ifndef CPU_GGML_ORDER_H
#define CPU_GGML_ORDER_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t cpu_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float cpu_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float cpu_expf_ggml(float x) {
    const float shift = 0x1.8p23f; /* rounds x / ln 2 to an integer in the low bits */
    float z = fmaf(x, 0x1.715476p+0f, shift), n = z - shift;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x)); /* x - n ln 2, in two parts */
    uint32_t e = cpu_f32_bits(z) << 23;
    float k = cpu_bits_f32(e + cpu_f32_bits(1.0f)); /* 2^n */
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                   0x1.ffffecp-1f * b); /* e^b - 1 */
    if (!(fabsf(n) > 126.0f)) return fmaf(j, k, k);
    /* 2^n out of the exponent's range: scale in two steps (or saturate) */
    uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    float s1 = cpu_bits_f32(g + 0x7f000000u), s2 = cpu_bits_f32(e - g);
    if (fabsf(n) > 192.0f) return s1 * s1;
    return fmaf(s2, j, s2) * s1;
}

static inline float cpu_hsum8_ggml(const float v[8]) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

#endif
