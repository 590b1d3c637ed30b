/* Run-time CPU feature detection (cpuid + xgetbv) and the device report. */
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpu_internal.h"

static uint64_t cpu_xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void cpu_detect(cpu_features *f) {
    memset(f, 0, sizeof *f);
    unsigned a, b, c, d;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
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

int cpu_isa_level(const cpu_features *f) {
    int level = 0;
    if (f->avx2 && f->fma && f->f16c) level = 1;
#ifdef HIVE_CPU_HAVE_AVX512
    if (level == 1 && f->avx512) level = 2;
#endif
    const char *want = getenv("HIVE_CPU_ISA");
    if (want && *want) {
        int cap = !strcmp(want, "scalar") ? 0 : !strcmp(want, "avx2") ? 1 : 2;
        if (cap < level) level = cap;
    }
    return level;
}

static void cpu_memory(uint64_t *total, uint64_t *avail) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    *total = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    *avail = 0;
    FILE *fp = fopen("/proc/meminfo", "r");
    if (!fp) return;
    char line[256];
    unsigned long long kb;
    while (fgets(line, sizeof line, fp))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
            *avail = (uint64_t)kb * 1024;
            break;
        }
    fclose(fp);
}

hive_status cpu_device_count(uint32_t *count, hive_error **err) {
    if (!count) return cpu_fail(err, HIVE_E_INVALID, "device_count: count is NULL");
    *count = 1;
    return HIVE_OK;
}

hive_status cpu_device_info(uint32_t index, hive_device_info *out, hive_error **err) {
    if (!out || out->struct_size < offsetof(hive_device_info, memory_total))
        return cpu_fail(err, HIVE_E_INVALID, "device_info: output struct missing or too small");
    if (index != 0) return cpu_fail(err, HIVE_E_NODEVICE, "device_info: no CPU device %u", index);
    cpu_features f;
    cpu_detect(&f);
    int level = cpu_isa_level(&f);
    hive_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    const char *isa = level == 2 ? "avx512" : level == 1 ? "avx2,fma,f16c" : "scalar";
    snprintf(info.name, sizeof info.name, "%.96s (%s)", f.brand, isa);
    char avx512[64];
    snprintf(avx512, sizeof avx512, "%s",
             !f.avx512 ? "not available"
             : level < 2 ? "available, not used"
             : f.avx512vnni ? "f bw vl vnni" : "f bw vl");
    if (level == 0)
        snprintf(info.reason, sizeof info.reason,
                 "scalar kernels only: %s (found avx2=%d fma=%d f16c=%d); avx512: %s",
                 f.avx2 && f.fma && f.f16c ? "vector paths disabled by HIVE_CPU_ISA"
                                           : "AVX2+FMA+F16C not available",
                 f.avx2, f.fma, f.f16c, avx512);
    else
        snprintf(info.reason, sizeof info.reason, "avx2 fma f16c; avx512: %s; %ld online cores",
                 avx512, sysconf(_SC_NPROCESSORS_ONLN));
    info.score = level == 2 ? 120 : level == 1 ? 100 : 10;
    cpu_memory(&info.memory_total, &info.memory_free);
    size_t n = out->struct_size < sizeof info ? out->struct_size : sizeof info;
    memcpy(out, &info, n);
    out->struct_size = (uint32_t)n;
    return HIVE_OK;
}
