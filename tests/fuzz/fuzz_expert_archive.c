/* Fuzzes `.expert` archive extraction (host/experts/extract.c, libarchive:
 * tar, optionally compressed): path checks, links, special files and the
 * size/entry caps. Each input is unpacked into a fresh directory under the
 * scratch directory; when it holds a manifest.json (at the top or in its only
 * subdirectory, as package.c looks for it) that manifest is parsed too, with
 * the adapter files the archive brought. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experts/manifest.h"
#include "experts/package.h"
#include "fuzz_util.h"
#include "util/error.h"

static char g_archive[4096], g_dest[4096];

/* Small caps keep a decompression bomb from filling the disk at fuzzing speed. */
static const hive_expert_pkg_limits k_limits = {1u << 20, 256};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    setenv("HIVE_CACHE", fuzz_path("cache"), 1);
    snprintf(g_archive, sizeof g_archive, "%s", fuzz_path("input.expert"));
    snprintf(g_dest, sizeof g_dest, "%s", fuzz_path("unpacked"));
    return 0;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void load_manifest(const char *dir) {
    char file[8192];
    snprintf(file, sizeof file, "%s/manifest.json", dir);
    if (!is_file(file)) return;
    hive_manifest m;
    hive_problems probs = {0};
    hive_error *e = NULL;
    if (hive_manifest_load(dir, file, &m, &probs, &e) == HIVE_OK) hive_manifest_free(&m);
    else hive_error_free(e);
    hive_problems_free(&probs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write_file(g_archive, data, size);
    fuzz_fresh_dir(g_dest);
    hive_error *e = NULL;
    if (hive_expert_extract(g_archive, g_dest, &k_limits, &e) == HIVE_OK) {
        load_manifest(g_dest);
        DIR *d = opendir(g_dest);
        struct dirent *ent;
        while (d && (ent = readdir(d))) {
            if (ent->d_name[0] == '.') continue;
            char sub[8192];
            snprintf(sub, sizeof sub, "%s/%s", g_dest, ent->d_name);
            load_manifest(sub);
        }
        if (d) closedir(d);
    } else {
        hive_error_free(e);
    }
    fuzz_rm_tree(g_dest);
    return 0;
}
