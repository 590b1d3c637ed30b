/* The 4-row interleaved weight layout of the AVX-512 levels (kernels.h,
 * cpu_kernels.pack). Decode streams every weight from DRAM once per token; in
 * GGML's row-major layout a 4-row kernel reads four streams 1-2 KB apart and
 * gathers four scales per block, in this one it reads one sequential stream
 * and loads the scales with one instruction (bench_levels.c: 25-45% more
 * GB/s from DRAM on AMD Zen 4, the same bits).
 *
 * Rows come in groups of four (the last padded with zero blocks: scale 0, so
 * the padding rows dot to 0). Group g takes the same 4 * row_bytes bytes at
 * g * 4 * row_bytes that its rows take in GGML's layout, so a group's address
 * is computed the same way in both; inside it, block k of the four rows is one
 * record:
 *   Q8_0: d0 d1 d2 d3 (f16)        | qs of rows 0..3 (4 x 32 B)   136 B
 *   Q4_0: d0 d1 d2 d3 (f16)        | qs of rows 0..3 (4 x 16 B)    72 B
 *   Q4_1: d0 m0 d1 m1 d2 m2 d3 m3  | qs of rows 0..3 (4 x 16 B)    80 B
 * i.e. the blocks' scale fields side by side, then their quants. */
#include <string.h>
#include "kernels.h"

/* bytes of a block's scale fields, of the whole block */
static void block_parts(uint32_t dtype, size_t *head, size_t *blk) {
    switch (dtype) {
    case HIVE_DTYPE_Q8_0: *head = 2, *blk = sizeof(blk_q8_0); break;
    case HIVE_DTYPE_Q4_0: *head = 2, *blk = sizeof(blk_q4_0); break;
    default: *head = 4, *blk = sizeof(blk_q4_1); break;
    }
}

int cpu_pack4_supports(uint32_t dtype) {
    return dtype == HIVE_DTYPE_Q8_0 || dtype == HIVE_DTYPE_Q4_0 || dtype == HIVE_DTYPE_Q4_1;
}

size_t cpu_pack4_bytes(int64_t rows, size_t row_bytes) { return (size_t)((rows + 3) / 4) * 4 * row_bytes; }

void cpu_pack4(uint32_t dtype, const void *src, int64_t rows, int64_t cols, void *dst) {
    size_t head, blk;
    block_parts(dtype, &head, &blk);
    const int64_t nb = cols / QK32;
    const size_t row_bytes = (size_t)nb * blk, q = blk - head;
    memset(dst, 0, cpu_pack4_bytes(rows, row_bytes));
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *g = (uint8_t *)dst + (size_t)(r / 4) * 4 * row_bytes;
        const int i = (int)(r % 4);
        for (int64_t k = 0; k < nb; k++) {
            const uint8_t *b = (const uint8_t *)src + (size_t)r * row_bytes + (size_t)k * blk;
            uint8_t *rec = g + (size_t)k * 4 * blk;
            memcpy(rec + (size_t)i * head, b, head);
            memcpy(rec + 4 * head + (size_t)i * q, b + head, q);
        }
    }
}

void cpu_unpack4_row(uint32_t dtype, const void *packed, int64_t row, int64_t cols, void *dst) {
    size_t head, blk;
    block_parts(dtype, &head, &blk);
    const int64_t nb = cols / QK32;
    const size_t row_bytes = (size_t)nb * blk, q = blk - head;
    const uint8_t *g = (const uint8_t *)packed + (size_t)(row / 4) * 4 * row_bytes;
    const int i = (int)(row % 4);
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *rec = g + (size_t)k * 4 * blk;
        uint8_t *b = (uint8_t *)dst + (size_t)k * blk;
        memcpy(b, rec + (size_t)i * head, head);
        memcpy(b + head, rec + 4 * head + (size_t)i * q, q);
    }
}
