/* Harness for the lora / dora plugin tests: a fake host (with the real tensor
 * files), the onednn-cpu backend, a small fake base model, adapter
 * directories written on the fly and scalar references. */
#ifndef ADAPTER_TEST_HARNESS_H
#define ADAPTER_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include "hive_abi.h"

#define T_LAYERS 2
#define T_MODS HIVE_MODULE_COUNT
#define T_MAX_DIM 24
#define T_MAX_ROWS 8

extern const hive_backend_api *be;
extern hive_device *dev;
extern const hive_host_api test_host;
extern char last_error[2048];
extern hive_model_shape shape;
extern hive_base_access base;

/* Base model: W[l][m] [out, in], bias[l][m] (q/k/v only), and what the
 * adapter's merge wrote (merged_set says which). */
extern float base_w[T_LAYERS][T_MODS][T_MAX_DIM * T_MAX_DIM];
extern float base_b[T_LAYERS][T_MODS][T_MAX_DIM];
extern int base_has_bias[T_MODS];
extern float merged_w[T_LAYERS][T_MODS][T_MAX_DIM * T_MAX_DIM];
extern int merged_set[T_LAYERS][T_MODS];

/* Calls of base.weight_f32 (DoRA's dequantized base) and plugin warnings so far. */
extern int weight_f32_calls;
extern int harness_warnings;

/* A fake hive_adapter_cache: blobs in memory. adapter_load passes
 * harness_cache (NULL by default; point it at &test_cache to use the store). */
typedef struct test_blob {
    char name[72];
    unsigned char *data;
    uint64_t size;
} test_blob;
typedef struct test_blob_store {
    test_blob blobs[4];
    int n, gets, hits, puts;
} test_blob_store;
extern test_blob_store blob_store;
extern const hive_adapter_cache test_cache;
extern const hive_adapter_cache *harness_cache;
void blob_store_clear(void);

/* Whether p lies in the data of a tensor the fake host handed out (inside a
 * mapped tensor file) since harness_views_clear: tells an upload straight from
 * the file from one of a converted copy. */
int harness_in_tensor_file(const void *p);
void harness_views_clear(void);

int harness_init(void); /* backend + device + base model; 0 on success */
void harness_fini(void);
const hive_adapter_api *plugin(const char *name); /* "lora" / "dora"; NULL on failure */

/* A generated adapter: tensors for every (l, m) with r[l][m] > 0. */
typedef struct adapter_data {
    uint32_t r[T_LAYERS][T_MODS];
    float s[T_LAYERS][T_MODS];                         /* scaling the reference uses */
    float A[T_LAYERS][T_MODS][T_MAX_DIM * T_MAX_DIM];   /* [r, in] */
    float B[T_LAYERS][T_MODS][T_MAX_DIM * T_MAX_DIM];   /* [out, r] */
    float mag[T_LAYERS][T_MODS][T_MAX_DIM];             /* DoRA */
    int dora;
    const char *dtype_A, *dtype_B;                     /* "F32" (default), "F16", "BF16" */
} adapter_data;

/* Random values k/256 (exact in f16 and bf16) for every module with r > 0. */
void adapter_fill(adapter_data *d, uint32_t seed);
/* Writes dir/adapter_config.json (config) and dir/adapter_model.safetensors
 * (the tensors of d, plus `extra` tensor names of shape [1, 1] when non-NULL,
 * NULL-terminated). A fresh directory; caller frees the string. */
char *adapter_write(const adapter_data *d, const char *config, const char *const *extra);
/* Like adapter_write, but with a module's tensor shapes overridden: lora_B of
 * (l, m) saved with out rows `bad_out` (0: unchanged), or the lora_A of (l, m)
 * left out when drop_A. */
char *adapter_write_ex(const adapter_data *d, const char *config, const char *const *extra, int bl, int bm,
                       uint32_t bad_out, int drop_A);
void adapter_remove(char *dir);

/* Loads through the plugin; returns the status (message in last_error). */
hive_status adapter_load(const hive_adapter_api *api, const char *dir, hive_adapter **out);
/* Loads dir (NULL: a failed write) through plugin `name` expecting a refusal
 * of a tensor: HIVE_E_INVALID, no adapter, and a message that names dir's
 * adapter_model.safetensors and contains `what`. Removes dir. 1 when so, 0
 * after printing what happened instead. */
int adapter_refused(const char *name, char *dir, const char *what);

/* Runs the hook of (l, m) on n random rows (strided views, offset) and
 * compares with the scalar reference of the given adapters (deltas add).
 * Returns the max relative error, or -1 on a hook failure. */
double check_hook(const hive_adapter_api *const *apis, hive_adapter *const *ads, const adapter_data *const *data,
                  int n_ad, uint32_t l, uint32_t m, uint32_t n);

/* Reference DoRA factor f[o] of (l, m). */
void ref_dora_f(const adapter_data *d, uint32_t l, uint32_t m, double *f);

#endif
