/* The per-ISA kernel table. Each ISA file fills one; the device picks the best
 * the CPU (and HIVE_CPU_ISA) allows at run time. Entries for dtypes an ISA does
 * not accelerate are inherited from the lower table. */
#ifndef CPU_KERNELS_H
#define CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "hive_abi.h"
#include "quant_blocks.h"

/* Dot products of `nr` (1..4) consecutive weight rows (row_bytes apart) with one
 * activation row of n elements: f32 for F32/F16/BF16 weights, act_q8 blocks for
 * quantized ones. Writes nr results. */
typedef void (*cpu_vec_dot_fn)(int64_t n, const void *w, size_t row_bytes, int nr,
                               const void *x, float *out);
/* nr (1..4) consecutive weight rows x nx activation rows (act_q8 rows
 * x_row_bytes apart): out[c * out_stride + r]. Each output equals what
 * vec_dot gives for it, bit for bit; the tile reuses unpacked weights across
 * activation rows (prefill). */
typedef void (*cpu_gemm_fn)(int64_t n, const void *w, size_t row_bytes, int nr, const void *x,
                            size_t x_row_bytes, int nx, float *out, size_t out_stride);
/* n elements of one weight row -> f32. */
typedef void (*cpu_dequant_fn)(const void *src, float *dst, int64_t n);

/* How the decode dots prefetch the weights they stream from DRAM: the same
 * spot one 4-row group ahead with the non-temporal hint (AMD: +45% decode),
 * or two groups ahead into all cache levels (Intel: +50%); HIVE_CPU_PREFETCH
 * =nta|t0 overrides the vendor's default. */
enum { CPU_PF_NONE, CPU_PF_NTA, CPU_PF_T0 };

typedef struct cpu_kernels {
    const char *isa;
    int decode_prefetch; /* CPU_PF_*: chosen by cpu_kernels_init_level before the ISA inits */
    cpu_vec_dot_fn vec_dot[HIVE_DTYPE_COUNT];
    cpu_gemm_fn gemm[HIVE_DTYPE_COUNT]; /* NULL: vec_dot row by row */
    /* 1: weights of this dtype are stored in the 4-row interleaved layout
     * (pack4.c) and its vec_dot / gemm read that: w points at a group's first
     * row (a multiple of 4), row_bytes is unused, nr only limits what is
     * written. 0: GGML's row-major layout. */
    uint8_t packed[HIVE_DTYPE_COUNT];
    cpu_dequant_fn dequant[HIVE_DTYPE_COUNT];
    /* n % 32 == 0 */
    void (*quantize_act)(const float *x, act_q8 *out, int64_t n);
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    /* attention over n KV slots `stride` elements apart (one paged block):
     * out[t] = q . k_t  and  acc += sum_t p[t] * v_t */
    void (*dot_slots_f32)(const float *q, const float *k, size_t stride, int n, int64_t hd, float *out);
    void (*axpy_slots_f32)(const float *p, const float *v, size_t stride, int n, int64_t hd, float *acc);
    /* The f16 cache, in the order of llama.cpp's f16 GEMM (tinyBLAS, eight
     * lanes), for one query head over the n slots whose rows start at
     * base + slot_off[t] bytes (the paged cache's slots of its KV head, in
     * order). q.k: out[t] = hsum8 of eight lane sums, lane l adding
     * q[l+8i] k_t[l+8i] for i = 0, 1, ... (head_dim % 8 dims at the end add in
     * order). p.V: out[d] = hsum8 over the classes c of the sum, in slot
     * order, of p[t] v_t[d] over the slots t % 8 == c; cls is scratch for
     * 8 * hd floats. */
    void (*dot_slots_f16)(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                          float *out);
    void (*pv_f16)(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out,
                   float *cls);
    /* A q8_0 cache (blocks of 32: d, qs): q.k as sum over blocks of
     * d * hsum8(eight lanes of q[i] qs[i]); p.V as out[d] = the sum, in slot
     * order, of (p[t] * d_block) qs[d] (one FMA per slot). */
    void (*dot_slots_q8_0)(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                           float *out);
    void (*pv_q8_0)(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out);
    /* p.V a tile of slots at a time (the tiled prefill, ops_attention.c), the
     * same bits as one call: pv_f16_acc adds slots 0..n-1 (the first one's
     * index in the row a multiple of 8) to the class sums cls (8 * hd, zeroed
     * first by the caller), pv_f16_sum reduces them to out; pv_f16 is
     * zero + acc + sum. pv_q8_0_acc adds to out (zeroed first) the FMAs
     * pv_q8_0 makes from zero. */
    void (*pv_f16_acc)(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *cls);
    void (*pv_f16_sum)(const float *cls, int64_t hd, float *out);
    void (*pv_q8_0_acc)(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out);
    /* The same two f16 steps over a tile of K or V rows the tiled prefill
     * converted to f32 once for all its queries (exact): dot_slots_f16's and
     * pv_f16_acc's bits, rows `stride` floats apart. */
    void (*dot_tile_f16)(const float *q, const float *k, size_t stride, int n, int64_t hd, float *out);
    void (*pv_tile_f16_acc)(const float *p, const float *v, size_t stride, int n, int64_t hd, float *cls);
    /* A q8_0 cache read once for the nq queries (a KV head's query heads)
     * that share it: query j's q at q + j * q_stride, its scores (or weights)
     * at out (p) + j * out_stride (p_stride); each query's bits are
     * dot_slots_q8_0's and pv_q8_0_acc's. */
    void (*dot_slots_q8_0_mq)(const float *q, size_t q_stride, int nq, const uint8_t *base, const size_t *slot_off,
                              int n, int64_t hd, float *out, size_t out_stride);
    void (*pv_q8_0_acc_mq)(const float *p, size_t p_stride, int nq, const uint8_t *base, const size_t *slot_off, int n,
                           int64_t hd, float *out, size_t out_stride);
    /* The f16 cache read once for the nq query heads sharing a KV head (q
     * rows and p rows q_stride / p_stride apart, outputs out_stride apart):
     * each query's bits are dot_slots_f16's and pv_f16's; cls is scratch
     * for 3 * 8 * hd floats. hd % 16 == 0. NULL on levels without them (the
     * caller loops over the single-head kernels). */
    void (*dot_slots_f16_mq)(const float *q, size_t q_stride, int nq, const uint8_t *base, const size_t *slot_off,
                             int n, int64_t hd, float *out, size_t out_stride);
    void (*pv_f16_mq)(const float *p, size_t p_stride, int nq, const uint8_t *base, const size_t *slot_off, int n,
                      int64_t hd, float *out, size_t out_stride, float *cls);
    /* y *= a; returns max(y) after scaling (-inf when n == 0) */
    float (*scale_max_f32)(float a, float *y, int64_t n);
    void (*scale_f32)(float a, float *y, int64_t n);                  /* y *= a */
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);
    /* out = silu(gate) * up; e^x as ggml's (ggml_order.h) on blocks of 8, libm's on the rest */
    void (*silu_mul)(const float *gate, const float *up, float *out, int64_t n);
    /* y[i] = e^(x[i] - max) (ggml's e^x); returns the sum as ggml's softmax
     * takes it: hsum8 of each block of eight (zeros past n), added in double */
    double (*exp_sum)(const float *x, float max, float *y, int64_t n);
    /* The q4_0 and bf16 caches (kernels_kv.c): q4_0 in q8_0's order with the
     * values nibble - 8; bf16 q.k in f16's order (eight lanes, hsum8, the last
     * hd % 8 dims one FMA each in order), bf16 p.V in q8_0's (out[d] one FMA
     * per slot, in slot order). q and p stay f32. */
    void (*dot_slots_q4_0)(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                           float *out);
    void (*pv_q4_0)(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out);
    void (*dot_slots_bf16)(const float *q, const uint8_t *base, const size_t *slot_off, int n, int64_t hd,
                           float *out);
    void (*pv_bf16)(const float *p, const uint8_t *base, const size_t *slot_off, int n, int64_t hd, float *out);
} cpu_kernels;

void cpu_kernels_init_scalar(cpu_kernels *k);
/* These overwrite only what they accelerate; call after the lower level. */
void cpu_kernels_init_avx2(cpu_kernels *k);
void cpu_kernels_init_avxvnni(cpu_kernels *k);
void cpu_kernels_init_avx512(cpu_kernels *k);
void cpu_kernels_init_avx512vnni(cpu_kernels *k);
/* The q4_0 / bf16 KV attention kernels: scalar (every level starts there), AVX2. */
void cpu_kernels_init_kv_scalar(cpu_kernels *k);
void cpu_kernels_init_kv_avx2(cpu_kernels *k);
/* Variants the micro-benchmark compares with the levels' choices: VNNI for the
 * Q8_0 decode dot too (row-major); 512-bit row-major decode dots. */
void cpu_kernels_init_avxvnni_all(cpu_kernels *k);
void cpu_kernels_init_avx512_wide(cpu_kernels *k);
void cpu_kernels_init_avx512vnni_wide(cpu_kernels *k);
/* The levels on GGML's row-major layout: what they dispatched before the
 * packed layout (AVX-512: 256-bit decode dots, 512-bit prefill tiles). The
 * avx2 and avxvnni ones swap the quantized entries of a table back (call
 * them after that level's init); the AVX-512 ones give whole tables. */
void cpu_kernels_init_avx2_rowmajor(cpu_kernels *k);
void cpu_kernels_init_avxvnni_rowmajor(cpu_kernels *k);
void cpu_kernels_init_avx512_rowmajor(cpu_kernels *k);
void cpu_kernels_init_avx512vnni_rowmajor(cpu_kernels *k);

/* The 4-row interleaved layout (pack4.c) of Q8_0 / Q4_0 / Q4_1 weights:
 * bytes for `rows` rows (padded to a multiple of 4), packing a row-major
 * matrix, and one row back in GGML's layout (embedding lookups). */
int cpu_pack4_supports(uint32_t dtype);
size_t cpu_pack4_bytes(int64_t rows, size_t row_bytes);
void cpu_pack4(uint32_t dtype, const void *src, int64_t rows, int64_t cols, void *dst);
void cpu_unpack4_row(uint32_t dtype, const void *packed, int64_t row, int64_t cols, void *dst);

/* ISA levels, lowest first; HIVE_CPU_ISA names one as a cap. A level above
 * avx2 needs avx2's table underneath (its init only overrides). */
enum { CPU_ISA_SCALAR, CPU_ISA_AVX2, CPU_ISA_AVXVNNI, CPU_ISA_AVX512, CPU_ISA_AVX512VNNI, CPU_ISA_COUNT };
extern const char *const cpu_isa_names[CPU_ISA_COUNT];
/* Fills k with the table of `level` (scalar, then avx2, then the level's own). */
void cpu_kernels_init_level(cpu_kernels *k, int level);

/* Attention reads KV rows page by page, pages anywhere in the pool: fetch the
 * rows (row_bytes each) of slots t..t+7 (of n) ahead of use. */
static inline void cpu_prefetch_slot_rows(const uint8_t *base, const size_t *slot_off, int t, int n,
                                          size_t row_bytes) {
    for (int e = t + 8 < n ? t + 8 : n; t < e; t++)
        for (size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(base + slot_off[t] + b, 0, 3);
}

/* The AVX-512 attention kernels, for both 512-bit levels (kernels_avx512.c). */
void cpu_kernels_attention_avx512(cpu_kernels *k);
/* AVX2's dot_slots_q8_0_mq (kernels_avx2.c): the AVX-512 one hands it the slots past its last eight. */
void cpu_dot_slots_q8_0_mq_avx2(const float *q, size_t q_stride, int nq, const uint8_t *base, const size_t *slot_off,
                                int n, int64_t hd, float *out, size_t out_stride);

#endif
