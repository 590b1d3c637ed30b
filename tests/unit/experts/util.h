/* Helpers for the experts tests: scratch directories, package writers (plain
 * directories and .expert archives made with libarchive's writer), a tiny
 * safetensors writer, and a fake adapter plugin registered by hand. */
#ifndef EXPERTS_TEST_UTIL_H
#define EXPERTS_TEST_UTIL_H

#include <stdint.h>
#include "experts/expert.h"
#include "plugin/registry.h"

extern char g_tmp[512]; /* scratch root, $HIVE_CACHE = g_tmp/cache */

void tu_setup_tmp(void);
void tu_cleanup_tmp(void);
/* Writes text to g_tmp/rel (parents created); returns the full path (static buffer rotation). */
const char *tu_write(const char *rel, const char *text);
const char *tu_path(const char *rel);
int tu_exists(const char *path);

/* An adapter directory g_tmp/<pkg>/<sub> with adapter_config.json and a small
 * adapter_model.safetensors. extra: more JSON members ("\"fake_bytes\": 400") or NULL. */
void tu_adapter(const char *pkg, const char *sub, const char *peft_type, int use_dora, int r, double alpha,
                const char *extra);
/* A package g_tmp/<pkg> whose manifest has one base model and the given
 * adapters JSON array text; tail: more top-level JSON members or NULL. */
const char *tu_package(const char *pkg, const char *name, const char *base, const char *adapters_json,
                       const char *tail);
/* A simple one-LoRA expert package named `name` using `bytes` device bytes. */
const char *tu_simple_expert(const char *name, uint64_t bytes, const char *tail);

/* Safetensors with F32 zeros: names[i] of shape shapes[i] (n_dims[i] dims). */
void tu_safetensors(const char *path, int n, const char *const *names, const int64_t (*shapes)[2], const int *n_dims);

/* Archive entries for tu_tar. */
typedef struct tu_entry {
    const char *name;
    char kind;            /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' char device */
    const char *content;  /* file text, or link target */
    uint64_t size;        /* 'f' with content NULL: that many zero bytes */
} tu_entry;
/* Writes a tar.gz to g_tmp/rel; returns the full path. */
const char *tu_tar(const char *rel, const tu_entry *e, int n);
/* Adds every file under g_tmp/<pkg_dir> as "<prefix>/..." entries (prefix may be ""). */
const char *tu_tar_dir(const char *rel, const char *pkg_dir, const char *prefix);

/* ---- fake adapter plugin ---- */
extern hive_registry g_reg;
extern int g_live_adapters;
extern char g_destroy_log[512]; /* "a,b," names of destroyed adapters in order */
/* g_reg holds only the fake adapter plugin: a cmocka group's setup and teardown. */
int tu_fake_registry_setup(void **state);
int tu_fake_registry_teardown(void **state);
/* A target with a fake model shape "SmolLM2-135M" and the fake registry. */
void tu_target(hive_expert_target *t);

#endif
