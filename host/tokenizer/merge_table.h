/* Merge look-up: (left id, right id) -> (rank, merged id). An open-addressing
 * table of 64-bit keys: BPE probes it for every adjacent pair, mostly
 * missing, and a chained hash (uthash) spent most of encode time walking
 * bucket chains there. */
#ifndef HIVE_TOKENIZER_MERGE_TABLE_H
#define HIVE_TOKENIZER_MERGE_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct hive_merge_slot {
    uint64_t pair; /* HIVE_MERGE_EMPTY when free */
    int32_t rank;
    int32_t merged;
} hive_merge_slot;

#define HIVE_MERGE_EMPTY UINT64_MAX

typedef struct hive_merge_table {
    hive_merge_slot *slots;
    size_t mask; /* capacity - 1, capacity a power of two */
} hive_merge_table;

static inline uint64_t hive_merge_key(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

/* Room for n merges at load <= 1/2. 0 on success. */
int hive_merge_table_init(hive_merge_table *m, size_t n);
void hive_merge_table_free(hive_merge_table *m);
/* Adds unless the pair is there already (the lower rank, added first, stays). */
void hive_merge_table_add(hive_merge_table *m, uint64_t pair, int32_t rank, int32_t merged);
const hive_merge_slot *hive_merge_table_find(const hive_merge_table *m, uint64_t pair);

#endif
