/* What the CPU offers, and which kernel levels (kernels.h CPU_ISA_*) it can run. */
#ifndef CPU_FEATURES_H
#define CPU_FEATURES_H

typedef struct cpu_features {
    int avx2, fma, f16c, avx512; /* avx512 = F+DQ+BW+VL + OS state */
    int avx512vnni, avxvnni, avx512bf16;
    int amd; /* vendor AuthenticAMD (the decode prefetch differs: kernels.h) */
    char brand[64];
} cpu_features;

void cpu_detect(cpu_features *f);
/* Whether the CPU (and this build) can run a level's kernels. */
int cpu_isa_usable(const cpu_features *f, int level);
/* The highest usable level at or below cap_name (a level name; NULL or "" for
 * no cap). *cap_ok = 0 when cap_name names no level (then there is no cap). */
int cpu_isa_pick(const cpu_features *f, const char *cap_name, int *cap_ok);

#endif
