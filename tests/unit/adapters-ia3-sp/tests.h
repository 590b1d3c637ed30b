#ifndef IA3SP_TESTS_H
#define IA3SP_TESTS_H
void test_ia3_info(void **state);
void test_ia3_hooks(void **state);
void test_ia3_stacked_and_dtypes(void **state);
void test_ia3_targets(void **state);
void test_ia3_merge(void **state);
void test_ia3_errors(void **state);
void test_ia3_hook_calls(void **state);
void test_sp_info(void **state);
void test_sp_embed(void **state);
void test_sp_errors(void **state);
void test_nonfinite_ia3(void **state);
void test_nonfinite_soft_prompt(void **state);
#endif
