/* Independent scalar references: random weights in every supported dtype with
 * their exact f32 values, and f16 helpers built on the compiler's _Float16. */
#ifndef CPU_TEST_REFERENCE_H
#define CPU_TEST_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

/* Random [rows x cols] weight in dtype: *data gets the raw bytes (GGML blocks),
 * *deq the f32 value of every element. Both malloc'ed. Returns bytes. */
size_t ref_make_weight(uint32_t dtype, int64_t rows, int64_t cols, void **data, float **deq);
const char *ref_dtype_name(uint32_t dtype);
uint32_t ref_block_elems(uint32_t dtype);

uint16_t ref_f16_bits(float f);
float ref_f16_value(float f); /* f rounded to f16 and back */

#endif
