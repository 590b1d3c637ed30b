/* Fuzzes the safetensors reader (safetensors.c) and the tensor index shared
 * with GGUF (tensor_file.c): u64 header length, the JSON header, dtypes,
 * shapes and data offsets. The bytes are parsed in place (hive_tf_open_mem)
 * so ASan sees any read past the end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "model/tensor_file.h"
#include "util/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    if (size) memcpy(copy, data, size);
    hive_tensor_file *f = NULL;
    hive_error *e = NULL;
    if (hive_tf_open_mem("fuzz.safetensors", copy, size, &f, &e) == HIVE_OK) {
        uint64_t n = hive_tf_count(f);
        for (uint64_t i = 0; i < n; i++) {
            hive_tensor_view v;
            if (hive_tf_get(f, i, &v) != HIVE_OK || hive_tf_find(f, v.name, NULL) != HIVE_OK) abort();
            fuzz_touch(v.data, (size_t)v.nbytes);
        }
        hive_tf_get(f, n, NULL);
        hive_tf_find(f, "__metadata__", NULL);
        hive_gguf_kv_count(f); /* not a GGUF: no keys */
        hive_tf_close(f);
    } else {
        hive_error_free(e);
    }
    free(copy);
    return 0;
}
