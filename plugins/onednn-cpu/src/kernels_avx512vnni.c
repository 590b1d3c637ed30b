/* AVX-512 VNNI kernels: the Q8_0 / Q4_0 / Q4_1 tiles with vpdpbusd, in
 * 512-bit registers (prefill tiles) and 256-bit ones (EVEX-encoded, for CPUs
 * with AVX512-VNNI but not AVX-VNNI: Q4_0 / Q4_1 decode). The Q8_0 decode dot
 * stays AVX2's. Which width serves which entry follows bench_levels.c's
 * per-kernel timings (docs/PERFORMANCE.md). */
#include <immintrin.h>
#include <string.h>
#include "kernels.h"

#define QD512(name) avx512vnni_##name
#define QD512_DOT(u, s) _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s)
#include "qdot512.h"

#define QD256(name) avx512vnni256_##name
#define QD256_DOT(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#include "qdot256.h"

void cpu_kernels_init_avx512vnni(cpu_kernels *k) {
    k->isa = "avx512vnni";
    k->vec_dot[HIVE_DTYPE_Q4_0] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni256_vd_q4_0_t0 : avx512vnni256_vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni256_vd_q4_1_t0 : avx512vnni256_vd_q4_1;
    k->gemm[HIVE_DTYPE_Q8_0] = avx512vnni_gemm_q8_0;
    k->gemm[HIVE_DTYPE_Q4_0] = avx512vnni_gemm_q4_0;
    k->gemm[HIVE_DTYPE_Q4_1] = avx512vnni_gemm_q4_1;
}

/* The 512-bit decode dots, for the micro-benchmark's comparison. */
void cpu_kernels_init_avx512vnni_wide(cpu_kernels *k) {
    cpu_kernels_init_avx512vnni(k);
    k->isa = "avx512vnni-wide";
    k->vec_dot[HIVE_DTYPE_Q8_0] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni_vd_q8_0_t0 : avx512vnni_vd_q8_0;
    k->vec_dot[HIVE_DTYPE_Q4_0] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni_vd_q4_0_t0 : avx512vnni_vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni_vd_q4_1_t0 : avx512vnni_vd_q4_1;
}
