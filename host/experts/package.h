/* Expert packages on disk: a directory holding manifest.json (and the PEFT
 * adapter directories it lists), or a `.expert` file, a tar archive (gzip or
 * any filter libarchive reads) of such a directory. Archives are checked entry
 * by entry and unpacked once into <cache root>/experts/<sha256 of the archive>/
 * (a temp dir renamed into place atomically; reused when present). */
#ifndef HIVE_EXPERTS_PACKAGE_H
#define HIVE_EXPERTS_PACKAGE_H

#include <stdint.h>
#include "experts/sha256.h"
#include "hive_abi.h"

#define HIVE_EXPERT_MAX_BYTES (1ull << 30)  /* unpacked bytes per archive */
#define HIVE_EXPERT_MAX_ENTRIES 100000ull   /* entries per archive */

typedef struct hive_expert_pkg_limits {
    uint64_t max_bytes;
    uint64_t max_entries;
} hive_expert_pkg_limits;

typedef struct hive_expert_pkg {
    char *canonical;   /* real path of what was given: the cache key */
    char *dir;         /* real path of the directory holding manifest.json */
    char *manifest;    /* dir + "/manifest.json" (PEFT directory: "/adapter_config.json") */
    int is_archive;
    int is_peft;       /* a plain PEFT adapter directory (peft_dir.h); manifest = its adapter_config.json */
    int reused;        /* archive: its unpacked copy was already in the cache */
    char sha256[HIVE_SHA256_HEX]; /* archive: its sha256; directory: "" */
} hive_expert_pkg;

/* path: a package directory, its manifest.json, an archive, or a plain PEFT
 * adapter directory. limits NULL =
 * the defaults above. */
hive_status hive_expert_pkg_open(const char *path, const hive_expert_pkg_limits *limits, hive_expert_pkg *out,
                                 hive_error **err);
void hive_expert_pkg_close(hive_expert_pkg *p);

/* Unpack `archive` into the existing empty directory `dest`, refusing absolute
 * paths, "..", links that point outside, links that are walked through, and
 * special files; errors name the entry and the archive. */
hive_status hive_expert_extract(const char *archive, const char *dest, const hive_expert_pkg_limits *limits,
                                hive_error **err);

#endif
