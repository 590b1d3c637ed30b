/* AVX-512 (F+BW+VL+DQ) kernels without VNNI: the Q8_0 / Q4_0 / Q4_1 prefill
 * tiles in 512-bit registers, integer dots by maddubs+madd. Decode dots stay
 * the AVX2 table's 256-bit ones (faster: bench_levels.c's "-wide" rows). */
#include <immintrin.h>
#include <string.h>
#include "kernels.h"

#define QD512(name) avx512_##name
#define QD512_DOT(u, s) _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1))
#include "qdot512.h"

void cpu_kernels_init_avx512(cpu_kernels *k) {
    k->isa = "avx512";
    k->gemm[HIVE_DTYPE_Q8_0] = avx512_gemm_q8_0;
    k->gemm[HIVE_DTYPE_Q4_0] = avx512_gemm_q4_0;
    k->gemm[HIVE_DTYPE_Q4_1] = avx512_gemm_q4_1;
}

/* The 512-bit decode dots, for the micro-benchmark's comparison. */
void cpu_kernels_init_avx512_wide(cpu_kernels *k) {
    cpu_kernels_init_avx512(k);
    k->isa = "avx512-wide";
    k->vec_dot[HIVE_DTYPE_Q8_0] = k->decode_prefetch == CPU_PF_T0 ? avx512_vd_q8_0_t0 : avx512_vd_q8_0;
    k->vec_dot[HIVE_DTYPE_Q4_0] = k->decode_prefetch == CPU_PF_T0 ? avx512_vd_q4_0_t0 : avx512_vd_q4_0;
    k->vec_dot[HIVE_DTYPE_Q4_1] = k->decode_prefetch == CPU_PF_T0 ? avx512_vd_q4_1_t0 : avx512_vd_q4_1;
}
