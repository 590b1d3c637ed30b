/* GGML block layouts (as stored in GGUF) and the plugin's 8-bit activation
 * block, plus scalar half/bfloat conversions usable from every ISA file. */
#ifndef CPU_QUANT_BLOCKS_H
#define CPU_QUANT_BLOCKS_H

#include <stdint.h>
#include <string.h>

#define QK32 32   /* elements per Q8_0/Q4_0/Q4_1 block and per activation block */
#define QK256 256 /* elements per K-quant super-block */

typedef struct { uint16_t d; int8_t qs[32]; } blk_q8_0;                 /* 34 B */
typedef struct { uint16_t d; uint8_t qs[16]; } blk_q4_0;                /* 18 B */
typedef struct { uint16_t d, m; uint8_t qs[16]; } blk_q4_1;             /* 20 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } blk_q4_k; /* 144 B */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } blk_q6_k; /* 210 B */

_Static_assert(sizeof(blk_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(blk_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(blk_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(blk_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(blk_q6_k) == 210, "q6_k layout");

/* One activation block: x ~= d * q. `s` = d * sum(q) and sum16 (sums of each
 * 16-element half) let the kernels fold weight offsets (Q4_0 -8, Q4_1 min,
 * Q4_K min, Q6_K -32) into one scalar term instead of per-element work. */
/* An activation block. d and s are kept at f16 precision (stored as f32), as
 * llama.cpp's q8_0/q8_1 activation blocks are: the native quantized path is
 * checked against llama.cpp, and matching its rounding keeps the two within
 * numerical noise of each other. s = d * sum(q). */
typedef struct { float d; float s; int16_t sum16[2]; int8_t q[32]; } act_q8;

static inline float cpu_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 112) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even, with overflow to inf and subnormals. */
static inline uint16_t cpu_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504 */
    if (ax < 0x38800000u) { /* result is subnormal or zero */
        if (ax < 0x33000000u) return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((ax >> 13) - (112u << 10));
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

/* f32 rounded to the nearest f16 value */
static inline float cpu_round_f16(float f) { return cpu_f16_to_f32(cpu_f32_to_f16(f)); }

static inline float cpu_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t cpu_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* Q4_K packs 8 six-bit scales and 8 six-bit mins into 12 bytes. */
static inline void cpu_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif
