/* The device report, and the ISA level HIVE_CPU_ISA allows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpu_internal.h"

int cpu_isa_level(const cpu_features *f) {
    const char *want = getenv("HIVE_CPU_ISA");
    int cap_ok = 1;
    int level = cpu_isa_pick(f, want, &cap_ok);
    if (!cap_ok)
        cpu_log(HIVE_LOG_WARN, "HIVE_CPU_ISA=%s is not one of scalar, avx2, avxvnni, avx512, "
                "avx512vnni: ignored", want);
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
    snprintf(info.name, sizeof info.name, "%.96s (%s)", f.brand, cpu_isa_names[level]);
    char found[96];
    snprintf(found, sizeof found, "%s%s%s%s%s%s", f.avx2 && f.fma && f.f16c ? "avx2 fma f16c" : "no avx2",
             f.avxvnni ? " avx-vnni" : "", f.avx512 ? " avx512(f dq bw vl)" : "",
             f.avx512vnni ? " avx512-vnni" : "", f.avx512bf16 ? " avx512-bf16" : "",
             getenv("HIVE_CPU_ISA") && *getenv("HIVE_CPU_ISA") ? " (capped by HIVE_CPU_ISA)" : "");
    snprintf(info.reason, sizeof info.reason, "kernels %s; cpu has %s; %ld online cores",
             cpu_isa_names[level], found, sysconf(_SC_NPROCESSORS_ONLN));
    info.score = level == CPU_ISA_SCALAR ? 10 : 100 + 5 * level;
    cpu_memory(&info.memory_total, &info.memory_free);
    size_t n = out->struct_size < sizeof info ? out->struct_size : sizeof info;
    memcpy(out, &info, n);
    out->struct_size = (uint32_t)n;
    return HIVE_OK;
}
