/* The KV cache's element types: --kv-dtype's parser and what a token costs. */
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "util/dtype.h"

/* KV element types the --kv-dtype flag names (a backend may refuse some) */
static int kv_type_named(const char *name, size_t len, uint32_t *out) {
    static const struct { const char *name; uint32_t dtype; } types[] = {
        {"f16", HIVE_DTYPE_F16}, {"f32", HIVE_DTYPE_F32}, {"bf16", HIVE_DTYPE_BF16},
        {"q8_0", HIVE_DTYPE_Q8_0}, {"q4_0", HIVE_DTYPE_Q4_0}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].name) == len && !strncmp(types[i].name, name, len)) return *out = types[i].dtype, 0;
    return -1;
}

int hive_engine_kv_dtypes_parse(const char *s, uint32_t *k, uint32_t *v, char *why, size_t why_cap) {
    const char *comma = strchr(s, ',');
    size_t klen = comma ? (size_t)(comma - s) : strlen(s);
    if (kv_type_named(s, klen, k) || (comma && (strchr(comma + 1, ',') || kv_type_named(comma + 1, strlen(comma + 1), v)))) {
        snprintf(why, why_cap, "%s: must be one type for K and V or K,V, each f16, f32, bf16, q8_0 or q4_0", s);
        return -1;
    }
    if (!comma) *v = *k;
    return 0;
}

uint64_t hive_engine_kv_token_bytes(uint32_t k, uint32_t v, uint32_t n_kv_heads, uint32_t head_dim) {
    return (uint64_t)n_kv_heads * (hive_dtype_row_bytes(k, head_dim) + hive_dtype_row_bytes(v, head_dim));
}

void hive_engine_kv_tier_pages(uint32_t ctx, uint32_t block, uint32_t max_rows, uint32_t max_seqs, uint32_t tail,
                               uint32_t *tail_pages, uint32_t *store_pages) {
    uint32_t per_seq = (ctx + block - 1) / block;
    /* pages a sequence may hold in f16 between migrations: its tail, a
     * partial page, and the pages one pass appends before the next migration */
    uint32_t tail_seq = (tail + block - 1) / block + 1 + (max_rows + block - 1) / block;
    *tail_pages = (tail_seq < per_seq ? tail_seq : per_seq) * max_seqs;
    *store_pages = per_seq * max_seqs;
}
