/* Element-type facts shared by the host: names, block sizes, row sizes. */
#ifndef HIVE_UTIL_DTYPE_H
#define HIVE_UTIL_DTYPE_H

#include <stdint.h>
#include "hive_abi.h"

const char *hive_dtype_name(uint32_t dtype);      /* "q4_1"; "?" when unknown */
int hive_dtype_from_name(const char *name);       /* -1 when unknown */
int hive_dtype_valid(uint32_t dtype);
uint32_t hive_dtype_block_elems(uint32_t dtype);  /* 1 for plain types */
uint32_t hive_dtype_block_bytes(uint32_t dtype);
/* bytes of `n` elements; n must be a multiple of the block size */
uint64_t hive_dtype_row_bytes(uint32_t dtype, int64_t n);
int hive_dtype_is_quantized(uint32_t dtype);

float hive_f16_to_f32(uint16_t h);
uint16_t hive_f32_to_f16(float f);
float hive_bf16_to_f32(uint16_t h);
uint16_t hive_f32_to_bf16(float f); /* round to nearest even */

#endif
