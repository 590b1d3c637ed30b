/* ia3 and soft-prompt adapter plugins on onednn-cpu with the adapter test
 * harness (tests/unit/adapters). */
#include <stdio.h>

#include "tests.h"
#include "util.h"

int main(void) {
    if (harness_init() != 0) {
        fprintf(stderr, "cannot load onednn-cpu.so from %s\n", HIVE_PLUGIN_BUILD_DIR);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ia3_info),       cmocka_unit_test(test_ia3_hooks),
        cmocka_unit_test(test_ia3_stacked_and_dtypes), cmocka_unit_test(test_ia3_targets),
        cmocka_unit_test(test_ia3_merge),      cmocka_unit_test(test_ia3_errors),
        cmocka_unit_test(test_ia3_hook_calls), cmocka_unit_test(test_sp_info),
        cmocka_unit_test(test_sp_embed),       cmocka_unit_test(test_sp_errors),
        cmocka_unit_test(test_nonfinite_ia3),  cmocka_unit_test(test_nonfinite_soft_prompt),
    };
    int failed = cmocka_run_group_tests_name("adapters-ia3-sp", tests, NULL, NULL);
    harness_fini();
    return failed;
}
