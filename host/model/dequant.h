/* Reference conversion of weight rows to f32 (and f32 to quantized blocks),
 * used for --weights requantization, DoRA norms, tests, and backends that do
 * not run a format natively. */
#ifndef HIVE_MODEL_DEQUANT_H
#define HIVE_MODEL_DEQUANT_H

#include <stdint.h>
#include "hive_abi.h"

/* n elements of `dtype` at src -> f32 dst. n must be a multiple of the block size.
 * Returns HIVE_E_UNSUPPORTED for dtypes it cannot convert. src and dst must not
 * overlap, except for F32 (a memmove). */
hive_status hive_dequantize(uint32_t dtype, const void *src, float *dst, int64_t n);
/* f32 -> dtype (F32, F16, BF16, Q8_0, Q4_0, Q4_1), as llama.cpp's reference quantizers do. */
hive_status hive_quantize(uint32_t dtype, const float *src, void *dst, int64_t n);

#endif
