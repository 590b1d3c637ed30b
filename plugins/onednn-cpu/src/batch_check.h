/* Validation of a hive_batch against the rows of an op (rope, kv, attention). */
#ifndef CPU_BATCH_CHECK_H
#define CPU_BATCH_CHECK_H

#include "cpu_internal.h"

/* Rows, positions; with kv != NULL also sequences and block tables. */
hive_status cpu_check_batch(const hive_batch *b, int64_t rows, const hive_kv_cache *kv,
                            const char *op, hive_error **err);

#endif
