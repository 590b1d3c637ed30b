/* Checks a candidate file before dlopen: resolvable, regular, not writable by
 * everyone, and an ELF shared object for this machine. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/registry.h"

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#define HOST_MACHINE_NAME "x86_64"
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#define HOST_MACHINE_NAME "aarch64"
#else
#define HOST_MACHINE EM_NONE
#define HOST_MACHINE_NAME "unknown"
#endif

static const char *machine_name(unsigned m) {
    switch (m) {
    case EM_X86_64: return "x86_64";
    case EM_386: return "i386";
    case EM_AARCH64: return "aarch64";
    case EM_ARM: return "arm";
    case EM_RISCV: return "riscv";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390";
    default: return "unknown";
    }
}

int hive_candidate_check(hive_plugin *p) {
    char resolved[PATH_MAX];
    if (!realpath(p->file, resolved)) {
        hive_plugin_reject(p, "cannot resolve path: %s", strerror(errno));
        return -1;
    }
    p->realpath = strdup(resolved);
    struct stat st;
    if (stat(resolved, &st) != 0) {
        hive_plugin_reject(p, "cannot stat: %s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        hive_plugin_reject(p, "not a regular file");
        return -1;
    }
    if (st.st_mode & S_IWOTH) {
        hive_plugin_reject(p, "refusing world-writable file (mode %04o): anyone could replace its code; "
                              "chmod o-w it", (unsigned)(st.st_mode & 07777));
        return -1;
    }
    char dirbuf[PATH_MAX];
    snprintf(dirbuf, sizeof dirbuf, "%s", resolved);
    const char *dir = dirname(dirbuf);
    struct stat dst;
    if (stat(dir, &dst) == 0 && (dst.st_mode & S_IWOTH) && !(dst.st_mode & S_ISVTX)) {
        hive_plugin_reject(p, "refusing plugin in world-writable directory %s: anyone could replace it", dir);
        return -1;
    }

    int fd = open(resolved, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hive_plugin_reject(p, "cannot open: %s", strerror(errno));
        return -1;
    }
    unsigned char hdr[sizeof(Elf64_Ehdr)];
    ssize_t n = read(fd, hdr, sizeof hdr);
    close(fd);
    if (n < (ssize_t)EI_NIDENT || memcmp(hdr, ELFMAG, SELFMAG) != 0) {
        hive_plugin_reject(p, "not an ELF file");
        return -1;
    }
    unsigned cls = hdr[EI_CLASS];
    unsigned machine = 0, type = 0;
    if (cls == ELFCLASS64 && n >= (ssize_t)sizeof(Elf64_Ehdr)) {
        const Elf64_Ehdr *e = (const Elf64_Ehdr *)(const void *)hdr;
        machine = e->e_machine;
        type = e->e_type;
    } else if (cls == ELFCLASS32 && n >= (ssize_t)sizeof(Elf32_Ehdr)) {
        const Elf32_Ehdr *e = (const Elf32_Ehdr *)(const void *)hdr;
        machine = e->e_machine;
        type = e->e_type;
    } else {
        hive_plugin_reject(p, "not an ELF file (truncated header)");
        return -1;
    }
    if (machine != HOST_MACHINE || cls != ELFCLASS64) {
        hive_plugin_reject(p, "wrong architecture: ELF%u for %s (machine %u), host is %s; build the plugin for %s",
                           cls == ELFCLASS64 ? 64u : 32u, machine_name(machine), machine, HOST_MACHINE_NAME,
                           HOST_MACHINE_NAME);
        return -1;
    }
    if (type != ET_DYN) {
        hive_plugin_reject(p, "not a shared object (ELF type %u)", type);
        return -1;
    }
    return 0;
}
