/* AVX-VNNI kernels (VEX vpdpbusd, e.g. Alder Lake, Sapphire Rapids): the
 * Q8_0 / Q4_0 / Q4_1 tiles in 256-bit registers. The rest is inherited from
 * the AVX2 table. */
#include <immintrin.h>
#include <string.h>
#include "kernels.h"

#define QD256(name) avxvnni_##name
#define QD256_DOT(u, s) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s)
#include "qdot256.h"

void cpu_kernels_init_avxvnni(cpu_kernels *k) {
    k->isa = "avxvnni";
    avxvnni_fill(k);
}
