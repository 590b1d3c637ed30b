/* Run-time CPU feature detection (cpuid + xgetbv) and which kernel levels
 * the CPU can run. No plugin state: the tests and the micro-benchmark link it. */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include "cpu_features.h"
#include "kernels.h"

static uint64_t cpu_xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void cpu_detect(cpu_features *f) {
    memset(f, 0, sizeof *f);
    unsigned a, b, c, d;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    unsigned v[3];
    __cpuid(0, a, v[0], v[2], v[1]); /* vendor string: ebx, edx, ecx */
    f->amd = !memcmp(v, "AuthenticAMD", 12);
    if (max_leaf >= 1) {
        __cpuid(1, a, b, c, d);
        int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
        f->fma = (c >> 12) & 1;
        f->f16c = (c >> 29) & 1;
        uint64_t xcr0 = osxsave ? cpu_xgetbv0() : 0;
        int ymm_os = (xcr0 & 0x6) == 0x6;           /* SSE + AVX state */
        int zmm_os = (xcr0 & 0xe6) == 0xe6;         /* + opmask, ZMM_Hi256, Hi16_ZMM */
        if (max_leaf >= 7) {
            __cpuid_count(7, 0, a, b, c, d);
            f->avx2 = avx && ymm_os && ((b >> 5) & 1);
            int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1); /* F DQ BW VL */
            f->avx512 = avx512 && zmm_os;
            f->avx512vnni = f->avx512 && ((c >> 11) & 1);
            unsigned max_sub = a;
            if (max_sub >= 1) {
                __cpuid_count(7, 1, a, b, c, d);
                f->avxvnni = f->avx2 && ((a >> 4) & 1);
                f->avx512bf16 = f->avx512 && ((a >> 5) & 1);
            }
        }
        if (!ymm_os) f->fma = f->f16c = 0;
    }
    unsigned ext = __get_cpuid_max(0x80000000u, NULL);
    if (ext >= 0x80000004u) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++)
            __cpuid(0x80000002u + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
        char s[49];
        memcpy(s, r, 48);
        s[48] = 0;
        const char *p = s;
        while (*p == ' ') p++;
        snprintf(f->brand, sizeof f->brand, "%s", p);
        size_t n = strlen(f->brand);
        while (n && f->brand[n - 1] == ' ') f->brand[--n] = 0;
    }
    if (!f->brand[0]) snprintf(f->brand, sizeof f->brand, "x86-64 CPU");
}

int cpu_isa_usable(const cpu_features *f, int level) {
    int avx2 = f->avx2 && f->fma && f->f16c;
    switch (level) {
    case CPU_ISA_SCALAR: return 1;
    case CPU_ISA_AVX2: return avx2;
    case CPU_ISA_AVXVNNI: return avx2 && f->avxvnni;
#ifdef HIVE_CPU_HAVE_AVX512
    case CPU_ISA_AVX512: return avx2 && f->avx512;
    case CPU_ISA_AVX512VNNI: return avx2 && f->avx512 && f->avx512vnni;
#endif
    default: return 0;
    }
}

int cpu_isa_pick(const cpu_features *f, const char *cap_name, int *cap_ok) {
    int cap = CPU_ISA_COUNT - 1;
    *cap_ok = 1;
    if (cap_name && *cap_name) {
        int i = 0;
        while (i < CPU_ISA_COUNT && strcmp(cap_name, cpu_isa_names[i])) i++;
        if (i < CPU_ISA_COUNT) cap = i;
        else *cap_ok = 0;
    }
    int level = cap;
    while (level > 0 && !cpu_isa_usable(f, level)) level--;
    return level;
}
