/* lora / dora adapter plugins: hooks against scalar references, scaling
 * rules, targeting, merge, and the load errors. Runs on onednn-cpu. */
#include <stdio.h>
#include "harness.h"
#include "tests.h"

int main(void) {
    if (harness_init() != 0) {
        fprintf(stderr, "cannot load onednn-cpu.so from %s\n", HIVE_PLUGIN_BUILD_DIR);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_info),
        cmocka_unit_test(test_lora_all_modules),
        cmocka_unit_test(test_lora_half_dtypes),
        cmocka_unit_test(test_lora_patterns_rslora),
        cmocka_unit_test(test_lora_regex_targets),
        cmocka_unit_test(test_lora_layers_to_transform),
        cmocka_unit_test(test_lora_twice_and_stacked),
        cmocka_unit_test(test_lora_merge),
        cmocka_unit_test(test_dora_hook),
        cmocka_unit_test(test_dora_merge),
        cmocka_unit_test(test_dora_with_lora),
        cmocka_unit_test(test_dora_cache_reuse),
        cmocka_unit_test(test_dora_cache_refuses),
        cmocka_unit_test(test_dora_kernel_shapes),
        cmocka_unit_test(test_dora_kernel_module),
        cmocka_unit_test(test_dora_kernel_detects_errors),
        cmocka_unit_test(test_err_config),
        cmocka_unit_test(test_err_targets),
        cmocka_unit_test(test_err_tensors),
        cmocka_unit_test(test_err_files),
        cmocka_unit_test(test_err_hook_calls),
        cmocka_unit_test(test_nonfinite_lora),
        cmocka_unit_test(test_nonfinite_dora),
        cmocka_unit_test(test_nonfinite_merge),
        cmocka_unit_test(test_uploads_f32_in_place),
        cmocka_unit_test(test_uploads_half_convert_exactly),
        cmocka_unit_test(test_uploads_convert_every_half),
        cmocka_unit_test(test_uploads_unaligned_f32_copied),
    };
    int failed = cmocka_run_group_tests_name("adapters", tests, NULL, NULL);
    harness_fini();
    return failed;
}
