/* DoRA's load-time weight norms, the hot loop of a DoRA cold load.
 *
 * For each output row o of a module (W [out, in], A [r, in], B [out, r]):
 *   sumsq[o] = sum_i (W[o,i] + s * sum_k B[o,k] A[k,i])^2
 * in f64, as the straightforward loop (dora_row_sumsq_ref, Hive's code before
 * the kernels) computes it: row = 0; row += B[o,k] * A[k,i] for k = 0..r-1;
 * v = W[o,i] + s * row; sum += v * v. The kernels do the same per element in
 * the same order, but
 *   - sum the v * v in several partial sums, added at the end, and
 *   - on x86 (AVX2, AVX-512) fuse each multiply-add (one rounding, not two);
 *     the generic kernel does not (-ffp-contract=off),
 * so sumsq moves by a few f64 ulps (at most 64 in the tests; 6e-15 relative
 * on the shipped SQL expert), and the f32 factor m / sqrt(sumsq) the plugin
 * keeps is the reference's, or in a rare tie one f32 ulp away: on the SQL
 * expert's 109 440 rows none differs (tests/unit/adapters/test_dora_kernel.c).
 *
 * A tile is 4 or 8 rows by 2 vectors of columns (dora_kernel_body.h), one
 * file per ISA level, chosen at run time; rows are split over a pool of
 * helper threads in chunks of 32. */
#ifndef HIVE_ADAPTERS_DORA_KERNEL_H
#define HIVE_ADAPTERS_DORA_KERNEL_H

#include <stdint.h>

enum { DORA_LEVEL_REF = 0, DORA_LEVEL_GENERIC = 1, DORA_LEVEL_AVX2 = 2, DORA_LEVEL_AVX512 = 3, DORA_LEVEL_COUNT };

/* The best level this CPU runs (and the build has). */
int dora_kernel_best(void);
/* 1 when this CPU runs `level` and the build has it. */
int dora_kernel_available(int level);
const char *dora_kernel_name(int level);

/* The straightforward loop (Hive's DoRA norms before the kernels): a row
 * scratch of `in` doubles, rows in order. 0, or -1 when out of memory. */
int dora_row_sumsq_ref(const float *W, const float *A, const float *B, uint32_t out, uint32_t in, uint32_t r,
                       double s, double *sumsq);

/* Helper threads for dora_row_sumsq, kept for one adapter load: threads - 1
 * helpers (fewer when some cannot start). NULL when threads <= 1 or out of
 * memory: then the calling thread does all the work. */
typedef struct dora_pool dora_pool;
dora_pool *dora_pool_new(uint32_t threads);
uint32_t dora_pool_threads(const dora_pool *p); /* helpers + the caller; 1 for NULL */
void dora_pool_free(dora_pool *p);              /* joins the helpers */

/* sumsq[o] for every row with the kernel of `level` (DORA_LEVEL_REF: the loop
 * above, on the calling thread), the rows split in chunks of 32 over the
 * caller and the pool's helpers (pool NULL: the caller only). Each row is
 * computed by one thread with the same operations whatever the split, so the
 * result does not depend on the pool. Returns 0, or -1 when out of memory
 * (sumsq then undefined). */
int dora_row_sumsq(int level, dora_pool *pool, const float *W, const float *A, const float *B, uint32_t out,
                   uint32_t in, uint32_t r, double s, double *sumsq);

/* The per-level kernels: rows [o0, o1) of sumsq, from A and B converted to
 * f64 (Ad [r, in], Bd [out, r]). */
typedef void (*dora_sumsq_fn)(const float *W, const double *Ad, const double *Bd, uint32_t o0, uint32_t o1,
                              uint32_t in, uint32_t r, double s, double *sumsq);
void dora_sumsq_generic(const float *W, const double *Ad, const double *Bd, uint32_t o0, uint32_t o1, uint32_t in,
                        uint32_t r, double s, double *sumsq);
void dora_sumsq_avx2(const float *W, const double *Ad, const double *Bd, uint32_t o0, uint32_t o1, uint32_t in,
                     uint32_t r, double s, double *sumsq);
void dora_sumsq_avx512(const float *W, const double *Ad, const double *Bd, uint32_t o0, uint32_t o1, uint32_t in,
                       uint32_t r, double s, double *sumsq);

#endif
