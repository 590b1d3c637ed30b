/* AVX-512 VNNI kernels: Q8_0 / Q4_0 / Q4_1 with vpdpbusd in 512-bit
 * registers, on the 4-row interleaved layout (pack4.c, qpack512.h) for both
 * decode and prefill. The row-major variants (256-bit EVEX decode dots,
 * 512-bit prefill tiles, and the 512-bit decode dots) stay for the
 * micro-benchmark's comparison; bench_levels.c's per-kernel timings decide
 * (docs/PERFORMANCE.md). */
#include <immintrin.h>
#include <string.h>
#include "kernels.h"

#define QD512(name) avx512vnni_##name
#define QD512_DOT(u, s) _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s)
#include "qdot512.h"

#define QD256(name) avx512vnni256_##name
#define QD256_DOT(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#include "qdot256.h"

#define QP512(name) avx512vnni_p4_##name
#define QP512_DOT(u, s) _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s)
#include "qpack512.h"

void cpu_kernels_init_avx512vnni(cpu_kernels *k) {
    k->isa = "avx512vnni";
    avx512vnni_p4_install(k);
}

void cpu_kernels_init_avx512vnni_rowmajor(cpu_kernels *k) {
    cpu_kernels_init_level(k, CPU_ISA_AVX2);
    cpu_kernels_init_avx2_rowmajor(k);
    cpu_kernels_attention_avx512(k);
    k->isa = "avx512vnni-rowmajor";
    k->vec_dot[HIVE_DTYPE_Q4_0] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni256_vd_q4_0_t0 : avx512vnni256_vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni256_vd_q4_1_t0 : avx512vnni256_vd_q4_1;
    k->gemm[HIVE_DTYPE_Q8_0] = avx512vnni_gemm_q8_0;
    k->gemm[HIVE_DTYPE_Q4_0] = avx512vnni_gemm_q4_0;
    k->gemm[HIVE_DTYPE_Q4_1] = avx512vnni_gemm_q4_1;
}

/* Row-major with the 512-bit decode dots. */
void cpu_kernels_init_avx512vnni_wide(cpu_kernels *k) {
    cpu_kernels_init_avx512vnni_rowmajor(k);
    k->isa = "avx512vnni-wide";
    k->vec_dot[HIVE_DTYPE_Q8_0] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni_vd_q8_0_t0 : avx512vnni_vd_q8_0;
    k->vec_dot[HIVE_DTYPE_Q4_0] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni_vd_q4_0_t0 : avx512vnni_vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = k->decode_prefetch == CPU_PF_T0 ? avx512vnni_vd_q4_1_t0 : avx512vnni_vd_q4_1;
}
