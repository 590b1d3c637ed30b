/* Small helpers shared by the PEFT adapter plugins: errors through the host,
 * half-precision conversion, path building. */
#ifndef HIVE_ADAPTERS_PEFT_UTIL_H
#define HIVE_ADAPTERS_PEFT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include "hive_abi.h"

/* Formats the message, sets *err through host->error_new (when err and host are
 * non-NULL) and returns code. */
/* The load arguments every linear-hooking adapter needs (args, backend,
 * device, model shape, config, dir, max_rows); plugin-specific needs are
 * checked by the plugin. */
hive_status peft_check_load_args(const hive_host_api *h, const hive_adapter_load_args *args, hive_error **err);

hive_status peft_fail(const hive_host_api *host, hive_error **err, hive_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

float peft_f16_to_f32(uint16_t h);
float peft_bf16_to_f32(uint16_t b);
/* n elements of dtype (F32, F16 or BF16) at src into dst; 0 on success, -1 for
 * another dtype. src may be unaligned. */
int peft_to_f32(uint32_t dtype, const void *src, float *dst, uint64_t n);
const char *peft_dtype_name(uint32_t dtype);
/* Index of the first NaN or +-Inf among x[0..n-1] (tested on the bits, so
 * exact under any floating-point flags), or n when all are finite; *what
 * (when non-NULL) becomes "NaN", "+Inf" or "-Inf". F16 and BF16 NaN / Inf
 * stay NaN / Inf through peft_to_f32, so checking after conversion is exact. */
uint64_t peft_first_nonfinite(const float *x, uint64_t n, const char **what);

/* fmt with its one "%u" replaced by layer ("model.layers.%u.mlp.up_proj"); a
 * format without "%u" is copied as is. Returns 0, or -1 when it does not fit. */
int peft_module_path(char *dst, size_t cap, const char *fmt, uint32_t layer);
/* malloc'd "a/b"; NULL when out of memory. */
char *peft_join_path(const char *dir, const char *name);
int peft_file_exists(const char *path);
/* "[576, 8]" */
void peft_shape_str(char *dst, size_t cap, const int64_t *shape, uint32_t n_dims);

/* PEFT's short names of the hookable modules: "q_proj", ..., "down_proj". */
extern const char *const peft_module_names[HIVE_MODULE_COUNT];

#endif
