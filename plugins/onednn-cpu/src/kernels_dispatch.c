/* The kernel table of each ISA level: scalar underneath, AVX2 on top of it,
 * then the level's own entries. Per-kernel timings of every level
 * (bench/bench_kernels.c) decide what each level's init fills. */
#include <stdlib.h>
#include <string.h>
#include "cpu_features.h"
#include "kernels.h"

static int decode_prefetch(void) {
    const char *e = getenv("HIVE_CPU_PREFETCH");
    if (e && !strcmp(e, "nta")) return CPU_PF_NTA;
    if (e && !strcmp(e, "t0")) return CPU_PF_T0;
    cpu_features f;
    cpu_detect(&f);
    return f.amd ? CPU_PF_NTA : CPU_PF_T0;
}

const char *const cpu_isa_names[CPU_ISA_COUNT] = {"scalar", "avx2", "avxvnni", "avx512", "avx512vnni"};

void cpu_kernels_init_level(cpu_kernels *k, int level) {
    cpu_kernels_init_scalar(k);
    cpu_kernels_init_kv_scalar(k);
    k->decode_prefetch = decode_prefetch();
    if (level >= CPU_ISA_AVX2) {
        cpu_kernels_init_avx2(k);
        cpu_kernels_init_kv_avx2(k);
    }
    switch (level) {
    case CPU_ISA_AVXVNNI: cpu_kernels_init_avxvnni(k); break;
#ifdef HIVE_CPU_HAVE_AVX512
    case CPU_ISA_AVX512:
        cpu_kernels_init_avx512(k);
        cpu_kernels_attention_avx512(k);
        break;
    case CPU_ISA_AVX512VNNI:
        cpu_kernels_init_avx512vnni(k);
        cpu_kernels_attention_avx512(k);
        break;
#endif
    default: break;
    }
    /* HIVE_CPU_GQA=0: f16 decode attention one query head at a time even
     * where the shared-row kernels exist (for A/B runs) */
    const char *g = getenv("HIVE_CPU_GQA");
    if (g && !strcmp(g, "0")) k->dot_slots_f16_mq = NULL, k->pv_f16_mq = NULL;
}
