/* The DoRA factors f = m / ||W + s B A|| of a whole load, kept in the host's
 * adapter cache (hive_adapter_cache, ABI 1.7) as the blob "dora-norms". The
 * host keys the cache by base model, adapter file and adapter config and
 * checks the blob's size and checksum; this file checks that the table fits
 * the load: format version, the kernel level that computed it (levels can
 * differ by one f32 ulp in rare ties, so a table from another CPU is not
 * taken), each module's layer, module, shape, rank and scale, finite values.
 * Anything else recomputes, with a warning.
 *
 * Payload: "DORANRM1", u32 kernel level, u32 module count, per module six u32
 * (layer, module, out, in, r, scale's bits), then every module's f (f32 [out])
 * in module order. Host byte order: the cache is per machine. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dora.h"
#include "dora_kernel.h"

#define NORMS_BLOB "dora-norms"
#define NORMS_MAGIC "DORANRM1"
#define NORMS_HEAD 16
#define NORMS_MOD 24

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void note(const hive_host_api *h, int32_t level, const char *fmt, ...) {
    if (!h || !h->log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h->log(h->ctx, level, msg);
}

static void module_record(const peft_lora_module *m, uint32_t rec[6]) {
    uint32_t sbits;
    memcpy(&sbits, &m->scale, 4);
    uint32_t v[6] = {m->layer, m->module, m->out, m->in, m->r, sbits};
    memcpy(rec, v, sizeof v);
}

static uint64_t table_bytes(const peft_lora *a) {
    uint64_t n = NORMS_HEAD + (uint64_t)a->n_mods * NORMS_MOD;
    for (uint32_t i = 0; i < a->n_mods; i++) n += (uint64_t)a->mods[i].out * sizeof(float);
    return n;
}

/* NULL when the blob fits this load, else why not. */
static const char *check_table(const peft_lora *a, const unsigned char *b, uint64_t size) {
    if (size < NORMS_HEAD || memcmp(b, NORMS_MAGIC, 8)) return "not a DoRA norm table of this version";
    uint32_t level, n;
    memcpy(&level, b + 8, 4);
    memcpy(&n, b + 12, 4);
    if (level != (uint32_t)dora_kernel_best()) return "computed by another kernel level";
    if (n != a->n_mods || size != table_bytes(a)) return "made for other modules";
    for (uint32_t i = 0; i < n; i++) {
        uint32_t want[6];
        module_record(&a->mods[i], want);
        if (memcmp(b + NORMS_HEAD + (uint64_t)i * NORMS_MOD, want, sizeof want)) return "made for other modules";
    }
    const unsigned char *f = b + NORMS_HEAD + (uint64_t)n * NORMS_MOD;
    for (uint64_t o = 0; o < (size - NORMS_HEAD - (uint64_t)n * NORMS_MOD) / 4; o++) {
        float v;
        memcpy(&v, f + o * 4, 4);
        if (!isfinite(v)) return "holds a non-finite factor";
    }
    return NULL;
}

void dora_cache_read(dora_norm_cache *c, const peft_lora *a) {
    const hive_host_api *h = a->host;
    c->state = -1;
    if (!c->cache || !c->cache->get) return;
    void *blob = NULL;
    uint64_t size = 0;
    if (c->cache->get(c->cache->ctx, NORMS_BLOB, &blob, &size) != HIVE_OK || !blob) return;
    const char *why = check_table(a, blob, size);
    uint64_t *off = why ? NULL : malloc(((size_t)a->n_mods + 1) * sizeof *off);
    if (why || !off) {
        if (why) note(h, HIVE_LOG_WARN, "cached DoRA weight norms do not fit this load (%s): recomputing", why);
        h->free(h->ctx, blob);
        free(off);
        return;
    }
    off[0] = 0;
    for (uint32_t i = 0; i < a->n_mods; i++) off[i + 1] = off[i] + a->mods[i].out;
    c->blob = blob;
    c->f = (const float *)((const unsigned char *)blob + NORMS_HEAD + (uint64_t)a->n_mods * NORMS_MOD);
    c->off = off;
    c->state = 1;
    note(h, HIVE_LOG_DEBUG, "DoRA weight norms of %u modules read from the adapter cache", a->n_mods);
}

int dora_cache_factors(const dora_norm_cache *c, const peft_lora *a, const peft_lora_module *m, float *f) {
    if (c->state != 1) return 0;
    size_t i = (size_t)(m - a->mods);
    if (i >= a->n_mods) return 0;
    memcpy(f, (const unsigned char *)c->f + c->off[i] * sizeof(float), (size_t)m->out * sizeof(float));
    return 1;
}

void dora_cache_write(const dora_norm_cache *c, const peft_lora *a) {
    if (c->state == 1 || !c->cache || !c->cache->put || !a->n_mods) return;
    uint64_t size = table_bytes(a);
    unsigned char *b = malloc((size_t)size);
    if (!b) return; /* caching is best effort */
    uint32_t level = (uint32_t)dora_kernel_best(), n = a->n_mods;
    memcpy(b, NORMS_MAGIC, 8);
    memcpy(b + 8, &level, 4);
    memcpy(b + 12, &n, 4);
    unsigned char *p = b + NORMS_HEAD;
    for (uint32_t i = 0; i < n; i++, p += NORMS_MOD) {
        uint32_t rec[6];
        module_record(&a->mods[i], rec);
        memcpy(p, rec, sizeof rec);
    }
    for (uint32_t i = 0; i < n; i++) {
        memcpy(p, a->mods[i].f, (size_t)a->mods[i].out * sizeof(float));
        p += (size_t)a->mods[i].out * sizeof(float);
    }
    c->cache->put(c->cache->ctx, NORMS_BLOB, b, size);
    free(b);
}

void dora_cache_free(dora_norm_cache *c, const hive_host_api *h) {
    if (c->blob) h->free(h->ctx, c->blob);
    free(c->off);
    memset(c, 0, sizeof *c);
}
