/* Test harness for the onednn-cpu plugin: a fake host, the loaded backend
 * table, buffers/tensors and a deterministic random generator. */
#ifndef CPU_TEST_HARNESS_H
#define CPU_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include "hive_abi.h"

extern const hive_backend_api *api;
extern hive_device *dev;
extern char last_error[1024];      /* message of the last error_new */
extern hive_status last_error_code;

/* Loads the plugin once; returns 0 on success. */
int harness_load(void);
/* The plugin's hive_plugin_query entry. */
extern hive_plugin_query_fn plugin_query;
/* Opens the device with HIVE_CPU_ISA=isa; returns the ISA actually active
 * (from the device name) or NULL when opening failed. */
const char *harness_open(const char *isa, uint32_t threads);
void harness_close(void);

/* A buffer of `elems` floats (plus `pad` leading floats) as a tensor view. */
typedef struct {
    hive_buffer *buf;
    hive_tensor t;
    float *host; /* host pointer of element (0,0) */
} test_tensor;
test_tensor tt_new(int64_t rows, int64_t cols, int64_t row_stride, int64_t lead_pad);
void tt_free(test_tensor *t);
static inline float *tt_row(const test_tensor *t, int64_t r) { return t->host + r * t->t.row_stride; }

hive_weight *tw_upload(uint32_t dtype, int64_t rows, int64_t cols, const void *data);

uint32_t rnd_u32(void);
float rnd_uniform(float lo, float hi);
void rnd_seed(uint32_t s);
/* The generator's state: a test that saves it and seeds it back leaves the
 * data of every later test (and later ISA run) as it was. */
uint32_t rnd_state(void);

#endif
