#include "util/dtype.h"

#include <string.h>

typedef struct {
    const char *name;
    uint32_t block_elems, block_bytes, quantized;
} dtype_traits;

static const dtype_traits k_traits[HIVE_DTYPE_COUNT] = {
    [HIVE_DTYPE_F32] = {"f32", 1, 4, 0},   [HIVE_DTYPE_F16] = {"f16", 1, 2, 0},
    [HIVE_DTYPE_BF16] = {"bf16", 1, 2, 0}, [HIVE_DTYPE_I32] = {"i32", 1, 4, 0},
    [HIVE_DTYPE_I8] = {"i8", 1, 1, 0},     [HIVE_DTYPE_Q8_0] = {"q8_0", 32, 34, 1},
    [HIVE_DTYPE_Q4_0] = {"q4_0", 32, 18, 1}, [HIVE_DTYPE_Q4_1] = {"q4_1", 32, 20, 1},
    [HIVE_DTYPE_Q4_K] = {"q4_k", 256, 144, 1}, [HIVE_DTYPE_Q6_K] = {"q6_k", 256, 210, 1},
};

int hive_dtype_valid(uint32_t d) { return d < HIVE_DTYPE_COUNT && k_traits[d].name != NULL; }
const char *hive_dtype_name(uint32_t d) { return hive_dtype_valid(d) ? k_traits[d].name : "?"; }
int hive_dtype_from_name(const char *name) {
    for (uint32_t d = 0; d < HIVE_DTYPE_COUNT; d++)
        if (k_traits[d].name && strcmp(k_traits[d].name, name) == 0) return (int)d;
    return -1;
}
uint32_t hive_dtype_block_elems(uint32_t d) { return hive_dtype_valid(d) ? k_traits[d].block_elems : 0; }
uint32_t hive_dtype_block_bytes(uint32_t d) { return hive_dtype_valid(d) ? k_traits[d].block_bytes : 0; }
int hive_dtype_is_quantized(uint32_t d) { return hive_dtype_valid(d) && k_traits[d].quantized; }
uint64_t hive_dtype_row_bytes(uint32_t d, int64_t n) {
    if (!hive_dtype_valid(d) || n < 0) return 0;
    return (uint64_t)(n / k_traits[d].block_elems) * k_traits[d].block_bytes;
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float hive_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal: normalise */
        int e = -1;
        do { e++; man <<= 1; } while (!(man & 0x400));
        return bits_f32(sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13));
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 127 - 15) << 23) | (man << 13));
}

uint16_t hive_f32_to_f16(float f) {
    uint32_t x = f32_bits(f), sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into exp: correct */
    return (uint16_t)half;
}

float hive_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t hive_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}
