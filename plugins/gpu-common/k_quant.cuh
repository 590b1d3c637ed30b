/* k_quant.cuh — device-side decoding of weight rows, 32 elements ("a chunk") at
 * a time, for every weight dtype (GGML block layouts for the quantized ones).
 * Chunk c of a row holds elements [32c, 32c + 32); plain types zero-fill past cols. */
#ifndef HIVE_K_QUANT_CUH
#define HIVE_K_QUANT_CUH

#include "gpu_port.h"
#include "hive_abi.h"

__device__ __forceinline__ void q8_0_chunk(const uint8_t *b, float *v) {
    const float d = gpu_h2f_bits(b);
    const int8_t *q = (const int8_t *)(b + 2);
#pragma unroll
    for (int i = 0; i < 32; i++) v[i] = d * (float)q[i];
}

__device__ __forceinline__ void q4_0_chunk(const uint8_t *b, float *v) {
    const float d = gpu_h2f_bits(b);
    const uint8_t *q = b + 2;
#pragma unroll
    for (int i = 0; i < 16; i++) {
        v[i] = d * (float)((int)(q[i] & 0xF) - 8);
        v[i + 16] = d * (float)((int)(q[i] >> 4) - 8);
    }
}

__device__ __forceinline__ void q4_1_chunk(const uint8_t *b, float *v) {
    const float d = gpu_h2f_bits(b), m = gpu_h2f_bits(b + 2);
    const uint8_t *q = b + 4;
#pragma unroll
    for (int i = 0; i < 16; i++) {
        v[i] = d * (float)(q[i] & 0xF) + m;
        v[i + 16] = d * (float)(q[i] >> 4) + m;
    }
}

/* Q4_K super-block (144 B): f16 d, f16 dmin, scales[12] (6-bit packed), qs[128]. */
__device__ __forceinline__ void q4_k_chunk(const uint8_t *b, int sub, float *v) {
    const float d = gpu_h2f_bits(b), dmin = gpu_h2f_bits(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 16 + 32 * (sub >> 1);
    int s, m;
    if (sub < 4) {
        s = sc[sub] & 63;
        m = sc[sub + 4] & 63;
    } else {
        s = (sc[sub + 4] & 0xF) | ((sc[sub - 4] >> 6) << 4);
        m = (sc[sub + 4] >> 4) | ((sc[sub] >> 6) << 4);
    }
    const float ds = d * (float)s, dm = dmin * (float)m;
    const int shift = (sub & 1) * 4;
#pragma unroll
    for (int i = 0; i < 32; i++) v[i] = ds * (float)((qs[i] >> shift) & 0xF) - dm;
}

/* Q6_K super-block (210 B): ql[128], qh[64], int8 scales[16], f16 d. */
__device__ __forceinline__ void q6_k_chunk(const uint8_t *b, int sub, float *v) {
    const int half = sub >> 2, quarter = sub & 3;
    const uint8_t *ql = b + 64 * half + 32 * (quarter & 1);
    const uint8_t *qh = b + 128 + 32 * half;
    const int8_t *sc = (const int8_t *)(b + 192) + 8 * half + 2 * quarter;
    const float d = gpu_h2f_bits(b + 208);
    const int lshift = (quarter >> 1) * 4, hshift = 2 * quarter;
#pragma unroll
    for (int i = 0; i < 32; i++) {
        const int q = (int)(((ql[i] >> lshift) & 0xF) | (((qh[i] >> hshift) & 3) << 4)) - 32;
        v[i] = d * (float)sc[i >> 4] * (float)q;
    }
}

/* Decode chunk c of one row (row points at the row's first byte). */
__device__ __forceinline__ void gpu_load_chunk(uint32_t dtype, const uint8_t *row, int64_t c,
                                               int64_t cols, float *v) {
    switch (dtype) {
    case HIVE_DTYPE_Q8_0: q8_0_chunk(row + c * 34, v); return;
    case HIVE_DTYPE_Q4_0: q4_0_chunk(row + c * 18, v); return;
    case HIVE_DTYPE_Q4_1: q4_1_chunk(row + c * 20, v); return;
    case HIVE_DTYPE_Q4_K: q4_k_chunk(row + (c >> 3) * 144, (int)(c & 7), v); return;
    case HIVE_DTYPE_Q6_K: q6_k_chunk(row + (c >> 3) * 210, (int)(c & 7), v); return;
    default: break;
    }
    const int64_t e0 = c * 32;
    const int n = cols - e0 < 32 ? (int)(cols - e0) : 32;
    if (dtype == HIVE_DTYPE_F32) {
        const float *p = (const float *)row + e0;
#pragma unroll
        for (int i = 0; i < 32; i++) v[i] = i < n ? p[i] : 0.0f;
    } else if (dtype == HIVE_DTYPE_F16) {
        const gpu_half *p = (const gpu_half *)row + e0;
#pragma unroll
        for (int i = 0; i < 32; i++) v[i] = i < n ? gpu_h2f(p[i]) : 0.0f;
    } else {
        const uint16_t *p = (const uint16_t *)row + e0;
#pragma unroll
        for (int i = 0; i < 32; i++) v[i] = i < n ? gpu_bf2f(p[i]) : 0.0f;
    }
}

#endif
