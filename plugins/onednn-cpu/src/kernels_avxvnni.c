/* AVX-VNNI kernels (VEX vpdpbusd, e.g. Alder Lake, Sapphire Rapids): the
 * Q8_0 / Q4_0 / Q4_1 tiles in 256-bit registers on the 4-row layout
 * (qpack256.h); the rest is inherited from the AVX2 table. The row-major
 * variants stay for bench_levels.c's comparison. */
#include <immintrin.h>
#include <string.h>
#include "kernels.h"

#define QD256(name) avxvnni_##name
#define QD256_DOT(u, s) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s)
#include "qdot256.h"

#define QP256(name) avxvnni_p4_##name
#define QP256_DOT(u, s) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s)
#include "qpack256.h"

void cpu_kernels_init_avxvnni(cpu_kernels *k) {
    k->isa = "avxvnni";
    avxvnni_p4_install(k);
}

/* Row-major: VNNI for the Q4 decode dots and the tiles, AVX2's Q8_0 decode dot
 * (maddubs measured faster there). */
void cpu_kernels_init_avxvnni_rowmajor(cpu_kernels *k) {
    cpu_kernels_init_avx2_rowmajor(k);
    k->isa = "avxvnni-rowmajor";
    k->vec_dot[HIVE_DTYPE_Q4_0] = k->decode_prefetch == CPU_PF_T0 ? avxvnni_vd_q4_0_t0 : avxvnni_vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = k->decode_prefetch == CPU_PF_T0 ? avxvnni_vd_q4_1_t0 : avxvnni_vd_q4_1;
    k->gemm[HIVE_DTYPE_Q8_0] = avxvnni_gemm_q8_0;
    k->gemm[HIVE_DTYPE_Q4_0] = avxvnni_gemm_q4_0;
    k->gemm[HIVE_DTYPE_Q4_1] = avxvnni_gemm_q4_1;
}

/* Row-major with every entry VNNI, Q8_0 decode too: the micro-benchmark's comparison. */
void cpu_kernels_init_avxvnni_all(cpu_kernels *k) {
    cpu_kernels_init_avxvnni_rowmajor(k);
    k->isa = "avxvnni-all";
    k->vec_dot[HIVE_DTYPE_Q8_0] = k->decode_prefetch == CPU_PF_T0 ? avxvnni_vd_q8_0_t0 : avxvnni_vd_q8_0;
}
