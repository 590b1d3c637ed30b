/* Runs the cpu-backend suite on every ISA path this CPU has: scalar, avx2,
 * avxvnni, avx512, avx512vnni (forced with HIVE_CPU_ISA; a path the CPU lacks
 * is reported, skipped).
 * The scalar run also switches oneDNN off, so the prefill-size matmuls take the
 * plugin's own kernels there and oneDNN in the other runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "tests.h"

static const char *want_isa;

static int group_setup(void **state) {
    (void)state;
    const char *got = harness_open(want_isa, 2);
    if (!got) return -1;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    harness_close();
    return 0;
}

int main(void) {
    if (harness_load() != 0) {
        fprintf(stderr, "cannot load onednn-cpu.so from %s\n", HIVE_PLUGIN_BUILD_DIR);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plugin_info),
        cmocka_unit_test(test_matmul_all_dtypes),
        cmocka_unit_test(test_matmul_float_tails),
        cmocka_unit_test(test_matmul_parallel_decode_shape),
        cmocka_unit_test(test_matmul_shape_errors),
        cmocka_unit_test(test_embed),
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_get_rows_argmax),
        cmocka_unit_test(test_add_rows_scaled),
        cmocka_unit_test(test_ssm_ops),
        cmocka_unit_test(test_ssm_scan_chunked),
        cmocka_unit_test(test_op_shape_errors),
        cmocka_unit_test(test_attention_f16),
        cmocka_unit_test(test_attention_f32),
        cmocka_unit_test(test_attention_errors),
        cmocka_unit_test(test_kv_pages_on_demand),
        cmocka_unit_test(test_attention_split_exact),
        cmocka_unit_test(test_attention_tiled_exact),
        cmocka_unit_test(test_attention_q8_0),
        cmocka_unit_test(test_attention_kv_types),
        cmocka_unit_test(test_attention_kv_refusals),
        cmocka_unit_test(test_attention_kv_tiers),
        cmocka_unit_test(test_attention_kv_tiers_f16_bits),
        cmocka_unit_test(test_attention_kv_tiers_refusals),
        cmocka_unit_test(test_lora_segments),
        cmocka_unit_test(test_lora_segments_errors),
    };
    static const char *isas[] = {"scalar", "avx2", "avxvnni", "avx512", "avx512vnni"};
    int failed = 0, ran = 0;
    for (int i = 0; i < (int)(sizeof isas / sizeof isas[0]); i++) {
        const char *got = harness_open(isas[i], 1);
        char active[64];
        snprintf(active, sizeof active, "%s", got ? got : "?");
        harness_close();
        if (strcmp(active, isas[i]) != 0) {
            printf("[ SKIPPED ] ISA %s: not available on this CPU (best is %s)\n", isas[i], active);
            continue;
        }
        want_isa = isas[i];
        if (i == 0) setenv("HIVE_CPU_NO_ONEDNN", "1", 1);
        else unsetenv("HIVE_CPU_NO_ONEDNN");
        char name[64];
        snprintf(name, sizeof name, "cpu_backend[%s]", isas[i]);
        failed += cmocka_run_group_tests_name(name, tests, group_setup, group_teardown);
        ran++;
    }
    return failed || ran < 1 ? 1 : 0;
}
