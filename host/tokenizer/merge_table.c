#include "tokenizer/merge_table.h"

#include <stdlib.h>

static size_t slot_of(const hive_merge_table *m, uint64_t pair) {
    uint64_t h = pair * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & m->mask;
}

int hive_merge_table_init(hive_merge_table *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots) return -1;
    for (size_t i = 0; i < cap; i++) m->slots[i].pair = HIVE_MERGE_EMPTY;
    m->mask = cap - 1;
    return 0;
}

void hive_merge_table_free(hive_merge_table *m) {
    free(m->slots);
    m->slots = NULL;
}

void hive_merge_table_add(hive_merge_table *m, uint64_t pair, int32_t rank, int32_t merged) {
    for (size_t i = slot_of(m, pair);; i = (i + 1) & m->mask) {
        hive_merge_slot *s = &m->slots[i];
        if (s->pair == pair) return;
        if (s->pair == HIVE_MERGE_EMPTY) {
            s->pair = pair;
            s->rank = rank;
            s->merged = merged;
            return;
        }
    }
}

const hive_merge_slot *hive_merge_table_find(const hive_merge_table *m, uint64_t pair) {
    for (size_t i = slot_of(m, pair);; i = (i + 1) & m->mask) {
        const hive_merge_slot *s = &m->slots[i];
        if (s->pair == pair) return s;
        if (s->pair == HIVE_MERGE_EMPTY) return NULL;
    }
}
