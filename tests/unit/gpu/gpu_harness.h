/* gpu_harness.h — loads a GPU backend plugin with a fake host and wraps the
 * table calls the op tests need. */
#ifndef HIVE_TEST_GPU_HARNESS_H
#define HIVE_TEST_GPU_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "hive_abi.h"

struct hive_error {
    hive_status code;
    char msg[512];
};

typedef struct gpu_fx {
    const char *file;          /* e.g. "cuda.so" */
    void *handle;              /* dlopen handle, NULL when not loadable */
    char load_error[512];      /* dlerror() when not loadable */
    const hive_backend_api *api;
    uint32_t n_devices;
    hive_device_info info0;
    hive_device *dev;          /* opened device 0, NULL when none */
} gpu_fx;

/* Loads, inits, probes and (when a device exists) opens device 0. Never fails
 * the test: problems are recorded in the fixture. */
void gpu_fx_load(gpu_fx *fx, const char *file);
void gpu_fx_unload(gpu_fx *fx);
/* skip()s the current test when there is no opened device. */
void gpu_fx_need_device(gpu_fx *fx);

/* Asserts OK; prints the plugin's message otherwise. */
void gpu_check(hive_status st, hive_error *err, const char *what);

/* f32 [rows, cols] matrix in a fresh device buffer (row stride = cols + pad). */
typedef struct gpu_mat {
    hive_buffer *buf;
    hive_tensor t;
} gpu_mat;
gpu_mat gpu_mat_new(gpu_fx *fx, int64_t rows, int64_t cols, int64_t pad, const float *data);
void gpu_mat_read(gpu_fx *fx, const gpu_mat *m, float *out); /* dense [rows, cols] */
void gpu_mat_free(gpu_fx *fx, gpu_mat *m);
hive_weight *gpu_weight_new(gpu_fx *fx, uint32_t dtype, int64_t rows, int64_t cols, const void *data);

/* Runs `tests` as one cmocka group per GPU plugin this build has (cuda.so,
 * hip.so), each with its loaded fixture (gpu_fx *) as the state. Returns the
 * number of failures. */
struct CMUnitTest;
int gpu_run_per_plugin(const struct CMUnitTest *tests, size_t n);

/* max |a - b| / (max |b| + floor) over n */
double gpu_rel_err(const float *a, const float *b, int64_t n, double floor);

#endif
