#ifndef ADAPTER_TESTS_H
#define ADAPTER_TESTS_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

void test_plugin_info(void **state);
void test_lora_all_modules(void **state);
void test_lora_half_dtypes(void **state);
void test_lora_patterns_rslora(void **state);
void test_lora_regex_targets(void **state);
void test_lora_layers_to_transform(void **state);
void test_lora_twice_and_stacked(void **state);
void test_lora_merge(void **state);
void test_dora_hook(void **state);
void test_dora_merge(void **state);
void test_dora_with_lora(void **state);
void test_dora_cache_reuse(void **state);
void test_dora_cache_refuses(void **state);
void test_dora_kernel_shapes(void **state);
void test_dora_kernel_module(void **state);
void test_dora_kernel_detects_errors(void **state);
void test_err_config(void **state);
void test_err_targets(void **state);
void test_err_tensors(void **state);
void test_err_files(void **state);
void test_err_hook_calls(void **state);
void test_nonfinite_lora(void **state);
void test_nonfinite_dora(void **state);
void test_nonfinite_merge(void **state);
void test_uploads_f32_in_place(void **state);
void test_uploads_half_convert_exactly(void **state);
void test_uploads_convert_every_half(void **state);
void test_uploads_unaligned_f32_copied(void **state);

#endif
