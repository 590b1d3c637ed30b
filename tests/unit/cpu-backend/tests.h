/* cmocka test functions of the cpu-backend suite, run once per ISA path. */
#ifndef CPU_TESTS_H
#define CPU_TESTS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

void test_matmul_all_dtypes(void **state);
void test_matmul_float_tails(void **state);
void test_matmul_parallel_decode_shape(void **state);
void test_matmul_shape_errors(void **state);

void test_plugin_info(void **state);
void test_embed(void **state);
void test_rmsnorm(void **state);
void test_layernorm(void **state);
void test_binary(void **state);
void test_swiglu(void **state);
void test_rope(void **state);
void test_get_rows_argmax(void **state);
void test_add_rows_scaled(void **state);
void test_ssm_ops(void **state);
void test_ssm_scan_chunked(void **state); /* test_ssm_chunked.c */
void test_op_shape_errors(void **state);

void test_attention_f16(void **state);
void test_attention_f32(void **state);
void test_attention_errors(void **state);
void test_kv_pages_on_demand(void **state);
void test_attention_split_exact(void **state);
void test_attention_tiled_exact(void **state);
void test_attention_q8_0(void **state);
void test_attention_kv_types(void **state);
void test_attention_kv_refusals(void **state);
void test_attention_kv_tiers(void **state);
void test_attention_kv_tiers_f16_bits(void **state);
void test_attention_kv_tiers_refusals(void **state);

void test_lora_segments(void **state);
void test_lora_segments_errors(void **state);

#endif
