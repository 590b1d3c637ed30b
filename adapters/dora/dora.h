/* dora.so internals: the load-time preparation and the hook. */
#ifndef HIVE_ADAPTERS_DORA_H
#define HIVE_ADAPTERS_DORA_H

#include "hive_abi.h"
#include "peft_lora.h"

/* f = m / ||W + s B A|| per output row, from the dequantized base W; scales B
 * rows by f * s and uploads f - 1 and -(f - 1) * bias. */
hive_status dora_prepare(peft_lora *a, peft_lora_module *m, const float *A, float *B, const float *mag,
                         hive_error **err);

/* Around peft_lora_load on one thread: the norms' helper threads (started by
 * the first dora_prepare, plugins.dora.threads or every CPU) live until
 * dora_load_end. cache (NULL: none) is the host's adapter cache: the first
 * dora_prepare reads the norm table from it; dora_load_end, given the loaded
 * adapter (NULL when the load failed), stores a computed table. */
void dora_load_begin(const hive_adapter_cache *cache);
void dora_load_end(const peft_lora *loaded);

/* The norm table of one load in the adapter cache (dora_cache.c). */
typedef struct dora_norm_cache {
    const hive_adapter_cache *cache; /* NULL: none */
    int state;                       /* 0: not read yet; 1: f of every module below; -1: compute */
    void *blob;                      /* host memory */
    const float *f;                  /* into blob: every module's f, module order */
    uint64_t *off;                   /* [n_mods + 1]: where each module's f starts in f */
} dora_norm_cache;

/* Reads and checks the table (state 1 when it fits the load, else -1; a
 * table that does not fit is reported with a warning). */
void dora_cache_read(dora_norm_cache *c, const peft_lora *a);
/* Copies module m's f from the table: 1, or 0 when there is no table. */
int dora_cache_factors(const dora_norm_cache *c, const peft_lora *a, const peft_lora_module *m, float *f);
/* Stores the loaded adapter's f (unless they came from the table). */
void dora_cache_write(const dora_norm_cache *c, const peft_lora *a);
void dora_cache_free(dora_norm_cache *c, const hive_host_api *h);

/* y += (f - 1) * (base_y - b) + f * s * B (A x). */
hive_status dora_apply(peft_lora *a, uint32_t layer, uint32_t module, const hive_tensor *x,
                       const hive_tensor *base_y, const hive_tensor *y, hive_error **err);

#endif
